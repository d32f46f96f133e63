//! Preprocessing on the GPU: a frame goes into a texture (uploaded bytes, or
//! in a browser copied there by the browser itself, never read back by the
//! page) and `shaders/preprocess.wgsl` writes the model's input tensor into
//! the arena, in the same submit as the network. The filter taps come from
//! [`crate::preprocess::resample`], so both paths weigh the same pixels alike.

use wgpu::util::DeviceExt;

use super::context::Context;
use super::exec::fold_grid;
use super::params::PreprocessParams;
use super::pipelines::Family;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::preprocess::{resample, ChannelOrder, InputLayout, PreprocessConfig, Taps};

/// An image for the GPU to preprocess.
pub enum Frame<'a> {
    /// RGBA8 pixels, row-major without padding (alpha is ignored).
    Rgba { rgba: &'a [u8], width: u32, height: u32 },
    /// Anything `GPUQueue.copyExternalImageToTexture` takes (`ImageBitmap`,
    /// `HTMLVideoElement`, `VideoFrame`, `HTMLCanvasElement`, `OffscreenCanvas`,
    /// `HTMLImageElement`, `ImageData`), `width` x `height` pixels.
    #[cfg(target_arch = "wasm32")]
    External { source: &'a wasm_bindgen::JsValue, width: u32, height: u32 },
}

impl Frame<'_> {
    fn size(&self) -> [u32; 2] {
        match *self {
            Frame::Rgba { width, height, .. } => [width, height],
            #[cfg(target_arch = "wasm32")]
            Frame::External { width, height, .. } => [width, height],
        }
    }
}

/// Workgroup size of both entry points.
const WG: u32 = 256;

/// The kernel, made at the first frame (a backend only ever given tensors
/// compiles nothing for it), and the buffers of the last frame size seen (a
/// video keeps its size, so they are made once).
pub(crate) struct FramePrep {
    cfg: PreprocessConfig,
    /// The plan's input shape.
    input: Vec<usize>,
    /// Element offset of the input tensor in the arena.
    out_off: u32,
    kernel: Option<Kernel>,
    sized: Option<Sized>,
}

struct Kernel {
    layout: wgpu::BindGroupLayout,
    horizontal: wgpu::ComputePipeline,
    vertical: wgpu::ComputePipeline,
}

struct Sized {
    size: [u32; 2],
    texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
    groups: [[u32; 3]; 2],
}

fn entry(binding: u32, ty: wgpu::BindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry { binding, visibility: wgpu::ShaderStages::COMPUTE, ty, count: None }
}

fn storage(read_only: bool) -> wgpu::BindingType {
    wgpu::BindingType::Buffer {
        ty: wgpu::BufferBindingType::Storage { read_only },
        has_dynamic_offset: false,
        min_binding_size: None,
    }
}

impl FramePrep {
    /// Frames for `plan`, whose input tensor starts at element `out_off` of the arena.
    pub fn new(plan: &Plan, out_off: usize) -> Self {
        let (cfg, input) = (plan.preprocess.clone(), plan.input.shape.clone());
        FramePrep { cfg, input, out_off: out_off as u32, kernel: None, sized: None }
    }

