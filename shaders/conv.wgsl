// Convolution family over NHWC activations in the shared f32 arena.
//
// `conv`: implicit GEMM. Per group g, C[m][n] = sum_k A[m][k] * B[k][n] with
//   m = output pixel (batch, oh, ow), n = output channel of the group and
//   k = (kh, kw, ci), ci innermost, which matches NHWC memory order so four
//   consecutive k are four adjacent input channels (one vec4 when aligned).
//   A workgroup of S x S invocations computes a 4S x 4S output tile, each
//   invocation a 4x4 block, with S-deep K slices staged in workgroup memory.
// `depthwise`: direct kernel, one output pixel x 4 channels per invocation.
//
// Both end in the same epilogue: + bias, + residual (read before the write,
// so the output may alias the residual), clamp to the activation range.
//
// The arena is typed as vec4 so aligned accesses are single vec4 loads and
// stores; `ld`/`st` reach single elements for channel counts that are not
// multiples of four.

struct Params {
    in_off: u32, out_off: u32, res_off: u32, has_res: u32,
    w_off: u32, b_off: u32, m: u32, k: u32,
    ih: u32, iw: u32, ic: u32, icg: u32,
    oh: u32, ow: u32, oc: u32, ocg: u32,
    ocg4: u32, kh: u32, kw: u32, sh: u32,
    sw: u32, pt: u32, pl: u32, dh: u32,
    dw: u32, lo: f32, hi: f32,
}

@group(0) @binding(0) var<storage, read_write> arena: array<vec4<f32>>;
// Packed weights (vec4 units): conv [g][k][ocg4 * 4], depthwise [kh][kw][c4 * 4];
// bias [g][ocg4 * 4]; padding lanes are zero. `W` (f32 or f16) comes from
// the prelude (src/gpu/pipelines.rs); arithmetic stays f32 either way.
@group(0) @binding(1) var<storage, read> wts: array<vec4<W>>;
@group(0) @binding(2) var<uniform> p: Params;

// Workgroup side; must be a multiple of 4. 16 fits WebGPU's guaranteed
// 256 invocations and 16 KiB of workgroup memory (this uses 8 KiB).
override S: u32 = 16u;
// Input channels per group are a multiple of 4: gather A as vec4.
override VEC_A: bool = false;
// 1x1 kernel without padding: the GEMM reads input pixels directly.
override POINTWISE: bool = false;
// Non-zero: kernel width and input channels baked in (the stem), so the
// k -> (kh, kw, ci) split divides by constants.
override FIX_KW: u32 = 0u;
override FIX_ICG: u32 = 0u;

var<workgroup> a_s: array<vec4<f32>, 256>; // [m][kk / 4], S * S used
var<workgroup> b_s: array<vec4<f32>, 256>; // [kk][n / 4], S * S used

fn ld(i: u32) -> f32 {
    return arena[i >> 2u][i & 3u];
}

fn st(i: u32, v: f32) {
    arena[i >> 2u][i & 3u] = v;
}

fn in_image(y: i32, x: i32) -> bool {
    return y >= 0 && y < i32(p.ih) && x >= 0 && x < i32(p.iw);
}

// Writes `count` (1..4) results at element `o` of the output tensor.
fn epilogue(o: u32, acc: vec4<f32>, count: u32, aligned: bool) {
    var v = acc;
    if (aligned && count == 4u) {
        if (p.has_res != 0u) {
            v += arena[(p.res_off + o) >> 2u];
        }
        arena[(p.out_off + o) >> 2u] = clamp(v, vec4<f32>(p.lo), vec4<f32>(p.hi));
        return;
    }
    for (var j = 0u; j < count; j++) {
        var s = v[j];
        if (p.has_res != 0u) {
            s += ld(p.res_off + o + j);
        }
        st(p.out_off + o + j, clamp(s, p.lo, p.hi));
    }
}

