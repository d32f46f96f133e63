//! ONNX import tests. Models are encoded in Rust with the importer's own prost
//! messages, plus one fixture written by the Python `onnx` package (embedded
//! as hex) that cross-checks the hand-declared field tags. No Python needed.

mod setup_files;
use setup_files::setup_file;

use prost::Message;
use webresnet::error::Error;
use webresnet::model::onnx::import;
use webresnet::model::onnx::proto::*;
use webresnet::model::{AttrValue, Constant, Dim, Graph};

/// Written by `onnx.helper` (onnx 1.x) and passed `onnx.checker.check_model`:
/// Conv(x, W, B) -> Add(y, Constant c) -> com.example.FusedThing(z, "") -> out;
/// initializers W (raw f32, also listed as an input), B (float_data),
/// H (f16 in int32_data), H2 (raw f16), I (int32), S (int64), U8 (raw u8), D (double).
const PY_FIXTURE_HEX: &str = "\
    080e1207666978747572653af1040a7a0a01780a01570a01421201791a05636f6e76312204436f6e762a150a08617574\
    6f5f70616422064e4f54534554a001032a0c0a0567726f75701801a001022a150a0c6b65726e656c5f73686170654003\
    4003a001072a110a04706164734001400140014001a001072a100a077374726964657340014001a001070a2912016322\
    08436f6e7374616e742a1a0a0576616c75652a0e0801100122040000404042026376a001040a0e0a01790a016312017a\
    22034164640a6e0a017a0a0012036f7574220a46757365645468696e672a0f0a05616c70686115cdcccc3da001012a0f\
    0a046d6f6465220466617374a001032a100a056e616d65734a01614a0162a001082a150a067363616c65733d0000003f\
    3d00000040a001063a0b636f6d2e6578616d706c65120474696e792a57080208010803080310014201574a4800000000\
    0000003f0000803f0000c03f0000004000002040000040400000604000008040000090400000a0400000b0400000c040\
    0000d0400000e0400000f04000000041000008412a110802100122080000803e0000c0bf4201422a100803100a2a0780\
    7880800380704201482a0e0802100a420248324a04003eff7b2a210802080210062a1601feffffffffffffffff0103fc\
    ffffffffffffffff014201492a14080210073a0b01ffffffffffffffffff014201532a0d08031002420255384a0300c8\
    ff2a110801100b4201445208000000000000c03f5a1c0a017812170a15080112110a0312014e0a0208010a0208040a02\
    08045a1b0a015712160a14080112100a0208020a0208010a0208030a020803621e0a036f757412170a15080112110a03\
    12014e0a0208020a0208040a02080442040a00100d420f0a0b636f6d2e6578616d706c651001";

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    s.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

fn model_format(r: Result<Graph, Error>) -> String {
    match r {
        Err(Error::ModelFormat(m)) => m,
        Err(e) => panic!("expected ModelFormat, got {e:?}"),
        Ok(_) => panic!("expected ModelFormat, got Ok"),
    }
}

// ---- builders ------------------------------------------------------------

fn vi(name: &str, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Ok(v) => Dimension { dim_value: Some(*v), dim_param: None },
            Err(p) => Dimension { dim_value: None, dim_param: Some(p.to_string()) },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor { elem_type: data_type::FLOAT, shape: Some(TensorShapeProto { dim }) }),
        }),
    }
}

fn f32_raw(name: &str, dims: &[i64], vals: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn f32_typed(name: &str, dims: &[i64], vals: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: vals.to_vec(),
        ..Default::default()
    }
}

fn attr(name: &str, kind: i32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: kind, ..Default::default() }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    OperatorSetIdProto { domain: domain.into(), version }
}

