//! Weight-file import: torch legacy and zip `.pth`, `.safetensors`, and the
//! ResNet / EfficientNet-Lite graph builders. Files are written here, byte by
//! byte, in the layouts torch and safetensors use; no Python needed.

mod setup_files;
use setup_files::setup_file;

use std::io::Write;
use webresnet::error::Error;
use webresnet::model::state_dict::{read, sniff, Format, StateDict};
use webresnet::model::{import, import_as, Graph};
use webresnet::plan::{compile, CompileOptions};
use webresnet::postprocess;
use webresnet::preprocess::{self, PreprocessConfig};

// ---- a tiny pickle writer (protocol 2, the opcodes torch.save emits) ----

#[derive(Default)]
struct Pk(Vec<u8>);

impl Pk {
    fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.op(s.as_bytes())
    }
    fn int(&mut self, v: i64) -> &mut Self {
        if (0..256).contains(&v) {
            self.op(&[b'K', v as u8])
        } else {
            // LONG1 with 8 bytes: any i64.
            self.op(&[0x8a, 8]).op(&v.to_le_bytes())
        }
    }
    fn ints(&mut self, v: &[i64]) -> &mut Self {
        self.op(b"(");
        v.iter().for_each(|&x| {
            self.int(x);
        });
        self.op(b"t")
    }
}

/// A tensor as torch pickles it: a view of storage `key`.
struct View<'a> {
    name: &'a str,
    key: &'a str,
    class: &'a str,
    numel: i64,
    offset: i64,
    size: &'a [i64],
    stride: &'a [i64],
}

/// A storage: key, little-endian bytes, element count.
type Storage<'a> = (&'a str, Vec<u8>, usize);

