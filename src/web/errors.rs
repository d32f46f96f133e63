//! Errors as JS sees them: a JS `Error` whose `name` is [`ERROR_NAME`] and
//! whose `code` is [`Error::code`], and panics reported on the console.

use std::sync::Once;

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use crate::error::Error;

/// The name JS sees on our errors, so `err.name` tells them apart from
/// errors thrown by the browser.
const ERROR_NAME: &str = "WebResnetError";

pub(super) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(console_error_panic_hook::hook)));
}

/// A JS `Error` carrying the stable `code`.
pub(super) fn js_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name(ERROR_NAME);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        js_error(e.code(), &e.to_string())
    }
}

/// Errors that only the JS boundary can produce (wrong argument types).
pub(super) fn invalid(message: impl Into<String>) -> JsValue {
    Error::InvalidInput(message.into()).into()
}
