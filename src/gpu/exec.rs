//! Lowers each plan step to its dispatches (one, or two for a split-K
//! conv): the kernel, its uniform parameters, its packed weights and its
//! workgroup grid. The dispatch report ([`super::DispatchInfo`]) is read
//! off these same dispatches.

use bytemuck::Zeroable;

use super::fuse::Role;
use super::params::{ConvParams, EltwiseParams, HeadParams, LayoutParams, Params, PoolParams, Window};
use super::pipelines::Kernel;
use super::weights::WeightPacker;
use crate::error::{Error, Result};
use crate::plan::{
    strides, Activation, Affine, Conv, Dense, Plan, Pool, PoolKind, Step, TensorId, TensorInfo, ARENA_ALIGN,
};

pub(crate) struct Dispatch {
    pub kernel: Kernel,
    /// Bytes of the kernel's `Params` uniform.
    pub params: Vec<u8>,
    /// Weight chunk bound at binding 1 (chunk 0 when the step has no weights).
    pub chunk: usize,
    pub groups: [u32; 3],
    /// GEMM depth (0 where the kernel is no GEMM).
    pub k: usize,
    /// Side of the output tile (0 where the kernel is not tiled).
    pub tile: usize,
    /// K ranges the GEMM is split into (1 without split-K).
    pub splits: usize,
}

impl Dispatch {
    /// `entry` of the family whose shader declares `P`, so a kernel cannot
    /// be handed another family's parameters.
    fn new<P: Params>(entry: &'static str, params: P, chunk: usize, groups: [u32; 3]) -> Self {
        const { assert!(size_of::<P>() as u64 <= super::PARAM_SLOT) };
        Dispatch {
            kernel: Kernel::new(P::FAMILY, entry),
            params: bytemuck::bytes_of(&params).to_vec(),
            chunk,
            groups,
            k: 0,
            tile: 0,
            splits: 1,
        }
    }

    fn with(mut self, name: &'static str, value: u32) -> Self {
        self.kernel = self.kernel.with(name, value);
        self
    }
}

/// Workgroup size of the one-element-per-invocation kernels.
const FLAT_WG: usize = 256;
/// Workgroup size of the depthwise kernel.
const DW_WG: usize = 64;
/// Outputs per `dense` workgroup (`ROWS` in head.wgsl): few enough that a
/// 1000-class head launches a GPU's worth of workgroups, and at most
/// `ROWS_MAX` where fewer workgroups are wanted (a CPU adapter), as each
/// rereads the input.
const DENSE_ROWS: usize = 4;
const DENSE_ROWS_MAX: usize = 8;
/// Largest tensor rank the layout kernels take.
const MAX_RANK: usize = 8;
/// K-slice depth of the conv kernel (`KS` in conv.wgsl).
const KS: usize = 16;
/// Workgroups a conv should launch to occupy a large GPU (about 2 per
/// compute unit on 128 units); fewer makes the layer a candidate for the
/// small tile and split-K.
pub(crate) const GPU_GROUPS: usize = 256;
/// Shallowest GEMM worth splitting: below it a split adds a pass for little work.
const SPLIT_MIN_K: usize = 512;
/// Bounds on split-K: the scratch it needs, and at least two slices per range.
const MAX_SPLITS: usize = 16;
const MIN_SLICES_PER_SPLIT: usize = 2;

/// How one conv GEMM is cut into workgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tiling {
    /// Workgroup side S: 4S x 4S output tiles.
    pub side: usize,
    pub splits: usize,
    /// K per split, a multiple of [`KS`].
    pub k_per: usize,
}

impl Tiling {
    /// The largest tile (`max_side`, else 8) that still launches `target`
    /// workgroups for `m` x `n` per group over `groups` groups; split-K over
    /// `k` makes up what the tiles cannot.
    pub fn choose(m: usize, n: usize, groups: usize, k: usize, max_side: usize, target: usize) -> Tiling {
        let count = |side: usize| m.div_ceil(4 * side) * n.div_ceil(4 * side) * groups;
        let side = if count(max_side) >= target { max_side } else { max_side.min(8) };
        let slices = k.div_ceil(KS).max(1);
        let tiles = count(side);
        let mut splits = 1;
        if k >= SPLIT_MIN_K && tiles < target {
            let want = target.div_ceil(tiles).min(MAX_SPLITS).min(slices / MIN_SLICES_PER_SPLIT).max(1);
            splits = slices.div_ceil(slices.div_ceil(want));
        }
        let per = slices.div_ceil(splits);
        Tiling { side, splits: slices.div_ceil(per), k_per: per * KS }
    }
}

