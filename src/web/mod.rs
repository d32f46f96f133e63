//! The JavaScript API (wasm32 only), through wasm-bindgen.
//!
//! ```js
//! const s = await Session.create(modelBytes, "webgpu");   // or "cpu"
//! const logits = await s.infer(float32Input, [1, 3, 224, 224]);
//! const top = await s.classifyBytes(jpegBytes, 5);        // [{ index, label, probability }]
//! s.free();
//! ```
//!
//! Every failure is a rejected promise of a JS `Error` whose `code` is
//! [`crate::Error::code`], so callers can branch on it without parsing messages.
//! A failed call leaves the session as it was.
//!
//! Calls on one session run one at a time, in call order: the GPU backend
//! owns one arena and one readback buffer, and a second `infer` awaiting
//! the first's readback would otherwise find both in use.

mod ahead;
mod backend;
mod digest;
mod engine;
mod errors;
mod import;
mod lock;
mod profile;
mod session;
mod state;

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

pub use import::ModelStream;
pub use session::Session;

/// `performance.mark("webresnet:NAME")`, where the runtime has it: the load's
/// phases show in the browser's profiler, and `make bench-load` reads them.
fn mark(name: &str) {
    if let Some(perf) = get(&js_sys::global(), "performance") {
        call(&perf, "mark", &[&format!("webresnet:{name}").into()]);
    }
}

/// `obj[key]`, unless missing, undefined or null.
fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &key.into()).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// Calls `obj[method](...args)`.
fn call(obj: &JsValue, method: &str, args: &[&JsValue]) -> Option<JsValue> {
    let f: Function = get(obj, method)?.dyn_into().ok()?;
    f.apply(obj, &args.iter().copied().collect()).ok()
}
