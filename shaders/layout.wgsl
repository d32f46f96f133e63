// Data movement over row-major tensors of rank <= 8, one output element per
// invocation: `permute` (transpose) and `pad` (constant padding).

// `p`, the step's uniform `Params`, is declared ahead of this file (src/gpu/params.rs).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

fn at(v: array<vec4<u32>, 2>, i: u32) -> u32 {
    return v[i / 4u][i % 4u];
}

@compute @workgroup_size(256)
fn permute(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= p.total) {
        return;
    }
    var rest = i;
    var src = 0u;
    for (var d = p.rank; d > 0u; d--) {
        let n = at(p.out_dims, d - 1u);
        src += (rest % n) * at(p.a, d - 1u);
        rest /= n;
    }
    arena[p.out_off + i] = arena[p.in_off + src];
}

@compute @workgroup_size(256)
fn pad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= p.total) {
        return;
    }
    var rest = i;
    var src = 0u;
    var stride = 1u;
    var inside = true;
    for (var d = p.rank; d > 0u; d--) {
        let n = at(p.out_dims, d - 1u);
        let dim = at(p.a, d - 1u);
        let x = i32(rest % n) - i32(at(p.b, d - 1u));
        rest /= n;
        inside = inside && x >= 0 && x < i32(dim);
        src += u32(max(x, 0)) * stride;
        stride *= dim;
    }
    var v = p.value;
    if (inside) {
        v = arena[p.in_off + src];
    }
    arena[p.out_off + i] = v;
}
