// One frame (a texture) into the model's input tensor in the arena: resize
// with a separable triangle filter, centre crop, normalise, lay out. The same
// arithmetic as src/preprocess.rs, in the same order and from the same f32
// taps (computed there): a horizontal pass into `mid` over the source rows
// the crop reads, then a vertical pass that normalises and writes.

// `p`, the step's uniform `Params`, is declared ahead of this file (src/gpu/params.rs).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
// Per output column, then per output row: [first source index, tap count
// (0 in the crop's padding), word offset of its weights]; the weights are f32 bits.
@group(0) @binding(1) var<storage, read> taps: array<u32>;
@group(0) @binding(3) var<storage, read_write> mid: array<f32>;
@group(0) @binding(4) var frame: texture_2d<f32>;

// The 8-bit pixel values, exactly (the texture holds them as unorm).
fn pixel(x: u32, y: u32) -> vec3<f32> {
    return round(textureLoad(frame, vec2<u32>(x, y), 0).rgb * 255.0);
}

@compute @workgroup_size(256)
fn horizontal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    if (i >= p.mid_rows * p.crop_w) {
        return;
    }
    let x = i % p.crop_w;
    let y = p.row_lo + i / p.crop_w;
    let start = taps[3u * x];
    let count = taps[3u * x + 1u];
    let at = taps[3u * x + 2u];
    var acc = vec3<f32>(0.0);
    for (var k = 0u; k < count; k++) {
        acc += bitcast<f32>(taps[at + k]) * pixel(start + k, y);
    }
    mid[3u * i] = acc.r;
    mid[3u * i + 1u] = acc.g;
    mid[3u * i + 2u] = acc.b;
}

@compute @workgroup_size(256)
fn vertical(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_id(gid, nwg, 256u);
    let plane = p.crop_h * p.crop_w;
    if (i >= plane) {
        return;
    }
    let x = i % p.crop_w;
    let y = i / p.crop_w;
    let e = p.row_taps + 3u * y;
    let start = taps[e];
    let count = taps[e + 1u];
    let at = taps[e + 2u];
    var rgb = vec3<f32>(0.0);
    for (var k = 0u; k < count; k++) {
        let m = 3u * ((start - p.row_lo + k) * p.crop_w + x);
        rgb += bitcast<f32>(taps[at + k]) * vec3<f32>(mid[m], mid[m + 1u], mid[m + 2u]);
    }
    if (p.bgr == 1u) {
        rgb = rgb.bgr;
    }
    let v = (rgb / p.divisor - p.mean.xyz) / p.stdev.xyz;
    for (var c = 0u; c < 3u; c++) {
        let o = select(i * 3u + c, c * plane + i, p.nchw == 1u);
        arena[p.out_off + o] = v[c];
    }
}
