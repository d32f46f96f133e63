//! The backend chosen at run time: the CPU or the WebGPU one, built once from
//! a plan and run per input. The JS API and the CLI both hold one of these.

use std::str::FromStr;

use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::gpu::GpuBackend;
use crate::plan::{Features, Plan};

/// Which backend to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Cpu,
    WebGpu,
}

impl BackendKind {
    /// `"cpu"`, or `"webgpu"` (also spelt `"gpu"`).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cpu" => Ok(Self::Cpu),
            "webgpu" | "gpu" => Ok(Self::WebGpu),
            other => Err(Error::InvalidInput(format!("backend must be \"webgpu\" or \"cpu\", not {other:?}"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::WebGpu => "webgpu",
        }
    }
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        Self::parse(name)
    }
}

/// A backend built from one plan.
pub enum Backend {
    Cpu(CpuBackend),
    Gpu(Box<GpuBackend>),
}

impl Backend {
    /// Builds `kind` for `plan`: packs the weights (and on WebGPU opens a device).
    pub async fn new(plan: &Plan, kind: BackendKind) -> Result<Self> {
        Ok(match kind {
            BackendKind::Cpu => Backend::Cpu(CpuBackend::new(plan)?),
            BackendKind::WebGpu => Backend::Gpu(Box::new(GpuBackend::new(plan).await?)),
        })
    }

    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Cpu(_) => BackendKind::Cpu,
            Backend::Gpu(_) => BackendKind::WebGpu,
        }
    }

    /// The WebGPU adapter's description; empty on the CPU.
    pub fn adapter_info(&self) -> String {
        match self {
            Backend::Cpu(_) => String::new(),
            Backend::Gpu(g) => g.adapter_info(),
        }
    }

    /// The whole plan: `plan.input_len()` values in, `plan.output_len()` out.
    pub async fn run(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        match self {
            Backend::Cpu(c) => c.run(input),
            Backend::Gpu(g) => g.run(input).await,
        }
    }

    /// The plan's first steps only, as far as `features` (of the same plan)
    /// says, returning its pooled output: an image embedding.
    pub async fn run_features(&mut self, input: &[f32], features: &Features) -> Result<Vec<f32>> {
        match self {
            Backend::Cpu(c) => c.run_features(input, features),
            Backend::Gpu(g) => g.run_features(input, features).await,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Backend {
    /// [`Backend::new`], blocking the current thread.
    pub fn new_blocking(plan: &Plan, kind: BackendKind) -> Result<Self> {
        pollster::block_on(Self::new(plan, kind))
    }

    /// [`Backend::run`], blocking the current thread.
    pub fn run_blocking(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        pollster::block_on(self.run(input))
    }

    /// [`Backend::run_features`], blocking the current thread.
    pub fn run_features_blocking(&mut self, input: &[f32], features: &Features) -> Result<Vec<f32>> {
        pollster::block_on(self.run_features(input, features))
    }
}
