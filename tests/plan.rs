//! Planner tests on hand-built graphs: folding, fusion, layout, liveness.

use webresnet::model::{AttrValue, Constant, Dim, Graph, Node, ValueInfo};
use webresnet::plan::{compile, compile_owned, ActQuant, Activation, CompileOptions, Layout, Plan, QuantizedOp, Step};

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, AttrValue)>) -> Node {
    Node {
        name: name.into(),
        op: op.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

fn ints(v: &[i64]) -> AttrValue {
    AttrValue::Ints(v.to_vec())
}

struct Builder {
    g: Graph,
    n: usize,
}

impl Builder {
    fn new(input_dims: &[usize]) -> Self {
        let mut dims: Vec<Dim> = input_dims.iter().map(|&d| Dim::Fixed(d)).collect();
        dims[0] = Dim::Symbolic("N".into());
        let g = Graph {
            inputs: vec![ValueInfo { name: "x".into(), dims: Some(dims) }],
            outputs: vec![],
            opset: 13,
            ..Default::default()
        };
        Builder { g, n: 0 }
    }
    fn fresh(&mut self, p: &str) -> String {
        self.n += 1;
        format!("{p}{}", self.n)
    }
    fn init(&mut self, dims: &[usize]) -> String {
        let name = self.fresh("w");
        let len: usize = dims.iter().product();
        let data = (0..len).map(|i| ((i * 7919 % 101) as f32 - 50.0) / 500.0 + 0.01).collect();
        self.g.initializers.insert(name.clone(), Constant::f32(dims.to_vec(), data));
        name
    }
    fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, AttrValue)>) -> String {
        let out = self.fresh("v");
        let name = self.fresh(op);
        self.g.nodes.push(node(op, &name, inputs, &[&out], attrs));
        out
    }
    fn conv_bn(&mut self, x: &str, cin: usize, cout: usize, k: usize, stride: i64) -> String {
        let w = self.init(&[cout, cin, k, k]);
        let p = (k / 2) as i64;
        let c = self.op("Conv", &[x, &w], vec![("strides", ints(&[stride, stride])), ("pads", ints(&[p, p, p, p]))]);
        let [g, b, m] = [0; 3].map(|_| self.init(&[cout]));
        let v = self.fresh("var");
        self.g.initializers.insert(v.clone(), Constant::f32(vec![cout], vec![0.9; cout]));
        self.op("BatchNormalization", &[&c, &g, &b, &m, &v], vec![])
    }
    fn finish(mut self, out: &str) -> Graph {
        self.g.outputs.push(ValueInfo { name: out.into(), dims: None });
        self.g
    }
}

/// Stem + one basic block with a projection shortcut + head.
fn tiny_resnet() -> Graph {
    let mut b = Builder::new(&[1, 3, 32, 32]);
    let s = b.conv_bn("x", 3, 8, 3, 2);
    let s = b.op("Relu", &[&s], vec![]);
    let s = b.op(
        "MaxPool",
        &[&s],
        vec![("kernel_shape", ints(&[3, 3])), ("strides", ints(&[2, 2])), ("pads", ints(&[1, 1, 1, 1]))],
    );
    let a = b.conv_bn(&s, 8, 16, 3, 2);
    let a = b.op("Relu", &[&a], vec![]);
    let a = b.conv_bn(&a, 16, 16, 3, 1);
    let sc = b.conv_bn(&s, 8, 16, 1, 2);
    let y = b.op("Add", &[&a, &sc], vec![]);
    let y = b.op("Relu", &[&y], vec![]);
    let p = b.op("GlobalAveragePool", &[&y], vec![]);
    // torch-style dynamic flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
    let shp = b.op("Shape", &[&p], vec![]);
    let zero = b.fresh("c");
    b.g.initializers.insert(zero.clone(), Constant::i64(vec![], vec![0]));
    let n = b.op("Gather", &[&shp, &zero], vec![("axis", AttrValue::Int(0))]);
    let axes = b.fresh("c");
    b.g.initializers.insert(axes.clone(), Constant::i64(vec![1], vec![0]));
    let n = b.op("Unsqueeze", &[&n, &axes], vec![]);
    let minus1 = b.fresh("c");
    b.g.initializers.insert(minus1.clone(), Constant::i64(vec![1], vec![-1]));
    let target = b.op("Concat", &[&n, &minus1], vec![("axis", AttrValue::Int(0))]);
    let f = b.op("Reshape", &[&p, &target], vec![]);
    let w = b.init(&[10, 16]);
    let bias = b.init(&[10]);
    let out = b.op("Gemm", &[&f, &w, &bias], vec![("transB", AttrValue::Int(1))]);
    b.finish(&out)
}

fn plan(g: &Graph, shape: Option<Vec<usize>>) -> Plan {
    compile(g, &CompileOptions { input_shape: shape }).expect("compiles")
}

