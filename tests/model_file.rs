//! The project's model file without downloaded assets: a round trip keeps the
//! graph exactly, f16 rounds to nearest even, and damage is refused cleanly.

use webresnet::model::incoming::Incoming;
use webresnet::model::{format, AttrValue, Constant, Dim, Graph, Node, ValueInfo};
use webresnet::plan::{compile, CompileOptions, Step};
use webresnet::preprocess::PreprocessConfig;
use webresnet::Error;

fn tiny() -> Graph {
    let mut g = Graph {
        inputs: vec![ValueInfo {
            name: "x".into(),
            dims: Some(vec![Dim::Symbolic("N".into()), Dim::Fixed(3), Dim::Fixed(4), Dim::Fixed(4)]),
        }],
        outputs: vec![ValueInfo { name: "y".into(), dims: None }],
        opset: 17,
        preprocess: Some(PreprocessConfig::caffe_bgr()),
        labels: Some(vec!["a".into(), "b".into()]),
        ..Graph::default()
    };
    // 1 + 2^-11 lies halfway between two f16 values: it must round to the even one, 1.0;
    // 1 + 3 * 2^-11 rounds up to 1 + 2^-9.
    let w = vec![1.0 + 2f32.powi(-11), 1.0 + 3.0 * 2f32.powi(-11), -0.5, 1e-3, 0.0, 2.0];
    g.initializers.insert("w".into(), Constant::f32(vec![2, 3, 1, 1], w));
    g.initializers.insert("b".into(), Constant::f32(vec![2], vec![0.1, f32::MIN_POSITIVE]));
    g.nodes.push(Node {
        name: "conv".into(),
        op: "Conv".into(),
        inputs: vec!["x".into(), "w".into(), "b".into()],
        outputs: vec!["y".into()],
        attrs: vec![
            ("kernel_shape".into(), AttrValue::Ints(vec![1, 1])),
            ("alpha".into(), AttrValue::Float(f32::INFINITY)),
            ("value".into(), AttrValue::Tensor(Constant::i64(vec![2], vec![-1, 7]))),
        ],
    });
    g
}

#[test]
fn round_trip_is_exact_in_f32() {
    let g = tiny();
    let bytes = format::write(&g, &format::WriteOptions::default()).unwrap();
    assert!(format::sniff(&bytes));
    assert_eq!(webresnet::model::import(&bytes).unwrap(), g);
}

#[test]
fn f16_rounds_to_nearest_even_and_keeps_1d_tensors_f32() {
    let opts = format::WriteOptions { f16: true, ..Default::default() };
    let g = webresnet::model::import(&format::write(&tiny(), &opts).unwrap()).unwrap();
    let w = g.initializers["w"].to_f32();
    assert_eq!(&w[..3], &[1.0, 1.0 + 2f32.powi(-9), -0.5]);
    assert_eq!(g.initializers["b"], tiny().initializers["b"]);
}

#[test]
fn damage_is_refused_without_panic() {
    let good = format::write(&tiny(), &format::WriteOptions::default()).unwrap();
    let is_format_error = |b: &[u8]| matches!(webresnet::model::import(b), Err(Error::ModelFormat(_)));
    for cut in (0..good.len()).step_by(7) {
        assert!(is_format_error(&good[..cut]), "truncated to {cut} bytes");
    }
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(is_format_error(&flipped));
    // The label "a" inside the header's escaped JSON document becomes "c".
    let mut tampered = good.clone();
    let at = good.windows(6).position(|w| w == b"[\\\"a\\\"").expect("label in header");
    tampered[at + 3] = b'c';
    match webresnet::model::import(&tampered) {
        Err(Error::ModelFormat(m)) => assert!(m.contains("SHA-256"), "{m}"),
        other => panic!("tampered label accepted: {other:?}"),
    }
}

/// `file` with its safetensors header rewritten by `edit`; the data section is kept.
fn with_header(file: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&file[8..8 + len]).unwrap();
    edit(&mut header);
    let header = header.to_string().into_bytes();
    [&(header.len() as u64).to_le_bytes()[..], &header, &file[8 + len..]].concat()
}

