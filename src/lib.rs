//! webresnet: ResNet-family image classification for the browser.
//!
//! Data flows one way:
//! `model` (import) -> `plan` (fuse, layout, liveness) -> backend (`cpu`, `gpu`)
//! -> `postprocess`; images enter through `preprocess`.

#[cfg(feature = "gpu")]
pub mod backend;
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub mod bench;
pub mod cpu;
pub mod error;
#[cfg(feature = "gpu")]
pub mod explain;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod labels;
pub mod model;
pub mod npy;
pub mod plan;
pub mod postprocess;
pub mod preprocess;
pub mod seeded;
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub mod sensitivity;
mod transpose;
#[cfg(all(target_arch = "wasm32", feature = "gpu"))]
pub mod web;

pub use error::{Error, Result};
/// `initThreadPool(n)` in JS: starts the rayon pool's `n` web workers.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Imports model bytes and compiles them into an execution plan.
pub fn load_plan(model_bytes: &[u8], opts: &plan::CompileOptions) -> Result<plan::Plan> {
    plan::compile_owned(model::import(model_bytes)?, opts)
}
