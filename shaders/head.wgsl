// Classifier head: the fully connected layer (with the global average
// pooling that feeds it fused in, where it does) and softmax over the
// innermost dimension.
//
// `dense` is a GEMV per input row: a workgroup owns ROWS outputs of one row,
// its invocations stride along K so neighbours read neighbouring weights (a
// weight row is contiguous), and the per-invocation partial sums are reduced
// in workgroup memory. With `pixels` > 1 the input is an NHWC feature map
// and each input value is the mean of its `pixels` cells, read in the same
// K stride, so no pooled vector is written first. `dense_sg` (compiled only
// where the device has subgroups) reduces with `subgroupAdd` instead of the
// tree. `softmax`: one workgroup per row.

// `p`, the step's uniform `Params`, is declared ahead of this file
// (src/gpu/params.rs): `dense` reads rows of `cols` inputs (each the mean of
// `pixels` NHWC cells) and writes rows of `kout` outputs; `softmax` uses only
// the offsets, `rows` and `cols`.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
// weight [kout][kin], then bias [kout]; `W` (f32 or f16) comes from the
// prelude (src/gpu/pipelines.rs).
@group(0) @binding(1) var<storage, read> wts: array<W>;

const DENSE_WG: u32 = 64u;
// Outputs per workgroup (the host's choice: fewer fill a large GPU, more
// reread the input less). At most ROWS_MAX.
override ROWS: u32 = 4u;
const ROWS_MAX: u32 = 8u;
var<workgroup> part: array<array<f32, DENSE_WG>, ROWS_MAX>;

// A workgroup's share of `dense`: input row `row`, outputs from `o0`.
struct Block {
    live: bool,
    row: u32,
    o0: u32,
}

fn block(wid: vec3<u32>, nwg: vec3<u32>) -> Block {
    let b = flat_id(wid, nwg, 1u);
    // Workgroups past the end of a folded grid still reach every barrier.
    let live = b < p.blocks * p.rows;
    let bb = select(0u, b, live);
    return Block(live, bb / p.blocks, (bb % p.blocks) * ROWS);
}

// This invocation's partial dot products of block `b`'s ROWS outputs:
// k = lid, lid + DENSE_WG, ... Outputs past `kout` reread the last row.
fn partial_sums(lid: u32, b: Block) -> array<f32, ROWS_MAX> {
    var acc: array<f32, ROWS_MAX>;
    let x0 = p.in_off + b.row * p.pixels * p.cols;
    let inv = 1.0 / f32(p.pixels);
    for (var k = lid; k < p.cols; k += DENSE_WG) {
        var x = 0.0;
        for (var i = 0u; i < p.pixels; i++) {
            x += arena[x0 + i * p.cols + k];
        }
        if (p.pixels > 1u) {
            x *= inv;
        }
        for (var r = 0u; r < ROWS; r++) {
            let o = min(b.o0 + r, p.kout - 1u);
            acc[r] = fma(x, f32(wts[p.w_off + o * p.cols + k]), acc[r]);
        }
    }
    return acc;
}

// Output `r` of block `b` from its reduced sum: + bias, clamp.
fn write_out(b: Block, r: u32, sum: f32) {
    let o = b.o0 + r;
    if (b.live && o < p.kout) {
        arena[p.out_off + b.row * p.kout + o] = clamp(sum + f32(wts[p.b_off + o]), p.lo, p.hi);
    }
}

@compute @workgroup_size(DENSE_WG)
fn dense(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let lid = lid3.x;
    let b = block(wid, nwg);
    let acc = partial_sums(lid, b);
    for (var r = 0u; r < ROWS; r++) {
        part[r][lid] = acc[r];
    }
    workgroupBarrier();
    for (var w = DENSE_WG / 2u; w > 0u; w >>= 1u) {
        if (lid < w) {
            for (var r = 0u; r < ROWS; r++) {
                part[r][lid] += part[r][lid + w];
            }
        }
        workgroupBarrier();
    }
    if (lid < ROWS) {
        write_out(b, lid, part[lid][0]);
    }
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

// ---- subgroups ----
// Everything below uses subgroup built-ins: src/gpu/pipelines.rs compiles it
// only where the device has the `subgroups` feature.

// `dense` with each subgroup's partial sums added in registers: one
// workgroup-memory slot per subgroup instead of a tree over every invocation.
@compute @workgroup_size(DENSE_WG)
fn dense_sg(
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) nsg: u32,
) {
    let lid = lid3.x;
    let b = block(wid, nwg);
    let acc = partial_sums(lid, b);
    for (var r = 0u; r < ROWS; r++) {
        let s = subgroupAdd(acc[r]);
        if (lane == 0u) {
            part[r][sg] = s;
        }
    }
    workgroupBarrier();
    if (lid < ROWS) {
        var sum = 0.0;
        for (var i = 0u; i < nsg; i++) {
            sum += part[lid][i];
        }
        write_out(b, lid, sum);
    }
}