#[test]
fn resnet_block_fuses_bn_relu_and_residual() {
    let p = plan(&tiny_resnet(), None);
    let kinds: Vec<&str> = p.steps.iter().map(Step::kind).collect();
    assert_eq!(kinds, ["Permute", "Conv", "MaxPool", "Conv", "Conv", "Conv", "GlobalAvgPool", "Dense"], "{kinds:?}");
    let convs: Vec<_> = p.steps.iter().filter_map(|s| if let Step::Conv(c) = s { Some(c) } else { None }).collect();
    assert_eq!(convs[0].activation, Activation::Relu);
    // The block's second conv carries the residual add and the final ReLU.
    let fused = convs.iter().find(|c| c.residual.is_some()).expect("residual fused");
    assert_eq!(fused.activation, Activation::Relu);
    assert_eq!(p.output.shape, vec![1, 10]);
    assert_eq!(p.tensors[p.output.tensor].layout, Layout::Plain);
    // Stem conv output is NHWC [1,16,16,8].
    assert_eq!(p.tensors[convs[0].output].shape, vec![1, 16, 16, 8]);
}

#[test]
fn arena_is_far_below_sum_and_tensors_do_not_collide() {
    let p = plan(&tiny_resnet(), None);
    assert!(p.arena_len * 4 < p.sum_activation_bytes(), "{} vs {}", p.arena_len * 4, p.sum_activation_bytes());
    // No step's inputs overlap its output, except an in-place residual.
    for s in &p.steps {
        let out = p.tensors[s.output()].range();
        for t in s.inputs() {
            let r = p.tensors[t].range();
            let overlap = r.start < out.end && out.start < r.end;
            let in_place = matches!(s, Step::Conv(c) if c.residual == Some(t) && r == out);
            assert!(!overlap || in_place, "step {} input {t} overlaps output", s.kind());
        }
        assert!(out.end <= p.arena_len);
    }
}

#[test]
fn batch_and_size_can_change() {
    let p = plan(&tiny_resnet(), Some(vec![3, 3, 48, 40]));
    assert_eq!(p.output.shape, vec![3, 10]);
    assert_eq!(p.input.shape, vec![3, 3, 48, 40]);
}

#[test]
fn unsupported_op_names_op_and_node() {
    let mut b = Builder::new(&[1, 3, 8, 8]);
    let y = b.op("Erf", &["x"], vec![]);
    let err = compile(&b.finish(&y), &CompileOptions::default()).unwrap_err();
    assert_eq!(err.code(), "UNSUPPORTED_OP");
    let msg = err.to_string();
    assert!(msg.contains("Erf") && msg.contains("Erf2"), "{msg}");
}

#[test]
fn cycle_and_undefined_values_are_errors() {
    let mut b = Builder::new(&[1, 3, 8, 8]);
    b.g.nodes.push(node("Relu", "r1", &["v2"], &["v1"], vec![]));
    b.g.nodes.push(node("Relu", "r2", &["v1"], &["v2"], vec![]));
    let err = compile(&b.finish("v2"), &CompileOptions::default()).unwrap_err();
    assert_eq!(err.code(), "MODEL_FORMAT", "{err}");

    let mut b = Builder::new(&[1, 3, 8, 8]);
    let y = b.op("Relu", &["nope"], vec![]);
    let err = compile(&b.finish(&y), &CompileOptions::default()).unwrap_err();
    assert_eq!(err.code(), "MODEL_FORMAT", "{err}");
}

#[test]
fn mismatched_shapes_are_errors() {
    let mut b = Builder::new(&[1, 3, 8, 8]);
    let w = b.init(&[4, 5, 3, 3]);
    let y = b.op("Conv", &["x", &w], vec![]);
    let err = compile(&b.finish(&y), &CompileOptions::default()).unwrap_err();
    assert_eq!(err.code(), "SHAPE", "{err}");
}

#[test]
fn nhwc_input_transpose_is_free() {
    let mut b = Builder::new(&[1, 16, 16, 3]);
    let t = b.op("Transpose", &["x"], vec![("perm", ints(&[0, 3, 1, 2]))]);
    let w = b.init(&[4, 3, 3, 3]);
    let y = b.op("Conv", &[&t, &w], vec![]);
    let y = b.op("GlobalAveragePool", &[&y], vec![]);
    let y = b.op("Flatten", &[&y], vec![]);
    let p = plan(&b.finish(&y), None);
    let kinds: Vec<&str> = p.steps.iter().map(Step::kind).collect();
    assert_eq!(kinds, ["Conv", "GlobalAvgPool"]);
}

