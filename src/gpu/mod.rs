//! WebGPU backend: WGSL compute shaders (`shaders/*.wgsl`) driven through
//! `wgpu`, in the browser on wasm32 and on Vulkan/Metal/DX12 natively.
//!
//! At load, every step becomes one dispatch with its pipeline and bind
//! group fixed: activations live in one read_write arena buffer (each
//! kernel gets element offsets through its uniform), weights are packed
//! once into storage buffers, parameters into one uniform buffer. A run
//! uploads the input, records all dispatches into one command encoder,
//! submits once and reads back only the output. A frame (an image on the
//! GPU) is preprocessed there too, in the same submit ([`preprocess`]).

mod ahead;
#[cfg(not(target_arch = "wasm32"))]
mod ceiling;
mod context;
mod exec;
mod fuse;
mod params;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod params_layout;
mod pipelines;
mod preprocess;
mod profile;
mod report;
mod weights;

pub use ahead::Prepared;
#[cfg(not(target_arch = "wasm32"))]
pub use ceiling::{matmul_ceiling_blocking, Ceiling};
pub use profile::{step_stages, DispatchTime, Profile};
pub use report::DispatchInfo;

use context::{Context, Wanted};
use exec::{Dispatch, Lowering, GPU_GROUPS};
use pipelines::Pipelines;
pub use preprocess::Frame;
use preprocess::FramePrep;
use weights::WeightPacker;

use crate::error::{Error, Result};
use crate::plan::{Features, Plan, Step, TensorInfo, ARENA_ALIGN};

/// Element type of the packed weights and of the conv GEMM's multiplies.
/// Activations in memory and accumulation are f32 in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Half the weight memory and upload, and f16 conv tiles: each 16-deep
    /// K slice sums in f16, then widens into f32 accumulators. Logits within
    /// about 1e-2 of the logit range of the f32 results. Needs the adapter's `shader-f16`.
    F16,
}

/// Workgroup memory of the conv kernel (`a_s` and `b_s` in conv.wgsl).
const CONV_WORKGROUP_BYTES: u32 = 8192;

/// How many workgroups the conv layers are cut into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occupancy {
    /// Enough to fill a large GPU (smaller tiles, split-K), except on a CPU
    /// adapter (lavapipe, SwiftShader natively), which runs only a few
    /// workgroups at once and gets the largest tiles unsplit.
    Auto,
    /// As for a GPU whatever the adapter (what [`dispatches`] reports), so
    /// an emulator runs the kernels a GPU would.
    Gpu,
}

/// How a backend is built: [`Options::default`] is f32 weights, the conv
/// cut for the adapter, and subgroup operations where the device has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The weight precision wanted ([`GpuBackend::with_precision`]).
    pub precision: Precision,
    pub occupancy: Occupancy,
    /// Let the head reduce with subgroup operations where the adapter has
    /// `subgroups` (natively; wgpu offers none in a browser). Off, it
    /// reduces in workgroup memory, as a browser does.
    pub subgroups: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { precision: Precision::F32, occupancy: Occupancy::Auto, subgroups: true }
    }
}

/// Largest finite f16.
const F16_MAX: f32 = 65504.0;

/// Bytes reserved per step in the uniform buffer (covers every `Params`
/// struct; raised to the device's offset alignment when that is larger).
const PARAM_SLOT: u64 = 256;

struct Pass {
    pipeline: usize,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
}

pub struct GpuBackend {
    ctx: Context,
    precision: Precision,
    pipelines: Pipelines,
    passes: Vec<Pass>,
    arena: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Kept with the bind groups that reference them.
    _weights: Vec<wgpu::Buffer>,
    _params: wgpu::Buffer,
    input_offset: u64,
    input_len: usize,
    output_offset: u64,
    output_len: usize,
    /// Every tensor's place in the arena (bytes, elements), for reads other than the output.
    ranges: Vec<(u64, usize)>,
    frames: FramePrep,
    /// What each pass dispatches, and for which plan step.
    dispatches: Vec<DispatchInfo>,
    /// Pipelines compiled while building, not found made ahead.
    compiled_at_build: usize,
    /// The pooling of each global average pooling step that the head
    /// after it runs itself: a run that stops after the step (features) ends with it.
    pools: Vec<(usize, Pass)>,
}

