//! `webresnet`: classify images, run raw inference, inspect models.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;

/// `println!` that treats a closed stdout (`webresnet inspect M | head`) as the
/// normal end of output instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(Error::Io(format!("cannot write output: {e}")));
        }
    };
}
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use webresnet::backend::{Backend, BackendKind};
use webresnet::model::format;
use webresnet::plan::{CompileOptions, Plan, Step};
use webresnet::preprocess::{ChannelOrder, PreprocessConfig};
use webresnet::{Error, Result};

#[derive(Parser)]
#[command(name = "webresnet", version, about = "ResNet-family image classification (CPU / WebGPU)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionKind {
    F32,
    F16,
}

#[derive(Clone, Copy, ValueEnum)]
enum OccupancyKind {
    Auto,
    Gpu,
}

impl From<PrecisionKind> for webresnet::gpu::Precision {
    fn from(p: PrecisionKind) -> Self {
        match p {
            PrecisionKind::F32 => webresnet::gpu::Precision::F32,
            PrecisionKind::F16 => webresnet::gpu::Precision::F16,
        }
    }
}

impl From<OccupancyKind> for webresnet::gpu::Occupancy {
    fn from(o: OccupancyKind) -> Self {
        match o {
            OccupancyKind::Auto => webresnet::gpu::Occupancy::Auto,
            OccupancyKind::Gpu => webresnet::gpu::Occupancy::Gpu,
        }
    }
}

