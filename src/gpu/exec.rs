//! Lowers each plan step to one dispatch: the kernel, its uniform
//! parameters, its packed weights and its workgroup grid.

use super::pipelines::{Family, Kernel};
use super::weights::WeightPacker;
use crate::error::{Error, Result};
use crate::plan::{Activation, Conv, Dense, Plan, Pool, PoolKind, Step, TensorInfo};

pub(crate) struct Dispatch {
    pub kernel: Kernel,
    /// Words of the kernel's `Params` uniform.
    pub params: Vec<u32>,
    /// Weight chunk bound at binding 1 (chunk 0 when the step has no weights).
    pub chunk: usize,
    pub groups: [u32; 3],
}

/// Workgroup size of the one-element-per-invocation kernels.
const FLAT_WG: usize = 256;
/// Workgroup size of the depthwise kernel.
const DW_WG: usize = 64;
/// Largest tensor rank the layout kernels take.
const MAX_RANK: usize = 8;

/// Uniform words in declaration order (u32 and f32 fields are both 4 bytes).
#[derive(Default)]
struct Words(Vec<u32>);

impl Words {
    fn u(mut self, v: usize) -> Self {
        self.0.push(v as u32);
        self
    }
    fn f(mut self, v: f32) -> Self {
        self.0.push(v.to_bits());
        self
    }
    /// An activation as the clamp range every epilogue applies.
    fn act(self, a: Activation) -> Self {
        let (lo, hi) = match a {
            Activation::None => (f32::MIN, f32::MAX),
            Activation::Relu => (0.0, f32::MAX),
            Activation::Clip { min, max } => (min, max),
        };
        self.f(lo).f(hi)
    }
    /// Pads to a 16-byte boundary (uniform arrays of vec4 start there).
    fn align16(mut self) -> Self {
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
        self
    }
    fn array8(mut self, v: &[usize]) -> Self {
        for i in 0..MAX_RANK {
            self.0.push(v.get(i).copied().unwrap_or(0) as u32);
        }
        self
    }
}

pub(crate) struct Lowering<'a> {
    plan: &'a Plan,
    /// Side of the conv workgroup (see `S` in conv.wgsl).
    tile: usize,
    max_groups: u32,
    pub weights: WeightPacker,
}

fn shape_err(step: &Step, msg: impl std::fmt::Display) -> Error {
    Error::Shape(format!("GPU backend, {} step: {msg}", step.kind()))
}

impl<'a> Lowering<'a> {
    pub fn new(plan: &'a Plan, tile: usize, max_groups: u32, weights: WeightPacker) -> Self {
        Lowering { plan, tile, max_groups, weights }
    }

