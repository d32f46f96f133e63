//! int8 weights in a model file: a conv or dense weight stored as `I8` with
//! one f32 scale per output channel (symmetric: value = q × scale), in a
//! companion F32 tensor named [`scale_name`]. The scale tensor has the
//! weight's rank, 1 in every dimension but the output channel's, so a
//! safetensors tool shows which axis it scales. Loading multiplies them back
//! to f32 ([`dequantize`]); every backend then sees an ordinary graph.

use std::collections::{HashMap, HashSet};

use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

use super::bad;
use super::tensors::Stored;
use crate::error::Result;
use crate::model::{Constant, Graph, TensorData};

/// What ends the name of a weight's scales: `#` appears in no importer's names.
pub const SCALE_SUFFIX: &str = "#scale";

/// What a weight's scales are called.
pub fn scale_name(weight: &str) -> String {
    format!("{weight}{SCALE_SUFFIX}")
}

/// The largest magnitude a symmetric int8 code takes (-128 is left unused so
/// that q and -q are both codes).
const QMAX: f32 = 127.0;

/// The output-channel axis of every initializer that only conv and dense
/// nodes read as their weight: a Conv's W (axis 0), a Gemm's B (axis 0 when
/// transposed, else 1), a 2-D MatMul's B (axis 1). Grouped convs' weights are
/// left out ([`grouped_conv_weights`]).
pub fn weight_axes(graph: &Graph) -> HashMap<String, usize> {
    let mut axes = HashMap::new();
    let mut other_use = HashSet::new();
    for node in &graph.nodes {
        for (i, input) in node.inputs.iter().enumerate() {
            let axis = match (node.op.as_str(), i) {
                ("Conv", 1) if grouped(node) => None,
                ("Conv", 1) => Some(0),
                ("Gemm", 1) => Some(if node.int("transB", 0).unwrap_or(0) != 0 { 0 } else { 1 }),
                ("MatMul", 1) => Some(1),
                _ => None,
            };
            let rank = graph.initializers.get(input).map(|c| c.dims.len());
            match axis.filter(|&a| rank.is_some_and(|r| a < r && (node.op == "Conv" || r == 2))) {
                // A weight read twice with two different axes has no one channel axis.
                Some(a) if axes.insert(input.clone(), a).is_none_or(|old| old == a) => {}
                _ => {
                    other_use.insert(input.clone());
                }
            }
        }
    }
    axes.retain(|name, _| !other_use.contains(name));
    axes
}

/// The weights of grouped convs (depthwise ones among them), which an int8
/// file stores as f16: every backend runs them on f32 kernels, they hold few
/// weights (a depthwise 3x3 has 9 per channel), and int8 costs them the most
/// agreement with f32 per byte it saves.
pub fn grouped_conv_weights(graph: &Graph) -> HashSet<String> {
    graph.nodes.iter().filter(|n| n.op == "Conv" && grouped(n)).filter_map(|n| n.inputs.get(1).cloned()).collect()
}

fn grouped(conv: &crate::model::Node) -> bool {
    conv.int("group", 1).unwrap_or(1) != 1
}

/// The int8 codes and per-channel scales of `c` along `axis`, or None where a
/// value is not finite (such a tensor is stored as it is).
pub(super) fn quantize(name: &str, c: &Constant, axis: usize) -> Option<[Stored; 2]> {
    let TensorData::F32(values) = &c.data else { return None };
    if values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let channels = c.dims[axis];
    // Elements between two steps of the channel index, and the channel's span.
    let inner: usize = c.dims[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner) % channels;
    let mut max = vec![0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let m = &mut max[channel_of(i)];
        *m = m.max(v.abs());
    }
    // An all-zero channel gets scale 1: any positive scale codes it exactly.
    let scales: Vec<f32> = max.iter().map(|&m| if m > 0.0 { m / QMAX } else { 1.0 }).collect();
    let codes =
        values.iter().enumerate().map(|(i, v)| (v / scales[channel_of(i)]).round().clamp(-QMAX, QMAX) as i8 as u8);
    let mut scale_dims = vec![1; c.dims.len()];
    scale_dims[axis] = channels;
    let scale_bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
    Some([
        Stored::new(name, Dtype::I8, c.dims.clone(), codes.collect()),
        Stored::new(&scale_name(name), Dtype::F32, scale_dims, scale_bytes),
    ])
}

/// `c` as it loads from an int8 file: quantized along `axis`, scaled back.
pub fn round_trip(c: &Constant, axis: usize) -> Option<Constant> {
    let [codes, scales] = quantize("", c, axis)?;
    let mut values: Vec<f32> = codes.bytes().iter().map(|&b| f32::from(b as i8)).collect();
    let scales = super::f32s_le(scales.bytes());
    let mut scale_dims = vec![1; c.dims.len()];
    scale_dims[axis] = c.dims[axis];
    scale_in_place(&mut values, &c.dims, &scale_dims, &scales);
    Some(Constant::f32(c.dims.clone(), values))
}