fn state_dict_pickle(views: &[View]) -> Vec<u8> {
    let mut p = Pk::default();
    p.op(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(");
    for (i, v) in views.iter().enumerate() {
        p.str(v.name);
        // Memoise the callable once and fetch it after, as pickle does.
        if i == 0 {
            p.op(b"ctorch._utils\n_rebuild_tensor_v2\nq\x02");
        } else {
            p.op(b"h\x02");
        }
        p.op(b"((").str("storage").op(format!("ctorch\n{}\n", v.class).as_bytes()).str(v.key).str("cpu");
        p.int(v.numel).op(b"tQ");
        p.int(v.offset).ints(v.size).ints(v.stride).op(b"\x89h\x00)RtR");
    }
    p.op(b"u}X\x09\x00\x00\x00_metadata}sb.");
    p.0
}

/// Legacy torch.save: five pickles, then each storage as int64 count + data.
fn legacy_file(views: &[View], storages: &[Storage]) -> Vec<u8> {
    let mut f = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    f.extend_from_slice(b"\x80\x02M\xe9\x03.");
    let mut info = Pk::default();
    info.op(b"\x80\x02}(").str("protocol_version").int(1001).str("little_endian").op(b"\x88");
    info.str("type_sizes").op(b"}(").str("short").int(2).str("int").int(4).str("long").int(4).op(b"uu.");
    f.extend_from_slice(&info.0);
    f.extend_from_slice(&state_dict_pickle(views));
    let mut keys = Pk::default();
    keys.op(b"\x80\x02](");
    storages.iter().for_each(|(k, _, _)| {
        keys.str(k);
    });
    keys.op(b"e.");
    f.extend_from_slice(&keys.0);
    for (_, data, count) in storages {
        f.extend_from_slice(&(*count as i64).to_le_bytes());
        f.extend_from_slice(data);
    }
    f
}

fn zip_file(views: &[View], storages: &[Storage], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    w.start_file("archive/data.pkl", opts).unwrap();
    w.write_all(&state_dict_pickle(views)).unwrap();
    w.start_file("archive/byteorder", opts).unwrap();
    w.write_all(b"little").unwrap();
    for (k, data, _) in storages {
        w.start_file(format!("archive/data/{k}"), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn safetensors_file(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let (a, b) = (data.len(), data.len() + bytes.len());
        let sep = if i > 0 { "," } else { "" };
        header += &format!("{sep}\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{a},{b}]}}");
        data.extend_from_slice(bytes);
    }
    header += "}";
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(&data);
    f
}

/// Storage "0": 0..12 as f32. "w" views it as a transposed [3, 4] (stride [1, 3]);
/// "b" is the 3 elements at offset 9. Storage "1" is f16 [1.0, -2.0].
fn sample_views() -> (Vec<View<'static>>, Vec<Storage<'static>>) {
    let views = vec![
        View { name: "w", key: "0", class: "FloatStorage", numel: 12, offset: 0, size: &[3, 4], stride: &[1, 3] },
        View { name: "b", key: "0", class: "FloatStorage", numel: 12, offset: 9, size: &[3], stride: &[1] },
        View { name: "h", key: "1", class: "HalfStorage", numel: 2, offset: 0, size: &[2], stride: &[1] },
    ];
    let f: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let storages = vec![("0", f32_bytes(&f), 12), ("1", vec![0x00, 0x3c, 0x00, 0xc0], 2)];
    (views, storages)
}

fn check_sample(sd: &StateDict) {
    let get = |n: &str| &sd.tensors.iter().find(|(k, _)| k == n).unwrap().1;
    assert_eq!(get("w").dims, [3, 4]);
    assert_eq!(get("w").data, [0., 3., 6., 9., 1., 4., 7., 10., 2., 5., 8., 11.]);
    assert_eq!(get("b").data, [9., 10., 11.]);
    assert_eq!(get("h").data, [1.0, -2.0]);
}

fn model_format<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::ModelFormat(m)) => m,
        other => panic!("expected ModelFormat, got {other:?}"),
    }
}

#[test]
fn legacy_strides_offsets_and_f16() {
    let (views, storages) = sample_views();
    let f = legacy_file(&views, &storages);
    assert_eq!(sniff(&f), Some(Format::TorchLegacy));
    check_sample(&read(&f, Format::TorchLegacy).unwrap());
}

#[test]
fn zip_stored_and_deflated() {
    let (views, storages) = sample_views();
    for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
        let f = zip_file(&views, &storages, method);
        assert_eq!(sniff(&f), Some(Format::TorchZip));
        check_sample(&read(&f, Format::TorchZip).unwrap());
    }
}

#[test]
fn safetensors_dtypes() {
    let f = safetensors_file(&[
        ("a", "F32", &[2], f32_bytes(&[1.5, -3.0])),
        ("h", "F16", &[2], vec![0x00, 0x3c, 0x00, 0xc0]),
        ("z", "BF16", &[1], vec![0x80, 0x3f]),
    ]);
    assert_eq!(sniff(&f), Some(Format::SafeTensors));
    let sd = read(&f, Format::SafeTensors).unwrap();
    let names: Vec<&str> = sd.tensors.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["a", "h", "z"]);
    assert_eq!(sd.tensors[0].1.data, [1.5, -3.0]);
    assert_eq!(sd.tensors[1].1.data, [1.0, -2.0]);
    assert_eq!(sd.tensors[2].1.data, [1.0]);
}

#[test]
fn views_beyond_their_storage_are_refused() {
    let f: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let storages = vec![("0", f32_bytes(&f), 12)];
    let cases: [(i64, &[i64], &[i64]); 4] = [
        (10, &[3], &[1]),      // offset + size runs past the end
        (0, &[3, 4], &[5, 1]), // strides reach element 2*5 + 3 = 13
        (0, &[13], &[1]),      // more elements than stored
        (i64::MAX / 2, &[2], &[1]),
    ];
    for (offset, size, stride) in cases {
        let views = [View { name: "bad", key: "0", class: "FloatStorage", numel: 12, offset, size, stride }];
        for file in [legacy_file(&views, &storages), zip_file(&views, &storages, zip::CompressionMethod::Stored)] {
            let msg = model_format(read(&file, sniff(&file).unwrap()));
            assert!(msg.contains("'bad'"), "{msg}");
        }
    }
    // A storage whose declared size exceeds its bytes.
    let views = [View { name: "w", key: "0", class: "FloatStorage", numel: 20, offset: 0, size: &[20], stride: &[1] }];
    assert!(read(&zip_file(&views, &storages, zip::CompressionMethod::Stored), Format::TorchZip).is_err());
}

