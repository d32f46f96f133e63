//! What the JS engine does with a relaxed-SIMD instruction whose result the
//! standard leaves to it, seen by running it: that shows how the engine
//! lowered it, which picks the faster of two equal int8 kernels. And which
//! engine it is, which picks the faster of two equal f32 GEMM tiles.

use std::sync::Once;

use js_sys::{Function, Object, Reflect, Uint8Array, WebAssembly};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` of 127s against 0xFF bytes, plus
/// zero: an unsigned 0xFF without saturation (a one-instruction x86 VNNI
/// dot product) gives 4 × 127 × 255 = 129540; the two-instruction x86 form
/// saturates its pair sums (65534); signed operands give -508.
const ONE_INSTRUCTION: f64 = 129_540.0;

/// The same instruction on in-range operands: 4 × (-3 × 5) + 7. An engine
/// that gets this wrong (as Node 20's baseline compiler does) must not run it.
const IN_RANGE: f64 = -53.0;

/// Sets the int8 kernels' dot product and the f32 GEMM tile once per
/// module instance.
pub fn tune_cpu_kernels() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fused = matches!(probe(), Some([a, b]) if a == ONE_INSTRUCTION && b == IN_RANGE);
        crate::cpu::use_fused_int8_dot(fused);
        crate::cpu::use_tall_tiles(!hoists_loads());
    });
}

/// The last V8 major version seen to load everything a loop step reads at
/// the step's top (Node 20's 11.3), where 6-row tiles spill. Chromium's
/// V8 15 and Firefox keep each load by its use.
const LAST_HOISTING_V8: u32 = 11;

/// Whether this engine is a V8 old enough to hoist loads: Node's
/// `process.versions.v8`, or a Chrome of that V8's time (Chrome 10x+y
/// shipped V8 x.y).
fn hoists_loads() -> bool {
    let get = |o: &JsValue, k: &str| Reflect::get(o, &k.into()).ok().filter(|v| !v.is_undefined());
    let leading = |s: &str| s.split('.').next()?.parse::<u32>().ok();
    let global = js_sys::global().into();
    let node_v8 = get(&global, "process").and_then(|p| get(&p, "versions")).and_then(|v| get(&v, "v8"));
    if let Some(v8) = node_v8.and_then(|v| v.as_string()) {
        return leading(&v8).is_some_and(|major| major <= LAST_HOISTING_V8);
    }
    let agent = get(&global, "navigator").and_then(|n| get(&n, "userAgent")).and_then(|a| a.as_string());
    agent
        .and_then(|a| a.split("Chrome/").nth(1).and_then(leading))
        .is_some_and(|chrome| chrome < (LAST_HOISTING_V8 + 1) * 10)
}

/// The relaxed build's f32 GEMM tile, for tests and benchmarks: `force`
/// sets it (true: 6 rows); without it, the engine's choice stands. Returns
/// whether 6-row tiles are in use (never in the SIMD128 build).
#[wasm_bindgen(js_name = gemmTallTiles)]
pub fn gemm_tall_tiles(force: Option<bool>) -> bool {
    tune_cpu_kernels();
    match force {
        Some(on) => crate::cpu::use_tall_tiles(on),
        None => crate::cpu::tall_tiles(),
    }
}

/// The relaxed build's int8 dot product, for tests and benchmarks: `force`
/// sets it (true: the fused dot-add); without it, the engine probe's choice
/// stands. Returns whether the fused form is in use.
#[wasm_bindgen(js_name = int8FusedDot)]
pub fn int8_fused_dot(force: Option<bool>) -> bool {
    tune_cpu_kernels();
    match force {
        Some(on) => crate::cpu::use_fused_int8_dot(on),
        None => crate::cpu::fused_int8_dot(),
    }
}

/// The two dot products above, run in a module of their own; None where the
/// engine has no relaxed SIMD.
fn probe() -> Option<[f64; 2]> {
    let splat = |b: u8| [[0xfd, 0x0c].as_slice(), &[b; 16]].concat(); // v128.const
    let lane = |x: i32| [0xfd, 0x0c].into_iter().chain((0..4).flat_map(|_| x.to_le_bytes())).collect::<Vec<u8>>();
    let body = |a: Vec<u8>, b: Vec<u8>, c: Vec<u8>| {
        // no locals; a, b, c; the dot-add; i32x4.extract_lane 0; end
        [vec![0x00], a, b, c, vec![0xfd, 0x93, 0x02, 0xfd, 0x1b, 0x00, 0x0b]].concat()
    };
    let bodies = [body(splat(127), splat(0xff), lane(0)), body(splat(0xfd), splat(5), lane(7))];
    let mut code = vec![bodies.len() as u8];
    for b in &bodies {
        code.push(b.len() as u8);
        code.extend(b);
    }
    let bytes = [
        vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
        vec![0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f],       // types: () -> i32
        vec![0x03, 0x03, 0x02, 0x00, 0x00],                   // two functions of it
        vec![0x07, 0x09, 0x02, 0x01, b'a', 0x00, 0x00, 0x01, b'b', 0x00, 0x01],
        [vec![0x0a, code.len() as u8], code].concat(),
    ]
    .concat();
    let module = WebAssembly::Module::new(&Uint8Array::from(bytes.as_slice())).ok()?;
    let exports = WebAssembly::Instance::new(&module, &Object::new()).ok()?.exports();
    let run = |name: &str| {
        let f = Reflect::get(&exports, &name.into()).ok()?.dyn_into::<Function>().ok()?;
        f.call0(&exports).ok()?.as_f64()
    };
    Some([run("a")?, run("b")?])
}