#[derive(clap::Args)]
struct PreprocessArgs {
    /// Per-channel mean, in the model's channel order (e.g. 0.485,0.456,0.406).
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, in the model's channel order.
    #[arg(long, value_delimiter = ',')]
    std: Option<Vec<f32>>,
    /// Divide 0..255 pixels by this before mean/std (255 for 0..1 models, 1 for 0..255).
    #[arg(long)]
    pixel_divisor: Option<f32>,
    /// Feed channels as BGR instead of RGB.
    #[arg(long)]
    bgr: bool,
    /// Resize the shorter side to this before the centre crop.
    #[arg(long)]
    resize: Option<u32>,
    /// Label names: a file with one per line, or a comma-separated list.
    #[arg(long)]
    labels: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Classify image files (JPEG, PNG, WebP).
    Classify {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Model file (.wrn, .onnx, torchvision/timm .pth or .safetensors state dict).
        /// Default: $WEBRESNET_MODEL, else the ImageNet model scripts/setup.sh converts.
        #[arg(long)]
        model: Option<PathBuf>,
        /// How many classes to print per image.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// cpu, or webgpu (also spelt gpu).
        #[arg(long, default_value = "cpu")]
        backend: BackendKind,
        #[command(flatten)]
        pre: PreprocessArgs,
    },
    /// Raw inference: float32 .npy in (the model's declared input layout), logits .npy out.
    Infer {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        /// cpu, or webgpu (also spelt gpu).
        #[arg(long, default_value = "cpu")]
        backend: BackendKind,
    },
    /// Write the project's model file (.wrn) from any model or weights file,
    /// with its preprocessing and labels (flags override what the source says).
    Convert {
        input: PathBuf,
        output: PathBuf,
        /// Store weights (tensors of 2+ dimensions) as f16, about half the size.
        #[arg(long)]
        f16: bool,
        /// Store conv and dense weights as int8 with one scale per output
        /// channel, about a quarter of the f32 size (grouped and depthwise
        /// convs' weights as f16).
        #[arg(long)]
        int8: bool,
        /// With --int8: weights (tensor names) to keep in f16 instead.
        #[arg(long, value_delimiter = ',', requires = "int8")]
        keep_f16: Vec<String>,
        /// With --int8: also keep in f16 the K weights that change the output
        /// most when quantized alone, ranked on the --calibrate images (printed).
        #[arg(long, requires_all = ["int8", "calibrate"])]
        sensitivity: Option<usize>,
        /// Images (PNG, JPEG, WebP) for --sensitivity.
        #[arg(long, requires = "sensitivity")]
        calibrate: Option<PathBuf>,
        /// A licence file whose text the model file carries.
        #[arg(long)]
        license: Option<PathBuf>,
        /// Where the weights come from (free text kept in the file).
        #[arg(long)]
        source: Option<String>,
        /// For weight files: the network they must hold (resnet18/34/50/101/152,
        /// resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2,
        /// wide_resnet101_2, efficientnet_lite0). Default: read off the names and shapes.
        #[arg(long)]
        arch: Option<String>,
        #[command(flatten)]
        pre: PreprocessArgs,
    },
    /// Time a model on one backend: cold and warm latency, GFLOP/s and their
    /// share of a ceiling measured on the same device. Without --model, a
    /// network built from code with seeded random weights (nothing to download).
    Bench {
        /// Model file to time instead of a built network.
        #[arg(long, conflicts_with = "arch")]
        model: Option<PathBuf>,
        /// ResNet-family networks to build, e.g. resnet18,resnet50 (also
        /// resnet34/101/152, resnext*, wide_resnet*).
        #[arg(long, value_delimiter = ',', default_value = "resnet50")]
        arch: Vec<String>,
        /// cpu, or webgpu (also spelt gpu).
        #[arg(long, default_value = "gpu")]
        backend: BackendKind,
        /// Batch sizes, e.g. 1,8.
        #[arg(long, value_delimiter = ',', default_value = "1")]
        batch: Vec<usize>,
        /// GPU weight precisions, e.g. f32,f16 (the CPU path computes in f32).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "f32")]
        precision: Vec<PrecisionKind>,
        /// Timed warm runs per case (the median is reported).
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Input shape in the model's layout, e.g. 1,3,64,64; the batch
        /// dimension is replaced by each --batch (default: the declared one).
        #[arg(long, value_delimiter = ',')]
        input_shape: Option<Vec<usize>>,
        /// Also run the CPU backend on the same input and compare the GPU's logits.
        #[arg(long)]
        check: bool,
        /// Also time every GPU dispatch with timestamp queries (where the
        /// adapter has them), over --runs more runs: one line per dispatch,
        /// sums by kind and by stage, GPU time against the round trip.
        #[arg(long)]
        profile: bool,
        /// How the GPU backend cuts the convs: auto (large tiles on a CPU
        /// adapter), or gpu (the tiles and split-K a real GPU gets, on any adapter).
        #[arg(long, value_enum, default_value = "auto")]
        occupancy: OccupancyKind,
        /// Side of the GPU ceiling's matmul, a multiple of 64 up to 4096
        /// (default: 4096 on a GPU, on a CPU adapter the smallest from 512 that times well).
        #[arg(long)]
        ceiling_side: Option<u32>,
        /// The device's FP32 peak as its vendor states it, in GFLOP/s: the
        /// report adds each case's share of it.
        #[arg(long)]
        peak_gflops: Option<f64>,
        /// Print JSON instead of the markdown table.
        #[arg(long)]
        json: bool,
    },
    /// Class activation map: where in the picture the evidence for a class
    /// lies. Writes the map as float32 .npy [h, w], raw scores at the feature
    /// map's resolution.
    Explain {
        /// The image (JPEG, PNG, WebP); or give --input.
        #[arg(required_unless_present = "input")]
        image: Option<PathBuf>,
        /// Model file; default as for classify.
        #[arg(long)]
        model: Option<PathBuf>,
        /// The class to explain (default: the top-1).
        #[arg(long)]
        class: Option<usize>,
        /// A float32 .npy input tensor in the model's layout, instead of an image.
        #[arg(long, conflicts_with = "image")]
        input: Option<PathBuf>,
        #[arg(long)]
        output: PathBuf,
        /// Also write the photo with the map blended on it (PNG).
        #[arg(long, requires = "image")]
        overlay: Option<PathBuf>,
        /// cpu, or webgpu (also spelt gpu).
        #[arg(long, default_value = "cpu")]
        backend: BackendKind,
    },
    /// Print the fused execution plan and its costs.
    Inspect {
        #[arg(required_unless_present = "arch")]
        model: Option<PathBuf>,
        /// A network built from code with seeded random weights instead of a
        /// model file (names as for bench --arch).
        #[arg(long, conflicts_with = "model")]
        arch: Option<String>,
        /// Input shape to plan for, e.g. 1,3,224,224 (default: the declared one).
        #[arg(long, value_delimiter = ',')]
        input_shape: Option<Vec<usize>>,
        /// Also build the GPU backend and report its adapter and pipeline count.
        #[arg(long)]
        gpu: bool,
        /// Print every GPU dispatch of a run: kind, workgroups, GEMM depth k,
        /// tile and split-K ranges (for WebGPU's default limits, or with
        /// --gpu for this machine's adapter).
        #[arg(long)]
        dispatches: bool,
    },
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))
}

