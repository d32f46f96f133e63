//! Shader modules and compute pipelines, created once at load. Every kernel
//! family is one WGSL file; variants are pipeline-overridable constants, so
//! the pipeline count grows with the kinds of steps, not with the steps.
//! Compiling the conv pipelines is most of the load time on SwiftShader;
//! uniform branches instead of the conv overrides would merge pipelines but
//! make every inference slower (docs/performance.md), so the overrides stay.
//! The weight element type `W` and the conv tiles' type `T` are the one
//! thing overrides can't choose (types, and `enable f16;` must open the
//! module), so a short prelude sets them; the helpers every family shares
//! (shaders/common.wgsl) and the family's `struct Params`, written by its
//! Rust struct (src/gpu/params.rs), follow it. Subgroup built-ins fail a
//! module even in an unused function, so a family's code past
//! [`SUBGROUPS_MARK`] is cut off where the device lacks `subgroups`.

use std::collections::HashMap;

use super::params::{ConvParams, EltwiseParams, HeadParams, LayoutParams, Params, PoolParams, PreprocessParams};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Conv,
    Pool,
    Head,
    Eltwise,
    Layout,
    Preprocess,
}

impl Family {
    #[cfg(test)]
    pub const ALL: [Family; 6] =
        [Family::Conv, Family::Pool, Family::Head, Family::Eltwise, Family::Layout, Family::Preprocess];

    fn file(self) -> &'static str {
        match self {
            Family::Conv => include_str!("../../shaders/conv.wgsl"),
            Family::Pool => include_str!("../../shaders/pool.wgsl"),
            Family::Head => include_str!("../../shaders/head.wgsl"),
            Family::Eltwise => include_str!("../../shaders/eltwise.wgsl"),
            Family::Layout => include_str!("../../shaders/layout.wgsl"),
            Family::Preprocess => include_str!("../../shaders/preprocess.wgsl"),
        }
    }

    /// The WGSL declaration of the family's uniform.
    fn params(self) -> String {
        match self {
            Family::Conv => ConvParams::wgsl(),
            Family::Pool => PoolParams::wgsl(),
            Family::Head => HeadParams::wgsl(),
            Family::Eltwise => EltwiseParams::wgsl(),
            Family::Layout => LayoutParams::wgsl(),
            Family::Preprocess => PreprocessParams::wgsl(),
        }
    }

    /// The module's WGSL: the prelude declaring `W` and `T`, the shared
    /// helpers, the family's `Params`, then its own file. `f16`: weights and
    /// conv tiles are f16; `subgroups`: keep the entry points that use
    /// subgroup built-ins.
    pub fn source(self, f16: bool, subgroups: bool) -> String {
        let file = self.file();
        let file = if subgroups { file } else { file.split(SUBGROUPS_MARK).next().unwrap_or(file) };
        let common = include_str!("../../shaders/common.wgsl");
        format!("{}{common}{}{file}", prelude(f16), self.params())
    }
}

/// The line after which a family's WGSL needs the device's `subgroups`.
/// No `enable subgroups;` directive: naga (the only compiler that sees this
/// code, since wgpu offers subgroups only natively) rejects it.
pub(crate) const SUBGROUPS_MARK: &str = "// ---- subgroups ----";

/// One pipeline: an entry point of a family with its override constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Kernel {
    pub family: Family,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, u32)>,
}

impl Kernel {
    pub fn new(family: Family, entry: &'static str) -> Self {
        Kernel { family, entry, constants: Vec::new() }
    }

    pub fn with(mut self, name: &'static str, value: u32) -> Self {
        self.constants.push((name, value));
        self
    }
}

/// Declares `W`, the type of the weights binding, and `T`, the type the
/// conv multiplies in (and whether that is f32), ahead of the family's source.
fn prelude(f16: bool) -> &'static str {
    if f16 {
        "enable f16;\nalias W = f16;\nalias T = f16;\nconst T_IS_F32 = false;\n"
    } else {
        "alias W = f32;\nalias T = f32;\nconst T_IS_F32 = true;\n"
    }
}

pub(crate) struct Pipelines {
    f16: bool,
    subgroups: bool,
    pub bind_group_layout: wgpu::BindGroupLayout,
    layout: wgpu::PipelineLayout,
    modules: HashMap<Family, wgpu::ShaderModule>,
    index: HashMap<Kernel, usize>,
    pub list: Vec<wgpu::ComputePipeline>,
}

fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Pipelines {
    /// One layout for every kernel: 0 = arena (read_write), 1 = weights, 2 = step parameters.
    /// `f16`: weights are f16 (the device has `shader-f16`); `subgroups`:
    /// the device has `subgroups`.
    pub fn new(device: &wgpu::Device, f16: bool, subgroups: bool) -> Self {
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("webresnet step"),
            entries: &[
                storage(0, false),
                storage(1, true),
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("webresnet"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        Pipelines {
            f16,
            subgroups,
            bind_group_layout,
            layout,
            modules: HashMap::new(),
            index: HashMap::new(),
            list: Vec::new(),
        }
    }

    /// Index of the pipeline for `kernel`, compiling it on first use.
    pub fn get(&mut self, device: &wgpu::Device, kernel: &Kernel) -> usize {
        if let Some(&i) = self.index.get(kernel) {
            return i;
        }
        let (f16, subgroups) = (self.f16, self.subgroups);
        let module = self.modules.entry(kernel.family).or_insert_with(|| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel.entry),
                source: wgpu::ShaderSource::Wgsl(kernel.family.source(f16, subgroups).into()),
            })
        });
        let constants: Vec<(&str, f64)> = kernel.constants.iter().map(|&(k, v)| (k, f64::from(v))).collect();
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: Some(&self.layout),
            module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                // Every kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        self.list.push(pipeline);
        self.index.insert(kernel.clone(), self.list.len() - 1);
        self.list.len() - 1
    }
}
