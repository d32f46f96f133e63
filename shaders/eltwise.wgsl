// Elementwise ops, one element per invocation: `add` (a + b) and `affine`
// (x * scale[c] + shift[c] over the innermost dimension), both followed by
// a clamp to the activation range.

struct Params {
    a_off: u32, b_off: u32, out_off: u32, total: u32,
    // affine: innermost size; scale/shift offsets into `wts` and their lengths (1 = broadcast).
    channels: u32, scale_off: u32, shift_off: u32, scale_n: u32,
    shift_n: u32, lo: f32, hi: f32,
}

@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
// `W` (f32 or f16) comes from the prelude (src/gpu/pipelines.rs).
@group(0) @binding(1) var<storage, read> wts: array<W>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i < p.total) {
        arena[p.out_off + i] = clamp(arena[p.a_off + i] + arena[p.b_off + i], p.lo, p.hi);
    }
}

@compute @workgroup_size(256)
fn affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i < p.total) {
        let c = i % p.channels;
        let sc = f32(wts[p.scale_off + select(0u, c, p.scale_n > 1u)]);
        let sh = f32(wts[p.shift_off + select(0u, c, p.shift_n > 1u)]);
        arena[p.out_off + i] = clamp(arena[p.a_off + i] * sc + sh, p.lo, p.hi);
    }
}
