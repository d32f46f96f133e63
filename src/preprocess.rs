//! Image decoding and preprocessing into a model input tensor.
//!
//! The pipeline matches torchvision's `Resize(shorter) + CenterCrop + Normalize`:
//! a separable triangle (bilinear) filter whose support widens on downscale
//! (antialiasing, as PIL does), computed in `f32` without rounding to 8 bits
//! between passes. Resize and crop are fused: only the cropped window of the
//! resized image is ever computed, so an extreme aspect ratio (1x1000 resized
//! to 256x256000) costs no more than a square image. That fusion, and skipping
//! the u8 round trip, is why this doesn't call `image::imageops::resize` or
//! `fast_image_resize`: both materialise the whole resized image (the former in u8).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Largest image `decode` accepts, in pixels (64 Mi), checked from the header
/// before any pixel buffer is allocated.
pub const MAX_PIXELS: u64 = 1 << 26;

/// Largest `resize_shorter` and crop side a config may ask for. It bounds the
/// output tensor (4096x4096x3 f32 = 192 MiB) and keeps filter coordinates exact in f64.
pub const MAX_CONFIG_SIDE: u32 = 4096;

/// Channel order the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// Memory layout of one image in the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputLayout {
    /// `[c, h, w]` per image (torchvision).
    Nchw,
    /// `[h, w, c]` per image (TensorFlow exports).
    Nhwc,
}

/// How to turn an image into the model's input:
/// resize the shorter side to `resize_shorter`, centre-crop `crop = [h, w]`,
/// then per channel `(pixel / pixel_divisor - mean[c]) / std[c]`, where
/// `pixel` is 0..=255 and `mean`/`std` are given in `channel_order`.
///
/// Where the crop is larger than the resized image, the missing pixels are
/// black (pixel 0) before normalisation, as torchvision's `CenterCrop` pads.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    pub resize_shorter: u32,
    pub crop: [u32; 2],
    pub pixel_divisor: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub channel_order: ChannelOrder,
    pub layout: InputLayout,
}

impl Default for PreprocessConfig {
    /// torchvision's ImageNet preprocessing at 224x224.
    fn default() -> Self {
        Self::imagenet()
    }
}

impl PreprocessConfig {
    /// torchvision's ImageNet preprocessing: resize 256, crop 224, RGB in
    /// 0..1 normalised by the ImageNet mean/std, NCHW.
    pub fn imagenet() -> Self {
        PreprocessConfig {
            resize_shorter: 256,
            crop: [224, 224],
            pixel_divisor: 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            channel_order: ChannelOrder::Rgb,
            layout: InputLayout::Nchw,
        }
    }

    /// Caffe-style preprocessing (e.g. the open_nsfw ResNet-50 export):
    /// BGR pixels in 0..255 minus the mean `(104, 117, 123)`, NHWC, 224 crop of 256.
    pub fn caffe_bgr() -> Self {
        PreprocessConfig {
            pixel_divisor: 1.0,
            mean: [104.0, 117.0, 123.0],
            std: [1.0, 1.0, 1.0],
            channel_order: ChannelOrder::Bgr,
            layout: InputLayout::Nhwc,
            ..Self::imagenet()
        }
    }

    /// Number of `f32` values one preprocessed image occupies (`3 * h * w`).
    pub fn tensor_len(&self) -> usize {
        3 * self.crop[0] as usize * self.crop[1] as usize
    }

    /// Checks that the config describes a computable, finite transform.
    pub fn validate(&self) -> Result<()> {
        let side_ok = |v: u32| (1..=MAX_CONFIG_SIDE).contains(&v);
        if !side_ok(self.resize_shorter) || !self.crop.iter().all(|&v| side_ok(v)) {
            return Err(Error::InvalidInput(format!(
                "preprocess sizes must be 1..={MAX_CONFIG_SIDE} (resize_shorter {}, crop {:?})",
                self.resize_shorter, self.crop
            )));
        }
        let nonzero = |v: f32| v.is_finite() && v != 0.0;
        if !nonzero(self.pixel_divisor)
            || !self.std.iter().all(|&v| nonzero(v))
            || !self.mean.iter().all(|v| v.is_finite())
        {
            return Err(Error::InvalidInput(format!(
                "preprocess needs finite mean and finite non-zero std and pixel_divisor \
                 (mean {:?}, std {:?}, pixel_divisor {})",
                self.mean, self.std, self.pixel_divisor
            )));
        }
        Ok(())
    }
}