/// A 1x1x4x4 -> Conv(2 filters, 3x3, pad 1) -> Relu graph with every attribute kind.
fn conv_model() -> ModelProto {
    let w: Vec<f32> = (0..18).map(|i| i as f32 * 0.25 - 2.0).collect();
    let mut conv = node("Conv", "conv1", &["x", "w", "b"], &["y"]);
    conv.attribute = vec![
        AttributeProto { ints: vec![3, 3], ..attr("kernel_shape", attr_type::INTS) },
        AttributeProto { ints: vec![1, 1, 1, 1], ..attr("pads", attr_type::INTS) },
        AttributeProto { i: Some(1), ..attr("group", attr_type::INT) },
        AttributeProto { s: Some(b"NOTSET".to_vec()), ..attr("auto_pad", attr_type::STRING) },
        AttributeProto { floats: vec![0.5, 1.5], ..attr("fake_floats", attr_type::FLOATS) },
        AttributeProto { f: Some(0.75), ..attr("fake_float", attr_type::FLOAT) },
    ];
    let mut cst = node("Constant", "", &[], &["k"]);
    cst.attribute = vec![AttributeProto {
        t: Some(TensorProto {
            dims: vec![2],
            data_type: data_type::INT64,
            int64_data: vec![-1, 32],
            ..Default::default()
        }),
        ..attr("value", attr_type::TENSOR)
    }];
    let relu = node("Relu", "", &["y"], &["out"]);
    ModelProto {
        ir_version: 8,
        producer_name: "test".into(),
        opset_import: vec![opset("", 17)],
        graph: Some(GraphProto {
            name: "conv".into(),
            node: vec![conv, cst, relu],
            initializer: vec![f32_raw("w", &[2, 1, 3, 3], &w), f32_typed("b", &[2], &[0.5, -0.5])],
            // "w" is also declared as an input, as old exporters do.
            input: vec![vi("x", &[Err("N"), Ok(1), Ok(4), Ok(4)]), vi("w", &[Ok(2), Ok(1), Ok(3), Ok(3)])],
            output: vec![vi("out", &[Err("N"), Ok(2), Ok(4), Ok(4)])],
            ..Default::default()
        }),
    }
}

fn with_initializer(t: TensorProto) -> Vec<u8> {
    let mut m = conv_model();
    m.graph.as_mut().unwrap().initializer.push(t);
    m.encode_to_vec()
}

// ---- tests -----------------------------------------------------------------

#[test]
fn conv_graph_round_trip() {
    let g = import(&conv_model().encode_to_vec()).unwrap();
    assert_eq!(g.opset, 17);
    assert_eq!(g.inputs.len(), 1, "initializer 'w' must not be a real input");
    assert_eq!(g.inputs[0].name, "x");
    assert_eq!(g.inputs[0].dims, Some(vec![Dim::Symbolic("N".into()), Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(4)]));
    assert_eq!(g.outputs[0].name, "out");

    let w = &g.initializers["w"];
    assert_eq!(w.dims, vec![2, 1, 3, 3]);
    assert_eq!(w.to_f32(), (0..18).map(|i| i as f32 * 0.25 - 2.0).collect::<Vec<_>>());
    assert_eq!(g.initializers["b"], Constant::f32(vec![2], vec![0.5, -0.5]));

    assert_eq!(g.nodes.len(), 3);
    let conv = &g.nodes[0];
    assert_eq!((conv.name.as_str(), conv.op.as_str()), ("conv1", "Conv"));
    assert_eq!(conv.inputs, vec!["x", "w", "b"]);
    assert_eq!(conv.outputs, vec!["y"]);
    assert_eq!(conv.ints("kernel_shape").unwrap(), Some(vec![3, 3]));
    assert_eq!(conv.ints("pads").unwrap(), Some(vec![1, 1, 1, 1]));
    assert_eq!(conv.int("group", 0).unwrap(), 1);
    assert_eq!(conv.string("auto_pad").unwrap().as_deref(), Some("NOTSET"));
    assert_eq!(conv.attr("fake_floats"), Some(&AttrValue::Floats(vec![0.5, 1.5])));
    assert_eq!(conv.float("fake_float", 0.0).unwrap(), 0.75);

    // Unnamed nodes get a stable synthesized name.
    let cst = &g.nodes[1];
    assert_eq!((cst.name.as_str(), cst.op.as_str()), ("Constant_1", "Constant"));
    assert_eq!(cst.tensor("value").unwrap(), Some(Constant::i64(vec![2], vec![-1, 32])));
    assert_eq!(g.nodes[2].name, "Relu_2");

    // Deterministic: importing twice gives the same graph.
    assert_eq!(import(&conv_model().encode_to_vec()).unwrap(), g);
}