#[test]
fn huge_shapes_are_limits_not_allocations() {
    let storages = vec![("0", f32_bytes(&[1.0]), 1)];
    let views = [View {
        name: "big",
        key: "0",
        class: "FloatStorage",
        numel: 1,
        offset: 0,
        size: &[1 << 40, 1 << 40],
        stride: &[0, 0],
    }];
    for file in [legacy_file(&views, &storages), zip_file(&views, &storages, zip::CompressionMethod::Stored)] {
        assert!(matches!(read(&file, sniff(&file).unwrap()), Err(Error::Limit(_))));
    }
    let f = safetensors_file(&[("a", "F32", &[1 << 31, 1 << 31], vec![])]);
    assert!(read(&f, Format::SafeTensors).is_err());
}

/// Deterministic bytes for the hostile-input tests.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

#[test]
fn truncated_random_and_flipped_files_never_panic() {
    let (views, storages) = sample_views();
    let st = safetensors_file(&[("a", "F32", &[3], f32_bytes(&[1., 2., 3.]))]);
    let files = [
        legacy_file(&views, &storages),
        zip_file(&views, &storages, zip::CompressionMethod::Stored),
        zip_file(&views, &storages, zip::CompressionMethod::Deflated),
        st,
    ];
    for f in &files {
        let format = sniff(f).unwrap();
        for k in 0..64 {
            let cut = &f[..f.len() * k / 64];
            if let Some(fmt) = sniff(cut) {
                assert!(read(cut, fmt).is_err(), "{format:?} cut at {}/64 was accepted", k);
            }
            assert!(import(cut).is_err());
        }
        for seed in 0..300u64 {
            // Flip a few bytes; the result may parse or not, but must not panic.
            let mut g = f.clone();
            let r = noise(seed, 8);
            for i in 0..4 {
                let at = (u16::from_le_bytes([r[2 * i], r[2 * i + 1]]) as usize) % g.len();
                g[at] ^= r[i] | 1;
            }
            let _ = read(&g, format);
            // Random tails after each format's magic.
            let mut h = f[..16.min(f.len())].to_vec();
            h.extend(noise(seed, 200));
            let _ = read(&h, format);
        }
    }
}

// ---- architecture builders ----

struct Weights(Vec<(String, &'static str, Vec<usize>, Vec<u8>)>);

impl Weights {
    fn add(&mut self, name: &str, dims: &[usize], seed: u64) {
        let n: usize = dims.iter().product();
        let v: Vec<f32> = noise(seed + 1, n).iter().map(|&b| b as f32 / 255.0 - 0.5).collect();
        self.0.push((name.into(), "F32", dims.to_vec(), f32_bytes(&v)));
    }
    fn conv(&mut self, name: &str, o: usize, i: usize, k: usize) {
        self.add(&format!("{name}.weight"), &[o, i, k, k], self.0.len() as u64);
    }
    fn bn(&mut self, name: &str, c: usize) {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            self.add(&format!("{name}.{p}"), &[c], self.0.len() as u64);
        }
        // Variances must be positive.
        let last = self.0.last_mut().unwrap();
        last.3 = f32_bytes(&vec![1.0; c]);
    }
    fn file(&self) -> Vec<u8> {
        let t: Vec<(&str, &str, &[usize], Vec<u8>)> =
            self.0.iter().map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.clone())).collect();
        safetensors_file(&t)
    }
    fn without(&self, name: &str) -> Vec<u8> {
        Weights(self.0.iter().filter(|t| t.0 != name).cloned().collect()).file()
    }
}