/// What a run starts from: the input tensor, or a frame to preprocess into it.
enum Input<'a> {
    Tensor(&'a [f32]),
    Frame(Frame<'a>),
}

impl GpuBackend {
    /// Opens a device, uploads the weights and creates every pipeline and bind group (f32 weights).
    pub async fn new(plan: &Plan) -> Result<Self> {
        Self::with_precision(plan, Precision::F32).await
    }

    /// [`GpuBackend::new`] with f16 weights when `want` is [`Precision::F16`],
    /// the adapter offers `shader-f16` and every weight fits f16's range;
    /// otherwise f32. [`GpuBackend::precision`] tells which was used.
    pub async fn with_precision(plan: &Plan, want: Precision) -> Result<Self> {
        Self::with_options(plan, Options { precision: want, ..Options::default() }).await
    }

    /// [`GpuBackend::with_precision`] with every choice of [`Options`].
    pub async fn with_options(plan: &Plan, options: Options) -> Result<Self> {
        check_plan(plan)?;
        let f16 = options.precision == Precision::F16 && plan.steps.iter().all(fits_f16);
        let ctx = open(plan, Wanted { f16, subgroups: options.subgroups }).await?;
        let pipelines = Pipelines::new(&ctx.device, ctx.f16, ctx.subgroups);
        Self::build(plan, ctx, pipelines, options.occupancy).await
    }

    /// [`GpuBackend::new`] on the device `prepared` opened, whose pipelines
    /// it compiled from the shapes of this plan: building then uploads
    /// buffers and makes bind groups, and compiles only what the shapes did
    /// not foresee ([`GpuBackend::pipelines_compiled_at_build`]).
    pub async fn from_prepared(plan: &Plan, prepared: Prepared) -> Result<Self> {
        Self::build(plan, prepared.ctx, prepared.pipelines, Occupancy::Auto).await
    }

    /// Lowers `plan` for the device of `ctx` and makes every GPU object,
    /// taking pipelines from `pipelines` where they are made already.
    async fn build(plan: &Plan, ctx: Context, mut pipelines: Pipelines, occupancy: Occupancy) -> Result<Self> {
        let (input, output) = check_plan(plan)?;
        let precision = if ctx.f16 { Precision::F16 } else { Precision::F32 };
        let (lowered, bytes) = lower_for(plan, &ctx, occupancy)?;
        let ahead = pipelines.list.len();
        let res = ctx
            .checked("creating GPU resources", || Resources::new(&ctx, &mut pipelines, &lowered, bytes, output.len()))
            .await?;
        Ok(GpuBackend {
            input_offset: (lowered.input_off * 4) as u64,
            input_len: input.len(),
            output_offset: (output.offset * 4) as u64,
            output_len: output.len(),
            ranges: plan.tensors.iter().map(|x| ((x.offset * 4) as u64, x.len())).collect(),
            frames: FramePrep::new(plan, lowered.input_off),
            dispatches: lowered.infos(),
            ctx,
            precision,
            compiled_at_build: pipelines.list.len() - ahead,
            pipelines,
            passes: res.passes,
            pools: res.pools,
            arena: res.arena,
            readback: res.readback,
            _weights: res.weights,
            _params: res.params,
        })
    }

    /// `input`: `plan.input_len()` f32 in the model's declared input layout.
    /// Returns `plan.output_len()` f32.
    pub async fn run(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        self.run_passes(Input::Tensor(input), self.passes.len(), None, self.output_offset, self.output_len).await
    }

    /// [`GpuBackend::run`] on a frame, preprocessed on the GPU as
    /// [`crate::preprocess`] does on the CPU (the plan must take one image).
    pub async fn run_frame(&mut self, frame: Frame<'_>) -> Result<Vec<f32>> {
        self.run_passes(Input::Frame(frame), self.passes.len(), None, self.output_offset, self.output_len).await
    }

    /// The input tensor the GPU makes of `frame`, read back: what
    /// [`GpuBackend::run_frame`] feeds the network.
    pub async fn preprocess_frame(&mut self, frame: Frame<'_>) -> Result<Vec<f32>> {
        self.run_passes(Input::Frame(frame), 0, None, self.input_offset, self.input_len).await
    }

    /// Runs only the steps before `features` (of this backend's plan) and
    /// returns the pooled features, `[n, channels]`.
    pub async fn run_features(&mut self, input: &[f32], features: &Features) -> Result<Vec<f32>> {
        self.features(Input::Tensor(input), features).await
    }

    /// [`GpuBackend::run_features`] on a frame, as [`GpuBackend::run_frame`] takes it.
    pub async fn run_frame_features(&mut self, frame: Frame<'_>, features: &Features) -> Result<Vec<f32>> {
        self.features(Input::Frame(frame), features).await
    }

    async fn features(&mut self, input: Input<'_>, features: &Features) -> Result<Vec<f32>> {
        let want = features.output.shape.iter().product::<usize>();
        match self.ranges.get(features.output.tensor) {
            Some(&(offset, len)) if len == want && features.steps <= self.step_count() => {
                let passes = self.dispatches.partition_point(|d| d.step < features.steps);
                let pool = self.pools.iter().position(|(step, _)| step + 1 == features.steps);
                self.run_passes(input, passes, pool, offset, len).await
            }
            _ => Err(Error::InvalidInput("the features are not of this backend's plan".into())),
        }
    }

    /// Runs the first `steps` passes on `input`, then `pools[pool]` if
    /// given, and reads back `len` f32 from byte `offset` of the arena.
    async fn run_passes(
        &mut self,
        input: Input<'_>,
        steps: usize,
        pool: Option<usize>,
        offset: u64,
        len: usize,
    ) -> Result<Vec<f32>> {
        if let Input::Tensor(t) = input {
            if t.len() != self.input_len {
                return Err(Error::InvalidInput(format!("expected {} input values, got {}", self.input_len, t.len())));
            }
        }
        let bytes = (len * 4) as u64;
        if self.readback.size() < bytes {
            // Features wider than the logits (e.g. 2048 against 1000 classes).
            self.readback = readback_buffer(&self.ctx.device, bytes);
        }
        let ctx = &self.ctx;
        ctx.health()?;
        let frames = &mut self.frames;
        ctx.checked("running the plan", || {
            let frame = match &input {
                Input::Tensor(t) => {
                    ctx.queue.write_buffer(&self.arena, self.input_offset, bytemuck::cast_slice(t));
                    None
                }
                Input::Frame(f) => {
                    frames.load(ctx, &self.arena, f)?;
                    Some(&*frames)
                }
            };
            let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                if let Some(f) = frame {
                    f.record(&mut pass);
                }
                let tail = pool.map(|i| &self.pools[i].1);
                for p in self.passes[..steps].iter().chain(tail) {
                    pass.set_pipeline(&self.pipelines.list[p.pipeline]);
                    pass.set_bind_group(0, &p.bind_group, &[]);
                    pass.dispatch_workgroups(p.groups[0], p.groups[1], p.groups[2]);
                }
            }
            encoder.copy_buffer_to_buffer(&self.arena, offset, &self.readback, 0, bytes);
            ctx.queue.submit([encoder.finish()]);
            Ok::<_, Error>(())
        })
        .await??;

        let out = read_mapped(ctx, &self.readback, bytes).await?;
        Ok(bytemuck::cast_slice::<u8, f32>(&out).to_vec())
    }

    /// The adapter: natively its name, backend, device type and driver; in a
    /// browser, the browser's vendor, architecture, device and description.
    pub fn adapter_info(&self) -> String {
        self.ctx.name.clone()
    }

    /// The weight precision in use.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether the head reduces with subgroup operations.
    pub fn subgroups(&self) -> bool {
        self.ctx.subgroups
    }

    /// Distinct compute pipelines (kernel variants) this backend holds:
    /// those its plan uses, and any compiled ahead for shapes it turned out not to have.
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.list.len()
    }

    /// Pipelines compiled while this backend was built: all of them unless
    /// [`GpuBackend::from_prepared`] found them made ahead.
    pub fn pipelines_compiled_at_build(&self) -> usize {
        self.compiled_at_build
    }

    /// Every dispatch of a run, in order, as recorded for this device.
    pub fn dispatches(&self) -> &[DispatchInfo] {
        &self.dispatches
    }

    /// Plan steps this backend runs.
    fn step_count(&self) -> usize {
        self.dispatches.last().map_or(0, |d| d.step + 1)
    }
}

