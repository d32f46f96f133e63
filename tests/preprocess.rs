//! Decoding and preprocessing: exact values on constructed images, torchvision
//! crop geometry, golden values from PIL, and error codes on hostile input.

mod setup_files;
use setup_files::setup_file;

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, ImageBuffer, ImageEncoder, ImageFormat, Luma, Rgb, RgbImage, Rgba};
use webresnet::preprocess::{
    decode, image_to_tensor, rgba_to_tensor, ChannelOrder, InputLayout, PreprocessConfig, MAX_PIXELS,
};

/// Same pattern as the Python script that produced the PIL golden values.
fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([0, 1, 2].map(|c| ((x * 37 + y * 91 + c * 53 + x * y) % 256) as u8)))
}

fn flat(w: u32, h: u32, rgb: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb(rgb))
}

/// Identity normalisation, so the tensor holds resampled 0..255 pixel values.
fn raw_cfg(resize_shorter: u32, crop: [u32; 2]) -> PreprocessConfig {
    PreprocessConfig {
        resize_shorter,
        crop,
        pixel_divisor: 1.0,
        mean: [0.0; 3],
        std: [1.0; 3],
        channel_order: ChannelOrder::Rgb,
        layout: InputLayout::Nchw,
    }
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Vec::new();
    img.write_to(&mut Cursor::new(&mut buf), format).unwrap();
    buf
}

fn assert_close(got: f32, want: f32, tol: f32, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

#[test]
fn flat_colour_normalises_exactly() {
    let cfg = PreprocessConfig::default();
    let t = image_to_tensor(&flat(50, 40, [200, 100, 50]), &cfg).unwrap();
    assert_eq!(t.len(), 3 * 224 * 224);
    assert_eq!(t.len(), cfg.tensor_len());
    for (c, p) in [200.0f32, 100.0, 50.0].into_iter().enumerate() {
        let want = (p / 255.0 - cfg.mean[c]) / cfg.std[c];
        for &v in &t[c * 224 * 224..(c + 1) * 224 * 224] {
            assert_close(v, want, 1e-5, "normalised value");
        }
    }
}

#[test]
fn caffe_config_is_bgr_nhwc_minus_mean() {
    let cfg = PreprocessConfig::caffe_bgr();
    let t = image_to_tensor(&flat(300, 260, [200, 100, 50]), &cfg).unwrap();
    assert_eq!(t.len(), 224 * 224 * 3);
    for px in t.chunks_exact(3) {
        assert_close(px[0], 50.0 - 104.0, 1e-3, "B");
        assert_close(px[1], 100.0 - 117.0, 1e-3, "G");
        assert_close(px[2], 200.0 - 123.0, 1e-3, "R");
    }
}

#[test]
fn nhwc_and_bgr_permute_nchw_rgb() {
    let img = pattern(61, 47);
    let base = raw_cfg(32, [24, 20]);
    let nchw = image_to_tensor(&img, &base).unwrap();
    let nhwc = image_to_tensor(&img, &PreprocessConfig { layout: InputLayout::Nhwc, ..base.clone() }).unwrap();
    let bgr = image_to_tensor(&img, &PreprocessConfig { channel_order: ChannelOrder::Bgr, ..base.clone() }).unwrap();
    let plane = 24 * 20;
    for c in 0..3 {
        for i in 0..plane {
            assert_eq!(nhwc[i * 3 + c], nchw[c * plane + i]);
            assert_eq!(bgr[(2 - c) * plane + i], nchw[c * plane + i]);
        }
    }
}

#[test]
fn bgr_mean_and_std_are_given_in_bgr_order() {
    let cfg = PreprocessConfig {
        mean: [1.0, 2.0, 3.0],
        std: [2.0, 4.0, 8.0],
        channel_order: ChannelOrder::Bgr,
        ..raw_cfg(8, [4, 4])
    };
    let t = image_to_tensor(&flat(8, 8, [30, 20, 10]), &cfg).unwrap();
    assert_close(t[0], (10.0 - 1.0) / 2.0, 1e-5, "B plane");
    assert_close(t[16], (20.0 - 2.0) / 4.0, 1e-5, "G plane");
    assert_close(t[32], (30.0 - 3.0) / 8.0, 1e-5, "R plane");
}

/// With the shorter side already at `resize_shorter` nothing is resampled, so
/// the crop must pick exactly torchvision's pixels: offset round((size - crop) / 2),
/// Python's round being ties-to-even.
#[test]
fn centre_crop_matches_torchvision_offsets() {
    for (w, h, want_left, want_top) in [(300, 256, 38, 16), (301, 256, 38, 16), (303, 256, 40, 16), (256, 259, 16, 18)]
    {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 7]));
        let t = image_to_tensor(&img, &raw_cfg(256, [224, 224])).unwrap();
        let plane = 224 * 224;
        for (i, j) in [(0usize, 0usize), (0, 223), (223, 0), (100, 150), (223, 223)] {
            let at = i * 224 + j;
            assert_eq!(t[at], ((want_left + j) % 256) as f32, "{w}x{h} column at ({i},{j})");
            assert_eq!(t[plane + at], ((want_top + i) % 256) as f32, "{w}x{h} row at ({i},{j})");
            assert_eq!(t[2 * plane + at], 7.0);
        }
    }
}

