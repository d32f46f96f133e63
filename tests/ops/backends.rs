//! The backends every case runs on. A new backend is one more variant here
//! and one more entry in [`all`]; the harness then runs every case on it.

#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
use webresnet::cpu::use_fused_int8_dot;
use webresnet::cpu::{CpuBackend, Kernels, Winograd};
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
use webresnet::gpu::{GpuBackend, Occupancy, Options, Precision};
use webresnet::plan::Plan;
use webresnet::Error;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    /// Portable Rust kernels, checked against the naive reference; the oracle for the SIMD kernels.
    Portable,
    /// The portable kernels on a rayon pool of 3 threads, which must match a pool of 1 bit for bit.
    #[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
    Threads,
    /// The wasm SIMD128 kernels (fused relaxed multiply-add in a `+relaxed-simd` build).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
    /// The relaxed-SIMD kernels with the int8 sums on the one-instruction
    /// dot-add (`use_fused_int8_dot`), which the package picks per engine:
    /// run where the runner sets `WEBRESNET_FUSED_DOT=1`, on an engine that
    /// computes it right in every tier (Node 20 only with `--no-liftoff`).
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    FusedDot,
    /// WebGPU through native wgpu, with f32 or f16 weights (f16 needs
    /// `shader-f16`), convs cut as for a GPU even on an emulator, the head
    /// reducing with subgroup operations (they need `subgroups`) or, as in
    /// a browser, in workgroup memory.
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    Gpu(Precision, Reduction),
}

/// How the GPU head sums across a workgroup.
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduction {
    Subgroups,
    Workgroup,
}

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
impl Reduction {
    fn options(self, precision: Precision) -> Options {
        Options { precision, occupancy: Occupancy::Gpu, subgroups: self == Reduction::Subgroups }
    }
}

/// Every backend this build has.
pub fn all() -> Vec<Backend> {
    #[allow(unused_mut)]
    let mut v = vec![Backend::Portable];
    #[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
    v.push(Backend::Threads);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(Backend::Simd128);
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    if fused_dot_asked() {
        // Only what differs from the run without it.
        v = vec![Backend::FusedDot];
    }
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    v.extend([
        Backend::Gpu(Precision::F32, Reduction::Subgroups),
        Backend::Gpu(Precision::F16, Reduction::Subgroups),
        Backend::Gpu(Precision::F32, Reduction::Workgroup),
        Backend::Gpu(Precision::F16, Reduction::Workgroup),
    ]);
    v
}

/// Whether the runner set `WEBRESNET_FUSED_DOT=1` (Node's `process.env`).
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
fn fused_dot_asked() -> bool {
    use js_sys::Reflect;
    let get = |o: &wasm_bindgen::JsValue, k: &str| Reflect::get(o, &k.into()).ok().filter(|v| !v.is_undefined());
    get(&js_sys::global(), "process")
        .and_then(|p| get(&p, "env"))
        .and_then(|e| get(&e, "WEBRESNET_FUSED_DOT"))
        .and_then(|v| v.as_string())
        .is_some_and(|v| v == "1")
}

/// What a backend's output is checked against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Oracle {
    /// The naive f64 interpreter (`reference.rs`).
    Reference,
    /// The portable kernels' output on the same case (only the SIMD kernels use it).
    #[cfg_attr(not(all(target_arch = "wasm32", target_feature = "simd128")), allow(dead_code))]
    Portable,
}

/// Why a case produced no output.
pub enum Failure {
    /// The backend refused the plan.
    Load(Error),
    /// It loaded, but running failed or gave unstable results.
    Run(String),
}

impl Backend {
    pub fn name(&self) -> String {
        match self {
            Backend::Portable => "portable".into(),
            #[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
            Backend::Threads => "threads".into(),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", target_feature = "relaxed-simd"))]
            Backend::Simd128 => "simd128+relaxed".into(),
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            Backend::FusedDot => "simd128+relaxed, fused int8 dot".into(),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
            Backend::Simd128 => "simd128".into(),
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(p, r) => format!("gpu {p:?} {r:?}"),
        }
    }