/// `plan`'s input and output tensors, once its tensors are checked to lie in the arena.
fn check_plan(plan: &Plan) -> Result<(&TensorInfo, &TensorInfo)> {
    let t = &plan.tensors;
    let (input, output) = match (t.get(plan.input.tensor), t.get(plan.output.tensor)) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err(Error::Shape("plan input/output tensor missing".into())),
    };
    if input.len() != plan.input_len() || output.len() != plan.output_len() {
        return Err(Error::Shape("plan input/output shapes disagree with their tensors".into()));
    }
    if let Some(bad) = t.iter().find(|x| x.offset % ARENA_ALIGN != 0 || x.offset + x.len() > plan.arena_len) {
        return Err(Error::Shape(format!("tensor '{}' is misaligned or outside the arena", bad.name)));
    }
    Ok((input, output))
}

/// Opens a device for `plan`'s activations and weights (f16 ones with `want_f16`).
async fn open(plan: &Plan, want: Wanted) -> Result<Context> {
    let weight_count = plan.steps.iter().map(|s| s.params() as u64).sum::<u64>();
    // Vec4-typed kernels need whole 16-byte elements; 256 covers any alignment.
    Context::new(arena_bytes(plan.arena_len), weight_count, want).await
}

/// `plan` lowered for the device of `ctx` cut for `occupancy`, and the bytes of its arena.
fn lower_for(plan: &Plan, ctx: &Context, occupancy: Occupancy) -> Result<(Lowered, u64)> {
    let groups = if occupancy == Occupancy::Auto && ctx.cpu { 1 } else { GPU_GROUPS };
    let lowered = lower(plan, &ctx.limits, if ctx.f16 { 2 } else { 4 }, groups, ctx.subgroups)?;
    let bytes = arena_bytes(lowered.arena_len);
    if bytes > ctx.limits.max_storage_buffer_binding_size {
        return Err(Error::Limit(format!(
            "activations and split-K scratch need a {bytes}-byte storage buffer; the device allows {}",
            ctx.limits.max_storage_buffer_binding_size
        )));
    }
    Ok((lowered, bytes))
}

