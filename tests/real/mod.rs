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

/// /proc mounted inside an unpacked rootfs for the life of the value (the
/// JVM finds its libraries through /proc/self/exe); unmounted on drop.
pub struct ProcMount(PathBuf);

impl ProcMount {
    /// Mount proc at `root/proc` (created); panics when `mount` fails.
    pub fn new(root: &std::path::Path) -> Self {
        let p = root.join("proc");
        std::fs::create_dir_all(&p).unwrap();
        let st = std::process::Command::new("mount").args(["-t", "proc", "proc"]).arg(&p).status();
        assert!(st.is_ok_and(|s| s.success()), "mount -t proc proc {}", p.display());
        ProcMount(p)
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
