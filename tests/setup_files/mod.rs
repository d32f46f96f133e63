//! Files that scripts/setup.sh fetches or generates under `.cache/`.

/// The bytes of `.cache/REL`. When it is missing the test is skipped with a
/// message, except in CI (`CI=true`), where setup has run and a missing file
/// is a failure.
pub fn setup_file(rel: &str) -> Option<Vec<u8>> {
    let path = format!("{}/.cache/{rel}", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{path} is missing in CI");
            eprintln!("skipping: {path} is missing (scripts/setup.sh makes it)");
            None
        }
    }
}