fn load_plan(model: &Path, input_shape: Option<Vec<usize>>) -> Result<Plan> {
    webresnet::load_plan(&read(model)?, &CompileOptions { input_shape })
}

fn apply_preprocess_args(
    cfg: &mut PreprocessConfig,
    labels: &mut Option<Vec<String>>,
    args: &PreprocessArgs,
) -> Result<()> {
    let triple = |flag: &str, v: &[f32]| -> Result<[f32; 3]> {
        <[f32; 3]>::try_from(v).map_err(|_| Error::InvalidInput(format!("--{flag} needs 3 comma-separated values")))
    };
    if let Some(m) = &args.mean {
        cfg.mean = triple("mean", m)?;
    }
    if let Some(s) = &args.std {
        cfg.std = triple("std", s)?;
    }
    if let Some(d) = args.pixel_divisor {
        cfg.pixel_divisor = d;
    }
    if args.bgr {
        cfg.channel_order = ChannelOrder::Bgr;
    }
    if let Some(r) = args.resize {
        cfg.resize_shorter = r;
    }
    cfg.validate()?;
    if let Some(l) = &args.labels {
        let text = match std::fs::read_to_string(l) {
            Ok(t) => t,
            Err(_) if l.contains(',') => l.replace(',', "\n"),
            Err(e) => return Err(Error::Io(format!("cannot read labels {l}: {e}"))),
        };
        *labels = Some(webresnet::labels::parse(&text));
    }
    Ok(())
}

/// Where `classify` looks without `--model`: `$WEBRESNET_MODEL`, else the
/// default that scripts/setup.sh converts into this checkout.
fn default_model() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WEBRESNET_MODEL") {
        return Ok(PathBuf::from(p));
    }
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/models/default.wrn"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Io(format!(
            "no --model given and the default model {} is missing: run `make demo` or scripts/setup.sh \
             (or pass --model / set WEBRESNET_MODEL)",
            path.display()
        )))
    }
}

#[derive(Clone, Copy)]
struct ConvertOptions<'a> {
    f16: bool,
    int8: bool,
    keep_f16: &'a [String],
    sensitivity: Option<(usize, &'a Path)>,
    license: Option<&'a Path>,
    source: Option<&'a str>,
    arch: Option<&'a str>,
}

fn convert(input: &Path, output: &Path, opts: &ConvertOptions, pre: &PreprocessArgs) -> Result<()> {
    let ConvertOptions { f16, int8, keep_f16, sensitivity, license, source, arch } = *opts;
    let mut graph = webresnet::model::import_as(&read(input)?, arch)?;
    if int8 {
        webresnet::model::fold::batch_norms(&mut graph);
    }
    // Compiling checks that the planner takes the model, and resolves the
    // preprocessing the file will carry (the source's, else the default).
    let mut plan = webresnet::plan::compile(&graph, &CompileOptions::default())?;
    apply_preprocess_args(&mut plan.preprocess, &mut plan.labels, pre)?;
    graph.preprocess = Some(plan.preprocess.clone());
    graph.labels = plan.labels.take();
    let license = match license {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display())))?)
        }
        None => None,
    };
    if let Some(name) = keep_f16.iter().find(|n| !graph.initializers.contains_key(*n)) {
        return Err(Error::InvalidInput(format!("--keep-f16: the model has no tensor '{name}'")));
    }
    let mut keep_f16 = keep_f16.to_vec();
    if let Some((k, dir)) = sensitivity {
        let (batch, shape) = calibration_batch(dir, &plan)?;
        let ranked = webresnet::sensitivity::rank(&graph, &batch, &shape)?;
        say!("int8 sensitivity, mean KL of the softmax from f32's on {} images, worst first:", shape[0]);
        for (i, (score, name)) in ranked.iter().enumerate() {
            say!("  {score:.6}  {name}{}", if i < k { "  (kept f16)" } else { "" });
        }
        keep_f16.extend(ranked.into_iter().take(k).map(|(_, name)| name));
    }
    let opts = format::WriteOptions { f16, int8, keep_f16, license, source: source.map(str::to_string) };
    let bytes = format::write(&graph, &opts)?;
    std::fs::write(output, &bytes).map_err(|e| Error::Io(format!("cannot write {}: {e}", output.display())))?;
    say!(
        "{} -> {} ({} bytes, {} weights, {} tensors)",
        input.display(),
        output.display(),
        bytes.len(),
        match (int8, f16) {
            (true, _) => "int8",
            (false, true) => "f16",
            (false, false) => "f32",
        },
        graph.initializers.len()
    );
    Ok(())
}