#[test]
fn tampered_shape_dtype_or_offsets_fail_the_hash() {
    let mut g = tiny();
    g.initializers.insert("b2".into(), Constant::f32(vec![2], vec![3.0, 4.0]));
    let good = format::write(&g, &format::WriteOptions::default()).unwrap();
    assert!(webresnet::model::import(&with_header(&good, |_| {})).is_ok());
    type Edit = fn(&mut serde_json::Value);
    let tampers: [(&str, Edit); 3] = [
        ("shape", |h| h["w"]["shape"] = serde_json::json!([3, 2, 1, 1])),
        // The same 8 bytes as one i64: a dtype changes the size unless the shape changes too.
        ("dtype", |h| {
            h["b"]["dtype"] = "I64".into();
            h["b"]["shape"] = serde_json::json!([1]);
        }),
        ("offsets", |h| {
            let (b, b2) = (h["b"]["data_offsets"].clone(), h["b2"]["data_offsets"].clone());
            h["b"]["data_offsets"] = b2;
            h["b2"]["data_offsets"] = b;
        }),
    ];
    for (what, edit) in tampers {
        match webresnet::model::import(&with_header(&good, edit)) {
            Err(Error::ModelFormat(m)) => assert!(m.contains("SHA-256"), "{what}: {m}"),
            other => panic!("tampered {what} accepted: {other:?}"),
        }
    }
}

#[test]
fn f16_widening_is_exact_for_every_bit_pattern() {
    let bytes: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_le_bytes).collect();
    let widened = format::f16s_le(&bytes);
    for (h, got) in (0..=u16::MAX).zip(widened) {
        let want = half::f16::from_bits(h).to_f32();
        // NaN payloads may differ; any NaN must stay NaN, everything else bit for bit.
        let same = if want.is_nan() { got.is_nan() } else { got.to_bits() == want.to_bits() };
        assert!(same, "f16 {h:#06x}: got {got:e} ({:#010x}), want {want:e}", got.to_bits());
    }
}

/// `bytes` fed to an [`Incoming`] announced as `len` bytes, in chunks of `size`.
fn arrive(bytes: &[u8], len: usize, size: usize) -> Option<Graph> {
    let mut incoming = Incoming::new(len);
    bytes.chunks(size).for_each(|c| incoming.push(c));
    incoming.finish().map(|(_, g)| g)
}

#[test]
fn a_model_file_read_as_it_arrives_equals_the_file_read_whole() {
    let mut g = tiny();
    g.initializers.insert("shape".into(), Constant::i64(vec![3], vec![1, -1, 9]));
    g.initializers.insert("empty".into(), Constant::f32(vec![0, 4], vec![]));
    g.initializers
        .insert("big".into(), Constant::f32(vec![300, 7], (0..2100).map(|i| i as f32 * 0.37 - 5.0).collect()));
    for f16 in [false, true] {
        let bytes = format::write(&g, &format::WriteOptions { f16, ..Default::default() }).unwrap();
        let whole = format::read(&bytes).unwrap();
        for size in [1, 2, 3, 7, 8, 9, 64, 1000, 4099, bytes.len()] {
            assert_eq!(arrive(&bytes, bytes.len(), size).as_ref(), Some(&whole), "f16 {f16}, chunks of {size}");
        }
    }
}

#[test]
fn an_incoming_file_that_is_not_as_announced_is_left_to_the_whole_import() {
    let good = format::write(&tiny(), &format::WriteOptions::default()).unwrap();
    let n = good.len();
    // Shorter or longer than announced, cut short, or with bytes added.
    assert_eq!(arrive(&good, n + 1, 5), None);
    assert_eq!(arrive(&good, n - 1, 5), None);
    assert_eq!(arrive(&good[..n - 3], n, 5), None);
    assert_eq!(arrive(&[&good[..], b"xyz"].concat(), n, 5), None);
    // A header that claims more than the file, a damaged header, not a model file.
    let claims_more = with_header(&good, |h| h["w"]["shape"] = serde_json::json!([2, 3, 1, 2]));
    assert_eq!(arrive(&claims_more, claims_more.len(), 5), None);
    let other_format = with_header(&good, |h| h["__metadata__"]["format"] = serde_json::json!("other"));
    assert_eq!(arrive(&other_format, other_format.len(), 5), None);
    assert_eq!(arrive(&[&u64::MAX.to_le_bytes()[..], &good[8..]].concat(), n, 5), None);
    assert_eq!(arrive(b"\x08\0\0\0\0\0\0\0{}{}", 12, 5), None);
    assert_eq!(arrive(&[7; 100], 100, 5), None);
    assert_eq!(arrive(&[], 0, 5), None);
}