/// A size or offset as a uniform field (WGSL indexes with u32).
fn u(v: usize) -> u32 {
    v as u32
}

/// The window of a conv or pool from `[h, w]` pairs in [`Window`]'s field
/// order: input, output, kernel, stride, padding before, dilation.
fn window(pairs: [[usize; 2]; 6]) -> Window {
    bytemuck::cast(pairs.map(|[h, w]| [u(h), u(w)]))
}

/// Grid for `n` workgroups, folded into y when x would pass the device's
/// limit `max` (the kernels' `flat_id` unfolds it).
pub(super) fn fold_grid(n: usize, max: u32) -> Result<[u32; 3]> {
    let max = max as usize;
    let x = n.clamp(1, max);
    let y = n.div_ceil(x);
    if y > max {
        return Err(Error::Limit(format!("{n} workgroups exceed the device's dispatch limit")));
    }
    Ok([x as u32, y as u32, 1])
}

/// A 1x1 conv with no padding: the GEMM reads its input rows in place.
fn pointwise(c: &Conv) -> bool {
    c.kernel == [1, 1] && c.pad == [0; 4]
}

/// A conv whose gather reads one element at a time (not a pointwise or
/// depthwise conv, channels per group not a multiple of 4): the one the
/// NCHW gather is written for, as a model's stem is.
pub(super) fn gathers_scalars(c: &Conv) -> bool {
    let depthwise = c.groups > 1 && c.in_channels == c.groups && c.out_channels == c.groups;
    let icg = c.in_channels / c.groups.max(1);
    !pointwise(c) && !depthwise && icg % 4 != 0
}

/// An activation as the clamp range `[lo, hi]` every epilogue applies.
fn clamp_range(a: Activation) -> (f32, f32) {
    match a {
        Activation::None => (f32::MIN, f32::MAX),
        Activation::Relu => (0.0, f32::MAX),
        Activation::Clip { min, max } => (min, max),
    }
}

pub(crate) struct Lowering<'a> {
    plan: &'a Plan,
    /// Largest side of the conv workgroup the device takes (see `S` in conv.wgsl).
    tile: usize,
    /// Workgroups a conv should launch to occupy the device.
    occupancy: usize,
    max_groups: u32,
    pub weights: WeightPacker,
    /// Element offset of the split-K scratch, past the plan's tensors.
    scratch_off: usize,
    /// Elements of scratch the split-K convs need (they reuse one region).
    pub scratch_len: usize,
    /// The head reduces with subgroup operations (`dense_sg`).
    subgroups: bool,
    /// Element offset of the plan's input: its own region past the plan's
    /// tensors where [`super::fuse::Fusion::own_input`], else its offset in the plan.
    pub input_off: usize,
}

fn shape_err(step: &Step, msg: impl std::fmt::Display) -> Error {
    Error::Shape(format!("GPU backend, {} step: {msg}", step.kind()))
}

impl<'a> Lowering<'a> {
    pub fn new(
        plan: &'a Plan,
        tile: usize,
        occupancy: usize,
        max_groups: u32,
        weights: WeightPacker,
        subgroups: bool,
        own_input: bool,
    ) -> Self {
        let end = plan.arena_len.next_multiple_of(ARENA_ALIGN);
        let input = &plan.tensors[plan.input.tensor];
        let (input_off, scratch_off) = match own_input {
            true => (end, end + input.len().next_multiple_of(ARENA_ALIGN)),
            false => (input.offset, end),
        };
        Lowering { plan, tile, occupancy, max_groups, weights, scratch_off, scratch_len: 0, subgroups, input_off }
    }

    /// Arena elements including the scratch.
    pub fn arena_len(&self) -> usize {
        self.scratch_off + self.scratch_len
    }