/// Turns the graph's int8 weights (decoded as their codes) back into f32 by
/// their scales, drops the scale tensors and names the weights in
/// [`Graph::int8_weights`]. `tensors` is the file's table:
/// every I8 tensor needs its F32 scales, varying along one of its axes at most, every scale
/// tensor its I8 weight, and every scale must be finite and positive.
pub(super) fn dequantize(tensors: &[(String, TensorInfo)], graph: &mut Graph) -> Result<()> {
    let dtypes: HashMap<&str, &TensorInfo> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for (name, t) in tensors {
        if let Some(weight) = name.strip_suffix(SCALE_SUFFIX) {
            if dtypes.get(weight).is_none_or(|w| w.dtype != Dtype::I8) {
                return Err(bad(format!("scale tensor '{name}' has no int8 weight '{weight}'")));
            }
        }
        if t.dtype != Dtype::I8 {
            continue;
        }
        let scale = scale_name(name);
        let info = dtypes.get(scale.as_str()).ok_or_else(|| bad(format!("int8 tensor '{name}' has no '{scale}'")))?;
        let fits = info.dtype == Dtype::F32
            && info.shape.len() == t.shape.len()
            && info.shape.iter().zip(&t.shape).all(|(&s, &w)| s == 1 || s == w)
            && info.shape.iter().filter(|&&s| s != 1).count() <= 1;
        if !fits {
            return Err(bad(format!(
                "'{scale}' is {:?} {:?}, not F32 scales for int8 shape {:?}",
                info.dtype, info.shape, t.shape
            )));
        }
        let scales = graph.initializers.remove(&scale).map(|c| c.to_f32()).unwrap_or_default();
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(bad(format!("'{scale}' holds {s}: scales must be finite and positive")));
        }
        let Some(TensorData::F32(codes)) = graph.initializers.get_mut(name).map(|c| &mut c.data) else {
            return Err(bad(format!("int8 tensor '{name}' was not decoded")));
        };
        scale_in_place(codes, &t.shape, &info.shape, &scales);
        graph.int8_weights.insert(name.clone());
    }
    Ok(())
}

/// `values` (of `dims`) times the scales, which vary along one axis at most
/// (of `scale_dims`): runs of `inner` values share a scale, cycling through them.
fn scale_in_place(values: &mut [f32], dims: &[usize], scale_dims: &[usize], scales: &[f32]) {
    let axis = scale_dims.iter().position(|&d| d != 1).unwrap_or(0);
    let inner: usize = dims.get(axis + 1..).map_or(1, |d| d.iter().product());
    for (run, s) in values.chunks_mut(inner.max(1)).zip(scales.iter().cycle()) {
        run.iter_mut().for_each(|v| *v *= s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(dtype: Dtype, shape: &[usize]) -> TensorInfo {
        TensorInfo { dtype, shape: shape.to_vec(), data_offsets: (0, 0) }
    }

    /// A [2, 3] int8 weight with codes 1..=6 and the scale tensor given.
    fn case(scale: TensorInfo, scales: Vec<f32>) -> Result<Graph> {
        let mut graph = Graph::default();
        graph.initializers.insert("w".into(), Constant::f32(vec![2, 3], (1..=6).map(|q| q as f32).collect()));
        graph.initializers.insert("w#scale".into(), Constant::f32(scale.shape.clone(), scales));
        let table = [("w".to_string(), info(Dtype::I8, &[2, 3])), ("w#scale".to_string(), scale)];
        dequantize(&table, &mut graph).map(|()| graph)
    }

    #[test]
    fn scales_multiply_along_their_axis_and_are_dropped() {
        let rows = case(info(Dtype::F32, &[2, 1]), vec![0.5, 2.0]).unwrap();
        assert_eq!(rows.initializers["w"].to_f32(), [0.5, 1.0, 1.5, 8.0, 10.0, 12.0]);
        assert!(!rows.initializers.contains_key("w#scale"));
        let columns = case(info(Dtype::F32, &[1, 3]), vec![1.0, 0.5, 0.25]).unwrap();
        assert_eq!(columns.initializers["w"].to_f32(), [1.0, 1.0, 0.75, 4.0, 2.5, 1.5]);
    }

    #[test]
    fn bad_scales_are_format_errors() {
        let rows = || info(Dtype::F32, &[2, 1]);
        for bad_value in [f32::NAN, f32::INFINITY, 0.0, -1.0] {
            let r = case(rows(), vec![1.0, bad_value]);
            assert!(matches!(r, Err(crate::Error::ModelFormat(_))), "scale {bad_value}: {r:?}");
        }
        for wrong in [info(Dtype::F16, &[2, 1]), info(Dtype::F32, &[2]), info(Dtype::F32, &[2, 3])] {
            let n = wrong.shape.iter().product();
            let r = case(wrong.clone(), vec![1.0; n]);
            assert!(matches!(r, Err(crate::Error::ModelFormat(_))), "scale tensor {wrong:?}: {r:?}");
        }
        let mut graph = Graph::default();
        let orphan = [("x#scale".to_string(), info(Dtype::F32, &[1]))];
        assert!(matches!(dequantize(&orphan, &mut graph), Err(crate::Error::ModelFormat(_))));
        let unscaled = [("w".to_string(), info(Dtype::I8, &[1]))];
        assert!(matches!(dequantize(&unscaled, &mut graph), Err(crate::Error::ModelFormat(_))));
    }

    #[test]
    fn codes_are_symmetric_per_channel() {
        let c = Constant::f32(vec![2, 2, 1, 1], vec![1.0, -0.5, 0.0, 0.0]);
        let [codes, scales] = quantize("w", &c, 0).unwrap();
        assert_eq!(codes.bytes(), [127, (-64i8) as u8, 0, 0]);
        assert_eq!(scales.bytes(), [1.0f32 / 127.0, 1.0].iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<_>>());
        assert!(quantize("w", &Constant::f32(vec![1, 1], vec![f32::NAN]), 0).is_none());
    }
}
