// Classifier head: fully connected layer and softmax over the innermost
// dimension. Both are tiny next to the convolutions, so they favour
// simplicity: one output per invocation for `dense`, one workgroup per row
// for `softmax`.

// `p`, the step's uniform `Params`, is declared ahead of this file (src/gpu/params.rs).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
// weight [kout][kin], then bias [kout]; `W` (f32 or f16) comes from the
// prelude (src/gpu/pipelines.rs).
@group(0) @binding(1) var<storage, read> wts: array<W>;

@compute @workgroup_size(256)
fn dense(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_id(gid, nwg, 256u);
    if (idx >= p.rows * p.kout) {
        return;
    }
    let o = idx % p.kout;
    let x = p.in_off + (idx / p.kout) * p.cols;
    let w = p.w_off + o * p.cols;
    var acc = 0.0;
    for (var k = 0u; k < p.cols; k++) {
        acc += arena[x + k] * f32(wts[w + k]);
    }
    arena[p.out_off + idx] = clamp(acc + f32(wts[p.b_off + o]), p.lo, p.hi);
}

const SM_WG: u32 = 64u;
var<workgroup> red: array<f32, SM_WG>;

// Tree reduction over `red`; op 0 = max, 1 = sum. Every lane gets the result.
fn reduce(lid: u32, v: f32, op: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var w = SM_WG / 2u; w > 0u; w >>= 1u) {
        if (lid < w) {
            let o = red[lid + w];
            red[lid] = select(red[lid] + o, max(red[lid], o), op == 0u);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(SM_WG)
fn softmax(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let lid = lid3.x;
    let row = flat_id(wid, nwg, 1u);
    // Rows past the end still take part in the barriers, reading row 0.
    let live = row < p.rows;
    let src = p.in_off + select(0u, row, live) * p.cols;
    let dst = p.out_off + row * p.cols;

    var mx = bitcast<f32>(0xff7fffffu); // -f32 max; Tint rejects the literal -3.4028235e38 as out of range
    for (var i = lid; i < p.cols; i += SM_WG) {
        mx = max(mx, arena[src + i]);
    }
    mx = reduce(lid, mx, 0u);
    var sum = 0.0;
    for (var i = lid; i < p.cols; i += SM_WG) {
        sum += exp(arena[src + i] - mx);
    }
    sum = reduce(lid, sum, 1u);
    if (live) {
        // Each lane rewrites only elements it read itself, so in place is safe.
        for (var i = lid; i < p.cols; i += SM_WG) {
            arena[dst + i] = exp(arena[src + i] - mx) / sum;
        }
    }
}