#[test]
fn python_written_fixture() {
    let g = import(&hex(PY_FIXTURE_HEX)).unwrap();
    assert_eq!(g.opset, 13);
    let names: Vec<_> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["x"]);
    assert_eq!(g.inputs[0].dims, Some(vec![Dim::Symbolic("N".into()), Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(4)]));
    assert_eq!(g.outputs[0].name, "out");

    let w = &g.initializers["W"];
    assert_eq!(w.dims, vec![2, 1, 3, 3]);
    assert_eq!(w.to_f32(), (0..18).map(|i| i as f32 * 0.5).collect::<Vec<_>>());
    assert_eq!(g.initializers["B"], Constant::f32(vec![2], vec![0.25, -1.5]));
    assert_eq!(g.initializers["H"], Constant::f32(vec![3], vec![1.0, -2.0, 0.5]));
    assert_eq!(g.initializers["H2"], Constant::f32(vec![2], vec![1.5, 65504.0]));
    assert_eq!(g.initializers["I"], Constant::i64(vec![2, 2], vec![1, -2, 3, -4]));
    assert_eq!(g.initializers["S"], Constant::i64(vec![2], vec![1, -1]));
    assert_eq!(g.initializers["U8"], Constant::i64(vec![3], vec![0, 200, 255]));
    assert_eq!(g.initializers["D"], Constant::f32(vec![1], vec![0.125]));

    let ops: Vec<_> = g.nodes.iter().map(|n| (n.name.as_str(), n.op.as_str())).collect();
    assert_eq!(
        ops,
        vec![
            ("conv1", "Conv"),
            ("Constant_1", "Constant"),
            ("Add_2", "Add"),
            ("com.example.FusedThing_3", "com.example.FusedThing")
        ]
    );
    let conv = &g.nodes[0];
    assert_eq!(conv.ints("kernel_shape").unwrap(), Some(vec![3, 3]));
    assert_eq!(conv.ints("pads").unwrap(), Some(vec![1, 1, 1, 1]));
    assert_eq!(conv.int("group", 0).unwrap(), 1);
    assert_eq!(conv.string("auto_pad").unwrap().as_deref(), Some("NOTSET"));
    assert_eq!(g.nodes[1].tensor("value").unwrap(), Some(Constant::f32(vec![1], vec![3.0])));
    let fused = &g.nodes[3];
    assert_eq!(fused.inputs, vec!["z", ""]);
    assert_eq!(fused.input(1), None);
    assert_eq!(fused.float("alpha", 0.0).unwrap(), 0.1);
    assert_eq!(fused.attr("names"), Some(&AttrValue::Strs(vec!["a".into(), "b".into()])));
    assert_eq!(fused.attr("scales"), Some(&AttrValue::Floats(vec![0.5, 2.0])));
    assert_eq!(fused.string("mode").unwrap().as_deref(), Some("fast"));
}

#[test]
fn raw_data_and_float_data_agree() {
    let vals = [1.0f32, -0.0, f32::MIN_POSITIVE, 3.5e10, -7.25, 1e-40];
    let a = import(&with_initializer(f32_raw("t", &[2, 3], &vals))).unwrap();
    let b = import(&with_initializer(f32_typed("t", &[2, 3], &vals))).unwrap();
    assert_eq!(a.initializers["t"].dims, vec![2, 3]);
    let bits = |c: &Constant| c.to_f32().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.initializers["t"]), bits(&b.initializers["t"]));
    assert_eq!(bits(&a.initializers["t"]), vals.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
}

/// A tensor of `data_type` spelled both ways ONNX allows, as little-endian
/// `raw_data` and widened into `int32_data`: each must import to `want`.
fn raw_and_int32_import_alike(data_type: i32, raw_data: Vec<u8>, int32_data: Vec<i32>, want: &Constant) {
    let raw = TensorProto {
        name: "t".into(),
        dims: vec![int32_data.len() as i64],
        data_type,
        raw_data,
        ..Default::default()
    };
    let typed = TensorProto { raw_data: vec![], int32_data, ..raw.clone() };
    for t in [raw, typed] {
        assert_eq!(&import(&with_initializer(t)).unwrap().initializers["t"], want);
    }
}

#[test]
fn f16_and_int32_conversions() {
    // 1.0, -2.0, 0.5, 65504, smallest subnormal
    let halves: [u16; 5] = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001];
    let want = Constant::f32(vec![5], vec![1.0, -2.0, 0.5, 65504.0, 2f32.powi(-24)]);
    let raw = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
    raw_and_int32_import_alike(data_type::FLOAT16, raw, halves.iter().map(|&h| h as i32).collect(), &want);

    let ints = [i32::MIN, -1, 0, 7, i32::MAX];
    // Compared as i64 data (an enum variant of its own), so a widening to f32 fails.
    let want = Constant::i64(vec![5], ints.iter().map(|&v| v as i64).collect());
    raw_and_int32_import_alike(
        data_type::INT32,
        ints.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ints.to_vec(),
        &want,
    );
}