    fn t(&self, id: usize) -> Result<&'a TensorInfo> {
        self.plan.tensors.get(id).ok_or_else(|| Error::Shape(format!("GPU backend: no tensor {id}")))
    }

    fn grid(&self, n: usize) -> Result<[u32; 3]> {
        fold_grid(n, self.max_groups)
    }

    fn flat<P: Params>(&self, entry: &'static str, params: P, chunk: usize, elements: usize) -> Result<Dispatch> {
        Ok(Dispatch::new(entry, params, chunk, self.grid(elements.div_ceil(FLAT_WG))?))
    }

    /// The dispatches of `step` in its `role` (none for a folded step).
    pub fn step(&mut self, step: &Step, role: Role) -> Result<Vec<Dispatch>> {
        if role == Role::Folded {
            return Ok(Vec::new());
        }
        let one = match step {
            Step::Conv(c) => return self.conv(step, c, role),
            Step::Pool(p) => self.pool(step, p),
            Step::GlobalAvgPool { input, output } => self.global_avg_pool(step, *input, *output),
            Step::Dense(d) => self.dense(step, d, role),
            Step::Affine(a) => self.affine(step, a),
            Step::Add { a, b, output, activation } => self.add(step, [*a, *b, *output], *activation),
            Step::Softmax { input, output } => self.softmax(step, *input, *output),
            Step::Permute { input, output, in_shape, perm } => self.permute(step, *input, *output, in_shape, perm),
            Step::Pad { input, output, pads, value } => self.pad(step, *input, *output, pads, *value),
            Step::Quantize(_) => Err(Error::UnsupportedModel(
                "the GPU backend does not run quantized (QDQ) activations; use the CPU backend".into(),
            )),
        };
        one.map(|d| vec![d])
    }

    /// The pool kernel with the window set to the whole image.
    pub fn global_avg_pool(&mut self, step: &Step, input: TensorId, output: TensorId) -> Result<Dispatch> {
        let x = self.t(input)?;
        let &[n, h, w, c] = x.shape.as_slice() else {
            return Err(shape_err(step, "input is not 4-D"));
        };
        let pool = Pool {
            input,
            output,
            kind: PoolKind::Avg { count_include_pad: false },
            kernel: [h, w],
            stride: [1, 1],
            pad: [0; 4],
            dilation: [1, 1],
        };
        if self.t(output)?.shape != [n, 1, 1, c] {
            return Err(shape_err(step, "output is not [n, 1, 1, c]"));
        }
        self.pool(step, &pool)
    }

    fn affine(&mut self, step: &Step, a: &Affine) -> Result<Dispatch> {
        let (x, y) = (self.t(a.input)?, self.t(a.output)?);
        let c = a.channels;
        if x.len() != y.len() || x.shape.last() != Some(&c) {
            return Err(shape_err(step, "input/output/channels disagree"));
        }
        for v in [&a.scale, &a.shift] {
            if v.len() != 1 && v.len() != c {
                return Err(shape_err(step, "scale/shift length is neither 1 nor channels"));
            }
        }
        let placed = self.weights.push(&[&a.scale, &a.shift])?;
        let (lo, hi) = clamp_range(a.activation);
        let p = EltwiseParams {
            a_off: u(x.offset),
            out_off: u(y.offset),
            total: u(x.len()),
            channels: u(c),
            scale_off: u(placed.offsets[0]),
            shift_off: u(placed.offsets[1]),
            scale_n: u(a.scale.len()),
            shift_n: u(a.shift.len()),
            lo,
            hi,
            ..Zeroable::zeroed()
        };
        self.flat("affine", p, placed.chunk, x.len())
    }

    /// `tensors`: the two operands and the output.
    fn add(&self, step: &Step, tensors: [TensorId; 3], activation: Activation) -> Result<Dispatch> {
        let [a, b, y] = [self.t(tensors[0])?, self.t(tensors[1])?, self.t(tensors[2])?];
        if a.len() != b.len() || a.len() != y.len() {
            return Err(shape_err(step, "operands differ in size"));
        }
        let (lo, hi) = clamp_range(activation);
        let p = EltwiseParams {
            a_off: u(a.offset),
            b_off: u(b.offset),
            out_off: u(y.offset),
            total: u(y.len()),
            lo,
            hi,
            ..Zeroable::zeroed()
        };
        self.flat("add", p, 0, y.len())
    }

    fn softmax(&self, step: &Step, input: TensorId, output: TensorId) -> Result<Dispatch> {
        let (x, y) = (self.t(input)?, self.t(output)?);
        let cols = x.shape.last().copied().unwrap_or(1);
        if x.len() != y.len() || cols == 0 {
            return Err(shape_err(step, "input/output disagree"));
        }
        let rows = x.len() / cols;
        let p = HeadParams {
            in_off: u(x.offset),
            out_off: u(y.offset),
            rows: u(rows),
            cols: u(cols),
            ..Zeroable::zeroed()
        };
        // One workgroup per row.
        Ok(Dispatch::new("softmax", p, 0, self.grid(rows)?))
    }

    fn permute(
        &self,
        step: &Step,
        input: TensorId,
        output: TensorId,
        in_shape: &[usize],
        perm: &[usize],
    ) -> Result<Dispatch> {
        let (x, y) = (self.t(input)?, self.t(output)?);
        let rank = in_shape.len();
        let mut sorted = perm.to_vec();
        sorted.sort_unstable();
        if rank > MAX_RANK
            || perm.len() != rank
            || sorted.iter().enumerate().any(|(i, &p)| i != p)
            || in_shape.iter().product::<usize>() != x.len()
            || y.len() != x.len()
        {
            return Err(shape_err(step, "bad permutation or shapes"));
        }
        let in_strides = strides(in_shape);
        let axes: Vec<[usize; 4]> = perm.iter().map(|&p| [in_shape[p], in_strides[p], 0, in_shape[p]]).collect();
        self.gather(x, y, 0.0, &axes)
    }

    /// `pads`: (before, after) of each dimension; `value` fills the border.
    fn pad(
        &self,
        step: &Step,
        input: TensorId,
        output: TensorId,
        pads: &[(usize, usize)],
        value: f32,
    ) -> Result<Dispatch> {
        let (x, y) = (self.t(input)?, self.t(output)?);
        let rank = x.shape.len();
        let expect: Vec<usize> = x.shape.iter().zip(pads).map(|(&d, &(b, a))| d + b + a).collect();
        if rank > MAX_RANK || pads.len() != rank || expect != y.shape {
            return Err(shape_err(step, "pads do not match the shapes"));
        }
        let in_strides = strides(&x.shape);
        let axes: Vec<[usize; 4]> = (0..rank).map(|d| [y.shape[d], in_strides[d], pads[d].0, x.shape[d]]).collect();
        self.gather(x, y, value, &axes)
    }

    /// Output element `i` of `y` reads `x` at `(i - before) · strides`, or
    /// is `value` where `i - before` falls outside `extent`; see `gather` in
    /// layout.wgsl. `axes`: per output dim, `[size, stride, before, extent]`.
    fn gather(&self, x: &TensorInfo, y: &TensorInfo, value: f32, axes: &[[usize; 4]]) -> Result<Dispatch> {
        let mut p = LayoutParams {
            in_off: u(x.offset),
            out_off: u(y.offset),
            total: u(y.len()),
            rank: u(axes.len()),
            value,
            ..Zeroable::zeroed()
        };
        for (dst, axis) in p.dims.iter_mut().zip(axes) {
            *dst = axis.map(u);
        }
        self.flat("gather", p, 0, y.len())
    }

    /// `role`: [`Role::ReadsNchw`] where the conv reads an NCHW tensor in place of its input.
    fn conv(&mut self, step: &Step, c: &Conv, role: Role) -> Result<Vec<Dispatch>> {
        let mut p = self.conv_params(step, c)?;
        let depthwise = c.groups > 1 && p.icg == 1 && p.ocg == 1;
        let nchw = match role {
            Role::ReadsNchw(src) => {
                let (x, s) = (self.t(c.input)?, self.t(src)?);
                if s.len() != x.len() {
                    return Err(shape_err(step, "the NCHW input differs in size"));
                }
                if !gathers_scalars(c) {
                    return Err(shape_err(step, "only the scalar gather reads an NCHW input"));
                }
                p.in_off = u(if src == self.plan.input.tensor { self.input_off } else { s.offset });
                true
            }
            _ => false,
        };
        if depthwise {
            self.depthwise(c, p)
        } else {
            self.gemm(c, p, nchw)
        }
    }

    /// The conv's checked shapes as its parameters, less the weights' place and the tiling.
    fn conv_params(&self, step: &Step, c: &Conv) -> Result<ConvParams> {
        let (x, y) = (self.t(c.input)?, self.t(c.output)?);
        let (&[n, ih, iw, ic], &[on, oh, ow, oc]) = (x.shape.as_slice(), y.shape.as_slice()) else {
            return Err(shape_err(step, "input or output is not 4-D"));
        };
        let g = c.groups;
        if n != on || ic != c.in_channels || oc != c.out_channels || g == 0 || ic % g != 0 || oc % g != 0 {
            return Err(shape_err(step, "channels, groups or batch disagree"));
        }
        let (icg, ocg) = (ic / g, oc / g);
        let k = c.kernel[0] * c.kernel[1] * icg;
        if c.weight.len() != oc * k || c.bias.len() != oc || c.stride.contains(&0) || c.dilation.contains(&0) {
            return Err(shape_err(step, "weight/bias size or stride/dilation invalid"));
        }
        let res_off = match c.residual {
            Some(r) => {
                let r = self.t(r)?;
                if r.shape != y.shape {
                    return Err(shape_err(step, "residual shape differs from output"));
                }
                r.offset
            }
            None => 0,
        };
        let (lo, hi) = clamp_range(c.activation);
        Ok(ConvParams {
            in_off: u(x.offset),
            out_off: u(y.offset),
            res_off: u(res_off),
            has_res: u32::from(c.residual.is_some()),
            m: u(n * oh * ow),
            k: u(k),
            win: window([[ih, iw], [oh, ow], c.kernel, c.stride, [c.pad[0], c.pad[1]], c.dilation]),
            ic: u(ic),
            icg: u(icg),
            oc: u(oc),
            ocg: u(ocg),
            lo,
            hi,
            splits: 1,
            ..Zeroable::zeroed()
        })
    }

    /// A depthwise conv: one invocation per output pixel and four channels.
    fn depthwise(&mut self, c: &Conv, mut p: ConvParams) -> Result<Vec<Dispatch>> {
        let (m, oc) = (p.m as usize, p.oc as usize);
        let c4 = oc.div_ceil(4);
        let taps = c.kernel[0] * c.kernel[1];
        let placed = self.weights.push(&[&depthwise_weights(&c.weight, taps, oc, c4), &padded(&c.bias, 1, oc, c4)])?;
        p.ocg4 = u(c4);
        [p.w_off, p.b_off] = [u(placed.offsets[0] / 4), u(placed.offsets[1] / 4)];
        let groups = self.grid((m * c4).div_ceil(DW_WG))?;
        Ok(vec![Dispatch::new("depthwise", p, placed.chunk, groups).with("VEC_A", u32::from(oc % 4 == 0))])
    }

    /// Any other conv as an implicit GEMM, tiled for the device, with a
    /// split-K reduction after it where the tiling splits K. `nchw`: its
    /// input is read as NCHW (the scalar gather only).
    fn gemm(&mut self, c: &Conv, mut p: ConvParams, nchw: bool) -> Result<Vec<Dispatch>> {
        let g = c.groups;
        let [m, k, ic, icg, oc, ocg] = [p.m, p.k, p.ic, p.icg, p.oc, p.ocg].map(|v| v as usize);
        let ocg4 = ocg.div_ceil(4);
        let placed = self.weights.push(&[&gemm_weights(&c.weight, g, ocg, k, ocg4), &padded(&c.bias, g, ocg, ocg4)])?;
        p.ocg4 = u(ocg4);
        [p.w_off, p.b_off] = [u(placed.offsets[0] / 4), u(placed.offsets[1] / 4)];
        let tiling = Tiling::choose(m, ocg, g, k, self.tile, self.occupancy);
        let t = 4 * tiling.side;
        let dims = [m.div_ceil(t), ocg.div_ceil(t), g * tiling.splits];
        if dims.iter().any(|&d| d > self.max_groups as usize) {
            return Err(Error::Limit(format!("conv grid {dims:?} exceeds the device's dispatch limit")));
        }
        let split = tiling.splits > 1;
        p.splits = u(tiling.splits);
        p.k_per = u(tiling.k_per);
        if split {
            p.part_off = u(self.scratch_off);
            self.scratch_len = self.scratch_len.max(tiling.splits * (m * oc).next_multiple_of(4));
        }
        let pointwise = pointwise(c);
        let stem = !pointwise && g == 1 && ic < 4;
        let mut gemm = Dispatch::new("conv", p, placed.chunk, dims.map(|d| d as u32))
            .with("S", tiling.side as u32)
            .with("VEC_A", u32::from(icg % 4 == 0))
            .with("POINTWISE", u32::from(pointwise))
            .with("SPLIT", u32::from(split));
        if nchw {
            gemm = gemm.with("NCHW", 1);
        }
        if stem {
            gemm = gemm.with("FIX_KW", c.kernel[1] as u32).with("FIX_ICG", icg as u32);
        }
        gemm.k = k;
        gemm.tile = t;
        gemm.splits = tiling.splits;
        if !split {
            return Ok(vec![gemm]);
        }
        let reduce = Dispatch::new("splitk", p, placed.chunk, self.grid((m * oc).div_ceil(4 * FLAT_WG))?);
        Ok(vec![gemm, reduce])
    }

    fn pool(&mut self, step: &Step, p: &Pool) -> Result<Dispatch> {
        let (x, y) = (self.t(p.input)?, self.t(p.output)?);
        let (&[n, ih, iw, c], &[on, oh, ow, oc]) = (x.shape.as_slice(), y.shape.as_slice()) else {
            return Err(shape_err(step, "input or output is not 4-D"));
        };
        if n != on || c != oc || p.stride.contains(&0) || p.dilation.contains(&0) {
            return Err(shape_err(step, "batch/channels disagree or stride/dilation is 0"));
        }
        let mode = match p.kind {
            PoolKind::Max => 0,
            PoolKind::Avg { count_include_pad: false } => 1,
            PoolKind::Avg { count_include_pad: true } => 2,
        };
        let params = PoolParams {
            in_off: u(x.offset),
            out_off: u(y.offset),
            total: u(y.len()),
            c: u(c),
            win: window([[ih, iw], [oh, ow], p.kernel, p.stride, [p.pad[0], p.pad[1]], p.dilation]),
            eh: u(ih + p.pad[2]),
            ew: u(iw + p.pad[3]),
            mode,
        };
        self.flat("pool", params, 0, y.len())
    }

    /// `role`: [`Role::ReadsMap`] where the dense averages an NHWC feature
    /// map in place of its pooled input.
    fn dense(&mut self, step: &Step, d: &Dense, role: Role) -> Result<Dispatch> {
        let (x, y) = (self.t(d.input)?, self.t(d.output)?);
        let (kin, kout) = (d.in_features, d.out_features);
        if kin == 0 || x.len() % kin != 0 || y.len() != x.len() / kin * kout {
            return Err(shape_err(step, "features do not divide the tensors"));
        }
        if d.weight.len() != kin * kout || d.bias.len() != kout {
            return Err(shape_err(step, "weight/bias size"));
        }
        let rows = x.len() / kin;
        let (in_off, pixels) = match role {
            Role::ReadsMap(map) => {
                let m = self.t(map)?;
                match m.shape.as_slice() {
                    &[n, h, w, c] if n == rows && c == kin => (m.offset, h * w),
                    _ => return Err(shape_err(step, "the feature map is not [rows, h, w, in_features]")),
                }
            }
            _ => (x.offset, 1),
        };
        let placed = self.weights.push(&[&d.weight, &d.bias])?;
        let per = if self.occupancy >= GPU_GROUPS { DENSE_ROWS } else { DENSE_ROWS_MAX };
        let blocks = kout.div_ceil(per);
        let (lo, hi) = clamp_range(d.activation);
        let p = HeadParams {
            in_off: u(in_off),
            out_off: u(y.offset),
            w_off: u(placed.offsets[0]),
            b_off: u(placed.offsets[1]),
            rows: u(rows),
            cols: u(kin),
            kout: u(kout),
            lo,
            hi,
            pixels: u(pixels),
            blocks: u(blocks),
        };
        let entry = if self.subgroups { "dense_sg" } else { "dense" };
        let mut gemv = Dispatch::new(entry, p, placed.chunk, self.grid(blocks * rows)?).with("ROWS", per as u32);
        gemv.k = kin;
        Ok(gemv)
    }
}