/// Decodes JPEG, PNG or WebP bytes (format guessed from the content) to RGB8.
///
/// Dimensions are read from the header and checked against [`MAX_PIXELS`]
/// before decoding. Alpha is dropped (as PIL's `convert("RGB")` does),
/// grayscale is replicated, 16-bit is scaled to 8-bit, and an EXIF
/// orientation is applied so the image is upright as a browser shows it.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::ImageDecode(format!("cannot read image bytes: {e}")))?;
    match reader.format() {
        None => {
            return Err(Error::ImageDecode("unrecognised image format (expected JPEG, PNG or WebP)".into()));
        }
        Some(ImageFormat::Jpeg) if jpeg_is_cut_short(bytes) => {
            return Err(Error::ImageDecode("JPEG data is truncated (no end-of-image marker)".into()));
        }
        Some(_) => {}
    }
    // The reader's default limits (512 MiB of allocations) stay on as a backstop.
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Error::ImageDecode(format!("image has zero size ({width}x{height})")));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(Error::Limit(format!(
            "image is {width}x{height} = {pixels} pixels; at most {MAX_PIXELS} are accepted"
        )));
    }
    // A broken EXIF block should not make an otherwise good photo unusable.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The JPEG decoder fills a scan cut short with grey instead of failing (as
/// browsers show a partial download); classifying that would be a wrong
/// answer, so demand an end-of-image marker after the last start-of-scan.
/// Marker bytes can't occur inside scan data (0xFF is stuffed as FF 00), and
/// an embedded thumbnail's markers all precede the main image's scans.
fn jpeg_is_cut_short(bytes: &[u8]) -> bool {
    const SOS: [u8; 2] = [0xFF, 0xDA];
    const EOI: [u8; 2] = [0xFF, 0xD9];
    // Without any scan the decoder itself reports the error.
    bytes.windows(2).rposition(|w| w == SOS).is_some_and(|i| !bytes[i..].windows(2).any(|w| w == EOI))
}

fn decode_error(e: ImageError) -> Error {
    match e {
        ImageError::Limits(e) => Error::Limit(format!("image exceeds decoder limits: {e}")),
        ImageError::Unsupported(e) => {
            Error::ImageDecode(format!("unsupported image format or feature: {e} (supported: JPEG, PNG, WebP)"))
        }
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::ImageDecode("image data is truncated".into())
        }
        e => Error::ImageDecode(format!("corrupt or truncated image: {e}")),
    }
}

/// Preprocesses a decoded image into one `[c,h,w]` or `[h,w,c]` tensor
/// (per `cfg.layout`) of `cfg.tensor_len()` values.
pub fn image_to_tensor(img: &RgbImage, cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    let (width, height) = img.dimensions();
    let len = 3 * width as usize * height as usize;
    let data = img
        .as_raw()
        .get(..len)
        .ok_or_else(|| Error::InvalidInput("image buffer is shorter than its dimensions".into()))?;
    to_tensor(Pixels { data, width: width as usize, height: height as usize, channels: 3 }, cfg)
}

/// Preprocesses raw RGBA8 pixels (browser `ImageData`, video frames), row-major
/// without padding, like [`image_to_tensor`]. Alpha is ignored.
pub fn rgba_to_tensor(rgba: &[u8], width: u32, height: u32, cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    let expected = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| Error::InvalidInput(format!("frame {width}x{height} is too large")))?;
    if rgba.len() != expected {
        return Err(Error::InvalidInput(format!(
            "RGBA buffer has {} bytes; a {width}x{height} frame needs {expected}",
            rgba.len()
        )));
    }
    to_tensor(Pixels { data: rgba, width: width as usize, height: height as usize, channels: 4 }, cfg)
}

/// Interleaved 8-bit pixels, row-major; the first three channels are R, G, B.
struct Pixels<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    channels: usize,
}

/// Filter of one output sample along one axis: `weights` apply to source
/// indices `start..start + weights.len()` and sum to 1.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