/// Every image in `dir`, preprocessed for `plan`, as one batch and its shape.
fn calibration_batch(dir: &Path, plan: &Plan) -> Result<(Vec<f32>, Vec<usize>)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io(format!("cannot read {}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| ["png", "jpg", "jpeg", "webp"].contains(&x.to_ascii_lowercase().as_str()))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::InvalidInput(format!("--calibrate: no PNG, JPEG or WebP images in {}", dir.display())));
    }
    let mut batch = Vec::new();
    for p in &paths {
        let img = webresnet::preprocess::decode(&read(p)?)?;
        batch.extend(webresnet::preprocess::image_to_tensor(&img, &plan.preprocess)?);
    }
    Ok((batch, [&[paths.len()], &plan.input.shape[1..]].concat()))
}

fn classify(
    images: &[PathBuf],
    model: &Path,
    top: usize,
    json: bool,
    backend: BackendKind,
    pre: &PreprocessArgs,
) -> Result<()> {
    let mut plan = load_plan(model, None)?;
    if plan.input.shape[0] != 1 {
        plan = load_plan(model, Some([&[1], &plan.input.shape[1..]].concat()))?;
    }
    apply_preprocess_args(&mut plan.preprocess, &mut plan.labels, pre)?;
    let mut backend = Backend::new_blocking(&plan, backend)?;
    let mut results = Vec::new();
    for path in images {
        let img = webresnet::preprocess::decode(&read(path)?)?;
        let input = webresnet::preprocess::image_to_tensor(&img, &plan.preprocess)?;
        let out = backend.run_blocking(&input)?;
        let probs = if plan.output.is_probability { out } else { webresnet::postprocess::softmax(&out) };
        let preds = webresnet::postprocess::top_k(&probs, top, plan.labels.as_deref());
        if !json {
            say!("{}", path.display());
            for p in &preds {
                say!("  {:>6.2}%  {:<4} {}", p.probability * 100.0, p.index, p.label);
            }
        }
        results.push((path.display().to_string(), preds));
    }
    if json {
        let v: Vec<serde_json::Value> = results
            .iter()
            .map(|(path, preds)| {
                let top: Vec<serde_json::Value> = preds
                    .iter()
                    .map(|p| serde_json::json!({"index": p.index, "label": p.label, "probability": p.probability}))
                    .collect();
                serde_json::json!({"image": path, "top": top})
            })
            .collect();
        say!("{}", serde_json::Value::Array(v));
    }
    Ok(())
}

struct ExplainArgs<'a> {
    image: Option<&'a Path>,
    input: Option<&'a Path>,
    class: Option<usize>,
    output: &'a Path,
    overlay: Option<&'a Path>,
    backend: BackendKind,
}

