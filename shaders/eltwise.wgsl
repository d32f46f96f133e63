// Elementwise ops, one element per invocation: `add` (a + b) and `affine`
// (x * scale[c] + shift[c] over the innermost dimension), both followed by
// a clamp to the activation range.

// `p`, the step's uniform `Params`, is declared ahead of this file (src/gpu/params.rs).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
// `W` (f32 or f16) comes from the prelude (src/gpu/pipelines.rs).
@group(0) @binding(1) var<storage, read> wts: array<W>;

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
