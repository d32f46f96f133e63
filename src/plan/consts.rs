//! Constant folding: evaluates the ops whose inputs are all constants
//! (mostly the shape plumbing torch exporters emit: Shape -> Gather ->
//! Unsqueeze -> Concat -> Reshape, plus Cast, Slice, ConstantOfShape).

use super::strides;
use crate::error::{Error, Result};
use crate::model::{Constant, Node, TensorData};

/// Upper bound on elements a folded constant may have; stops hostile graphs
/// (ConstantOfShape with huge dims, say) from allocating without limit.
const MAX_FOLDED_ELEMENTS: usize = 1 << 26;

pub(super) fn checked_numel(dims: &[usize], node: &Node) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_FOLDED_ELEMENTS)
        .ok_or_else(|| Error::Shape(format!("node '{}' ({}): tensor too large: {dims:?}", node.name, node.op)))
}

/// Normalises a possibly negative axis against `rank` (`allow_end` admits `rank` itself).
pub(super) fn norm_axis(axis: i64, rank: usize, node: &Node) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(Error::unsupported(&node.op, &node.name, format!("axis {axis} out of range for rank {rank}")));
    }
    Ok(a as usize)
}

/// Gathers elements by flat index, keeping the element type.
fn take(data: &TensorData, idx: &[usize]) -> TensorData {
    match data {
        TensorData::F32(v) => TensorData::F32(idx.iter().map(|&i| v[i]).collect()),
        TensorData::I64(v) => TensorData::I64(idx.iter().map(|&i| v[i]).collect()),
    }
}

/// Flat source indices for a transpose of `dims` by `perm`.
pub(super) fn permute_indices(dims: &[usize], perm: &[usize]) -> Vec<usize> {
    let src_strides = strides(dims);
    let out_dims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let steps: Vec<usize> = perm.iter().map(|&p| src_strides[p]).collect();
    gather_indices(&out_dims, &steps)
}

/// The flat source index of each element of an `out`-shaped tensor, in
/// row-major order, where a step along output dim `d` moves `steps[d]` in the source.
fn gather_indices(out: &[usize], steps: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let mut idx = Vec::with_capacity(n);
    let mut coord = vec![0usize; out.len()];
    for _ in 0..n {
        idx.push(coord.iter().zip(steps).map(|(&c, &s)| c * s).sum());
        for d in (0..coord.len()).rev() {
            coord[d] += 1;
            if coord[d] < out[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    idx
}

/// Numpy-style broadcast of two shapes.
pub(super) fn broadcast_shape(a: &[usize], b: &[usize], node: &Node) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
    let (a, b) = (pad(a), pad(b));
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| match (x, y) {
            _ if x == y => Ok(x),
            (1, _) => Ok(y),
            (_, 1) => Ok(x),
            _ => Err(Error::Shape(format!("node '{}' ({}): cannot broadcast {a:?} with {b:?}", node.name, node.op))),
        })
        .collect()
}

/// Flat index into a tensor of `dims` for each element of the broadcast `out` shape.
fn broadcast_indices(dims: &[usize], out: &[usize]) -> Vec<usize> {
    let padded: Vec<usize> = std::iter::repeat_n(1, out.len() - dims.len()).chain(dims.iter().copied()).collect();
    // A broadcast dim stays on its one element.
    let steps: Vec<usize> = padded.iter().zip(strides(&padded)).map(|(&d, s)| if d == 1 { 0 } else { s }).collect();
    gather_indices(out, &steps)
}

pub(super) fn to_dims(values: &[i64], node: &Node) -> Result<Vec<usize>> {
    values
        .iter()
        .map(|&v| {
            usize::try_from(v)
                .map_err(|_| Error::Shape(format!("node '{}' ({}): negative dimension {v}", node.name, node.op)))
        })
        .collect()
}

/// Resolves an ONNX Reshape target (with 0 = copy and -1 = infer) against `input` dims.
pub(super) fn reshape_dims(input: &[usize], target: &[i64], allow_zero: bool, node: &Node) -> Result<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut infer = None;
    let mut out = Vec::with_capacity(target.len());
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*input.get(i).ok_or_else(|| {
                Error::Shape(format!("node '{}': Reshape 0 at axis {i} beyond input rank", node.name))
            })?),
            t if t >= 0 => out.push(t as usize),
            _ => return Err(Error::Shape(format!("node '{}': invalid Reshape target {target:?}", node.name))),
        }
    }
    let known = out
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Shape(format!("node '{}': Reshape overflow", node.name)))?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(Error::Shape(format!("node '{}': cannot reshape {input:?} to {target:?}", node.name)));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(Error::Shape(format!("node '{}': cannot reshape {input:?} to {target:?}", node.name)));
    }
    Ok(out)
}