fn explain(model: &Path, args: &ExplainArgs) -> Result<()> {
    let (plan, input, photo) = match (args.image, args.input) {
        (Some(path), None) => {
            let mut plan = load_plan(model, None)?;
            if plan.input.shape[0] != 1 {
                plan = load_plan(model, Some([&[1], &plan.input.shape[1..]].concat()))?;
            }
            let photo = webresnet::preprocess::decode(&read(path)?)?;
            let input = webresnet::preprocess::image_to_tensor(&photo, &plan.preprocess)?;
            (plan, input, Some(photo))
        }
        (None, Some(npy)) => {
            let (shape, data) = webresnet::npy::read_f32(&read(npy)?)?;
            (load_plan(model, Some(shape))?, data, None)
        }
        _ => return Err(Error::InvalidInput("give an image or --input, not both".into())),
    };
    let mut backend = Backend::new_blocking(&plan, args.backend)?;
    let e = webresnet::explain::explain_blocking(&plan, &mut backend, &input, args.class)?;
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|err| Error::Io(format!("cannot write {}: {err}", path.display())))
    };
    write(args.output, &webresnet::npy::write_f32(&[e.height, e.width], &e.heatmap)?)?;
    if let (Some(path), Some(photo)) = (args.overlay, &photo) {
        let mut png = std::io::Cursor::new(Vec::new());
        webresnet::explain::overlay(photo, &e, &plan.preprocess)
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|err| Error::Io(format!("cannot encode the overlay: {err}")))?;
        write(path, png.get_ref())?;
    }
    let peak = (0..e.heatmap.len()).max_by(|&a, &b| e.heatmap[a].total_cmp(&e.heatmap[b])).unwrap_or(0);
    let label = webresnet::postprocess::label_for(e.class, plan.labels.as_deref());
    say!(
        "class {} {} ({:.2}%): {}x{} map, peak at row {}, column {}",
        e.class,
        label,
        e.probabilities[e.class] * 100.0,
        e.height,
        e.width,
        peak / e.width,
        peak % e.width
    );
    Ok(())
}

fn infer(model: &Path, input: &Path, output: &Path, backend: BackendKind) -> Result<()> {
    let (shape, data) = webresnet::npy::read_f32(&read(input)?)?;
    let plan = load_plan(model, Some(shape))?;
    let out = Backend::new_blocking(&plan, backend)?.run_blocking(&data)?;
    std::fs::write(output, webresnet::npy::write_f32(&plan.output.shape, &out)?)
        .map_err(|e| Error::Io(format!("cannot write {}: {e}", output.display())))
}

fn describe(plan: &Plan, step: &Step) -> String {
    let shape = |t: usize| format!("{:?}", plan.tensors[t].shape);
    match step {
        Step::Conv(c) => {
            let mut s = format!(
                "{}x{} s{} g{} {}->{}",
                c.kernel[0], c.kernel[1], c.stride[0], c.groups, c.in_channels, c.out_channels
            );
            if c.pad != [0; 4] {
                s += &format!(" pad{:?}", c.pad);
            }
            if c.dilation != [1, 1] {
                s += &format!(" dil{:?}", c.dilation);
            }
            s += " +bias";
            if c.residual.is_some() {
                s += " +residual";
            }
            if c.activation != webresnet::plan::Activation::None {
                s += &format!(" +{:?}", c.activation);
            }
            if c.int8 {
                s += " int8";
            }
            s + requantized(c.requant.as_ref())
        }
        Step::Pool(p) => format!("{}x{} s{} pad{:?}", p.kernel[0], p.kernel[1], p.stride[0], p.pad),
        Step::Dense(d) => {
            let int8 = if d.int8 { " int8" } else { "" };
            format!("{}->{} {:?}{int8}{}", d.in_features, d.out_features, d.activation, requantized(d.requant.as_ref()))
        }
        Step::Affine(a) => format!("{} ch {:?}", a.channels, a.activation),
        Step::Add { activation, .. } => format!("{activation:?}"),
        Step::Permute { perm, .. } => format!("perm {perm:?}"),
        Step::Pad { pads, value, .. } => format!("{pads:?} value {value}"),
        Step::Quantize(q) => {
            let of = match q.of {
                Some(webresnet::plan::QuantizedOp::Add { .. }) => " of Add",
                Some(webresnet::plan::QuantizedOp::Mean { .. }) => " of GlobalAvgPool",
                None => "",
            };
            format!("scale {} zero {} in {}..={}{of}", q.scale, q.zero, q.lo, q.hi)
        }
        Step::GlobalAvgPool { input, .. } | Step::Softmax { input, .. } => shape(*input),
    }
}

