//! A [`Report`] as a markdown table (for the performance doc) and as JSON.

use super::{precision_name, Report};

/// One line about the ceiling, then one table row per case.
pub fn markdown(r: &Report) -> String {
    let c = &r.ceiling;
    let mut out = format!(
        "{}: {}; ceiling {} {:.1} GFLOP/s; warm = median of {} runs\n\n",
        r.backend.name(),
        c.device,
        c.what,
        c.gflops,
        r.runs
    );
    out += "| model | backend | batch | weights | input | cold ms | warm ms | GFLOP/s | of ceiling | parity |\n";
    out += "|---|---|---:|---|---|---:|---:|---:|---:|---|\n";
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
        out += &format!(
            "| {} | {} | {} | {} | {:?} | {:.1} | {:.2} | {:.2} | {:.0}% | {parity} |\n",
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
    out
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
                "parity": parity,
            })
        })
        .collect();
    serde_json::json!({
        "backend": r.backend.name(),
        "device": r.ceiling.device,
        "runs": r.runs,
        "ceiling": {"what": r.ceiling.what, "gflops": r.ceiling.gflops},
        "rows": rows,
        "skipped": r.skipped,
    })
}