fn binary(node: &Node, a: &Constant, b: &Constant) -> Result<Constant> {
    let dims = broadcast_shape(&a.dims, &b.dims, node)?;
    checked_numel(&dims, node)?;
    let (ia, ib) = (broadcast_indices(&a.dims, &dims), broadcast_indices(&b.dims, &dims));
    let data = match (&a.data, &b.data) {
        (TensorData::I64(x), TensorData::I64(y)) => {
            let f = |p: i64, q: i64| -> Result<i64> {
                match node.op.as_str() {
                    "Add" => Ok(p.wrapping_add(q)),
                    "Sub" => Ok(p.wrapping_sub(q)),
                    "Mul" => Ok(p.wrapping_mul(q)),
                    _ => p
                        .checked_div(q)
                        .ok_or_else(|| Error::Shape(format!("node '{}': integer division by zero", node.name))),
                }
            };
            TensorData::I64(ia.iter().zip(&ib).map(|(&i, &j)| f(x[i], y[j])).collect::<Result<_>>()?)
        }
        _ => {
            let (x, y) = (a.to_f32(), b.to_f32());
            let f = |p: f32, q: f32| match node.op.as_str() {
                "Add" => p + q,
                "Sub" => p - q,
                "Mul" => p * q,
                _ => p / q,
            };
            TensorData::F32(ia.iter().zip(&ib).map(|(&i, &j)| f(x[i], y[j])).collect())
        }
    };
    Ok(Constant { dims, data })
}

fn unary(node: &Node, a: &Constant) -> Constant {
    let f = |x: f32| match node.op.as_str() {
        "Neg" => -x,
        "Sqrt" => x.sqrt(),
        _ => 1.0 / x, // Reciprocal
    };
    match (&a.data, node.op.as_str()) {
        (TensorData::I64(v), "Neg") => Constant::i64(a.dims.clone(), v.iter().map(|x| x.wrapping_neg()).collect()),
        _ => Constant::f32(a.dims.clone(), a.to_f32().into_iter().map(f).collect()),
    }
}

fn slice(
    node: &Node,
    data: &Constant,
    starts: &[i64],
    ends: &[i64],
    axes: Option<Vec<i64>>,
    steps: Option<Vec<i64>>,
) -> Result<Constant> {
    let rank = data.dims.len();
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(Error::Shape(format!("node '{}': Slice argument lengths differ", node.name)));
    }
    // Per axis: list of selected source coordinates.
    let mut picks: Vec<Vec<usize>> = data.dims.iter().map(|&d| (0..d).collect()).collect();
    for i in 0..starts.len() {
        let ax = norm_axis(axes[i], rank, node)?;
        let d = data.dims[ax] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(Error::Shape(format!("node '{}': Slice step 0", node.name)));
        }
        let clamp = |v: i64, lo: i64, hi: i64| v.clamp(lo, hi);
        let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let mut sel = Vec::new();
        if step > 0 {
            let (mut s, e) = (clamp(fix(starts[i]), 0, d), clamp(fix(ends[i]), 0, d));
            while s < e {
                sel.push(s as usize);
                s += step;
            }
        } else {
            let (mut s, e) = (clamp(fix(starts[i]), -1, d - 1), clamp(fix(ends[i]), -1, d - 1));
            while s > e {
                sel.push(s as usize);
                s += step;
            }
        }
        picks[ax] = sel;
    }
    let dims: Vec<usize> = picks.iter().map(Vec::len).collect();
    checked_numel(&dims, node)?;
    let src_strides = strides(&data.dims);
    let mut idx = vec![0usize];
    for (ax, sel) in picks.iter().enumerate() {
        let stride = src_strides[ax];
        idx = idx.iter().flat_map(|&base| sel.iter().map(move |&c| base + c * stride)).collect();
    }
    Ok(Constant { dims, data: take(&data.data, &idx) })
}