/// A layer's note when it rounds to its output grid ([`webresnet::plan::Requant`]).
fn requantized(r: Option<&webresnet::plan::Requant>) -> &'static str {
    if r.is_some_and(|r| r.output.is_some()) {
        " requantized"
    } else {
        ""
    }
}

/// What `inspect` reports on.
struct InspectArgs<'a> {
    model: Option<&'a Path>,
    arch: Option<&'a str>,
    input_shape: Option<Vec<usize>>,
    gpu: bool,
    dispatches: bool,
}

fn inspect(args: InspectArgs) -> Result<()> {
    let start = Instant::now();
    let plan = match (args.model, args.arch) {
        (Some(model), _) => {
            let bytes = read(model)?;
            // A model file's header facts come from the same read, not a second hash.
            let (graph, info) = if format::sniff(&bytes) {
                format::read_with_info(&bytes).map(|(g, i)| (g, Some(i)))?
            } else {
                (webresnet::model::import(&bytes)?, None)
            };
            let import_ms = start.elapsed().as_secs_f64() * 1e3;
            let plan = webresnet::plan::compile_owned(graph, &CompileOptions { input_shape: args.input_shape })?;
            let load_ms = start.elapsed().as_secs_f64() * 1e3;
            say!("model: {}", model.display());
            say!("load (bytes -> plan):     {load_ms:.1} ms ({import_ms:.1} ms import) for {} bytes", bytes.len());
            if let Some(info) = info {
                say!("model file:               version {}, sha256 {}", info.version, info.sha256);
                if let Some(s) = &info.source {
                    say!("source:                   {s}");
                }
                if let Some(l) = &info.license {
                    say!("license:                  {}", l.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim());
                }
            }
            plan
        }
        (None, arch) => {
            let arch = arch.ok_or_else(|| Error::InvalidInput("inspect needs a model file or --arch".into()))?;
            let graph = webresnet::bench::random_graph(arch, 0x5eed)?;
            say!("model: {arch} (random weights)");
            webresnet::plan::compile_owned(graph, &CompileOptions { input_shape: args.input_shape })?
        }
    };
    let p = &plan.preprocess;
    say!(
        "preprocess:               resize {} crop {:?} (x/{} - {:?}) / {:?} {:?} {:?}",
        p.resize_shorter,
        p.crop,
        p.pixel_divisor,
        p.mean,
        p.std,
        p.channel_order,
        p.layout
    );
    say!("labels:                   {}", plan.labels.as_ref().map_or(0, Vec::len));
    say!("input: {} {:?}   output: {} {:?}", plan.input.name, plan.input.shape, plan.output.name, plan.output.shape);
    say!("steps after fusion:");
    for (i, s) in plan.steps.iter().enumerate() {
        let out = &plan.tensors[s.output()];
        say!("  {i:>3} {:<13} {:<22} {}", s.kind(), format!("{:?}", out.shape), describe(&plan, s));
    }
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    say!("steps:                    {}", plan.steps.len());
    say!("fused steps:              {} (absorbing {} graph nodes)", plan.fused_steps(), plan.fused_nodes);
    say!("parameters:               {} ({:.2} M)", plan.params(), plan.params() as f64 / 1e6);
    say!("MACs:                     {} ({:.3} G)", plan.macs(), plan.macs() as f64 / 1e9);
    say!("peak activation bytes:    {} ({:.2} MiB)", plan.peak_activation_bytes(), mib(plan.peak_activation_bytes()));
    say!(
        "largest activation bytes: {} ({:.2} MiB)",
        plan.largest_activation_bytes(),
        mib(plan.largest_activation_bytes())
    );
    say!("sum of activation bytes:  {} ({:.2} MiB)", plan.sum_activation_bytes(), mib(plan.sum_activation_bytes()));
    if args.gpu {
        let backend = webresnet::gpu::GpuBackend::new_blocking(&plan)?;
        say!("gpu adapter:              {}", backend.adapter_info());
        say!("gpu pipelines:            {}", backend.pipeline_count());
        if args.dispatches {
            print_dispatches(backend.dispatches())?;
        }
    } else if args.dispatches {
        say!("gpu dispatches for WebGPU's default limits:");
        print_dispatches(&webresnet::gpu::dispatches(&plan)?)?;
    }
    Ok(())
}