/// A graph handed over whole plans exactly as a borrowed one, also where a
/// weight is read twice (two convs, or a conv through an Identity alias):
/// only a weight nothing else reads is taken, the others are copied.
#[test]
fn a_graph_handed_over_plans_as_a_borrowed_one() {
    let mut b = Builder::new(&[1, 4, 9, 7]);
    let w = b.init(&[4, 4, 3, 3]);
    let pads = || vec![("pads", ints(&[1, 1, 1, 1]))];
    let a = b.op("Conv", &["x", &w], pads());
    let a = b.op("Conv", &[&a, &w], pads());
    let alias = b.op("Identity", &[&w], vec![]);
    let a = b.op("Conv", &[&a, &alias], pads());
    let one = b.init(&[4, 4, 1, 1]);
    let a = b.op("Conv", &[&a, &one], vec![]);
    let f = b.op("Flatten", &[&a], vec![]);
    let fc = b.init(&[4 * 9 * 7, 5]);
    let y = b.op("Gemm", &[&f, &fc], vec![]);
    for g in [b.finish(&y), tiny_resnet()] {
        let batch2 = match g.inputs[0].dims.as_deref() {
            Some([_, rest @ ..]) => {
                [2].into_iter().chain(rest.iter().map(|d| if let Dim::Fixed(v) = d { *v } else { 1 })).collect()
            }
            _ => unreachable!("the builders declare the input"),
        };
        for input_shape in [None, Some(batch2)] {
            let opts = CompileOptions { input_shape };
            assert_eq!(compile_owned(g.clone(), &opts).unwrap(), compile(&g, &opts).unwrap());
        }
    }
}

/// A QDQ graph as the importer leaves it: int8 conv weights with their
/// scales, int32 bias codes, quantize pairs on the activations; the conv's
/// output and a residual Add quantized, then a quantized global mean.
fn qdq_graph(bias_scale: f32) -> Graph {
    let mut b = Builder::new(&[1, 3, 6, 6]);
    let qdq = |b: &mut Builder, x: &str, scale: f32, zero: i64| {
        let attrs = vec![
            ("scale", AttrValue::Float(scale)),
            ("zero_point", AttrValue::Int(zero)),
            ("qmin", AttrValue::Int(0)),
            ("qmax", AttrValue::Int(255)),
        ];
        b.op(webresnet::model::onnx::QDQ_OP, &[x], attrs)
    };
    let (sx, sw) = (0.05f32, 0.01f32);
    let x = qdq(&mut b, "x", sx, 128);
    let codes: Vec<i64> = (0..3 * 3 * 3 * 3).map(|i| i % 255 - 127).collect();
    let w = "w".to_string();
    b.g.initializers.insert(w.clone(), Constant::f32(vec![3, 3, 3, 3], codes.iter().map(|&c| c as f32 * sw).collect()));
    b.g.int8_weights.insert(w.clone());
    b.g.weight_scales.insert(w.clone(), vec![sw]);
    let bias_codes = vec![100, -2000, 7];
    let bias: Vec<f32> = bias_codes.iter().map(|&c| c as f32 * bias_scale).collect();
    b.g.initializers.insert("b".into(), Constant::f32(vec![3], bias));
    b.g.bias_codes.insert("b".into(), bias_codes);
    let c = b.op("Conv", &[&x, &w, "b"], vec![("pads", ints(&[1, 1, 1, 1]))]);
    let c = qdq(&mut b, &c, 0.1, 120);
    let sum = b.op("Add", &[&c, &x], vec![]);
    let sum = qdq(&mut b, &sum, 0.12, 125);
    let mean = b.op("GlobalAveragePool", &[&sum], vec![]);
    let mean = qdq(&mut b, &mean, 0.02, 100);
    b.finish(&mean)
}

#[test]
fn qdq_layers_take_their_integer_arithmetic() {
    let p = plan(&qdq_graph(0.05 * 0.01), None);
    let kinds: Vec<&str> = p.steps.iter().map(Step::kind).collect();
    assert_eq!(kinds, ["Quantize", "Permute", "Conv", "Quantize", "Quantize", "Quantize"], "{kinds:?}");
    let Step::Conv(c) = &p.steps[2] else { unreachable!() };
    let r = c.requant.as_ref().expect("the model's integer parameters");
    assert_eq!((r.bias.as_slice(), r.weight_scale.as_slice()), ([100, -2000, 7].as_slice(), [0.01; 3].as_slice()));
    assert_eq!(r.output, Some(ActQuant { scale: 0.1, zero: 120 }));
    assert!(matches!(&p.steps[4], Step::Quantize(q) if matches!(q.of, Some(QuantizedOp::Add { .. }))));
    assert!(
        matches!(&p.steps[5], Step::Quantize(q) if q.of == Some(QuantizedOp::Mean { grid: ActQuant { scale: 0.12, zero: 125 } }))
    );

    // A bias whose codes are not at input × weight scale gets the float arithmetic.
    let p = plan(&qdq_graph(0.05 * 0.02), None);
    let Step::Conv(c) = &p.steps[2] else { unreachable!() };
    assert_eq!(c.requant, None);
}