    /// Compiles the kernel, once the plan's input is known to be one image
    /// of the preprocessing's crop.
    fn compile(&self, device: &wgpu::Device) -> Result<Kernel> {
        let cfg = &self.cfg;
        cfg.validate()?;
        let [h, w] = cfg.crop.map(|v| v as usize);
        let want = match cfg.layout {
            InputLayout::Nchw => [1, 3, h, w],
            InputLayout::Nhwc => [1, h, w, 3],
        };
        if self.input != want {
            return Err(Error::InvalidInput(format!(
                "the model's input {:?} is not one image as its preprocessing makes it ({want:?})",
                self.input
            )));
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("webresnet frame"),
            entries: &[
                entry(0, storage(false)),
                entry(1, storage(true)),
                entry(
                    2,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                entry(3, storage(false)),
                entry(
                    4,
                    wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                ),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("webresnet frame"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("preprocess"),
            source: wgpu::ShaderSource::Wgsl(Family::Preprocess.source(false, false).into()),
        });
        let pipeline = |entry: &'static str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        Ok(Kernel { horizontal: pipeline("horizontal"), vertical: pipeline("vertical"), layout })
    }

    /// Puts `frame` into the texture (resized buffers first, if its size is new).
    pub fn load(&mut self, ctx: &Context, arena: &wgpu::Buffer, frame: &Frame<'_>) -> Result<()> {
        let [width, height] = frame.size();
        let max = ctx.limits.max_texture_dimension_2d;
        if width == 0 || height == 0 {
            return Err(Error::InvalidInput(format!("image has zero size ({width}x{height})")));
        }
        if width > max || height > max {
            return Err(Error::Limit(format!("a {width}x{height} frame exceeds the GPU's {max}-pixel texture side")));
        }
        if self.kernel.is_none() {
            self.kernel = Some(self.compile(&ctx.device)?);
        }
        let sized = match self.sized.take() {
            Some(s) if s.size == [width, height] => self.sized.insert(s),
            // The old size's buffers (dropped here) are not needed beside the new ones.
            _ => {
                let s = self.sized(ctx, arena, width, height)?;
                self.sized.insert(s)
            }
        };
        match *frame {
            Frame::Rgba { rgba, .. } => {
                let want = 4 * width as usize * height as usize;
                if rgba.len() != want {
                    return Err(Error::InvalidInput(format!(
                        "RGBA buffer has {} bytes; a {width}x{height} frame needs {want}",
                        rgba.len()
                    )));
                }
                ctx.queue.write_texture(
                    sized.texture.as_image_copy(),
                    rgba,
                    wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(4 * width), rows_per_image: None },
                    wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
                );
                Ok(())
            }
            #[cfg(target_arch = "wasm32")]
            Frame::External { source, .. } => copy_external(ctx, &sized.texture, source, width, height),
        }
    }

    /// The two dispatches that write the input tensor from the loaded frame.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        let (Some(k), Some(s)) = (&self.kernel, &self.sized) else { return };
        for (pipeline, g) in [(&k.horizontal, s.groups[0]), (&k.vertical, s.groups[1])] {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &s.bind_group, &[]);
            pass.dispatch_workgroups(g[0], g[1], g[2]);
        }
    }

    fn sized(&self, ctx: &Context, arena: &wgpu::Buffer, width: u32, height: u32) -> Result<Sized> {
        let Some(kernel) = &self.kernel else {
            return Err(Error::Backend("the frame kernel is not compiled".into()));
        };
        let cfg = &self.cfg;
        let r = resample(width as usize, height as usize, cfg)?;
        let [crop_h, crop_w] = cfg.crop;
        let mid_rows = (r.row_hi - r.row_lo) as u32;
        let mid_bytes = u64::from(mid_rows) * u64::from(crop_w) * 12;
        if mid_bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(Error::Limit(format!("a {width}x{height} frame needs {mid_bytes} bytes of GPU scratch")));
        }
        let taps = tap_words(&r.cols, &r.rows);
        let params = PreprocessParams {
            out_off: self.out_off,
            crop_w,
            crop_h,
            row_lo: r.row_lo as u32,
            mid_rows,
            row_taps: 3 * crop_w,
            nchw: u32::from(cfg.layout == InputLayout::Nchw),
            bgr: u32::from(cfg.channel_order == ChannelOrder::Bgr),
            divisor: cfg.pixel_divisor,
            _pad: [0; 3],
            mean: [cfg.mean[0], cfg.mean[1], cfg.mean[2], 0.0],
            stdev: [cfg.std[0], cfg.std[1], cfg.std[2], 1.0],
        };
        let device = &ctx.device;
        let texture = frame_texture(device, width, height);
        let taps = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("frame taps"),
            contents: bytemuck::cast_slice(&taps),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("frame params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mid = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame rows"),
            size: mid_bytes.max(16),
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let view = texture.create_view(&Default::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &kernel.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: arena.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: taps.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: uniform.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: mid.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 4, resource: wgpu::BindingResource::TextureView(&view) },
            ],
        });
        let max = ctx.limits.max_compute_workgroups_per_dimension;
        let grid = |n: u32| fold_grid(n.div_ceil(WG).max(1) as usize, max);
        let groups = [grid(mid_rows * crop_w)?, grid(crop_h * crop_w)?];
        Ok(Sized { size: [width, height], texture, bind_group, groups })
    }
}

