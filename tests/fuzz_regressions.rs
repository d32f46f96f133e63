//! Replays the fuzzers' seeds and every input that ever crashed them
//! (tests/fuzz/regressions/TARGET, added when the crash was fixed) through the
//! same calls the fuzz targets make, so a fixed crash stays fixed without
//! nightly or libFuzzer.

use std::path::Path;

use webresnet::plan::CompileOptions;
use webresnet::preprocess::{decode, image_to_tensor, PreprocessConfig};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "md") {
                continue;
            }
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

#[test]
fn import_seeds_and_regressions() {
    let cases = inputs("import");
    assert!(cases.len() >= 5, "seeds missing: {}", cases.len());
    for (name, bytes) in cases {
        let r = webresnet::load_plan(&bytes, &CompileOptions::default());
        // Seeds are valid models; regressions may be either.
        assert!(r.is_ok() || name.contains("/regressions/"), "{name}: {r:?}");
    }
}

#[test]
fn decode_seeds_and_regressions() {
    let cases = inputs("decode");
    assert!(cases.len() >= 5, "seeds missing: {}", cases.len());
    for (name, bytes) in cases {
        let r = decode(&bytes).and_then(|img| image_to_tensor(&img, &PreprocessConfig::imagenet()));
        assert!(r.is_ok() || name.contains("/regressions/"), "{name}: {r:?}");
    }
}
