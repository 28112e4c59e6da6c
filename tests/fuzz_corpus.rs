//! Replays the fuzz corpora on stable: every file of `fuzz/corpus/<target>/`
//! (seeds and what fuzzing added) and `fuzz/regressions/<target>/` (inputs
//! that once crashed a target) through the target bodies the cargo-fuzz
//! binaries run (`fuzz/src/lib.rs`, included here). A panic in any thread
//! or a single allocation above [`ALLOC_LIMIT`] (libFuzzer's malloc limit
//! in scripts/fuzz is 2 GiB) fails the test, naming the files.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// Largest single allocation an input may cause (the harness reads at
/// most 64 MiB of a decompressed member).
const ALLOC_LIMIT: usize = 1 << 30;

/// The system allocator, recording the largest request.
struct Recording;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

/// Panic messages of the current replay (any thread: the index parser runs
/// on several).
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// One replay at a time, so panics are attributed to the right input.
static SERIAL: Mutex<()> = Mutex::new(());

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in [root.join("corpus").join(target), root.join("regressions").join(target)] {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        files.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.lock().unwrap_or_else(|e| e.into_inner()).push(info.to_string());
            default(info);
        }));
    });
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for fuzz target {target}");
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        PANICS.lock().unwrap_or_else(|e| e.into_inner()).clear();
        LARGEST.store(0, Ordering::Relaxed);
        let unwound = std::panic::catch_unwind(|| targets::run(target, &data)).is_err();
        let largest = LARGEST.load(Ordering::Relaxed);
        let mut panics = std::mem::take(&mut *PANICS.lock().unwrap_or_else(|e| e.into_inner()));
        if largest > ALLOC_LIMIT {
            panics.push(format!("allocated {largest} bytes at once"));
        }
        if unwound || !panics.is_empty() {
            failed.push(format!("{}: {}", path.display(), panics.join(" / ")));
        }
    }
    assert!(failed.is_empty(), "fuzz target {target} failed on:\n{}", failed.join("\n"));
    eprintln!("fuzz target {target}: {} inputs replayed", files.len());
}

#[test]
fn every_target_has_a_test() {
    assert_eq!(targets::TARGETS, ["spec", "packages", "deb", "extract"]);
}

#[test]
fn spec_corpus() {
    replay("spec");
}

#[test]
fn packages_corpus() {
    replay("packages");
}

#[test]
fn deb_corpus() {
    replay("deb");
}

#[test]
fn extract_corpus() {
    replay("extract");
}
