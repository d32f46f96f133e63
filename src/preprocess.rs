//! Image decoding and preprocessing into a model input tensor (stub: being written).

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
}