/// The texture a `width` x `height` frame is loaded into.
fn frame_texture(device: &wgpu::Device, width: u32, height: u32) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some("frame"),
        size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        // copyExternalImageToTexture writes through a render pass: it needs RENDER_ATTACHMENT.
        usage: wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::COPY_DST
            | wgpu::TextureUsages::RENDER_ATTACHMENT,
        view_formats: &[],
    })
}

/// The taps as the kernel reads them: per column then per row `[start,
/// count, weights at]`, then every weight's f32 bits.
fn tap_words(cols: &[Option<Taps>], rows: &[Option<Taps>]) -> Vec<u32> {
    let entries = 3 * (cols.len() + rows.len());
    let mut meta = Vec::with_capacity(entries);
    let mut weights = Vec::new();
    for tap in cols.iter().chain(rows) {
        match tap {
            Some(t) => {
                meta.extend([t.start as u32, t.weights.len() as u32, (entries + weights.len()) as u32]);
                weights.extend(t.weights.iter().map(|w| w.to_bits()));
            }
            None => meta.extend([0, 0, 0]),
        }
    }
    meta.extend(weights);
    meta
}

/// `GPUQueue.copyExternalImageToTexture`, called on the browser's objects
/// directly: wgpu's wrapper unwraps the call, so an exception (a tainted
/// canvas, a closed `ImageBitmap` or `VideoFrame`) would trap the whole wasm
/// instance instead of failing this one call.
#[cfg(target_arch = "wasm32")]
fn copy_external(
    ctx: &Context,
    texture: &wgpu::Texture,
    source: &wasm_bindgen::JsValue,
    width: u32,
    height: u32,
) -> Result<()> {
    use js_sys::{Array, Function, Object, Reflect};
    use wasm_bindgen::JsCast;
    let (Some(queue), Some(texture)) = (ctx.queue.as_webgpu(), texture.as_webgpu()) else {
        return Err(Error::Backend("copying an image needs the browser's WebGPU".into()));
    };
    let queue: &wasm_bindgen::JsValue = queue.as_ref();
    let copy = Reflect::get(queue, &"copyExternalImageToTexture".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| Error::Backend("this browser's GPUQueue has no copyExternalImageToTexture".into()))?;
    // Setting properties of fresh plain objects cannot fail.
    let src = Object::new();
    let _ = Reflect::set(&src, &"source".into(), source);
    let dst = Object::new();
    let _ = Reflect::set(&dst, &"texture".into(), texture.as_ref());
    // Straight (not premultiplied) colour, as the CPU path reads pixels.
    let _ = Reflect::set(&dst, &"premultipliedAlpha".into(), &false.into());
    let size = Array::of2(&width.into(), &height.into());
    copy.call3(queue, &src, &dst, &size).map(drop).map_err(|e| {
        let field = |name: &str| Reflect::get(&e, &name.into()).ok().and_then(|m| m.as_string());
        // A picture from another origin that did not allow this page (CORS) taints what it is drawn on.
        if field("name").as_deref() == Some("SecurityError") {
            return Error::InvalidInput(
                "the image is from another origin that does not let this page read it (CORS): serve it with an \
                 Access-Control-Allow-Origin header and load it with crossorigin=\"anonymous\""
                    .into(),
            );
        }
        let why = field("message").unwrap_or_else(|| format!("{e:?}"));
        Error::InvalidInput(format!("the browser could not copy the image to the GPU: {why}"))
    })
}
