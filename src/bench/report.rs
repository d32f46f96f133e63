//! A [`Report`] as markdown tables (for the performance doc) and as JSON.

use super::profile::RowProfile;
use super::{precision_name, Report, Row};

/// One line about the ceiling, one table row per case, then each case's
/// per-dispatch profile where one was taken.
pub fn markdown(r: &Report) -> String {
    let c = &r.ceiling;
    let mut out = format!(
        "{}: {}; ceiling {} {:.1} GFLOP/s; warm = median of {} runs\n",
        r.backend.name(),
        c.device,
        c.what,
        c.gflops,
        r.runs
    );
    if let Some(p) = r.peak_gflops {
        out += &format!("stated FP32 peak {p:.0} GFLOP/s; the ceiling reaches {:.1}% of it\n", 100.0 * c.gflops / p);
    }
    let peak_col = if r.peak_gflops.is_some() { (" of FP32 peak |", "---:|") } else { ("", "") };
    out += &format!(
        "\n| model | backend | batch | weights | input | cold ms | warm ms | GFLOP/s | of ceiling |{} parity |\n",
        peak_col.0
    );
    out += &format!("|---|---|---:|---|---|---:|---:|---:|---:|{}---|\n", peak_col.1);
    for row in &r.rows {
        let parity = match &row.parity {
            Some(p) => format!(
                "{} ({:.1e} of range, top-{} {})",
                if p.ok() { "ok" } else { "FAIL" },
                p.ratio,
                p.top_k,
                if p.top_match { "same" } else { "differs" }
            ),
            None => "-".into(),
        };
        let peak = row.peak_share.map_or(String::new(), |p| format!(" {:.2}% |", p * 100.0));
        out += &format!(
            "| {} | {} | {} | {} | {:?} | {:.1} | {:.2} | {:.2} | {:.0}% |{peak} {parity} |\n",
            row.model,
            r.backend.name(),
            row.batch,
            precision_name(row.precision),
            row.input_shape,
            row.cold_ms,
            row.warm_ms,
            row.gflops,
            row.share * 100.0
        );
    }
    for s in &r.skipped {
        out += &format!("\nnot run: {s}");
    }
    for row in &r.rows {
        if let Some(p) = &row.profile {
            out += &profile_markdown(row, p, r.runs);
        }
    }
    out
}

/// A case's dispatches with their GPU times and shares, then the sums by
/// kind and by stage, and the GPU time against the run's round trip.
fn profile_markdown(row: &Row, p: &RowProfile, runs: usize) -> String {
    let gpu = p.gpu_ms();
    let share = |ms: f64| if gpu > 0.0 { 100.0 * ms / gpu } else { 0.0 };
    let mut out = format!(
        "\n\n### {} batch {} {}: GPU time per dispatch (timestamp queries, median of {runs} runs)\n\n",
        row.model,
        row.batch,
        precision_name(row.precision)
    );
    out += &format!(
        "GPU time {gpu:.3} ms (sum of dispatches), GPU span {:.3} ms; round trip (upload, submit, wait, read back) \
         {:.3} ms: the dispatches are {:.0}% of it\n\n",
        p.span_ms,
        row.warm_ms,
        100.0 * gpu / row.warm_ms
    );
    out += "| # | step | stage | kind | workgroups | k | tile | splits | GPU ms | share |\n";
    out += "|---:|---:|---|---|---:|---:|---|---:|---:|---:|\n";
    for (i, d) in p.dispatches.iter().enumerate() {
        let f = &d.info;
        let tile = if f.tile == 0 { "-".to_string() } else { format!("{0}x{0}", f.tile) };
        out += &format!(
            "| {i} | {} | {} | {} | {} | {} | {tile} | {} | {:.4} | {:.1}% |\n",
            f.step,
            d.stage,
            f.kind,
            f.workgroups(),
            f.k,
            f.splits,
            d.ms,
            share(d.ms)
        );
    }
    for (what, totals) in [("kind", p.totals(|d| d.info.kind)), ("stage", p.totals(|d| &d.stage))] {
        out += &format!("\n| {what} | dispatches | GPU ms | share |\n|---|---:|---:|---:|\n");
        for (k, ms, n) in totals {
            out += &format!("| {k} | {n} | {ms:.3} | {:.1}% |\n", share(ms));
        }
    }
    out
}

fn profile_json(p: &RowProfile) -> serde_json::Value {
    let totals = |t: Vec<(String, f64, usize)>| -> Vec<serde_json::Value> {
        t.into_iter().map(|(k, ms, n)| serde_json::json!({"name": k, "dispatches": n, "ms": ms})).collect()
    };
    let gpu = p.gpu_ms();
    let dispatches: Vec<serde_json::Value> = p
        .dispatches
        .iter()
        .map(|d| {
            let f = &d.info;
            serde_json::json!({
                "step": f.step, "stage": d.stage, "kind": f.kind, "entry": f.entry, "workgroups": f.workgroups(),
                "k": f.k, "tile": f.tile, "splits": f.splits, "ms": d.ms, "share": d.ms / gpu,
            })
        })
        .collect();
    serde_json::json!({
        "gpu_ms": gpu,
        "span_ms": p.span_ms,
        "dispatches": dispatches,
        "by_kind": totals(p.totals(|d| d.info.kind)),
        "by_stage": totals(p.totals(|d| &d.stage)),
    })
}

pub fn json(r: &Report) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = r
        .rows
        .iter()
        .map(|row| {
            let parity = row.parity.as_ref().map(|p| {
                serde_json::json!({
                    "ok": p.ok(), "ratio": p.ratio, "bound": p.bound, "top_k": p.top_k, "top_match": p.top_match,
                })
            });
            serde_json::json!({
                "model": row.model,
                "batch": row.batch,
                "precision": precision_name(row.precision),
                "input_shape": row.input_shape,
                "cold_ms": row.cold_ms,
                "warm_ms": row.warm_ms,
                "macs": row.macs,
                "gflops": row.gflops,
                "share": row.share,
                "peak_share": row.peak_share,
                "parity": parity,
                "profile": row.profile.as_ref().map(profile_json),
            })
        })
        .collect();
    serde_json::json!({
        "backend": r.backend.name(),
        "device": r.ceiling.device,
        "runs": r.runs,
        "ceiling": {"what": r.ceiling.what, "gflops": r.ceiling.gflops},
        "peak_gflops": r.peak_gflops,
        "rows": rows,
        "skipped": r.skipped,
    })
}