#[test]
fn int8_stores_conv_weights_per_channel_and_loads_them_scaled_back() {
    let g = tiny();
    let plain = format::write(&g, &format::WriteOptions::default()).unwrap();
    let bytes = format::write(&g, &format::WriteOptions { int8: true, ..Default::default() }).unwrap();
    let (_, info) = format::read_with_info(&plain).unwrap();
    assert_eq!(info.version, format::OLDEST_VERSION, "a file without int8 stays readable by older builds");
    let (back, info) = format::read_with_info(&bytes).unwrap();
    assert_eq!(info.version, format::VERSION);
    // Row 0 has max |w| 1 + 3 * 2^-11, row 1 has 2: each value within half a step of its row.
    let (want, got) = (g.initializers["w"].to_f32(), back.initializers["w"].to_f32());
    for (i, (w, q)) in want.iter().zip(&got).enumerate() {
        let step = if i < 3 { want[1] / 127.0 } else { 2.0 / 127.0 };
        assert!((w - q).abs() <= step / 2.0 + 1e-7, "w[{i}] = {w}, int8 gives {q}");
    }
    assert_eq!(back.initializers["b"], g.initializers["b"], "biases stay f32");
    assert_eq!(back.nodes, g.nodes);
    assert!(!back.initializers.keys().any(|k| k.contains('#')), "scale tensors are not initializers");
    // The plan marks the conv int8 for the CPU's int8 kernels; the f32 file's stays f32.
    let int8_convs = |g: &Graph| {
        let plan = compile(g, &CompileOptions::default()).unwrap();
        plan.steps.iter().filter_map(|s| if let Step::Conv(c) = s { Some(c.int8) } else { None }).collect::<Vec<_>>()
    };
    assert_eq!(back.int8_weights.iter().collect::<Vec<_>>(), ["w"]);
    assert_eq!(int8_convs(&back), [true]);
    assert_eq!(int8_convs(&format::read(&plain).unwrap()), [false]);
    for size in [1, 5, 64, bytes.len()] {
        assert_eq!(arrive(&bytes, bytes.len(), size).as_ref(), Some(&back), "chunks of {size}");
    }
}

#[test]
fn int8_damage_is_refused_without_panic() {
    let good = format::write(&tiny(), &format::WriteOptions { int8: true, ..Default::default() }).unwrap();
    let is_format_error = |b: &[u8]| matches!(webresnet::model::import(b), Err(Error::ModelFormat(_)));
    for cut in 0..good.len() {
        assert!(is_format_error(&good[..cut]), "truncated to {cut} bytes");
    }
    // The version is outside the hashed document: version 2 knows no I8.
    let v2 = with_header(&good, |h| h["__metadata__"]["version"] = "2".into());
    match webresnet::model::import(&v2) {
        Err(Error::ModelFormat(m)) => assert!(m.contains("no I8"), "{m}"),
        other => panic!("I8 in a version 2 file accepted: {other:?}"),
    }
    // Scales of the wrong length, and codes under another dtype.
    let tampers: [fn(&mut serde_json::Value); 2] =
        [|h| h["w#scale"]["shape"] = serde_json::json!([1, 1, 1, 1]), |h| h["w"]["dtype"] = "I64".into()];
    for edit in tampers {
        assert!(is_format_error(&with_header(&good, edit)));
    }
    let renamed = with_header(&good, |h| {
        let s = h.as_object_mut().unwrap().remove("w#scale").unwrap();
        h["w#scales"] = s;
    });
    assert!(is_format_error(&renamed));
    assert_eq!(arrive(&renamed, renamed.len(), 5), None);
}

#[test]
fn a_name_the_file_reserves_for_scales_is_refused() {
    let mut g = tiny();
    g.initializers.insert("x#scale".into(), Constant::f32(vec![1], vec![1.0]));
    assert!(matches!(format::write(&g, &format::WriteOptions::default()), Err(Error::InvalidInput(_))));
}

/// The safetensors header of a model file.
fn header(file: &[u8]) -> serde_json::Value {
    let len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&file[8..8 + len]).unwrap()
}

