//! The GPU's preprocessing (shaders/preprocess.wgsl) against the CPU's
//! (`webresnet::preprocess`): RGBA bytes uploaded to a texture, the model
//! input read back, every element within one pixel level (1/255 of the
//! normalised range) of the CPU's; then a real model's top-5 from a frame
//! preprocessed on the GPU equals its top-5 from the CPU's tensor.

use std::path::PathBuf;

use crate::build::Builder;
use webresnet::gpu::{Frame, GpuBackend};
use webresnet::plan::{Activation, Affine, CompileOptions, Step};
use webresnet::postprocess::{softmax, top_k};
use webresnet::preprocess::{decode, rgba_to_tensor, PreprocessConfig};
use webresnet::Error;

/// A missing adapter or file: a loud skip, a failure under `CI=true`.
fn skip(why: String) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: {why}");
    eprintln!("\n!!!!!!!! SKIPPING GPU FRAME TEST: {why} !!!!!!!!\n");
}

fn cache(dir: &str, file: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache").join(dir).join(file);
    std::fs::read(&path).map_err(|e| skip(format!("{} unreadable ({e}); run scripts/setup.sh", path.display()))).ok()
}

fn rgba_of(rgb: &image::RgbImage) -> Vec<u8> {
    rgb.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}

/// Deterministic pixels with detail at every scale, alpha varying (it must be ignored).
fn pattern(w: u32, h: u32) -> Vec<u8> {
    (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [0u32, 1, 2, 3].map(|c| (x * 37 + y * 91 + c * 53 + x * y) as u8)))
        .collect()
}

/// A GPU backend over a one-step plan that takes one image as `cfg` makes it.
fn backend_for(cfg: &PreprocessConfig) -> Result<GpuBackend, Error> {
    let [h, w] = cfg.crop.map(|v| v as usize);
    let mut b = Builder::default();
    let x = b.input(&[3 * h * w], vec![0.0; 3 * h * w]);
    let y = b.tensor(&[3 * h * w]);
    let step = Step::Affine(Affine {
        input: x,
        output: y,
        channels: 3 * h * w,
        scale: vec![1.0],
        shift: vec![0.0],
        activation: Activation::None,
    });
    let (mut plan, _) = b.plan(vec![step], y);
    plan.input.shape = match cfg.layout {
        webresnet::preprocess::InputLayout::Nchw => vec![1, 3, h, w],
        webresnet::preprocess::InputLayout::Nhwc => vec![1, h, w, 3],
    };
    plan.preprocess = cfg.clone();
    GpuBackend::new_blocking(&plan)
}

/// Largest difference from the CPU's tensor, in pixel levels (1/255 of each
/// channel's normalised range, `255 / (divisor * std)`).
fn levels(got: &[f32], want: &[f32], cfg: &PreprocessConfig) -> Result<f32, String> {
    if got.len() != want.len() {
        return Err(format!("{} values, want {}", got.len(), want.len()));
    }
    let plane = want.len() / 3;
    let channel = |i: usize| match cfg.layout {
        webresnet::preprocess::InputLayout::Nchw => i / plane,
        webresnet::preprocess::InputLayout::Nhwc => i % 3,
    };
    Ok(got
        .iter()
        .zip(want)
        .enumerate()
        .map(|(i, (g, w))| (g - w).abs() * cfg.pixel_divisor.abs() * cfg.std[channel(i)].abs())
        .fold(0.0, |m: f32, d| if d.is_nan() { f32::INFINITY } else { m.max(d) }))
}