/// Golden values from PIL's bilinear resize on float planes ("F" mode, no
/// 8-bit rounding) followed by torchvision's crop, on the same pattern:
/// a 2.5x antialiased downscale with a non-square crop, and an upscale whose
/// crop offsets are both .5 ties.
#[test]
fn resampling_matches_pil_golden_values() {
    // Values at these places of a `ch` x `cw` crop: the corners, the centre and one inside.
    let places = |ch: usize, cw: usize| {
        [(0, 0, 0), (1, 3, 5), (2, ch - 1, cw - 1), (0, ch / 2, cw / 2), (1, ch - 1, 0), (2, 0, cw - 1)]
    };
    type Case = ((u32, u32, u32, [u32; 2]), [f32; 3], [f32; 6]);
    let cases: [Case; 2] = [
        (
            (40, 30, 12, [10, 8]),
            [10382.304, 10399.328, 10333.203],
            [126.12, 137.52, 110.9376, 115.6848, 121.6992, 120.4112],
        ),
        (
            (5, 7, 16, [15, 13]),
            [24637.795, 24195.34, 26136.342],
            [95.4638, 69.4467, 154.7955, 118.0703, 155.9893, 103.9773],
        ),
    ];
    for ((w, h, s, crop), sums, values) in cases {
        let t = image_to_tensor(&pattern(w, h), &raw_cfg(s, crop)).unwrap();
        let [ch, cw] = crop.map(|v| v as usize);
        for (c, want) in sums.into_iter().enumerate() {
            let sum: f32 = t[c * ch * cw..(c + 1) * ch * cw].iter().sum();
            assert_close(sum, want, 0.02, &format!("{w}x{h} channel {c} sum"));
        }
        for ((c, i, j), want) in places(ch, cw).into_iter().zip(values) {
            assert_close(t[(c * ch + i) * cw + j], want, 1e-3, &format!("{w}x{h} value at {c},{i},{j}"));
        }
    }
}

#[test]
fn tiny_image_upscales_to_a_flat_crop() {
    let t = image_to_tensor(&flat(1, 1, [10, 20, 30]), &raw_cfg(256, [224, 224])).unwrap();
    for (c, want) in [10.0, 20.0, 30.0].into_iter().enumerate() {
        assert!(t[c * 224 * 224..(c + 1) * 224 * 224].iter().all(|&v| (v - want).abs() < 1e-4));
    }
}

#[test]
fn extreme_aspect_ratios_stay_cheap_and_bounded() {
    // 1x100000 resizes (virtually) to 256x25600000; only the crop is computed.
    for (w, h) in [(1, 500), (500, 1), (1, 100_000), (100_000, 1)] {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([((x + y) % 256) as u8, 0, 255]));
        let t = image_to_tensor(&img, &raw_cfg(256, [224, 224])).unwrap();
        assert_eq!(t.len(), 3 * 224 * 224);
        let plane = 224 * 224;
        assert!(t[..plane].iter().all(|&v| (-1e-3..=255.001).contains(&v)), "{w}x{h}");
        assert!(t[plane..2 * plane].iter().all(|&v| v.abs() < 1e-4));
        assert!(t[2 * plane..].iter().all(|&v| (v - 255.0).abs() < 1e-3));
    }
}