/// Bytes of an arena of `len` f32, whole 256-byte blocks (at least one).
fn arena_bytes(len: usize) -> u64 {
    ((len.max(1) * 4) as u64).next_multiple_of(256)
}

/// Every step's dispatches, with the weights they bind.
struct Lowered {
    dispatches: Vec<Dispatch>,
    /// The plan step of each dispatch.
    steps: Vec<usize>,
    /// The pooling of each folded global average pooling step, for runs that stop after it.
    pools: Vec<(usize, Dispatch)>,
    weights: WeightPacker,
    /// Arena elements, split-K scratch included.
    arena_len: usize,
    /// Element offset the input is uploaded to.
    input_off: usize,
}

/// Lowers `plan` for a device with `lim` that wants `occupancy` workgroups
/// per conv, weights of `elem_bytes` each, and subgroup operations in the
/// head if `subgroups`.
fn lower(plan: &Plan, lim: &wgpu::Limits, elem_bytes: u64, occupancy: usize, subgroups: bool) -> Result<Lowered> {
    let packer = WeightPacker::new(lim.max_storage_buffer_binding_size.min(lim.max_buffer_size), elem_bytes);
    let max_groups = lim.max_compute_workgroups_per_dimension;
    let fusion = fuse::fusion(plan);
    let mut lowering = Lowering::new(plan, conv_tile(lim)?, occupancy, max_groups, packer, subgroups, fusion.own_input);
    let (mut dispatches, mut steps, mut pools) = (Vec::new(), Vec::new(), Vec::new());
    for ((i, s), role) in plan.steps.iter().enumerate().zip(fusion.roles) {
        if let (Step::GlobalAvgPool { input, output }, fuse::Role::Folded) = (s, role) {
            pools.push((i, lowering.global_avg_pool(s, *input, *output)?));
        }
        let d = lowering.step(s, role)?;
        steps.extend(std::iter::repeat_n(i, d.len()));
        dispatches.extend(d);
    }
    let (arena_len, input_off) = (lowering.arena_len(), lowering.input_off);
    Ok(Lowered { dispatches, steps, pools, weights: lowering.weights, arena_len, input_off })
}