    pub fn oracle(&self) -> Oracle {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Backend::Simd128 => Oracle::Portable,
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            Backend::FusedDot => Oracle::Portable,
            _ => Oracle::Reference,
        }
    }

    /// Largest max-abs difference allowed, as a fraction of the oracle's value range (at least 1).
    pub fn tolerance(&self) -> f32 {
        match self {
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(Precision::F32, _) => 1e-3,
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(Precision::F16, _) => 2e-2,
            _ => 1e-4,
        }
    }

    /// How many steps the backend's int8 kernels quantize activations to
    /// (7 bits in a relaxed-SIMD build, for its dot product, portable
    /// kernels included); None where int8 weights are computed in f32.
    pub fn int8_levels(&self) -> Option<u8> {
        match self {
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(..) => None,
            _ if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) => Some(127),
            _ => Some(255),
        }
    }

    /// Whether it runs quantize steps (QDQ models); the GPU refuses them.
    pub fn quantizes(&self) -> bool {
        match self {
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(..) => false,
            _ => true,
        }
    }

    /// Whether Add, Softmax and the like may write over their own input.
    /// The CPU kernels refuse such a plan with a typed error instead.
    pub fn aliases_elementwise(&self) -> bool {
        match self {
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(..) => true,
            _ => false,
        }
    }

    /// Whether to run every case as one plan ([`crate::batch`]): loading
    /// costs far more than running (a device, shader compiles).
    pub fn batches(&self) -> bool {
        match self {
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(..) => true,
            _ => false,
        }
    }

    /// `None` when this machine can run the backend, else why not.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(p, r) => {
                let case = crate::cases::chained_network();
                match GpuBackend::with_options_blocking(&case.plan, r.options(*p)) {
                    Ok(b) if b.precision() != *p => {
                        Some(format!("{} gave {:?} weights, not {p:?}", b.adapter_info(), b.precision()))
                    }
                    Ok(b) if b.subgroups() != (*r == Reduction::Subgroups) => {
                        Some(format!("{} has no subgroups", b.adapter_info()))
                    }
                    Ok(_) => None,
                    Err(Error::GpuUnavailable(msg)) => Some(format!("no GPU adapter ({msg})")),
                    Err(e) => panic!("GPU backend failed to load: {e}"),
                }
            }
            _ => None,
        }
    }

    /// Loads `plan` and runs it twice on `data`: the second run, over the
    /// first run's arena, must give the same bits. The CPU backends run
    /// 3x3 convs as Winograd per `wino`.
    pub fn run(&self, plan: &Plan, data: &[f32], wino: Winograd) -> Result<Vec<f32>, Failure> {
        match self {
            Backend::Portable => cpu(plan, data, Kernels::Portable, wino),
            #[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
            Backend::Threads => {
                let on = |n| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("thread pool");
                    pool.install(|| cpu(plan, data, Kernels::Portable, wino))
                };
                let (one, three) = (on(1)?, on(3)?);
                if !same_bits(&one, &three) {
                    return Err(Failure::Run("3 threads differ from 1".into()));
                }
                Ok(three)
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Backend::Simd128 => cpu(plan, data, Kernels::Simd128, wino),
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            Backend::FusedDot => {
                if !use_fused_int8_dot(true) {
                    return Err(Failure::Run("the build refused the fused int8 dot product".into()));
                }
                let out = cpu(plan, data, Kernels::Simd128, wino);
                use_fused_int8_dot(false);
                out
            }
            #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
            Backend::Gpu(p, r) => {
                let mut b = GpuBackend::with_options_blocking(plan, r.options(*p)).map_err(Failure::Load)?;
                if b.precision() != *p {
                    return Err(Failure::Run(format!("loaded with {:?} weights, not {p:?}", b.precision())));
                }
                twice(|| b.run_blocking(data))
            }
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Failure::Load(e) => write!(f, "refused the plan: {e}"),
            Failure::Run(why) => f.write_str(why),
        }
    }
}

fn cpu(plan: &Plan, data: &[f32], kernels: Kernels, wino: Winograd) -> Result<Vec<f32>, Failure> {
    let mut b = CpuBackend::with_winograd(plan, kernels, wino).map_err(Failure::Load)?;
    twice(|| b.run(data))
}

fn twice(mut run: impl FnMut() -> webresnet::Result<Vec<f32>>) -> Result<Vec<f32>, Failure> {
    let first = run().map_err(|e| Failure::Run(format!("run: {e}")))?;
    let second = run().map_err(|e| Failure::Run(format!("second run: {e}")))?;
    if !same_bits(&first, &second) {
        return Err(Failure::Run("a second run gave different results".into()));
    }
    Ok(first)
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}