/// A narrow torchvision-named ResNet: `layers` blocks per stage, bottleneck
/// with `groups` in conv2 and 3x3 width `width_mult` x planes.
fn resnet(layers: &[usize], bottleneck: bool, groups: usize, width_mult: usize) -> Weights {
    resnet_of_width(8, layers, bottleneck, groups, width_mult)
}

/// [`resnet`] with `base` planes in the first layer (torchvision: 64).
fn resnet_of_width(base: usize, layers: &[usize], bottleneck: bool, groups: usize, width_mult: usize) -> Weights {
    let mut w = Weights(Vec::new());
    w.conv("conv1", base, 3, 7);
    w.bn("bn1", base);
    let mut c = base;
    for (l, &n) in layers.iter().enumerate() {
        let planes = base << l;
        for b in 0..n {
            let p = format!("layer{}.{b}", l + 1);
            let stride = if l > 0 && b == 0 { 2 } else { 1 };
            let cout = if bottleneck { planes * 4 } else { planes };
            if bottleneck {
                let width = planes * width_mult;
                w.conv(&format!("{p}.conv1"), width, c, 1);
                w.bn(&format!("{p}.bn1"), width);
                w.conv(&format!("{p}.conv2"), width, width / groups, 3);
                w.bn(&format!("{p}.bn2"), width);
                w.conv(&format!("{p}.conv3"), cout, width, 1);
                w.bn(&format!("{p}.bn3"), cout);
            } else {
                w.conv(&format!("{p}.conv1"), cout, c, 3);
                w.bn(&format!("{p}.bn1"), cout);
                w.conv(&format!("{p}.conv2"), cout, cout, 3);
                w.bn(&format!("{p}.bn2"), cout);
            }
            if stride != 1 || c != cout {
                w.conv(&format!("{p}.downsample.0"), cout, c, 1);
                w.bn(&format!("{p}.downsample.1"), cout);
            }
            c = cout;
        }
    }
    w.add("fc.weight", &[10, c], 7);
    w.add("fc.bias", &[10], 8);
    w
}

fn plan_of(g: &Graph) -> webresnet::plan::Plan {
    compile(g, &CompileOptions { input_shape: Some(vec![1, 3, 64, 64]) }).unwrap()
}

fn count_ops(g: &Graph, op: &str) -> usize {
    g.nodes.iter().filter(|n| n.op == op).count()
}