#[test]
fn bad_dims_are_model_format_errors() {
    let cases = [vec![-1i64], vec![2, -3], vec![1 << 40], vec![1 << 40, 1 << 40], vec![i64::MAX, 2]];
    for dims in cases {
        let t = f32_raw("bad", &dims, &[1.0, 2.0]);
        let m = model_format(import(&with_initializer(t)));
        assert!(m.contains("'bad'"), "{m}");
    }
    // Declared input shapes are checked too.
    let mut m = conv_model();
    m.graph.as_mut().unwrap().input[0] = vi("x", &[Ok(-1), Ok(3)]);
    assert!(model_format(import(&m.encode_to_vec())).contains("'x'"));
    let mut m = conv_model();
    m.graph.as_mut().unwrap().input[0] = vi("x", &[Ok(1 << 40)]);
    assert!(model_format(import(&m.encode_to_vec())).contains("'x'"));
}

#[test]
fn data_length_mismatches_are_rejected() {
    // raw_data one byte short, one element short, typed field one element long.
    let mut t = f32_raw("r", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    t.raw_data.pop();
    let m = model_format(import(&with_initializer(t)));
    assert!(m.contains("'r'") && m.contains("raw_data"), "{m}");
    let t = f32_raw("r", &[2, 2], &[1.0, 2.0, 3.0]);
    assert!(model_format(import(&with_initializer(t))).contains("'r'"));
    let t = f32_typed("r", &[2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(model_format(import(&with_initializer(t))).contains("float_data"));
    // No data at all for a non-empty tensor.
    let t = f32_typed("r", &[3], &[]);
    assert!(model_format(import(&with_initializer(t))).contains("'r'"));
    // Data in the wrong typed field for the dtype.
    let t = TensorProto { int64_data: vec![1, 2, 3], ..f32_typed("r", &[3], &[]) };
    assert!(model_format(import(&with_initializer(t))).contains("'r'"));
}

#[test]
fn external_and_string_tensors_are_named() {
    let t = TensorProto {
        data_location: DATA_LOCATION_EXTERNAL,
        external_data: vec![StringStringEntryProto { key: "location".into(), value: "w.bin".into() }],
        ..f32_typed("ext", &[4], &[])
    };
    let m = model_format(import(&with_initializer(t)));
    assert!(m.contains("'ext'") && m.contains("external") && m.contains("w.bin"), "{m}");

    let t = TensorProto {
        name: "str".into(),
        dims: vec![1],
        data_type: data_type::STRING,
        string_data: vec![b"hello".to_vec()],
        ..Default::default()
    };
    let m = model_format(import(&with_initializer(t)));
    assert!(m.contains("'str'") && m.contains("STRING"), "{m}");

    let t = TensorProto { data_type: data_type::COMPLEX64, ..f32_typed("cx", &[1], &[1.0]) };
    let m = model_format(import(&with_initializer(t)));
    assert!(m.contains("'cx'") && m.contains("COMPLEX64"), "{m}");

    // A bad tensor inside a node attribute names the node and attribute.
    let mut m = conv_model();
    let g = m.graph.as_mut().unwrap();
    g.node[1].attribute[0].t.as_mut().unwrap().dims = vec![3];
    let msg = model_format(import(&m.encode_to_vec()));
    assert!(msg.contains("'value'") && msg.contains("'Constant_1'"), "{msg}");
}

#[test]
fn structural_errors() {
    // Empty input, and a model without a graph.
    assert!(model_format(import(&[])).contains("no graph"));
    let m = ModelProto { opset_import: vec![opset("", 13)], ..Default::default() };
    assert!(model_format(import(&m.encode_to_vec())).contains("no graph"));
    // No nodes.
    let mut m = conv_model();
    m.graph.as_mut().unwrap().node.clear();
    assert!(model_format(import(&m.encode_to_vec())).contains("no nodes"));
    // No default-domain opset.
    let mut m = conv_model();
    m.opset_import = vec![opset("com.microsoft", 1)];
    assert!(model_format(import(&m.encode_to_vec())).contains("opset"));
    // "ai.onnx" is the default domain too.
    let mut m = conv_model();
    m.opset_import = vec![opset("ai.onnx", 11), opset("com.microsoft", 1)];
    assert_eq!(import(&m.encode_to_vec()).unwrap().opset, 11);
    // Duplicate initializer.
    let mut m = conv_model();
    let g = m.graph.as_mut().unwrap();
    g.initializer.push(g.initializer[1].clone());
    assert!(model_format(import(&m.encode_to_vec())).contains("twice"));
    // Node with no op_type.
    let mut m = conv_model();
    m.graph.as_mut().unwrap().node[2].op_type.clear();
    assert!(model_format(import(&m.encode_to_vec())).contains("op_type"));
    // Not protobuf at all: prost's message is passed through.
    let m = model_format(import(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"));
    assert!(m.contains("protobuf"), "{m}");
}

#[test]
fn subgraph_attributes_are_kept_as_other() {
    let mut m = conv_model();
    let mut iff = node("If", "", &["cond"], &["r"]);
    iff.attribute = vec![
        AttributeProto { g: Some(Opaque {}), ..attr("then_branch", attr_type::GRAPH) },
        // IR v1 style: no type field, kind inferred from the field present.
        AttributeProto { name: "else_branch".into(), g: Some(Opaque {}), ..Default::default() },
    ];
    m.graph.as_mut().unwrap().node.push(iff);
    let g = import(&m.encode_to_vec()).unwrap();
    let n = g.nodes.last().unwrap();
    assert_eq!(n.name, "If_3");
    assert_eq!(n.attr("then_branch"), Some(&AttrValue::Other("graph")));
    assert_eq!(n.attr("else_branch"), Some(&AttrValue::Other("graph")));
}

#[test]
fn truncated_files_are_errors() {
    let bytes = conv_model().encode_to_vec();
    let py = hex(PY_FIXTURE_HEX);
    for full in [&bytes, &py] {
        assert!(import(full).is_ok());
        for k in 0..64 {
            let cut = full.len() * k / 64;
            assert!(import(&full[..cut]).is_err(), "prefix of {cut}/{} bytes decoded", full.len());
        }
    }
}

/// Small deterministic PRNG so the fuzz cases are reproducible.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for i in 0..3000 {
        let len = (rng.next() % 512) as usize;
        let buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // A random buffer being a valid model with nodes is effectively impossible.
        assert!(import(&buf).is_err(), "case {i}");
    }
}

#[test]
fn mutated_models_never_panic() {
    // Corrupting a few bytes of a valid file reaches much deeper into the
    // decoder than pure noise does.
    let good = [conv_model().encode_to_vec(), hex(PY_FIXTURE_HEX)];
    let mut rng = XorShift(42);
    for _ in 0..3000 {
        let mut buf = good[(rng.next() % 2) as usize].clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() as usize) % buf.len();
            buf[at] = rng.next() as u8;
        }
        match import(&buf) {
            Ok(_) | Err(Error::ModelFormat(_)) => {}
            Err(e) => panic!("unexpected error kind {e:?}"),
        }
    }
}

/// The real tf2onnx ResNet-50 (open-nsfw), which scripts/setup.sh fetches.
#[test]
fn real_open_nsfw_model() {
    let Some(bytes) = setup_file("models/opennsfw.onnx") else { return };
    let t = std::time::Instant::now();
    let g = import(&bytes).unwrap();
    eprintln!("imported {} bytes in {:?}", bytes.len(), t.elapsed());
    assert_eq!(g.opset, 9);
    assert_eq!(g.nodes.len(), 126);
    assert_eq!(g.initializers.len(), 110);
    assert_eq!(g.inputs.len(), 1);
    assert_eq!(g.inputs[0].name, "input:0");
    assert_eq!(
        g.inputs[0].dims,
        Some(vec![Dim::Symbolic("unk__653".into()), Dim::Fixed(224), Dim::Fixed(224), Dim::Fixed(3)])
    );
    let outs: Vec<_> = g.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs, vec!["outputs"]);
    assert_eq!(g.nodes.iter().filter(|n| n.op == "Conv").count(), 53);
    let params: usize = g.initializers.values().map(|c| c.len()).sum();
    eprintln!("{params} parameter values");
    assert!(params > 5_000_000);
    for c in g.initializers.values() {
        assert_eq!(c.len(), c.dims.iter().product::<usize>());
    }
    // Truncating the real file anywhere is an error, never a panic.
    for k in 0..64 {
        assert!(import(&bytes[..bytes.len() * k / 64]).is_err(), "prefix {k}/64 decoded");
    }
}