fn cast(node: &Node, a: &Constant) -> Result<Constant> {
    let to = node.int("to", 1)?;
    match to {
        1 | 10 | 11 | 16 => Ok(Constant::f32(a.dims.clone(), a.to_f32())),
        2..=7 | 9 | 12 | 13 => Ok(Constant::i64(a.dims.clone(), a.to_i64())),
        _ => Err(Error::unsupported(&node.op, &node.name, format!("cast to dtype {to}"))),
    }
}

fn gather(node: &Node, data: &Constant, indices: &Constant) -> Result<Constant> {
    let rank = data.dims.len();
    let axis = norm_axis(node.int("axis", 0)?, rank, node)?;
    let d = data.dims[axis] as i64;
    let idx: Vec<usize> = indices
        .to_i64()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + d } else { i };
            if (0..d).contains(&j) {
                Ok(j as usize)
            } else {
                Err(Error::Shape(format!("node '{}': Gather index {i} out of range", node.name)))
            }
        })
        .collect::<Result<_>>()?;
    let outer: usize = data.dims[..axis].iter().product();
    let inner: usize = data.dims[axis + 1..].iter().product();
    let mut flat = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &j in &idx {
            flat.extend((0..inner).map(|k| (o * data.dims[axis] + j) * inner + k));
        }
    }
    let dims: Vec<usize> =
        data.dims[..axis].iter().chain(&indices.dims).chain(&data.dims[axis + 1..]).copied().collect();
    Ok(Constant { dims, data: take(&data.data, &flat) })
}

fn concat(node: &Node, parts: &[&Constant]) -> Result<Constant> {
    let first = parts.first().ok_or_else(|| Error::unsupported("Concat", &node.name, "no inputs"))?;
    let rank = first.dims.len();
    let axis = norm_axis(node.int("axis", 0)?, rank, node)?;
    let mut dims = first.dims.clone();
    dims[axis] = 0;
    for p in parts {
        if p.dims.len() != rank || p.dims.iter().enumerate().any(|(i, &d)| i != axis && d != first.dims[i]) {
            return Err(Error::Shape(format!("node '{}': Concat shapes differ", node.name)));
        }
        dims[axis] += p.dims[axis];
    }
    checked_numel(&dims, node)?;
    let outer: usize = dims[..axis].iter().product();
    let all_int = parts.iter().all(|p| matches!(p.data, TensorData::I64(_)));
    let mut f = Vec::new();
    let mut i = Vec::new();
    for o in 0..outer {
        for p in parts {
            let chunk: usize = p.dims[axis..].iter().product();
            if all_int {
                i.extend_from_slice(&p.to_i64()[o * chunk..(o + 1) * chunk]);
            } else {
                f.extend_from_slice(&p.to_f32()[o * chunk..(o + 1) * chunk]);
            }
        }
    }
    Ok(Constant { dims, data: if all_int { TensorData::I64(i) } else { TensorData::F32(f) } })
}

fn constant_of_shape(node: &Node, shape: &Constant) -> Result<Constant> {
    let dims = to_dims(&shape.to_i64(), node)?;
    let n = checked_numel(&dims, node)?;
    match node.tensor("value")? {
        Some(v) if v.len() == 1 => match v.data {
            TensorData::F32(x) => Ok(Constant::f32(dims, vec![x[0]; n])),
            TensorData::I64(x) => Ok(Constant::i64(dims, vec![x[0]; n])),
        },
        Some(_) => Err(Error::unsupported(&node.op, &node.name, "value must have one element")),
        None => Ok(Constant::f32(dims, vec![0.0; n])),
    }
}