/// A crop larger than the resized image is padded with black, split like
/// torchvision's `CenterCrop`: `(crop - size) // 2` before, the rest after.
#[test]
fn crop_larger_than_image_pads_with_black() {
    let cfg = PreprocessConfig { mean: [0.5; 3], std: [0.25; 3], pixel_divisor: 255.0, ..raw_cfg(4, [7, 8]) };
    let t = image_to_tensor(&flat(10, 10, [255, 255, 255]), &cfg).unwrap();
    for i in 0..7 {
        for j in 0..8 {
            let inside = (1..5).contains(&i) && (2..6).contains(&j);
            let want = if inside { 2.0 } else { -2.0 };
            assert_close(t[i * 8 + j], want, 1e-5, &format!("({i},{j})"));
        }
    }
}

#[test]
fn rgba_frames_take_the_same_path_and_ignore_alpha() {
    let img = pattern(37, 29);
    let rgba: Vec<u8> = img.pixels().enumerate().flat_map(|(i, p)| [p[0], p[1], p[2], (i * 13) as u8]).collect();
    let cfg = PreprocessConfig { resize_shorter: 20, crop: [16, 18], ..PreprocessConfig::default() };
    assert_eq!(rgba_to_tensor(&rgba, 37, 29, &cfg).unwrap(), image_to_tensor(&img, &cfg).unwrap());
}

#[test]
fn rgba_buffer_is_validated() {
    let cfg = PreprocessConfig::default();
    let code = |r: webresnet::Result<Vec<f32>>| r.unwrap_err().code();
    assert_eq!(code(rgba_to_tensor(&[0; 15], 2, 2, &cfg)), "INVALID_INPUT");
    assert_eq!(code(rgba_to_tensor(&[0; 17], 2, 2, &cfg)), "INVALID_INPUT");
    assert_eq!(code(rgba_to_tensor(&[], 0, 5, &cfg)), "INVALID_INPUT");
    assert_eq!(code(rgba_to_tensor(&[], u32::MAX, u32::MAX, &cfg)), "INVALID_INPUT");
    assert_eq!(code(image_to_tensor(&RgbImage::new(0, 0), &cfg)), "INVALID_INPUT");
}

#[test]
fn bad_configs_are_rejected() {
    let img = flat(4, 4, [1, 2, 3]);
    let bad = [
        PreprocessConfig { crop: [0, 224], ..PreprocessConfig::default() },
        PreprocessConfig { resize_shorter: 0, ..PreprocessConfig::default() },
        PreprocessConfig { resize_shorter: 100_000, ..PreprocessConfig::default() },
        PreprocessConfig { std: [1.0, 0.0, 1.0], ..PreprocessConfig::default() },
        PreprocessConfig { mean: [f32::NAN, 0.0, 0.0], ..PreprocessConfig::default() },
        PreprocessConfig { pixel_divisor: 0.0, ..PreprocessConfig::default() },
    ];
    for cfg in bad {
        assert_eq!(image_to_tensor(&img, &cfg).unwrap_err().code(), "INVALID_INPUT", "{cfg:?}");
    }
    assert!(PreprocessConfig::default().validate().is_ok());
    assert!(PreprocessConfig::caffe_bgr().validate().is_ok());
}

#[test]
fn decodes_png_jpeg_webp_to_rgb8() {
    let img = pattern(23, 17);
    let png = decode(&encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Png)).unwrap();
    assert_eq!(png, img);

    let webp_bytes = {
        let mut buf = Vec::new();
        WebPEncoder::new_lossless(&mut buf).write_image(img.as_raw(), 23, 17, ExtendedColorType::Rgb8).unwrap();
        buf
    };
    assert_eq!(decode(&webp_bytes).unwrap(), img);

    let flat_img = flat(32, 24, [200, 100, 50]);
    let jpeg = decode(&encode(&DynamicImage::ImageRgb8(flat_img), ImageFormat::Jpeg)).unwrap();
    assert_eq!(jpeg.dimensions(), (32, 24));
    let p = jpeg.get_pixel(10, 10);
    assert!(p.0.iter().zip([200, 100, 50]).all(|(&a, b)| (i32::from(a) - b).abs() <= 3), "{p:?}");
}

