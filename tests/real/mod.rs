//! Shared by the tests that use the real Debian archive: the skip switch,
//! the project directory and the shared package cache.
#![allow(dead_code)] // each test file uses a subset

use std::path::PathBuf;

/// `DISTILL_SKIP_E2E=1` skips real-archive tests (otherwise a missing tool
/// or mirror is a failure, not a silent pass).
pub fn skip() -> bool {
    std::env::var("DISTILL_SKIP_E2E").is_ok_and(|v| v == "1")
}

/// The project root.
pub fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `DISTILL_CACHE_DIR`, else `target/e2e-cache`: one warm cache for every
/// real-archive test.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("DISTILL_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| project().join("target/e2e-cache"))
}
