//! `profileGpu`, for the browser bench: each GPU dispatch's time from
//! WebGPU timestamp queries, where the browser's adapter has them.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use super::backend::check_webgpu_reachable;
use super::errors::install_panic_hook;
use super::import::import;
use crate::error::{Error, Result};
use crate::gpu::{step_stages, GpuBackend, Occupancy, Precision};
use crate::plan::CompileOptions;

/// Plans `model` for `shape` on a WebGPU device with `timestamp-query`
/// (f32 weights), runs it once untimed on `input`, then `runs` times with
/// a timestamp around each dispatch. Resolves to `{ adapter, dispatches:
/// [{ step, stage, kind, entry, workgroups, k, tile, splits }], runs: [{
/// ms: [per dispatch], spanMs }] }`; rejects with code `LIMIT` where the
/// adapter has no timestamp queries.
#[wasm_bindgen(js_name = profileGpu)]
pub async fn profile_gpu(
    model: Uint8Array,
    shape: Vec<u32>,
    input: Vec<f32>,
    runs: u32,
) -> std::result::Result<JsValue, JsValue> {
    install_panic_hook();
    Ok(profile(&model, shape, &input, runs).await?)
}

async fn profile(model: &Uint8Array, shape: Vec<u32>, input: &[f32], runs: u32) -> Result<JsValue> {
    check_webgpu_reachable()?;
    let (graph, check) = import(model)?;
    check.verify().await?;
    let input_shape = Some(shape.into_iter().map(|d| d as usize).collect());
    let plan = crate::plan::compile_owned(graph?, &CompileOptions { input_shape })?;
    let mut gpu = GpuBackend::with_timestamps(&plan, Precision::F32, Occupancy::Auto).await?;
    gpu.run(input).await?;
    let stages = step_stages(&plan);
    let dispatches: Vec<serde_json::Value> = gpu
        .dispatches()
        .iter()
        .map(|d| {
            serde_json::json!({
                "step": d.step, "stage": stages.get(d.step), "kind": d.kind, "entry": d.entry,
                "workgroups": d.workgroups(), "k": d.k, "tile": d.tile, "splits": d.splits,
            })
        })
        .collect();
    let mut timed = Vec::with_capacity(runs as usize);
    for _ in 0..runs.max(1) {
        let p = gpu.profile(input).await?;
        let ms: Vec<f64> = p.dispatches.iter().map(|d| d.seconds * 1e3).collect();
        timed.push(serde_json::json!({ "ms": ms, "spanMs": p.span_seconds * 1e3 }));
    }
    let out = serde_json::json!({ "adapter": gpu.adapter_info(), "dispatches": dispatches, "runs": timed });
    js_sys::JSON::parse(&out.to_string()).map_err(|_| Error::Backend("profile: JSON.parse failed".into()))
}