#[test]
fn decodes_gray16_and_rgba_to_rgb8() {
    let gray = ImageBuffer::from_fn(5, 4, |x, _| Luma([(x * 0x4000) as u16]));
    let out = decode(&encode(&DynamicImage::ImageLuma16(gray), ImageFormat::Png)).unwrap();
    assert_eq!(out.get_pixel(1, 2).0, [64, 64, 64]);
    assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);

    let rgba = ImageBuffer::from_pixel(3, 3, Rgba([10u8, 20, 30, 0]));
    let out = decode(&encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png)).unwrap();
    assert!(out.pixels().all(|p| p.0 == [10, 20, 30]));
}

#[test]
fn exif_orientation_is_applied() {
    // TIFF-style Exif block, little endian, one IFD entry: Orientation (0x0112) = 6 (rotate 90 CW).
    let exif = [
        b'I', b'I', 42, 0, 8, 0, 0, 0, // header, IFD at offset 8
        1, 0, // one entry
        0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, // tag, SHORT, count 1, value 6
        0, 0, 0, 0, // no next IFD
    ];
    let img = RgbImage::from_fn(16, 8, |x, _| if x < 8 { Rgb([255, 255, 255]) } else { Rgb([0, 0, 0]) });
    let mut buf = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut buf, 95);
    enc.set_exif_metadata(exif.to_vec()).unwrap();
    enc.write_image(img.as_raw(), 16, 8, ExtendedColorType::Rgb8).unwrap();
    let out = decode(&buf).unwrap();
    assert_eq!(out.dimensions(), (8, 16));
    // Rotating 90 degrees clockwise moves the white left half to the top.
    assert!(out.get_pixel(4, 3).0[0] > 200 && out.get_pixel(4, 12).0[0] < 50);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A well-formed PNG preamble (valid CRCs) declaring `width x height` RGB8,
/// followed by a tiny IDAT that could never hold that many pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn huge_declared_dimensions_are_a_limit_error() {
    let err = decode(&png_claiming(100_000, 100_000)).unwrap_err();
    assert_eq!(err.code(), "LIMIT", "{err}");
    // Just over the pixel budget, each side modest.
    let side = (MAX_PIXELS as f64).sqrt() as u32 + 1;
    assert_eq!(decode(&png_claiming(side, side)).unwrap_err().code(), "LIMIT");
}

#[test]
fn undecodable_bytes_are_image_decode_errors() {
    let jpeg = encode(&DynamicImage::ImageRgb8(pattern(64, 48)), ImageFormat::Jpeg);
    let png = encode(&DynamicImage::ImageRgb8(pattern(64, 48)), ImageFormat::Png);
    let cases: [(&str, Vec<u8>); 9] = [
        ("empty", vec![]),
        ("garbage", b"this is not an image at all, just text".to_vec()),
        ("jpeg cut in its header", jpeg[..40].to_vec()),
        ("jpeg cut mid-scan", jpeg[..jpeg.len() * 2 / 3].to_vec()),
        ("jpeg missing only its end marker", jpeg[..jpeg.len() - 2].to_vec()),
        ("png cut mid-data", png[..png.len() / 2].to_vec()),
        ("zero-width png", png_claiming(0, 10)),
        ("gif (not enabled)", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()),
        ("bmp (not enabled)", b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00".to_vec()),
    ];
    for (what, bytes) in cases {
        match decode(&bytes) {
            Err(err) => assert_eq!(err.code(), "IMAGE_DECODE", "{what}: {err}"),
            Ok(img) => panic!("{what}: decoded to {:?}", img.dimensions()),
        }
    }
}

/// Real photos from the scikit-image wheel, which scripts/setup.sh unpacks.
#[test]
fn real_photos_decode_and_preprocess() {
    for name in ["chelsea.png", "coffee.png", "rocket.jpg"] {
        let Some(bytes) = setup_file(&format!("photos/{name}")) else { return };
        let img = decode(&bytes).unwrap();
        let t = image_to_tensor(&img, &PreprocessConfig::default()).unwrap();
        assert_eq!(t.len(), 3 * 224 * 224);
        assert!(t.iter().all(|v| v.is_finite() && v.abs() < 3.0), "{name}");
    }
}