/// Depthwise weights `[c][taps]` as `[taps][c4 * 4]`: four adjacent channels per vec4.
fn depthwise_weights(weight: &[f32], taps: usize, channels: usize, c4: usize) -> Vec<f32> {
    let mut w = vec![0.0; taps * c4 * 4];
    for ch in 0..channels {
        for t in 0..taps {
            w[t * c4 * 4 + ch] = weight[ch * taps + t];
        }
    }
    w
}

/// Conv weights `[g][ocg][k]` as `[g][k][ocg4 * 4]`: B tiles read four output channels per vec4.
fn gemm_weights(weight: &[f32], g: usize, ocg: usize, k: usize, ocg4: usize) -> Vec<f32> {
    let mut w = vec![0.0; g * k * ocg4 * 4];
    for gi in 0..g {
        for o in 0..ocg {
            let src = &weight[(gi * ocg + o) * k..][..k];
            for (kk, &v) in src.iter().enumerate() {
                w[(gi * k + kk) * ocg4 * 4 + o] = v;
            }
        }
    }
    w
}

/// `groups` runs of `per` values, each zero-padded to `per4 * 4`.
fn padded(v: &[f32], groups: usize, per: usize, per4: usize) -> Vec<f32> {
    let mut out = vec![0.0; groups * per4 * 4];
    for g in 0..groups {
        out[g * per4 * 4..][..per].copy_from_slice(&v[g * per..][..per]);
    }
    out
}