#[test]
fn resnet_variants_build_and_compile() {
    for (layers, bottleneck, groups, wm, convs) in [
        (&[2, 2, 2, 2][..], false, 1, 1, 20), // ResNet-18 layout
        (&[1, 1, 1, 1][..], true, 1, 1, 17),  // bottleneck (ResNet-50 family)
        (&[1, 2, 1, 1][..], true, 4, 2, 20),  // ResNeXt: grouped, wider 3x3
        (&[1, 1, 1, 1][..], true, 1, 2, 17),  // Wide-ResNet
    ] {
        let f = resnet(layers, bottleneck, groups, wm).file();
        let g = import(&f).unwrap();
        assert_eq!(count_ops(&g, "Conv"), convs);
        let grouped = g.nodes.iter().filter(|n| n.op == "Conv").any(|n| n.int("group", 1).unwrap() == groups as i64);
        assert!(grouped);
        let plan = plan_of(&g);
        assert_eq!(plan.output.shape, [1, 10]);
        let out = webresnet::cpu::CpuBackend::new(&plan).unwrap().run(&vec![0.5; plan.input_len()]).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn resnet_names_errors() {
    let w = resnet(&[1, 1, 1, 1], false, 1, 1);
    let msg = model_format(import(&w.without("layer2.0.downsample.0.weight")));
    assert!(msg.contains("layer2.0.downsample.0.weight"), "{msg}");
    let msg = model_format(import(&w.without("layer3.0.bn2.running_var")));
    assert!(msg.contains("layer3.0.bn2.running_var"), "{msg}");
    let mut extra = resnet(&[1, 1, 1, 1], false, 1, 1);
    extra.add("layer1.0.se.fc.weight", &[4, 8], 3);
    let msg = model_format(import(&extra.file()));
    assert!(msg.contains("layer1.0.se.fc.weight"), "{msg}");
    let mut bad = resnet(&[1, 1, 1, 1], false, 1, 1);
    bad.0.retain(|t| t.0 != "fc.weight");
    bad.add("fc.weight", &[10, 7], 1);
    let msg = model_format(import(&bad.file()));
    assert!(msg.contains("fc.weight"), "{msg}");
    let mut unknown = Weights(Vec::new());
    unknown.add("encoder.weight", &[4], 1);
    assert!(model_format(import(&unknown.file())).contains("unrecognised"));
}

#[test]
fn arch_names_are_checked_against_the_weights() {
    // torchvision's ResNet-18 layout and widths (random values).
    let r18 = resnet_of_width(64, &[2, 2, 2, 2], false, 1, 1).file();
    assert!(import_as(&r18, Some("resnet18")).is_ok());
    let msg = model_format(import_as(&r18, Some("resnet34")));
    assert!(msg.contains("resnet34") && msg.contains("a resnet18") && msg.contains("[3, 4, 6, 3]"), "{msg}");
    // A ResNeXt-style file named as a plain ResNet: the groups differ.
    let narrow = resnet(&[3, 4, 6, 3], true, 4, 2).file();
    let msg = model_format(import_as(&narrow, Some("resnet50")));
    assert!(msg.contains("no named architecture") && msg.contains("4 group(s) of width 4"), "{msg}");
    let msg = model_format(import_as(&lite().file(), Some("efficientnet_lite0")));
    assert!(msg.contains("32-channel head"), "{msg}");
    // Unknown names, and naming an architecture for a file that carries its graph.
    let unknown = import_as(&r18, Some("resnet19")).unwrap_err();
    assert!(matches!(unknown, Error::InvalidInput(ref m) if m.contains("wide_resnet50_2")), "{unknown}");
    // An ONNX ModelProto starts with field 1 (ir_version) as a varint.
    assert!(matches!(import_as(b"\x08\x08", Some("resnet18")), Err(Error::InvalidInput(_))));
}

/// EfficientNet-Lite with the real block table but narrow channels.
fn lite() -> Weights {
    let mut w = Weights(Vec::new());
    w.conv("_conv_stem", 8, 3, 3);
    w.bn("_bn0", 8);
    let stages = [(1, 3, 1, 4), (2, 3, 6, 6), (1, 5, 6, 8), (1, 3, 6, 10), (2, 5, 6, 12), (1, 5, 6, 14), (1, 3, 6, 16)];
    let (mut c, mut n) = (8, 0);
    for (repeats, k, e, cout) in stages {
        for _ in 0..repeats {
            let p = format!("_blocks.{n}");
            let hidden = c * e;
            if e != 1 {
                w.conv(&format!("{p}._expand_conv"), hidden, c, 1);
                w.bn(&format!("{p}._bn0"), hidden);
            }
            w.conv(&format!("{p}._depthwise_conv"), hidden, 1, k);
            w.bn(&format!("{p}._bn1"), hidden);
            w.conv(&format!("{p}._project_conv"), cout, hidden, 1);
            w.bn(&format!("{p}._bn2"), cout);
            c = cout;
            n += 1;
        }
    }
    w.conv("_conv_head", 32, c, 1);
    w.bn("_bn1", 32);
    w.add("_fc.weight", &[10, 32], 1);
    w.add("_fc.bias", &[10], 2);
    w
}

#[test]
fn efficientnet_lite_builds_with_same_padding() {
    let g = import(&lite().file()).unwrap();
    // Stem + 9 depthwise + 8 expand + 9 project + head.
    assert_eq!(count_ops(&g, "Conv"), 28);
    assert_eq!(count_ops(&g, "Clip"), 19);
    // Residual adds: the second block of the 6- and 12-channel stages.
    assert_eq!(count_ops(&g, "Add"), 2);
    let strided: Vec<i64> = g
        .nodes
        .iter()
        .filter(|n| n.op == "Conv" && n.ints("strides").unwrap() == Some(vec![2, 2]))
        .map(|n| n.string("auto_pad").unwrap().map_or(0, |p| (p == "SAME_UPPER") as i64))
        .collect();
    assert_eq!(strided, [1; 5]); // stem and four stride-2 stages, all TF "same"
    let plan = plan_of(&g);
    let out = webresnet::cpu::CpuBackend::new(&plan).unwrap().run(&vec![0.5; plan.input_len()]).unwrap();
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|v| v.is_finite()));
}

