//! The dispatch report: what each GPU dispatch of a run launches, read off
//! the dispatches the backend records (`webresnet inspect --dispatches`).

use std::fmt;

use super::exec::Dispatch;
use super::pipelines::Family;

/// One dispatch of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchInfo {
    /// The plan step it belongs to.
    pub step: usize,
    /// `conv` (a tiled GEMM), `reduce` (split-K sum and epilogue),
    /// `depthwise`, `pool`, `head`, `eltwise` or `layout`.
    pub kind: &'static str,
    /// The shader entry point.
    pub entry: &'static str,
    /// Workgroups in x, y and z.
    pub grid: [u32; 3],
    /// GEMM depth, 0 where the kernel is no GEMM.
    pub k: usize,
    /// Side of the square output tile, 0 where the kernel is not tiled.
    pub tile: usize,
    /// K ranges the GEMM is split into (1 without split-K).
    pub splits: usize,
}

impl DispatchInfo {
    pub(crate) fn new(step: usize, d: &Dispatch) -> Self {
        let entry = d.kernel.entry;
        let kind = match (d.kernel.family, entry) {
            (_, "splitk") => "reduce",
            (_, "depthwise") => "depthwise",
            (Family::Conv, _) => "conv",
            (Family::Pool, _) => "pool",
            (Family::Head, _) => "head",
            (Family::Eltwise, _) => "eltwise",
            (Family::Layout, _) => "layout",
            (Family::Preprocess, _) => "preprocess",
        };
        DispatchInfo { step, kind, entry, grid: d.groups, k: d.k, tile: d.tile, splits: d.splits }
    }

    /// Workgroups launched, over every split.
    pub fn workgroups(&self) -> u64 {
        self.grid.iter().map(|&g| u64::from(g)).product()
    }
}

impl fmt::Display for DispatchInfo {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let tile = if self.tile == 0 { "-".to_string() } else { format!("{0}x{0}", self.tile) };
        let [x, y, z] = self.grid;
        write!(
            f,
            "step={} kind={} workgroups={} k={} tile={tile} splits={} entry={} grid={x}x{y}x{z}",
            self.step,
            self.kind,
            self.workgroups(),
            self.k,
            self.splits,
            self.entry
        )
    }
}
