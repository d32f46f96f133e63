//! Fully connected layer: `out[r] = act(W · in[r] + bias)` as one GEMM.
use std::ops::Range;

use super::gemm::{bias_act, sgemm, MatMut, MatRef};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd::gemm::{gemm, Matrix, Out, PackedB};
use super::{check_weights, split, Kernel, Kernels, Tensors};
use crate::error::{Error, Result};
use crate::plan::{Activation, Dense};
use crate::transpose::transpose;

enum Weights {
    /// `[in_features][out_features]`, so B is row-major.
    Plain(Vec<f32>),
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Packed(PackedB),
}

pub struct DenseKernel {
    input: Range<usize>,
    output: Range<usize>,
    rows: usize,
    in_f: usize,
    out_f: usize,
    weight: Weights,
    bias: Vec<f32>,
    act: Activation,
}

impl DenseKernel {
    pub fn new(d: &Dense, t: &Tensors, kernels: Kernels) -> Result<Self> {
        let rows = rows(d, t)?;
        let (in_f, out_f) = (d.in_features, d.out_features);
        let weight = match kernels {
            Kernels::Portable => Weights::Plain(transpose(&d.weight, out_f, in_f)),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernels::Simd128 => Weights::Packed(PackedB::new(in_f, out_f, &d.bias, &d.weight)),
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            Kernels::Simd128 => return Err(Kernels::unavailable()),
        };
        Ok(DenseKernel {
            input: t.get(d.input)?.range(),
            output: t.get(d.output)?.range(),
            rows,
            in_f,
            out_f,
            weight,
            bias: d.bias.clone(),
            act: d.activation,
        })
    }
}

/// The number of rows `d` runs on, its shapes checked against the tensors.
pub fn rows(d: &Dense, t: &Tensors) -> Result<usize> {
    let (input, output) = (t.get(d.input)?, t.get(d.output)?);
    let (in_f, out_f) = (d.in_features, d.out_features);
    if in_f == 0 || out_f == 0 || input.len() % in_f != 0 {
        return Err(Error::Backend(format!("input of {} values is not rows of {in_f} features", input.len())));
    }
    let rows = input.len() / in_f;
    if output.len() != rows * out_f {
        return Err(Error::Backend(format!("output has {} values, expected {rows} x {out_f}", output.len())));
    }
    check_weights(&d.weight, &d.bias, out_f, in_f)?;
    Ok(rows)
}

impl Kernel for DenseKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        match &self.weight {
            Weights::Plain(weight) => {
                let a = MatRef { data: input, offset: 0, rs: self.in_f, cs: 1 };
                let b = MatRef { data: weight, offset: 0, rs: self.out_f, cs: 1 };
                let c = MatMut { data: out, offset: 0, rs: self.out_f, cs: 1 };
                sgemm(self.rows, self.in_f, self.out_f, a, b, 0.0, c)?;
                bias_act(out, &self.bias, self.act);
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Weights::Packed(b) => {
                let rows = Matrix { data: input, cols: self.in_f };
                gemm(&rows, self.rows, b, self.act, Out { data: out, ld: self.out_f, col: 0, accumulate: false });
            }
        }
        Ok(())
    }
}