fn print_dispatches(dispatches: &[webresnet::gpu::DispatchInfo]) -> Result<()> {
    for d in dispatches {
        say!("  {d}");
    }
    say!("gpu dispatches:           {}", dispatches.len());
    Ok(())
}

struct BenchArgs<'a> {
    model: Option<&'a Path>,
    arch: &'a [String],
    json: bool,
}

fn bench(args: &BenchArgs, opts: &webresnet::bench::Options) -> Result<()> {
    let mut report = webresnet::bench::start(opts)?;
    let progress = |row: &webresnet::bench::Row| {
        if !args.json {
            let (b, p, w, c) = (row.batch, row.precision, row.warm_ms, row.cold_ms);
            eprintln!("{} batch {b} {p:?}: warm {w:.2} ms, cold {c:.1} ms", row.model);
        }
    };
    match args.model {
        Some(m) => {
            let graph = webresnet::model::import(&read(m)?)?;
            webresnet::bench::run(&mut report, &m.display().to_string(), &graph, opts, progress)?;
        }
        None => {
            for arch in args.arch {
                // Built one at a time: only one network's weights are held.
                let graph = webresnet::bench::random_graph(arch, 0x5eed)?;
                webresnet::bench::run(&mut report, &format!("{arch} (random weights)"), &graph, opts, progress)?;
            }
        }
    }
    if args.json {
        say!("{}", webresnet::bench::json(&report));
    } else {
        say!("{}", webresnet::bench::markdown(&report));
    }
    if report.rows.iter().any(|r| r.parity.as_ref().is_some_and(|p| !p.ok())) {
        return Err(Error::Backend("GPU and CPU outputs differ past the tolerance".into()));
    }
    Ok(())
}

fn main() -> ExitCode {
    // Errors are values here; a panic would be a bug, but still gets one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("webresnet: internal error: {info}");
    }));
    match run(&Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webresnet: error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}

fn run(command: &Command) -> Result<()> {
    match command {
        Command::Classify { images, model, top, json, backend, pre } => {
            match model.clone().map_or_else(default_model, Ok) {
                Ok(model) => classify(images, &model, *top, *json, *backend, pre),
                Err(e) => Err(e),
            }
        }
        Command::Convert { input, output, f16, int8, keep_f16, sensitivity, calibrate, license, source, arch, pre } => {
            let opts = ConvertOptions {
                f16: *f16,
                int8: *int8,
                keep_f16,
                sensitivity: sensitivity.zip(calibrate.as_deref()),
                license: license.as_deref(),
                source: source.as_deref(),
                arch: arch.as_deref(),
            };
            convert(input, output, &opts, pre)
        }
        Command::Infer { model, input, output, backend } => infer(model, input, output, *backend),
        Command::Bench {
            model,
            arch,
            backend,
            batch,
            precision,
            runs,
            input_shape,
            check,
            profile,
            occupancy,
            ceiling_side,
            peak_gflops,
            json,
        } => {
            let opts = webresnet::bench::Options {
                backend: *backend,
                batches: batch.clone(),
                precisions: precision.iter().map(|&p| p.into()).collect(),
                runs: *runs,
                input_shape: input_shape.clone(),
                check: *check,
                profile: *profile,
                occupancy: (*occupancy).into(),
                ceiling_side: *ceiling_side,
                peak_gflops: *peak_gflops,
            };
            bench(&BenchArgs { model: model.as_deref(), arch, json: *json }, &opts)
        }
        Command::Inspect { model, arch, input_shape, gpu, dispatches } => inspect(InspectArgs {
            model: model.as_deref(),
            arch: arch.as_deref(),
            input_shape: input_shape.clone(),
            gpu: *gpu,
            dispatches: *dispatches,
        }),
        Command::Explain { image, model, class, input, output, overlay, backend } => {
            let args = ExplainArgs {
                image: image.as_deref(),
                input: input.as_deref(),
                class: *class,
                output,
                overlay: overlay.as_deref(),
                backend: *backend,
            };
            model.clone().map_or_else(default_model, Ok).and_then(|m| explain(&m, &args))
        }
    }
}
