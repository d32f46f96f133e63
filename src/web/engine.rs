//! What the JS engine does with a relaxed-SIMD instruction whose result the
//! standard leaves to it, seen by running it: that shows how the engine
//! lowered it, which picks the faster of two equal int8 kernels.

use std::sync::Once;

use js_sys::{Function, Object, Reflect, Uint8Array, WebAssembly};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsCast;

/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` of 127s against 0xFF bytes, plus
/// zero: an unsigned 0xFF without saturation (a one-instruction x86 VNNI
/// dot product) gives 4 × 127 × 255 = 129540; the two-instruction x86 form
/// saturates its pair sums (65534); signed operands give -508.
const ONE_INSTRUCTION: f64 = 129_540.0;

/// The same instruction on in-range operands: 4 × (-3 × 5) + 7. An engine
/// that gets this wrong (as Node 20's baseline compiler does) must not run it.
const IN_RANGE: f64 = -53.0;

/// Sets the int8 kernels' dot product once per module instance.
pub fn tune_cpu_kernels() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fused = matches!(probe(), Some([a, b]) if a == ONE_INSTRUCTION && b == IN_RANGE);
        crate::cpu::use_fused_int8_dot(fused);
    });
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