#[test]
fn int8_scales_follow_each_weights_output_channels() {
    let mut g = tiny();
    let dense = |op: &str, w: &str, attrs| Node {
        name: op.into(),
        op: op.into(),
        inputs: vec!["y".into(), w.into()],
        outputs: vec![format!("{op}_out")],
        attrs,
    };
    g.nodes.push(dense("MatMul", "k_by_n", vec![]));
    g.nodes.push(dense("Gemm", "n_by_k", vec![("transB".into(), AttrValue::Int(1))]));
    // Read by an Add too: no single output-channel axis, so it stays f32.
    g.nodes.push(dense("Add", "w", vec![]));
    g.initializers.insert("k_by_n".into(), Constant::f32(vec![3, 2], vec![1.0, -2.0, 3.0, 0.5, 0.25, 4.0]));
    g.initializers.insert("n_by_k".into(), Constant::f32(vec![2, 3], vec![1.0, -2.0, 3.0, 0.5, 0.25, 4.0]));
    let bytes = format::write(&g, &format::WriteOptions { int8: true, ..Default::default() }).unwrap();
    let h = header(&bytes);
    assert_eq!(h["k_by_n"]["dtype"], "I8");
    assert_eq!(h["k_by_n#scale"]["shape"], serde_json::json!([1, 2]));
    assert_eq!(h["n_by_k#scale"]["shape"], serde_json::json!([2, 1]));
    assert_eq!(h["w"]["dtype"], "F32");
    let back = format::read(&bytes).unwrap();
    // Column maxima 3 and 4 for k_by_n: every value is a multiple of its column's step.
    for (i, (&w, &q)) in g.initializers["k_by_n"].to_f32().iter().zip(&back.initializers["k_by_n"].to_f32()).enumerate()
    {
        let step = [3.0f32, 4.0][i % 2] / 127.0;
        assert!((w - q).abs() <= step / 2.0 + 1e-7, "k_by_n[{i}] = {w}, int8 gives {q}");
    }
}

#[test]
fn int8_keeps_grouped_conv_weights_f16() {
    let mut g = tiny();
    // A depthwise conv over the first conv's 2 channels.
    g.initializers.insert("dw".into(), Constant::f32(vec![2, 1, 1, 1], vec![0.75, -3.0]));
    g.nodes.push(Node {
        name: "depthwise".into(),
        op: "Conv".into(),
        inputs: vec!["y".into(), "dw".into()],
        outputs: vec!["z".into()],
        attrs: vec![("group".into(), AttrValue::Int(2))],
    });
    let bytes = format::write(&g, &format::WriteOptions { int8: true, ..Default::default() }).unwrap();
    let h = header(&bytes);
    assert_eq!((&h["w"]["dtype"], &h["dw"]["dtype"]), (&serde_json::json!("I8"), &serde_json::json!("F16")));
    assert!(h.get("dw#scale").is_none());
    let back = format::read(&bytes).unwrap();
    assert_eq!(back.initializers["dw"], g.initializers["dw"], "both values are exact in f16");
    assert!(!back.int8_weights.contains("dw"));
}

#[test]
fn an_incoming_file_describes_its_graph_once_the_header_and_integer_tensors_are_in() {
    let mut g = tiny();
    g.initializers.insert("shape".into(), Constant::i64(vec![3], vec![1, -1, 9]));
    g.initializers.insert("big".into(), Constant::f32(vec![300, 7], vec![0.5; 2100]));
    let bytes = format::write(&g, &format::WriteOptions::default()).unwrap();
    let head = format::header_end(&bytes).unwrap();
    let mut incoming = Incoming::new(bytes.len());
    let mut first = None;
    for (i, b) in bytes.iter().enumerate() {
        incoming.push(std::slice::from_ref(b));
        if first.is_none() && incoming.shapes().is_some() {
            first = Some(i + 1);
        }
    }
    // The i64 tensor's 24 bytes come first in the data section; the shapes need them, not the floats.
    assert_eq!(first, Some(head + 24));
    let shapes = incoming.shapes().unwrap();
    assert_eq!(shapes.initializers["shape"], g.initializers["shape"]);
    for name in ["w", "b", "big"] {
        let (got, want) = (&shapes.initializers[name], &g.initializers[name]);
        assert_eq!(got.dims, want.dims);
        assert!(got.to_f32().iter().all(|&v| v == 0.0));
    }
    assert_eq!(shapes.nodes, g.nodes);
}