@compute @workgroup_size(S, S)
fn conv(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid3.x;
    let ty = lid3.y;
    let lid = ty * S + tx;
    let g = wid.z;
    let m0 = wid.x * 4u * S;
    let n0 = wid.y * 4u * S;
    let kw_n = select(p.kw, FIX_KW, FIX_KW != 0u);
    let icg = select(p.icg, FIX_ICG, FIX_ICG != 0u);
    let ktot = p.k;

    // This invocation's A slot: one output pixel, four consecutive k.
    let am = lid / (S / 4u);
    let ak = (lid % (S / 4u)) * 4u;
    let m = m0 + am;
    let m_ok = m < p.m;
    let ow = m % p.ow;
    let t = m / p.ow;
    let oh = t % p.oh;
    let img = (t / p.oh) * p.ih * p.iw;
    let ih0 = i32(oh * p.sh) - i32(p.pt);
    let iw0 = i32(ow * p.sw) - i32(p.pl);
    let cin0 = p.in_off + g * icg;

    // This invocation's B slot: one k, four consecutive output channels.
    let bk = lid / S;
    let bn4 = n0 / 4u + lid % S;
    let wbase = p.w_off + g * ktot * p.ocg4;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < ktot; k0 += S) {
        var av = vec4<f32>(0.0);
        let k = k0 + ak;
        if (m_ok) {
            if (POINTWISE) {
                let base = (img + u32(ih0) * p.iw + u32(iw0)) * p.ic + cin0 + k;
                if (VEC_A) {
                    if (k < ktot) {
                        av = arena[base >> 2u];
                    }
                } else {
                    for (var j = 0u; j < 4u; j++) {
                        if (k + j < ktot) {
                            av[j] = ld(base + j);
                        }
                    }
                }
            } else if (VEC_A) {
                if (k < ktot) {
                    let r = k / icg;
                    let y = ih0 + i32((r / kw_n) * p.dh);
                    let x = iw0 + i32((r % kw_n) * p.dw);
                    if (in_image(y, x)) {
                        let e = (img + u32(y) * p.iw + u32(x)) * p.ic + cin0 + k % icg;
                        av = arena[e >> 2u];
                    }
                }
            } else {
                // Split k once, then step (ci, kw, kh) like an odometer.
                var ci = k % icg;
                let r = k / icg;
                var kx = r % kw_n;
                var ky = r / kw_n;
                for (var j = 0u; j < 4u; j++) {
                    if (k + j < ktot) {
                        let y = ih0 + i32(ky * p.dh);
                        let x = iw0 + i32(kx * p.dw);
                        if (in_image(y, x)) {
                            av[j] = ld((img + u32(y) * p.iw + u32(x)) * p.ic + cin0 + ci);
                        }
                    }
                    ci += 1u;
                    if (ci == icg) {
                        ci = 0u;
                        kx += 1u;
                        if (kx == kw_n) {
                            kx = 0u;
                            ky += 1u;
                        }
                    }
                }
            }
        }
        a_s[am * (S / 4u) + ak / 4u] = av;

        let kb = k0 + bk;
        var bv = vec4<f32>(0.0);
        if (kb < ktot && bn4 < p.ocg4) {
            bv = vec4<f32>(wts[wbase + kb * p.ocg4 + bn4]);
        }
        b_s[bk * S + lid % S] = bv;
        workgroupBarrier();

        for (var kk = 0u; kk < S; kk += 4u) {
            let b0 = b_s[kk * S + tx];
            let b1 = b_s[(kk + 1u) * S + tx];
            let b2 = b_s[(kk + 2u) * S + tx];
            let b3 = b_s[(kk + 3u) * S + tx];
            // Rows ty * 4 .. ty * 4 + 3 of the A tile, S / 4 vec4 per row.
            let ar = ty * S + kk / 4u;
            let a0 = a_s[ar];
            let a1 = a_s[ar + S / 4u];
            let a2 = a_s[ar + 2u * (S / 4u)];
            let a3 = a_s[ar + 3u * (S / 4u)];
            acc0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
            acc1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
            acc2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
            acc3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
        }
        workgroupBarrier();
    }

    let n = n0 + tx * 4u;
    if (n >= p.ocg) {
        return;
    }
    let bias = vec4<f32>(wts[p.b_off + g * p.ocg4 + n / 4u]);
    let c = g * p.ocg + n;
    let count = min(4u, p.ocg - n);
    let aligned = ((p.oc | p.ocg) & 3u) == 0u;
    let acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let mm = m0 + ty * 4u + i;
        if (mm < p.m) {
            epilogue(mm * p.oc + c, acc[i] + bias, count, aligned);
        }
    }
}

@compute @workgroup_size(64)
fn depthwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_id(gid, nwg, 64u);
    let c4 = idx % p.ocg4;
    let m = idx / p.ocg4;
    if (m >= p.m) {
        return;
    }
    let ow = m % p.ow;
    let t = m / p.ow;
    let oh = t % p.oh;
    let img = (t / p.oh) * p.ih * p.iw;
    let ih0 = i32(oh * p.sh) - i32(p.pt);
    let iw0 = i32(ow * p.sw) - i32(p.pl);
    let c = c4 * 4u;
    let count = min(4u, p.ic - c);

    var acc = vec4<f32>(0.0);
    for (var ky = 0u; ky < p.kh; ky++) {
        let y = ih0 + i32(ky * p.dh);
        for (var kx = 0u; kx < p.kw; kx++) {
            let x = iw0 + i32(kx * p.dw);
            if (in_image(y, x)) {
                let e = p.in_off + (img + u32(y) * p.iw + u32(x)) * p.ic + c;
                var v = vec4<f32>(0.0);
                if (VEC_A) {
                    v = arena[e >> 2u];
                } else {
                    for (var j = 0u; j < count; j++) {
                        v[j] = ld(e + j);
                    }
                }
                acc += v * vec4<f32>(wts[p.w_off + (ky * p.kw + kx) * p.ocg4 + c4]);
            }
        }
    }
    epilogue(m * p.ic + c, acc + vec4<f32>(wts[p.b_off + c4]), count, VEC_A);
}