impl Lowered {
    fn infos(&self) -> Vec<DispatchInfo> {
        self.dispatches.iter().zip(&self.steps).map(|(d, &step)| DispatchInfo::new(step, d)).collect()
    }
}

/// The dispatches `plan` records on a GPU (not a CPU adapter) with
/// WebGPU's default limits (what every browser grants), without opening one.
pub fn dispatches(plan: &Plan) -> Result<Vec<DispatchInfo>> {
    check_plan(plan)?;
    Ok(lower(plan, &wgpu::Limits::defaults(), 4, GPU_GROUPS, false)?.infos())
}

/// The GPU objects of a lowered plan.
struct Resources {
    passes: Vec<Pass>,
    pools: Vec<(usize, Pass)>,
    arena: wgpu::Buffer,
    readback: wgpu::Buffer,
    weights: Vec<wgpu::Buffer>,
    params: wgpu::Buffer,
}

impl Resources {
    /// `arena_bytes`: the arena's size; `output_len`: f32 the readback first holds.
    fn new(ctx: &Context, pipelines: &mut Pipelines, lowered: &Lowered, arena_bytes: u64, output_len: usize) -> Self {
        use wgpu::util::DeviceExt;
        let device = &ctx.device;
        let slot = PARAM_SLOT.max(u64::from(ctx.limits.min_uniform_buffer_offset_alignment));
        let arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("arena"),
            size: arena_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = readback_buffer(device, (output_len.max(1) * 4) as u64);
        let packed = &lowered.weights;
        let weights: Vec<wgpu::Buffer> = (0..packed.chunks.len())
            .map(|i| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("weights"),
                    contents: &packed.bytes(i),
                    usage: wgpu::BufferUsages::STORAGE,
                })
            })
            .collect();
        let pools = lowered.pools.iter().map(|(_, d)| d);
        let dispatches: Vec<&Dispatch> = lowered.dispatches.iter().chain(pools).collect();
        let mut bytes = vec![0u8; (slot as usize) * dispatches.len().max(1)];
        for (i, d) in dispatches.iter().enumerate() {
            bytes[i * slot as usize..][..d.params.len()].copy_from_slice(&d.params);
        }
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("step params"),
            contents: &bytes,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut passes: Vec<Pass> = dispatches
            .iter()
            .enumerate()
            .map(|(i, d)| Pass {
                pipeline: pipelines.get(device, &d.kernel),
                bind_group: device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipelines.bind_group_layout,
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: arena.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 1, resource: weights[d.chunk].as_entire_binding() },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &params,
                                offset: i as u64 * slot,
                                size: wgpu::BufferSize::new(PARAM_SLOT),
                            }),
                        },
                    ],
                }),
                groups: d.groups,
            })
            .collect();
        let pools =
            lowered.pools.iter().map(|(step, _)| *step).zip(passes.split_off(lowered.dispatches.len())).collect();
        Resources { passes, pools, arena, readback, weights, params }
    }
}