#[test]
fn efficientnet_lite_checks_the_table() {
    let w = lite();
    // A 3x3 depthwise where the table has 5x5.
    let mut bad = Weights(w.0.iter().filter(|t| t.0 != "_blocks.3._depthwise_conv.weight").cloned().collect());
    bad.conv("_blocks.3._depthwise_conv", 36, 1, 3);
    let msg = model_format(import(&bad.file()));
    assert!(msg.contains("_blocks.3._depthwise_conv.weight"), "{msg}");
    let msg = model_format(import(&w.without("_blocks.5._bn1.bias")));
    assert!(msg.contains("_blocks.5._bn1.bias"), "{msg}");
    let mut se = lite();
    se.add("_blocks.0._se_reduce.weight", &[2, 8, 1, 1], 1);
    let msg = model_format(import(&se.file()));
    assert!(msg.contains("_se_reduce"), "{msg}");
}

/// The real EfficientNet-Lite0 weights (legacy format, 50 non-contiguous
/// tensors), when scripts/setup.sh has fetched them.
#[test]
fn real_efficientnet_lite0_when_present() {
    let Some(bytes) = setup_file("models/efficientnet-lite0-57934424.pth") else { return };
    assert_eq!(sniff(&bytes), Some(Format::TorchLegacy));
    let sd = read(&bytes, Format::TorchLegacy).unwrap();
    assert_eq!(sd.tensors.len(), 296);
    let plan = compile(&import_as(&bytes, Some("efficientnet_lite0")).unwrap(), &CompileOptions::default()).unwrap();
    assert_eq!(plan.input.shape, [1, 3, 224, 224]);
    assert_eq!(plan.output.shape, [1, 1000]);
    // torch counts 4,652,008 parameters; BN folding leaves conv biases instead of 2 vectors per BN.
    assert!((4_600_000..4_700_000).contains(&plan.params()), "{}", plan.params());

    // The scikit-image photos, with the model's own preprocessing: (x - 127) / 128.
    let cfg =
        PreprocessConfig { pixel_divisor: 1.0, mean: [127.0; 3], std: [128.0; 3], ..PreprocessConfig::imagenet() };
    let mut cpu = webresnet::cpu::CpuBackend::new(&plan).unwrap();
    let mut top = |photo: &str| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/photos/").to_string() + photo;
        let img = preprocess::decode(&std::fs::read(path).unwrap()).unwrap();
        let probs = postprocess::softmax(&cpu.run(&preprocess::image_to_tensor(&img, &cfg).unwrap()).unwrap());
        postprocess::top_k(&probs, 5, plan.labels.as_deref()).iter().map(|p| p.index).collect::<Vec<_>>()
    };
    let chelsea = top("chelsea.png");
    // tabby 281, tiger cat 282, Egyptian cat 285.
    let mut cats = chelsea[..3].to_vec();
    cats.sort();
    assert_eq!(cats, [281, 282, 285], "chelsea top-5 {chelsea:?}");
    let coffee = top("coffee.png");
    assert_eq!(coffee[0], 967, "coffee top-5 {coffee:?} (967 = espresso)");
}
