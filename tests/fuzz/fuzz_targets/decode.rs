//! Any bytes as an uploaded photo: decoding and preprocessing must return,
//! Ok or a typed error, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webresnet::preprocess::{decode, image_to_tensor, PreprocessConfig};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(img) = decode(bytes) {
        let _ = image_to_tensor(&img, &PreprocessConfig::imagenet());
    }
});