/// Evaluates `node` on constant inputs. `inputs[i]` is None for omitted optional inputs.
/// Returns None when the op is not a foldable one.
pub(super) fn eval(node: &Node, inputs: &[Option<&Constant>], opset: i64) -> Result<Option<Constant>> {
    let req = |i: usize| -> Result<&Constant> {
        inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| Error::unsupported(&node.op, &node.name, format!("missing input {i}")))
    };
    let out = match node.op.as_str() {
        "Identity" | "Dropout" => req(0)?.clone(),
        "Cast" => cast(node, req(0)?)?,
        "Shape" => {
            let a = req(0)?;
            let r = a.dims.len() as i64;
            let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let (s, e) = (clampi(node.int("start", 0)?), clampi(node.int("end", r)?));
            let dims: Vec<i64> = a.dims[s..e.max(s)].iter().map(|&d| d as i64).collect();
            Constant::i64(vec![dims.len()], dims)
        }
        "Gather" => gather(node, req(0)?, req(1)?)?,
        "Unsqueeze" | "Squeeze" => {
            let a = req(0)?;
            let axes = match node.ints("axes")? {
                Some(v) => Some(v),
                None => inputs.get(1).copied().flatten().map(Constant::to_i64),
            };
            Constant { dims: squeeze_dims(node, &a.dims, axes.as_deref())?, data: a.data.clone() }
        }
        "Concat" => {
            let parts: Vec<&Constant> = (0..inputs.len()).map(req).collect::<Result<_>>()?;
            concat(node, &parts)?
        }
        "Slice" => {
            let data = req(0)?;
            if opset < 10 {
                let starts = node.ints("starts")?.unwrap_or_default();
                let ends = node.ints("ends")?.unwrap_or_default();
                slice(node, data, &starts, &ends, node.ints("axes")?, None)?
            } else {
                let get = |i: usize| inputs.get(i).copied().flatten().map(Constant::to_i64);
                slice(node, data, &req(1)?.to_i64(), &req(2)?.to_i64(), get(3), get(4))?
            }
        }
        "ConstantOfShape" => constant_of_shape(node, req(0)?)?,
        "Reshape" => {
            let a = req(0)?;
            let target = match node.ints("shape")? {
                Some(s) if opset < 5 => s,
                _ => req(1)?.to_i64(),
            };
            let dims = reshape_dims(&a.dims, &target, node.int("allowzero", 0)? != 0, node)?;
            Constant { dims, data: a.data.clone() }
        }
        "Flatten" => {
            let a = req(0)?;
            let axis = norm_axis(node.int("axis", 1)?, a.dims.len() + 1, node)?;
            let dims = vec![a.dims[..axis].iter().product(), a.dims[axis..].iter().product()];
            Constant { dims, data: a.data.clone() }
        }
        "Transpose" => {
            let a = req(0)?;
            let perm = transpose_perm(node, a.dims.len())?;
            let dims = perm.iter().map(|&p| a.dims[p]).collect();
            Constant { dims, data: take(&a.data, &permute_indices(&a.dims, &perm)) }
        }
        "Add" | "Sub" | "Mul" | "Div" => binary(node, req(0)?, req(1)?)?,
        "Neg" | "Sqrt" | "Reciprocal" => unary(node, req(0)?),
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// Output dims of Squeeze/Unsqueeze.
pub(super) fn squeeze_dims(node: &Node, dims: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>> {
    if node.op == "Unsqueeze" {
        let axes = axes.ok_or_else(|| Error::unsupported("Unsqueeze", &node.name, "axes missing"))?;
        let rank = dims.len() + axes.len();
        let mut ins: Vec<usize> = axes.iter().map(|&a| norm_axis(a, rank, node)).collect::<Result<_>>()?;
        ins.sort_unstable();
        let mut out = dims.to_vec();
        for a in ins {
            if a > out.len() {
                return Err(Error::Shape(format!("node '{}': bad Unsqueeze axes", node.name)));
            }
            out.insert(a, 1);
        }
        Ok(out)
    } else {
        let drop: Vec<usize> = match axes {
            Some(ax) => ax.iter().map(|&a| norm_axis(a, dims.len(), node)).collect::<Result<_>>()?,
            None => (0..dims.len()).filter(|&i| dims[i] == 1).collect(),
        };
        if drop.iter().any(|&a| dims[a] != 1) {
            return Err(Error::Shape(format!("node '{}': Squeeze of a non-1 dimension", node.name)));
        }
        Ok(dims.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, &d)| d).collect())
    }
}

pub(super) fn transpose_perm(node: &Node, rank: usize) -> Result<Vec<usize>> {
    let perm = match node.ints("perm")? {
        Some(p) => p.iter().map(|&a| norm_axis(a, rank, node)).collect::<Result<Vec<_>>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    for &p in &perm {
        if std::mem::replace(&mut seen[p], true) {
            return Err(Error::unsupported("Transpose", &node.name, format!("invalid perm {perm:?}")));
        }
    }
    if perm.len() != rank {
        return Err(Error::unsupported("Transpose", &node.name, format!("perm {perm:?} for rank {rank}")));
    }
    Ok(perm)
}
