//! Building a [`Backend`] from JS: WebGPU is checked for before wgpu is asked.

use super::get;
use crate::backend::{Backend, BackendKind};
use crate::error::{Error, Result};
use crate::gpu::{GpuBackend, Prepared};
use crate::plan::Plan;

/// [`Backend::new`], with WebGPU's reachability checked first; on WebGPU
/// on the device of `prepared`, whose pipelines were compiled ahead, if given.
pub(super) async fn build(plan: &Plan, kind: BackendKind, prepared: Option<Prepared>) -> Result<Backend> {
    if kind == BackendKind::WebGpu {
        check_webgpu_reachable()?;
        if let Some(p) = prepared {
            return Ok(Backend::Gpu(Box::new(GpuBackend::from_prepared(plan, p).await?)));
        }
    }
    Backend::new(plan, kind).await
}

/// wgpu 30 *panics* (and a panic traps the whole wasm instance) when asked
/// for WebGPU outside a window or dedicated worker, e.g. in Node. Check first
/// and return an error the caller can fall back on.
pub(super) fn check_webgpu_reachable() -> Result<()> {
    let global = js_sys::global();
    if get(&global, "navigator").and_then(|n| get(&n, "gpu")).is_none() {
        return Err(Error::GpuUnavailable(
            "navigator.gpu is missing (no WebGPU in this runtime, or not a secure context)".into(),
        ));
    }
    let scope = get(&global, "constructor").and_then(|c| get(&c, "name")).and_then(|n| n.as_string());
    match scope.as_deref() {
        Some("Window") | Some("DedicatedWorkerGlobalScope") => Ok(()),
        other => Err(Error::GpuUnavailable(format!(
            "WebGPU through wgpu needs a window or a dedicated worker, not {}",
            other.unwrap_or("this global scope")
        ))),
    }
}