fn to_tensor(px: Pixels<'_>, cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    cfg.validate()?;
    if px.width == 0 || px.height == 0 {
        return Err(Error::InvalidInput(format!("image has zero size ({}x{})", px.width, px.height)));
    }
    let (resized_w, resized_h) = resized_size(px.width as u64, px.height as u64, cfg);
    let [crop_h, crop_w] = cfg.crop.map(|v| v as usize);
    let cols = axis_taps(px.width, resized_w, crop_offset(resized_w, crop_w), crop_w);
    let rows = axis_taps(px.height, resized_h, crop_offset(resized_h, crop_h), crop_h);

    // Horizontal pass, over only the source rows that some output row reads.
    // Columns outside the resized image (padding) stay 0.
    let row_lo = rows.iter().flatten().map(|t| t.start).min().unwrap_or(0);
    let row_hi = rows.iter().flatten().map(|t| t.start + t.weights.len()).max().unwrap_or(0);
    let stride = px.width * px.channels;
    let mut mid = vec![0f32; (row_hi - row_lo) * crop_w * 3];
    for (src_row, mid_row) in
        px.data[row_lo * stride..row_hi * stride].chunks_exact(stride).zip(mid.chunks_exact_mut(crop_w * 3))
    {
        for (tap, out) in cols.iter().zip(mid_row.chunks_exact_mut(3)) {
            let Some(tap) = tap else { continue };
            let src = &src_row[tap.start * px.channels..];
            for (&wt, p) in tap.weights.iter().zip(src.chunks(px.channels)) {
                for c in 0..3 {
                    out[c] += wt * f32::from(p[c]);
                }
            }
        }
    }

    // Vertical pass, then normalise and write in the requested order and layout.
    let source_channel = |c: usize| match cfg.channel_order {
        ChannelOrder::Rgb => c,
        ChannelOrder::Bgr => 2 - c,
    };
    let plane = crop_h * crop_w;
    let mut out = vec![0f32; 3 * plane];
    for (y, tap) in rows.iter().enumerate() {
        for x in 0..crop_w {
            let mut rgb = [0f32; 3];
            if let Some(tap) = tap {
                for (k, &wt) in tap.weights.iter().enumerate() {
                    let m = &mid[((tap.start - row_lo + k) * crop_w + x) * 3..][..3];
                    for c in 0..3 {
                        rgb[c] += wt * m[c];
                    }
                }
            }
            for c in 0..3 {
                let v = (rgb[source_channel(c)] / cfg.pixel_divisor - cfg.mean[c]) / cfg.std[c];
                let i = match cfg.layout {
                    InputLayout::Nchw => c * plane + y * crop_w + x,
                    InputLayout::Nhwc => (y * crop_w + x) * 3 + c,
                };
                out[i] = v;
            }
        }
    }
    Ok(out)
}

/// torchvision's resize: the shorter side becomes `resize_shorter`, the longer
/// is scaled and truncated.
fn resized_size(w: u64, h: u64, cfg: &PreprocessConfig) -> (u64, u64) {
    let s = u64::from(cfg.resize_shorter);
    if w <= h {
        (s, s * h / w)
    } else {
        (s * w / h, s)
    }
}

/// The part of a `width` x `height` image that the model sees after the
/// resize and centre crop, in source pixels: `[left, top, right, bottom]`
/// (past the image's edges where the crop pads).
pub fn crop_window(width: u32, height: u32, cfg: &PreprocessConfig) -> [f64; 4] {
    let (rw, rh) = resized_size(u64::from(width).max(1), u64::from(height).max(1), cfg);
    let [crop_h, crop_w] = cfg.crop.map(|v| v as usize);
    let (sx, sy) = (f64::from(width) / rw as f64, f64::from(height) / rh as f64);
    let (ox, oy) = (crop_offset(rw, crop_w) as f64, crop_offset(rh, crop_h) as f64);
    [ox * sx, oy * sy, (ox + crop_w as f64) * sx, (oy + crop_h as f64) * sy]
}

/// First resized index of a centred crop, as torchvision computes it: Python's
/// `round` (ties to even) when the crop fits, otherwise a negative offset for
/// the left/top padding `(crop - size) // 2`.
fn crop_offset(resized: u64, crop: usize) -> i64 {
    let crop = crop as u64;
    if resized >= crop {
        ((resized - crop) as f64 / 2.0).round_ties_even() as i64
    } else {
        -(((crop - resized) / 2) as i64)
    }
}

/// Triangle-filter taps for `count` consecutive output samples starting at
/// index `offset` of an axis resampled from `src` to `resized` samples; `None`
/// where the index falls outside the resized axis.
///
/// Same geometry as PIL's bilinear `resize`: sample centres at `(i + 0.5) * scale`,
/// and on downscale the filter stretches by `scale` so every source pixel counts.
fn axis_taps(src: usize, resized: u64, offset: i64, count: usize) -> Vec<Option<Taps>> {
    let scale = src as f64 / resized as f64;
    let support = scale.max(1.0);
    (0..count as i64)
        .map(|o| {
            let i = u64::try_from(offset + o).ok().filter(|&i| i < resized)?;
            let center = (i as f64 + 0.5) * scale;
            let start = (center - support + 0.5).floor().max(0.0) as usize;
            let end = ((center + support + 0.5).floor() as usize).min(src);
            let raw: Vec<f64> =
                (start..end).map(|j| (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0)).collect();
            // Never 0: the source pixel containing `center` has weight >= 0.5.
            let sum: f64 = raw.iter().sum();
            Some(Taps { start, weights: raw.iter().map(|&v| (v / sum) as f32).collect() })
        })
        .collect()
}
