// Windowed pooling over NHWC, one output element per invocation. Global
// average pooling is the same kernel with the window set to the whole image.
//
// Windows are clipped to the padded extent [-pad_begin, size + pad_end);
// max ignores padded cells; average divides by the in-image cells, or by
// all cells of the clipped window when padding counts.

// `p`, the step's uniform `Params`, is declared ahead of this file (src/gpu/params.rs).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_id(gid, nwg, 256u);
    if (idx >= p.total) {
        return;
    }
    let c = idx % p.c;
    let m = idx / p.c;
    let ow = m % p.ow;
    let t = m / p.ow;
    let oh = t % p.oh;
    let base = p.in_off + (t / p.oh) * p.ih * p.iw * p.c + c;
    let y0 = i32(oh * p.sh) - i32(p.pt);
    let x0 = i32(ow * p.sw) - i32(p.pl);

    var best = bitcast<f32>(0xff7fffffu); // -f32 max; Tint rejects the literal -3.4028235e38 as out of range
    var sum = 0.0;
    var inside = 0u;
    var cells = 0u;
    for (var ky = 0u; ky < p.kh; ky++) {
        let y = y0 + i32(ky * p.dh);
        if (y >= i32(p.eh)) {
            break;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let x = x0 + i32(kx * p.dw);
            if (x >= i32(p.ew)) {
                break;
            }
            cells += 1u;
            if (y >= 0 && y < i32(p.ih) && x >= 0 && x < i32(p.iw)) {
                let v = arena[base + (u32(y) * p.iw + u32(x)) * p.c];
                best = max(best, v);
                sum += v;
                inside += 1u;
            }
        }
    }
    var r = 0.0;
    if (p.mode == 0u) {
        r = select(0.0, best, inside > 0u);
    } else {
        let d = select(inside, cells, p.mode == 2u);
        r = select(0.0, sum / f32(d), d > 0u);
    }
    arena[p.out_off + idx] = r;
}