#[test]
fn gpu_preprocessing_matches_the_cpu() {
    let configs = [
        ("imagenet", PreprocessConfig::imagenet()),
        ("caffe bgr nhwc", PreprocessConfig::caffe_bgr()),
        (
            "crop beyond the resize",
            PreprocessConfig { resize_shorter: 200, crop: [224, 240], ..PreprocessConfig::imagenet() },
        ),
    ];
    let mut frames: Vec<(String, Vec<u8>, u32, u32)> =
        [(1, 300), (4000, 3), (300, 500), (517, 233), (1, 1), (224, 224)]
            .into_iter()
            .map(|(w, h)| (format!("{w}x{h}"), pattern(w, h), w, h))
            .collect();
    for photo in ["chelsea.png", "coffee.png", "rocket.jpg"] {
        let Some(bytes) = cache("photos", photo) else { continue };
        let img = decode(&bytes).expect("photo decodes");
        frames.push((photo.into(), rgba_of(&img), img.width(), img.height()));
    }
    let mut failures = Vec::new();
    for (name, cfg) in &configs {
        let mut gpu = match backend_for(cfg) {
            Ok(g) => g,
            Err(Error::GpuUnavailable(why)) => return skip(why),
            Err(e) => panic!("{name}: {e}"),
        };
        for (frame, rgba, w, h) in &frames {
            let want = rgba_to_tensor(rgba, *w, *h, cfg).expect("cpu preprocesses");
            let got = gpu.preprocess_frame_blocking(Frame::Rgba { rgba, width: *w, height: *h });
            match got.map_err(|e| e.to_string()).and_then(|g| levels(&g, &want, cfg)) {
                Ok(d) if d <= 1.0 => println!("frames: {name}, {frame}: max diff {d:.2e} pixel levels"),
                Ok(d) => failures.push(format!("{name}, {frame}: max diff {d} pixel levels (limit 1)")),
                Err(e) => failures.push(format!("{name}, {frame}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gpu_frames_fail_with_typed_errors() {
    let mut gpu = match backend_for(&PreprocessConfig::imagenet()) {
        Ok(g) => g,
        Err(Error::GpuUnavailable(why)) => return skip(why),
        Err(e) => panic!("{e}"),
    };
    let zero = gpu.preprocess_frame_blocking(Frame::Rgba { rgba: &[], width: 0, height: 5 });
    assert!(matches!(zero, Err(Error::InvalidInput(_))), "zero-sized frame: {zero:?}");
    let short = gpu.preprocess_frame_blocking(Frame::Rgba { rgba: &[0; 12], width: 2, height: 2 });
    assert!(matches!(short, Err(Error::InvalidInput(_))), "short buffer: {short:?}");
    let huge = gpu.preprocess_frame_blocking(Frame::Rgba { rgba: &[], width: 1 << 20, height: 1 });
    assert!(matches!(huge, Err(Error::Limit(_))), "wider than a texture: {huge:?}");
    // After the errors, a good frame still works.
    assert!(gpu.preprocess_frame_blocking(Frame::Rgba { rgba: &pattern(3, 3), width: 3, height: 3 }).is_ok());
}

/// The default model's top-5 on photos and odd sizes: from the GPU's
/// preprocessing exactly as from the CPU's tensor on the same GPU backend.
#[test]
fn gpu_frames_keep_the_top5() {
    let Some(model) = cache("models", "default.wrn") else { return };
    let plan = webresnet::load_plan(&model, &CompileOptions::default()).expect("model compiles");
    let mut gpu = match GpuBackend::new_blocking(&plan) {
        Ok(g) => g,
        Err(Error::GpuUnavailable(why)) => return skip(why),
        Err(e) => panic!("{e}"),
    };
    let mut frames: Vec<(String, Vec<u8>, u32, u32)> = Vec::new();
    for photo in ["chelsea.png", "coffee.png"] {
        let Some(bytes) = cache("photos", photo) else { return };
        let img = decode(&bytes).expect("photo decodes");
        frames.push((photo.into(), rgba_of(&img), img.width(), img.height()));
    }
    frames.extend([(1, 300), (4000, 3), (300, 500)].map(|(w, h)| (format!("{w}x{h}"), pattern(w, h), w, h)));
    for (name, rgba, w, h) in &frames {
        let top = |logits: Vec<f32>| top_k(&softmax(&logits), 5, None).iter().map(|p| p.index).collect::<Vec<_>>();
        let cpu = top(gpu.run_blocking(&rgba_to_tensor(rgba, *w, *h, &plan.preprocess).unwrap()).unwrap());
        let frame = top(gpu.run_frame_blocking(Frame::Rgba { rgba, width: *w, height: *h }).unwrap());
        println!("frames: default.wrn {name}: top-5 {frame:?} (CPU preprocessing {cpu:?})");
        assert_eq!(frame, cpu, "{name}");
    }
}