    fn t(&self, id: usize) -> Result<&'a TensorInfo> {
        self.plan.tensors.get(id).ok_or_else(|| Error::Shape(format!("GPU backend: no tensor {id}")))
    }

    /// Grid for `n` workgroups, folded into y when x would exceed the device limit.
    fn grid(&self, n: usize) -> Result<[u32; 3]> {
        let max = self.max_groups as usize;
        let x = n.clamp(1, max);
        let y = n.div_ceil(x);
        if y > max {
            return Err(Error::Limit(format!("{n} workgroups exceed the device's dispatch limit")));
        }
        Ok([x as u32, y as u32, 1])
    }

    fn flat(&self, kernel: Kernel, params: Words, chunk: usize, elements: usize) -> Result<Dispatch> {
        Ok(Dispatch { kernel, params: params.0, chunk, groups: self.grid(elements.div_ceil(FLAT_WG))? })
    }

    pub fn step(&mut self, step: &Step) -> Result<Dispatch> {
        match step {
            Step::Conv(c) => self.conv(step, c),
            Step::Pool(p) => self.pool(step, p),
            Step::GlobalAvgPool { input, output } => {
                let x = self.t(*input)?;
                let &[n, h, w, c] = x.shape.as_slice() else {
                    return Err(shape_err(step, "input is not 4-D"));
                };
                let pool = Pool {
                    input: *input,
                    output: *output,
                    kind: PoolKind::Avg { count_include_pad: false },
                    kernel: [h, w],
                    stride: [1, 1],
                    pad: [0; 4],
                    dilation: [1, 1],
                };
                if self.t(*output)?.shape != [n, 1, 1, c] {
                    return Err(shape_err(step, "output is not [n, 1, 1, c]"));
                }
                self.pool(step, &pool)
            }
            Step::Dense(d) => self.dense(step, d),
            Step::Affine(a) => {
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
                let w = Words::default()
                    .u(x.offset)
                    .u(0)
                    .u(y.offset)
                    .u(x.len())
                    .u(c)
                    .u(placed.offsets[0])
                    .u(placed.offsets[1])
                    .u(a.scale.len())
                    .u(a.shift.len())
                    .act(a.activation);
                self.flat(Kernel::new(Family::Eltwise, "affine"), w, placed.chunk, x.len())
            }
            Step::Add { a, b, output, activation } => {
                let (a, b, y) = (self.t(*a)?, self.t(*b)?, self.t(*output)?);
                if a.len() != b.len() || a.len() != y.len() {
                    return Err(shape_err(step, "operands differ in size"));
                }
                let w = Words::default().u(a.offset).u(b.offset).u(y.offset).u(y.len()).u(0).u(0).u(0).u(0).u(0);
                self.flat(Kernel::new(Family::Eltwise, "add"), w.act(*activation), 0, y.len())
            }
            Step::Softmax { input, output } => {
                let (x, y) = (self.t(*input)?, self.t(*output)?);
                let cols = x.shape.last().copied().unwrap_or(1);
                if x.len() != y.len() || cols == 0 {
                    return Err(shape_err(step, "input/output disagree"));
                }
                let rows = x.len() / cols;
                let w = Words::default().u(x.offset).u(y.offset).u(0).u(0).u(rows).u(cols).u(0).f(0.0).f(0.0);
                // One workgroup per row.
                Ok(Dispatch {
                    kernel: Kernel::new(Family::Head, "softmax"),
                    params: w.0,
                    chunk: 0,
                    groups: self.grid(rows)?,
                })
            }
            Step::Permute { input, output, in_shape, perm } => {
                let (x, y) = (self.t(*input)?, self.t(*output)?);
                let rank = in_shape.len();
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if rank > MAX_RANK
                    || perm.len() != rank
                    || sorted.iter().enumerate().any(|(i, &p)| i != p)
                    || in_shape.iter().product::<usize>() != x.len()
                    || y.len() != x.len()
                {
                    return Err(shape_err(step, "bad permutation or shapes"));
                }
                let mut strides = vec![1; rank];
                for d in (0..rank.saturating_sub(1)).rev() {
                    strides[d] = strides[d + 1] * in_shape[d + 1];
                }
                let out_dims: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
                let src: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
                let w = Words::default().u(x.offset).u(y.offset).u(y.len()).u(rank).f(0.0).align16();
                let w = w.array8(&out_dims).array8(&src).array8(&[]);
                self.flat(Kernel::new(Family::Layout, "permute"), w, 0, y.len())
            }
            Step::Pad { input, output, pads, value } => {
                let (x, y) = (self.t(*input)?, self.t(*output)?);
                let rank = x.shape.len();
                let expect: Vec<usize> = x.shape.iter().zip(pads).map(|(&d, &(b, a))| d + b + a).collect();
                if rank > MAX_RANK || pads.len() != rank || expect != y.shape {
                    return Err(shape_err(step, "pads do not match the shapes"));
                }
                let before: Vec<usize> = pads.iter().map(|p| p.0).collect();
                let w = Words::default().u(x.offset).u(y.offset).u(y.len()).u(rank).f(*value).align16();
                let w = w.array8(&y.shape).array8(&x.shape).array8(&before);
                self.flat(Kernel::new(Family::Layout, "pad"), w, 0, y.len())
            }
        }
    }

    fn conv(&mut self, step: &Step, c: &Conv) -> Result<Dispatch> {
        let (x, y) = (self.t(c.input)?, self.t(c.output)?);
        let (&[n, ih, iw, ic], &[on, oh, ow, oc]) = (x.shape.as_slice(), y.shape.as_slice()) else {
            return Err(shape_err(step, "input or output is not 4-D"));
        };
        let [kh, kw] = c.kernel;
        let g = c.groups;
        if n != on || ic != c.in_channels || oc != c.out_channels || g == 0 || ic % g != 0 || oc % g != 0 {
            return Err(shape_err(step, "channels, groups or batch disagree"));
        }
        let (icg, ocg) = (ic / g, oc / g);
        let k = kh * kw * icg;
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
        let depthwise = g > 1 && icg == 1 && ocg == 1;
        let (kernel, weight, bias, ocg4, groups);
        if depthwise {
            // [kh][kw][c4 * 4]: four adjacent channels per vec4.
            let c4 = oc.div_ceil(4);
            let mut w = vec![0.0; kh * kw * c4 * 4];
            for ch in 0..oc {
                for t in 0..kh * kw {
                    w[t * c4 * 4 + ch] = c.weight[ch * kh * kw + t];
                }
            }
            weight = w;
            bias = padded(&c.bias, 1, oc, c4);
            ocg4 = c4;
            kernel = Kernel::new(Family::Conv, "depthwise").with("VEC_A", u32::from(oc % 4 == 0));
            groups = self.grid((n * oh * ow * c4).div_ceil(DW_WG))?;
        } else {
            // [g][k][ocg4 * 4]: B tiles read four output channels per vec4.
            ocg4 = ocg.div_ceil(4);
            let mut w = vec![0.0; g * k * ocg4 * 4];
            for gi in 0..g {
                for o in 0..ocg {
                    let src = &c.weight[(gi * ocg + o) * k..][..k];
                    for (kk, &v) in src.iter().enumerate() {
                        w[(gi * k + kk) * ocg4 * 4 + o] = v;
                    }
                }
            }
            weight = w;
            bias = padded(&c.bias, g, ocg, ocg4);
            let pointwise = kh == 1 && kw == 1 && c.pad == [0; 4];
            let stem = !pointwise && g == 1 && ic < 4;
            let mut kn = Kernel::new(Family::Conv, "conv")
                .with("S", self.tile as u32)
                .with("VEC_A", u32::from(icg % 4 == 0))
                .with("POINTWISE", u32::from(pointwise));
            if stem {
                kn = kn.with("FIX_KW", kw as u32).with("FIX_ICG", icg as u32);
            }
            kernel = kn;
            let t = 4 * self.tile;
            let dims = [(n * oh * ow).div_ceil(t), ocg.div_ceil(t), g];
            if dims.iter().any(|&d| d > self.max_groups as usize) {
                return Err(Error::Limit(format!("conv grid {dims:?} exceeds the device's dispatch limit")));
            }
            groups = dims.map(|d| d as u32);
        }
        let placed = self.weights.push(&[&weight, &bias])?;
        let w = Words::default()
            .u(x.offset)
            .u(y.offset)
            .u(res_off)
            .u(usize::from(c.residual.is_some()))
            .u(placed.offsets[0] / 4)
            .u(placed.offsets[1] / 4)
            .u(n * oh * ow)
            .u(k)
            .u(ih)
            .u(iw)
            .u(ic)
            .u(icg)
            .u(oh)
            .u(ow)
            .u(oc)
            .u(ocg)
            .u(ocg4)
            .u(kh)
            .u(kw)
            .u(c.stride[0])
            .u(c.stride[1])
            .u(c.pad[0])
            .u(c.pad[1])
            .u(c.dilation[0])
            .u(c.dilation[1])
            .act(c.activation);
        Ok(Dispatch { kernel, params: w.0, chunk: placed.chunk, groups })
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
        let w = Words::default()
            .u(x.offset)
            .u(y.offset)
            .u(y.len())
            .u(c)
            .u(ih)
            .u(iw)
            .u(oh)
            .u(ow)
            .u(p.kernel[0])
            .u(p.kernel[1])
            .u(p.stride[0])
            .u(p.stride[1])
            .u(p.pad[0])
            .u(p.pad[1])
            .u(p.dilation[0])
            .u(p.dilation[1])
            .u(ih + p.pad[2])
            .u(iw + p.pad[3])
            .u(mode);
        self.flat(Kernel::new(Family::Pool, "pool"), w, 0, y.len())
    }

    fn dense(&mut self, step: &Step, d: &Dense) -> Result<Dispatch> {
        let (x, y) = (self.t(d.input)?, self.t(d.output)?);
        let (kin, kout) = (d.in_features, d.out_features);
        if kin == 0 || x.len() % kin != 0 || y.len() != x.len() / kin * kout {
            return Err(shape_err(step, "features do not divide the tensors"));
        }
        if d.weight.len() != kin * kout || d.bias.len() != kout {
            return Err(shape_err(step, "weight/bias size"));
        }
        let placed = self.weights.push(&[&d.weight, &d.bias])?;
        let rows = x.len() / kin;
        let w = Words::default()
            .u(x.offset)
            .u(y.offset)
            .u(placed.offsets[0])
            .u(placed.offsets[1])
            .u(rows)
            .u(kin)
            .u(kout)
            .act(d.activation);
        self.flat(Kernel::new(Family::Head, "dense"), w, placed.chunk, y.len())
    }
}

/// `groups` runs of `per` values, each zero-padded to `per4 * 4`.
fn padded(v: &[f32], groups: usize, per: usize, per4: usize) -> Vec<f32> {
    let mut out = vec![0.0; groups * per4 * 4];
    for g in 0..groups {
        out[g * per4 * 4..][..per].copy_from_slice(&v[g * per..][..per]);
    }
    out
}
