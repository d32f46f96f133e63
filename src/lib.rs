//! webresnet: ResNet-family image classification for the browser.
//!
//! Data flows one way:
//! `model` (import) -> `plan` (fuse, layout, liveness) -> backend (`cpu`, `gpu`)
//! -> `postprocess`; images enter through `preprocess`.

pub mod cpu;
pub mod error;
pub mod gpu;
pub mod labels;
pub mod model;
pub mod npy;
pub mod plan;
pub mod postprocess;
pub mod preprocess;

pub use error::{Error, Result};
