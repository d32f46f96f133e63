//! Hostile model files never make the importer allocate more than a bound
//! proportional to the file's size. A counting allocator measures the peak
//! heap of `load_plan` (import and plan) exactly, on real files cut at every
//! 1/64 of their length and on random bytes. (`tests/malformed.py` checks the
//! same through the CLI, where only coarse RSS figures are available.)

mod setup_files;
use setup_files::setup_file;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use webresnet::plan::CompileOptions;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Tests run on several threads; measurements must not overlap.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes allocated by `load_plan(bytes)` beyond what was live before it.
fn peak_heap_of_loading(bytes: &[u8]) -> (usize, bool) {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let ok = webresnet::load_plan(bytes, &CompileOptions::default()).is_ok();
    (PEAK.load(Relaxed) - before, ok)
}

/// Decoded protobuf structures, f32 weights and the plan's packed copies are
/// a few times the file at most; 1 MiB covers the fixed costs.
const PER_BYTE: usize = 6;
const FIXED: usize = 1 << 20;

#[test]
fn truncated_real_models_stay_within_the_bound() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    for name in ["mobilenet_small.onnx", "default.wrn"] {
        let Some(full) = setup_file(&format!("models/{name}")) else { continue };
        let (peak, ok) = peak_heap_of_loading(&full);
        assert!(ok, "{name} itself must load");
        println!("{name}: {} bytes, whole file peak heap {:.2}x its size", full.len(), peak as f64 / full.len() as f64);
        for k in 0..64 {
            let cut = &full[..full.len() * k / 64];
            let (peak, ok) = peak_heap_of_loading(cut);
            assert!(!ok, "{name} cut to {} bytes loaded", cut.len());
            assert!(peak <= FIXED + PER_BYTE * cut.len(), "{name} cut to {} bytes: peak heap {peak}", cut.len());
        }
    }
}

#[test]
fn random_bytes_stay_within_the_bound() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 7, 64, 1000, 65_536, 1 << 20] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let (peak, ok) = peak_heap_of_loading(&bytes);
        assert!(!ok, "{len} random bytes loaded");
        assert!(peak <= FIXED + PER_BYTE * len, "{len} random bytes: peak heap {peak}");
    }
}