/// The first `bytes` of `buffer` (a mappable buffer a submitted copy
/// fills), mapped, copied out and unmapped again.
async fn read_mapped(ctx: &Context, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
    let slice = buffer.slice(..);
    let (tx, rx) = futures_channel::oneshot::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        // The receiver only disappears if the caller was cancelled.
        let _ = tx.send(r);
    });
    // Unmaps on every exit from here on, including this future being
    // dropped while the mapping is pending (that cancels it), so the next
    // run finds the buffer unmapped.
    let mut guard = Unmap { buffer, armed: true };
    // Natively nothing drives the device unless polled; on the web the
    // browser resolves the mapping on its own.
    #[cfg(not(target_arch = "wasm32"))]
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Backend(format!("waiting for the GPU: {e}")))?;
    let mapped = rx.await.map_err(|_| Error::Backend("GPU readback was dropped".into()))?;
    if let Err(e) = mapped {
        // A failed mapping leaves the buffer unmapped already.
        guard.armed = false;
        ctx.health()?;
        return Err(Error::Backend(format!("mapping the output: {e}")));
    }
    let view = slice.get_mapped_range().map_err(|e| Error::Backend(format!("reading the output: {e}")))?;
    let out = view[..bytes as usize].to_vec();
    drop(view);
    drop(guard);
    ctx.health()?;
    Ok(out)
}

/// A buffer the arena's results are copied into, to be mapped for reading.
fn readback_buffer(device: &wgpu::Device, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Largest side S of the conv workgroup: S x S invocations. WebGPU
/// guarantees 16; smaller native adapters get 8. Either way the kernel
/// stages its slices in 8 KiB of workgroup memory (half WebGPU's minimum).
/// The flat kernels need 256 invocations in x.
fn conv_tile(lim: &wgpu::Limits) -> Result<usize> {
    let fits = |s: u32| {
        lim.max_compute_invocations_per_workgroup >= s * s
            && lim.max_compute_workgroup_size_x >= s
            && lim.max_compute_workgroup_size_y >= s
            && lim.max_compute_workgroup_storage_size >= CONV_WORKGROUP_BYTES
    };
    let flat = lim.max_compute_invocations_per_workgroup >= 256 && lim.max_compute_workgroup_size_x >= 256;
    match [16, 8].into_iter().find(|&s| fits(s)) {
        Some(s) if flat => Ok(s as usize),
        _ => Err(Error::Limit(format!(
            "compute workgroups of at most {} invocations ({}x{}) and {} bytes of workgroup memory are too small",
            lim.max_compute_invocations_per_workgroup,
            lim.max_compute_workgroup_size_x,
            lim.max_compute_workgroup_size_y,
            lim.max_compute_workgroup_storage_size
        ))),
    }
}

/// Every weight of `step` is finite in f16 (tiny ones may lose precision, none overflows).
fn fits_f16(step: &Step) -> bool {
    let parts: [&[f32]; 2] = match step {
        Step::Conv(c) => [&c.weight, &c.bias],
        Step::Dense(d) => [&d.weight, &d.bias],
        Step::Affine(a) => [&a.scale, &a.shift],
        _ => [&[], &[]],
    };
    parts.iter().all(|p| p.iter().all(|v| v.abs() <= F16_MAX))
}

/// Unmaps a readback buffer when dropped, if `armed`.
struct Unmap<'a> {
    buffer: &'a wgpu::Buffer,
    armed: bool,
}

