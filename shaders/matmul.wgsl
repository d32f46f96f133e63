// Ceiling probe: C = A x B for square row-major f32 matrices whose side is a
// multiple of 64. A 16x16 workgroup computes a 64x64 tile of C, each
// invocation a 4x4 block, with 16-deep K slices of A and B staged in
// workgroup memory; no bounds checks. This is the best case the conv
// kernels (same tiling, plus im2col gathers and edges) can approach.

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;

override N: u32 = 512u;

var<workgroup> a_s: array<vec4<f32>, 256>; // [row 0..64][k / 4 0..4]
var<workgroup> b_s: array<vec4<f32>, 256>; // [k 0..16][col / 4 0..16]

@compute @workgroup_size(16, 16)
fn matmul(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid3.x;
    let ty = lid3.y;
    let lid = ty * 16u + tx;
    let row0 = wid.y * 64u;
    let col0 = wid.x * 64u;
    let n4 = N / 4u;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < N; k0 += 16u) {
        a_s[lid] = a[(row0 + lid / 4u) * n4 + k0 / 4u + lid % 4u];
        b_s[lid] = b[(k0 + lid / 16u) * n4 + col0 / 4u + lid % 16u];
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk += 4u) {
            let b0 = b_s[kk * 16u + tx];
            let b1 = b_s[(kk + 1u) * 16u + tx];
            let b2 = b_s[(kk + 2u) * 16u + tx];
            let b3 = b_s[(kk + 3u) * 16u + tx];
            for (var i = 0u; i < 4u; i++) {
                let av = a_s[(ty * 4u + i) * 4u + kk / 4u];
                acc[i] += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        c[(row0 + ty * 4u + i) * n4 + col0 / 4u + tx] = acc[i];
    }
}
