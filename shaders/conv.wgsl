// Convolution family over NHWC activations in the shared f32 arena.
//
// `conv`: implicit GEMM. Per group g, C[m][n] = sum_k A[m][k] * B[k][n] with
//   m = output pixel (batch, oh, ow), n = output channel of the group and
//   k = (kh, kw, ci), ci innermost, which matches NHWC memory order so four
//   consecutive k are four adjacent input channels (one vec4 when aligned).
//   A workgroup of S x S invocations computes a 4S x 4S output tile, each
//   invocation a 4x4 block, with KS-deep K slices staged in workgroup memory.
//   With SPLIT, workgroup z also picks one of `splits` ranges of K and the
//   raw sums go to scratch (`part_off`, [split][m][oc]), so layers with few
//   output tiles still fill a GPU; `splitk` then adds the ranges up.
// `splitk`: sums the split-K partials, then the conv epilogue.
// `depthwise`: direct kernel, one output pixel x 4 channels per invocation.
//
// All end in the same epilogue: + bias, + residual (read before the write,
// so the output may alias the residual), clamp to the activation range.
//
// The arena is typed as vec4 so aligned accesses are single vec4 loads and
// stores; `ld`/`st` reach single elements for channel counts that are not
// multiples of four.

// `p`, the step's uniform `Params`, is declared ahead of this file (src/gpu/params.rs).
@group(0) @binding(0) var<storage, read_write> arena: array<vec4<f32>>;
// Packed weights (vec4 units): conv [g][k][ocg4 * 4], depthwise [kh][kw][c4 * 4];
// bias [g][ocg4 * 4]; padding lanes are zero. `W` (f32 or f16) comes from
// the prelude (src/gpu/pipelines.rs), as does `T`, the type of the GEMM
// tiles and of each slice's sums (f16 with f16 weights); accumulators stay f32.
@group(0) @binding(1) var<storage, read> wts: array<vec4<W>>;

// Workgroup side, 16 or 8 (the host's choice per layer): 4S x 4S tiles.
override S: u32 = 16u;
// Input channels per group are a multiple of 4: gather A as vec4.
override VEC_A: bool = false;
// 1x1 kernel without padding: the GEMM reads input pixels directly.
override POINTWISE: bool = false;
// Non-zero: kernel width and input channels baked in (the stem), so the
// k -> (kh, kw, ci) split divides by constants.
override FIX_KW: u32 = 0u;
override FIX_ICG: u32 = 0u;
// Write raw partial sums of one K range to scratch (see `splitk`).
override SPLIT: bool = false;
// The input is NCHW (a model's own input, which the stem reads as it is
// instead of after a permute); only with the scalar gather.
override NCHW: bool = false;

// K-slice depth, independent of S; the host rounds split ranges to it.
const KS: u32 = 16u;
// 2-D, sized for S = 16 (8 KiB in f32); S = 8 uses the first rows/columns.
var<workgroup> a_s: array<array<vec4<T>, KS / 4u>, 64>; // [m][kk / 4]
var<workgroup> b_s: array<array<vec4<T>, 16>, KS>; // [kk][n / 4]

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

// Output pixel m's window: its image's first pixel and the window's top-left
// input coordinate (before padding).
struct Window {
    img: u32,
    ih0: i32,
    iw0: i32,
}

fn window(m: u32) -> Window {
    let ow = m % p.ow;
    let t = m / p.ow;
    let oh = t % p.oh;
    let img = (t / p.oh) * p.ih * p.iw;
    return Window(img, i32(oh * p.sh) - i32(p.pt), i32(ow * p.sw) - i32(p.pl));
}

// One A slot of an invocation: an output pixel and the filter tap (ky, kx)
// and channel ci of its next k, stepped slice by slice without division.
struct Slot {
    ok: bool,
    // Element offset of the pixel's image (pointwise: of the input pixel).
    base: u32,
    ih0: i32,
    iw0: i32,
    ci: u32,
    kx: u32,
    ky: u32,
}

// A slot `slot` of the tile at m0: pixel m0 + slot / (KS / 4) and the tap of k.
fn first_slot(slot: u32, m0: u32, k: u32, kw_n: u32, icg: u32) -> Slot {
    let m = m0 + slot / (KS / 4u);
    let w = window(m);
    let tap = k / icg;
    var s = Slot(m < p.m, w.img, w.ih0, w.iw0, k % icg, tap % kw_n, tap / kw_n);
    if (POINTWISE) {
        s.base = (w.img + u32(w.ih0) * p.iw + u32(w.iw0)) * p.ic;
    }
    return s;
}