impl Drop for Unmap<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.buffer.unmap();
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl GpuBackend {
    /// [`GpuBackend::new`], blocking the current thread.
    pub fn new_blocking(plan: &Plan) -> Result<Self> {
        pollster::block_on(Self::new(plan))
    }

    /// [`GpuBackend::with_precision`], blocking the current thread.
    pub fn with_precision_blocking(plan: &Plan, want: Precision) -> Result<Self> {
        pollster::block_on(Self::with_precision(plan, want))
    }

    /// [`GpuBackend::with_options`], blocking the current thread.
    pub fn with_options_blocking(plan: &Plan, options: Options) -> Result<Self> {
        pollster::block_on(Self::with_options(plan, options))
    }

    /// [`GpuBackend::run`], blocking the current thread.
    pub fn run_blocking(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        pollster::block_on(self.run(input))
    }

    /// [`GpuBackend::run_frame`], blocking the current thread.
    pub fn run_frame_blocking(&mut self, frame: Frame<'_>) -> Result<Vec<f32>> {
        pollster::block_on(self.run_frame(frame))
    }

    /// [`GpuBackend::preprocess_frame`], blocking the current thread.
    pub fn preprocess_frame_blocking(&mut self, frame: Frame<'_>) -> Result<Vec<f32>> {
        pollster::block_on(self.preprocess_frame(frame))
    }

    /// Profiling aid: runs the plan with every step in its own submit and
    /// waits for each, returning wall seconds per plan step (same order as
    /// `plan.steps`). Slower than [`GpuBackend::run`] in total, but it shows
    /// which steps dominate on adapters without timestamp queries.
    pub fn step_seconds_blocking(&mut self, input: &[f32]) -> Result<Vec<f64>> {
        if input.len() != self.input_len {
            return Err(Error::InvalidInput(format!("expected {} input values, got {}", self.input_len, input.len())));
        }
        let ctx = &self.ctx;
        ctx.health()?;
        let wait = || {
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map(|_| ())
                .map_err(|e| Error::Backend(format!("waiting for the GPU: {e}")))
        };
        ctx.queue.write_buffer(&self.arena, self.input_offset, bytemuck::cast_slice(input));
        ctx.queue.submit([]);
        wait()?;
        let mut times = Vec::with_capacity(self.step_count());
        for step in 0..self.step_count() {
            // A folded step has no passes: its work is timed with the step that does it.
            let first = self.dispatches.partition_point(|d| d.step < step);
            let end = self.dispatches.partition_point(|d| d.step <= step);
            let t = std::time::Instant::now();
            let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                for p in &self.passes[first..end] {
                    pass.set_pipeline(&self.pipelines.list[p.pipeline]);
                    pass.set_bind_group(0, &p.bind_group, &[]);
                    pass.dispatch_workgroups(p.groups[0], p.groups[1], p.groups[2]);
                }
            }
            ctx.queue.submit([encoder.finish()]);
            wait()?;
            times.push(t.elapsed().as_secs_f64());
        }
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_tile_follows_the_limits() {
        let webgpu = wgpu::Limits::defaults();
        assert_eq!(conv_tile(&webgpu).unwrap(), 16);
        let small_storage = wgpu::Limits { max_compute_workgroup_storage_size: 4096, ..webgpu.clone() };
        assert!(matches!(conv_tile(&small_storage), Err(Error::Limit(_))));
        let narrow_y = wgpu::Limits { max_compute_workgroup_size_y: 8, ..webgpu.clone() };
        assert_eq!(conv_tile(&narrow_y).unwrap(), 8);
        let tiny = wgpu::Limits { max_compute_invocations_per_workgroup: 128, ..webgpu.clone() };
        assert!(matches!(conv_tile(&tiny), Err(Error::Limit(_))));
        assert!(matches!(conv_tile(&wgpu::Limits::downlevel_webgl2_defaults()), Err(Error::Limit(_))));
    }

    #[test]
    fn f16_range_check() {
        let dense = |w: f32| {
            Step::Dense(crate::plan::Dense {
                input: 0,
                output: 1,
                in_features: 1,
                out_features: 1,
                weight: vec![w],
                bias: vec![0.0],
                activation: crate::plan::Activation::None,
                int8: false,
                input_quant: None,
                requant: None,
            })
        };
        assert!(fits_f16(&dense(-65504.0)));
        assert!(!fits_f16(&dense(70000.0)));
        assert!(!fits_f16(&dense(f32::NAN)));
    }
}
