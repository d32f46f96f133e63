//! Any bytes as a model file (ONNX, `.wrn`, torch, safetensors): import and
//! plan must return, Ok or a typed error, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webresnet::plan::CompileOptions;

fuzz_target!(|bytes: &[u8]| {
    let _ = webresnet::load_plan(bytes, &CompileOptions::default());
});
