// Data movement over row-major tensors of rank <= 8, one output element per
// invocation: `gather` is a transpose (strides permuted) and constant padding
// (an offset window on the input) in one.

// `p`, the step's uniform `Params`, is declared ahead of this file (src/gpu/params.rs).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

// Output element i reads the input at its coordinates less `before`, through
// `stride`, or is `value` where that falls outside `extent`. `p.dims[d]` is
// (size, stride, before, extent) of output dimension d.
@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= p.total) {
        return;
    }
    var rest = i;
    var src = 0u;
    var inside = true;
    for (var d = p.rank; d > 0u; d--) {
        let axis = p.dims[d - 1u];
        let x = i32(rest % axis.x) - i32(axis.z);
        rest /= axis.x;
        inside = inside && x >= 0 && x < i32(axis.w);
        src += u32(max(x, 0)) * axis.y;
    }
    var v = p.value;
    if (inside) {
        v = arena[p.in_off + src];
    }
    arena[p.out_off + i] = v;
}