// Four consecutive k of A from `s`'s pixel, k = the slot's next k.
fn gather(s: Slot, k: u32, cin0: u32, kw_n: u32, icg: u32) -> vec4<f32> {
    var av = vec4<f32>(0.0);
    if (!s.ok) {
        return av;
    }
    if (POINTWISE) {
        let e = s.base + cin0 + k;
        if (VEC_A) {
            if (k < p.k) {
                av = arena[e >> 2u];
            }
        } else {
            for (var j = 0u; j < 4u; j++) {
                if (k + j < p.k) {
                    av[j] = ld(e + j);
                }
            }
        }
    } else if (VEC_A) {
        // icg and k are multiples of 4: the four share one tap.
        let y = s.ih0 + i32(s.ky * p.dh);
        let x = s.iw0 + i32(s.kx * p.dw);
        if (k < p.k && in_image(y, x)) {
            av = arena[((s.base + u32(y) * p.iw + u32(x)) * p.ic + cin0 + s.ci) >> 2u];
        }
    } else {
        var ci = s.ci;
        var kx = s.kx;
        var ky = s.ky;
        for (var j = 0u; j < 4u; j++) {
            let y = s.ih0 + i32(ky * p.dh);
            let x = s.iw0 + i32(kx * p.dw);
            if (k + j < p.k && in_image(y, x)) {
                let px = u32(y) * p.iw + u32(x);
                if (NCHW) {
                    av[j] = ld(p.in_off + s.base * p.ic + (cin0 - p.in_off + ci) * p.ih * p.iw + px);
                } else {
                    av[j] = ld((s.base + px) * p.ic + cin0 + ci);
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
    return av;
}

// `s` with its tap KS values of k further on (a loop of subtractions:
// KS / icg steps at most, one for every icg >= KS).
fn advanced(s: Slot, kw_n: u32, icg: u32) -> Slot {
    var t = s;
    t.ci += KS;
    while (t.ci >= icg) {
        t.ci -= icg;
        t.kx += 1u;
        if (t.kx == kw_n) {
            t.kx = 0u;
            t.ky += 1u;
        }
    }
    return t;
}

// B slot `slot` of the slice at k0: k row k0 + slot / S, four output
// channels from n0 + 4 * (slot % S); zero past K or the channels.
fn weights(slot: u32, k0: u32, kend: u32, wbase: u32, n0: u32) -> vec4<T> {
    let kb = k0 + slot / S;
    let bn4 = n0 / 4u + slot % S;
    if (kb < kend && bn4 < p.ocg4) {
        return vec4<T>(wts[wbase + kb * p.ocg4 + bn4]);
    }
    return vec4<T>(0.0);
}

// acc + a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3 as a chain of fma.
fn fma4(a: vec4<T>, b0: vec4<T>, b1: vec4<T>, b2: vec4<T>, b3: vec4<T>, acc: vec4<T>) -> vec4<T> {
    return fma(vec4<T>(a.w), b3, fma(vec4<T>(a.z), b2, fma(vec4<T>(a.y), b1, fma(vec4<T>(a.x), b0, acc))));
}

@compute @workgroup_size(S, S)
fn conv(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid3.x;
    let ty = lid3.y;
    let lid = ty * S + tx;
    let g = wid.z / p.splits;
    let part = wid.z % p.splits;
    let m0 = wid.x * 4u * S;
    let n0 = wid.y * 4u * S;
    let kw_n = select(p.kw, FIX_KW, FIX_KW != 0u);
    let icg = select(p.icg, FIX_ICG, FIX_ICG != 0u);
    let kbeg = part * p.k_per;
    let kend = min(p.k, kbeg + p.k_per);
    let cin0 = p.in_off + g * icg;
    let wbase = p.w_off + g * p.k * p.ocg4;
    // Each invocation stages a vec4 of A and one of B per slice (slot lid),
    // and at S = 8 a second of each (slot lid + S * S).
    let two = KS / S > 1u;

    // A slot: pixel am = slot / (KS / 4), four consecutive k from ak.
    // B slot: k row bk = slot / S, four output channels bn4.
    // The slots are named variables, not a private array indexed in a loop:
    // a software adapter (SwiftShader) keeps such an array in memory and
    // runs the whole GEMM markedly slower.
    let ak = (lid % (KS / 4u)) * 4u;
    var slot0 = first_slot(lid, m0, kbeg + ak, kw_n, icg);
    var slot1 = slot0;
    if (two) {
        slot1 = first_slot(lid + S * S, m0, kbeg + ak, kw_n, icg);
    }
    var av0 = vec4<T>(gather(slot0, kbeg + ak, cin0, kw_n, icg));
    var bv0 = weights(lid, kbeg, kend, wbase, n0);
    slot0 = advanced(slot0, kw_n, icg);
    var av1 = vec4<T>(0.0);
    var bv1 = vec4<T>(0.0);
    if (two) {
        av1 = vec4<T>(gather(slot1, kbeg + ak, cin0, kw_n, icg));
        bv1 = weights(lid + S * S, kbeg, kend, wbase, n0);
        slot1 = advanced(slot1, kw_n, icg);
    }

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = kbeg; k0 < kend; k0 += KS) {
        a_s[lid / (KS / 4u)][ak / 4u] = av0;
        b_s[lid / S][lid % S] = bv0;
        if (two) {
            let slot = lid + S * S;
            a_s[slot / (KS / 4u)][ak / 4u] = av1;
            b_s[slot / S][slot % S] = bv1;
        }
        workgroupBarrier();

        // Software pipelining: the next slice's global loads are issued
        // before this slice's arithmetic, so they overlap it.
        let k1 = k0 + KS;
        if (k1 < kend) {
            av0 = vec4<T>(gather(slot0, k1 + ak, cin0, kw_n, icg));
            bv0 = weights(lid, k1, kend, wbase, n0);
            slot0 = advanced(slot0, kw_n, icg);
            if (two) {
                av1 = vec4<T>(gather(slot1, k1 + ak, cin0, kw_n, icg));
                bv1 = weights(lid + S * S, k1, kend, wbase, n0);
                slot1 = advanced(slot1, kw_n, icg);
            }
        }

        // In f16, this slice's sums, widened into the f32 accumulators once;
        // in f32 the accumulators themselves (no extra registers).
        var s0 = select(vec4<T>(0.0), vec4<T>(acc0), T_IS_F32);
        var s1 = select(vec4<T>(0.0), vec4<T>(acc1), T_IS_F32);
        var s2 = select(vec4<T>(0.0), vec4<T>(acc2), T_IS_F32);
        var s3 = select(vec4<T>(0.0), vec4<T>(acc3), T_IS_F32);
        for (var kk = 0u; kk < KS; kk += 4u) {
            let b0 = b_s[kk][tx];
            let b1 = b_s[kk + 1u][tx];
            let b2 = b_s[kk + 2u][tx];
            let b3 = b_s[kk + 3u][tx];
            // Rows ty * 4 .. ty * 4 + 3 of the A tile.
            s0 = fma4(a_s[ty * 4u][kk / 4u], b0, b1, b2, b3, s0);
            s1 = fma4(a_s[ty * 4u + 1u][kk / 4u], b0, b1, b2, b3, s1);
            s2 = fma4(a_s[ty * 4u + 2u][kk / 4u], b0, b1, b2, b3, s2);
            s3 = fma4(a_s[ty * 4u + 3u][kk / 4u], b0, b1, b2, b3, s3);
        }
        acc0 = select(acc0 + vec4<f32>(s0), vec4<f32>(s0), T_IS_F32);
        acc1 = select(acc1 + vec4<f32>(s1), vec4<f32>(s1), T_IS_F32);
        acc2 = select(acc2 + vec4<f32>(s2), vec4<f32>(s2), T_IS_F32);
        acc3 = select(acc3 + vec4<f32>(s3), vec4<f32>(s3), T_IS_F32);
        workgroupBarrier();
    }

    let n = n0 + tx * 4u;
    if (n >= p.ocg) {
        return;
    }
    let c = g * p.ocg + n;
    let count = min(4u, p.ocg - n);
    let aligned = ((p.oc | p.ocg) & 3u) == 0u;
    let acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    if (SPLIT) {
        let base = p.part_off + part * ((p.m * p.oc + 3u) & ~3u);
        for (var i = 0u; i < 4u; i++) {
            let mm = m0 + ty * 4u + i;
            if (mm < p.m) {
                let o = base + mm * p.oc + c;
                if (aligned) {
                    arena[o >> 2u] = acc[i];
                } else {
                    for (var j = 0u; j < count; j++) {
                        st(o + j, acc[i][j]);
                    }
                }
            }
        }
        return;
    }
    let bias = vec4<f32>(wts[p.b_off + g * p.ocg4 + n / 4u]);
    for (var i = 0u; i < 4u; i++) {
        let mm = m0 + ty * 4u + i;
        if (mm < p.m) {
            epilogue(mm * p.oc + c, acc[i] + bias, count, aligned);
        }
    }
}

// One invocation per four consecutive output elements ([m][oc] order).
@compute @workgroup_size(256)
fn splitk(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = flat_id(gid, nwg, 256u) * 4u;
    let total = p.m * p.oc;
    if (e >= total) {
        return;
    }
    // Split ranges start on vec4 boundaries, like the arena's tensors.
    let stride = (total + 3u) & ~3u;
    var acc = vec4<f32>(0.0);
    for (var s = 0u; s < p.splits; s++) {
        acc += arena[(p.part_off + s * stride + e) >> 2u];
    }
    let count = min(4u, total - e);
    var c = e % p.oc;
    for (var j = 0u; j < count; j++) {
        let g = c / p.ocg;
        let n = c - g * p.ocg;
        acc[j] += f32(wts[p.b_off + g * p.ocg4 + n / 4u][n & 3u]);
        c += 1u;
        if (c == p.oc) {
            c = 0u;
        }
    }
    epilogue(e, acc, count, true);
}

@compute @workgroup_size(64)
fn depthwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_id(gid, nwg, 64u);
    let c4 = idx % p.ocg4;
    let m = idx / p.ocg4;
    if (m >= p.m) {
        return;
    }
    let w = window(m);
    let c = c4 * 4u;
    let count = min(4u, p.ic - c);

    var acc = vec4<f32>(0.0);
    for (var ky = 0u; ky < p.kh; ky++) {
        let y = w.ih0 + i32(ky * p.dh);
        for (var kx = 0u; kx < p.kw; kx++) {
            let x = w.iw0 + i32(kx * p.dw);
            if (in_image(y, x)) {
                let e = p.in_off + (w.img + u32(y) * p.iw + u32(x)) * p.ic + c;
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
