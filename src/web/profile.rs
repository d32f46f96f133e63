//! `Session.profileGpu`, for the browser bench: each GPU dispatch's time
//! from WebGPU timestamp queries, where the browser's adapter has them.

use js_sys::{Array, Float64Array, Object, Reflect};
use wasm_bindgen::JsValue;

use super::state::Compiled;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::gpu::step_stages;

/// Runs the session's WebGPU backend once untimed on `input`, then `runs`
/// times with a timestamp around each dispatch. Returns `{ adapter,
/// dispatches: [{ step, stage, kind, entry, workgroups, k, tile, splits }],
/// runs: [{ ms: Float64Array, one per dispatch, spanMs }] }`; a `BACKEND`
/// error on the CPU, a `LIMIT` one where the adapter has no timestamp queries.
pub(super) async fn profile(c: &mut Compiled, input: &[f32], runs: u32) -> Result<JsValue> {
    // The session's own backend: building a second one here would put another
    // copy of the whole GPU build into the wasm, for a benchmark.
    let Backend::Gpu(gpu) = &mut c.backend else {
        return Err(Error::Backend("profileGpu needs a session on WebGPU".into()));
    };
    gpu.run(input).await?;
    let stages = step_stages(&c.plan);
    let dispatches: Array = gpu
        .dispatches()
        .iter()
        .map(|d| {
            object(&[
                ("step", d.step.into()),
                ("stage", stages.get(d.step).map_or(JsValue::NULL, |s| s.into())),
                ("kind", d.kind.into()),
                ("entry", d.entry.into()),
                ("workgroups", (d.workgroups() as f64).into()),
                ("k", d.k.into()),
                ("tile", d.tile.into()),
                ("splits", d.splits.into()),
            ])
        })
        .collect();
    let timed = Array::new();
    for _ in 0..runs.max(1) {
        let p = gpu.profile(input).await?;
        let ms: Vec<f64> = p.dispatches.iter().map(|d| d.seconds * 1e3).collect();
        timed.push(&object(&[("ms", Float64Array::from(&ms[..]).into()), ("spanMs", (p.span_seconds * 1e3).into())]));
    }
    Ok(object(&[("adapter", gpu.adapter_info().into()), ("dispatches", dispatches.into()), ("runs", timed.into())]))
}

/// A plain JS object of `fields`.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}
