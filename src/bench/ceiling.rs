//! The CPU path's ceiling: GFLOP/s of the GEMM its convolutions call, on
//! square matrices large enough to run at its peak.

use std::time::Instant;

use crate::cpu::gemm::{sgemm, MatMut, MatRef};
use crate::error::Result;
use crate::seeded::Rng;

const SIDE: usize = 512;

/// GFLOP/s of the fastest of `runs` `SIDE`³ products after a warm-up: a
/// ceiling is what the GEMM can do, and other work on the machine only ever
/// slows a run down.
pub fn cpu_gemm_gflops(runs: usize) -> Result<f64> {
    let mut rng = Rng::new(0x9e37);
    let a = rng.vec(SIDE * SIDE, 1.0);
    let b = rng.vec(SIDE * SIDE, 1.0);
    let mut c = vec![0.0f32; SIDE * SIDE];
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs.max(1) {
        let t = Instant::now();
        let view = |data| MatRef { data, offset: 0, rs: SIDE, cs: 1 };
        sgemm(SIDE, SIDE, SIDE, view(&a), view(&b), 0.0, MatMut { data: &mut c, offset: 0, rs: SIDE, cs: 1 })?;
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let fastest = times.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(2.0 * (SIDE as f64).powi(3) / fastest / 1e9)
}
