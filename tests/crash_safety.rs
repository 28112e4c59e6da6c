//! Crash safety (issue "Hostile input and failures"): a build killed with
//! SIGKILL at any point leaves the previous output intact and the cache
//! consistent, and the next run succeeds with the digest of an
//! uninterrupted build; builds sharing one cache run at the same time; a
//! full disk or a read-only output gives a clear error and writes nothing.
//! Everything runs against the signed test repository on loopback.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

const SUITE: &str = "testing";

/// Deterministic incompressible bytes (xorshift64*), so layers take real
/// time to compress and kills land inside that work.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Two large packages from different sources (two layers) and a small one.
fn repo() -> RepoBuilder {
    RepoBuilder::new()
        .add(SUITE, DebBuilder::new("base", "1").file("./usr/share/base/ok", 0o644, b"ok").build())
        .add(
            SUITE,
            DebBuilder::new("bigdata", "1")
                .field("Source", "bigdata-src")
                .file("./usr/share/bigdata/blob", 0o644, &noise(6 << 20, 1))
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("moredata", "1")
                .field("Source", "moredata-src")
                .file("./usr/share/moredata/blob", 0o644, &noise(6 << 20, 2))
                .build(),
        )
}

fn spawn_build(spec: &Path, out: &Path, cache: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .arg("build")
        .arg(spec)
        .arg("--output")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .arg("-v")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("DISTILL_MIRROR")
        .env_remove("DISTILL_CACHE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn distill")
}

fn sha256_file(path: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Check that `layout` is a whole OCI image layout: every descriptor
/// reachable from index.json names a blob that exists with that size and
/// SHA256. Returns index.json's bytes.
fn assert_whole_layout(layout: &Path) -> Vec<u8> {
    let index = std::fs::read(layout.join("index.json")).expect("index.json");
    assert!(layout.join("oci-layout").is_file());
    let mut todo: Vec<serde_json::Value> =
        serde_json::from_slice::<serde_json::Value>(&index).unwrap()["manifests"].as_array().unwrap().clone();
    let mut seen = 0;
    while let Some(desc) = todo.pop() {
        let digest = desc["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
        let path = layout.join("blobs/sha256").join(&digest);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("blob {digest} missing: {e}"));
        assert_eq!(bytes.len() as u64, desc["size"].as_u64().unwrap(), "size of {digest}");
        assert_eq!(hex(&Sha256::digest(&bytes)), digest, "blob {digest} is damaged");
        seen += 1;
        let media = desc["mediaType"].as_str().unwrap_or("");
        if media.ends_with("manifest.v1+json") || media.ends_with("index.v1+json") {
            let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            for key in ["manifests", "layers"] {
                if let Some(list) = doc[key].as_array() {
                    todo.extend(list.iter().cloned());
                }
            }
            if doc["config"].is_object() {
                todo.push(doc["config"].clone());
            }
        }
    }
    assert!(seen >= 3, "a layout has an index entry, a manifest, a config and layers");
    index
}

/// Every named blob in the cache hashes to its name (temporary files,
/// named `.tmp*`, are not blobs), and every record is whole JSON.
fn assert_cache_consistent(cache: &Path) {
    let blobs = cache.join("blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        assert_eq!(sha256_file(&e.path()), name, "cache blob {name} does not match its name");
    }
    for kind in ["unpacked", "layers", "builds"] {
        let Ok(dir) = std::fs::read_dir(cache.join(kind)) else { continue };
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let text = std::fs::read(e.path()).unwrap();
            assert!(
                serde_json::from_slice::<serde_json::Value>(&text).is_ok(),
                "record {} is not whole JSON",
                e.path().display()
            );
        }
    }
}

/// Temporary siblings of an output (`.out.tmp-*`, `.out.old-*`).
fn siblings(out: &Path) -> Vec<PathBuf> {
    let name = out.file_name().unwrap().to_string_lossy().to_string();
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!(".{name}.")))
        .map(|e| e.path())
        .collect()
}

/// Entries in `dir` (0 when missing).
fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count())
        .unwrap_or(0)
}

#[test]
fn build_killed_at_any_point_keeps_the_previous_output_and_a_consistent_cache() {
    let fx = Fixture::new(repo());
    let out = fx.path("out");
    let old_spec = fx.spec("crash").packages(&["base"]).write(&fx.path("old.yaml"));
    let spec = fx.spec("crash").packages(&["base", "bigdata", "moredata"]).write(&fx.path("new.yaml"));
    // The new image built once elsewhere without interruption: the digest
    // every interrupted run must end with.
    let started = Instant::now();
    let reference = build(&spec, &fx.path("reference"), &fx.path("reference-cache"));
    reference.expect_code(0);
    let full = started.elapsed();
    let want = reference.last_line().to_string();
    let new_index = std::fs::read(fx.path("reference/index.json")).unwrap();

    // Kill points, each seen from outside the process: by what it asked the
    // mirror for, what it left in the cache and next to the output, or by
    // time. Each starts from a cold cache and the previous image.
    type Trigger<'a> = Box<dyn Fn(&Path, Duration) -> bool + 'a>;
    let server = &fx.server;
    let triggers: Vec<(&str, Trigger)> = vec![
        ("at once", Box::new(|_, _| true)),
        ("InRelease requested", Box::new(|_, _| server.requests().iter().any(|r| r.ends_with("InRelease")))),
        ("first .deb requested", Box::new(|_, _| server.requests().iter().any(|r| r.ends_with(".deb")))),
        ("a .deb in the cache", Box::new(|c, _| count(&c.join("blobs/sha256")) >= 4)),
        ("a package unpacked", Box::new(|c, _| count(&c.join("unpacked")) >= 1)),
        ("all packages unpacked", Box::new(|c, _| count(&c.join("unpacked")) >= 3)),
        ("a layer cached", Box::new(|c, _| count(&c.join("layers")) >= 1)),
        ("output being written", Box::new(|_, _| !siblings(&out).is_empty())),
        ("at 1/3 of a cold build", Box::new(move |_, t| t >= full / 3)),
        ("at 2/3 of a cold build", Box::new(move |_, t| t >= full * 2 / 3)),
    ];
    let mut table = Vec::new();
    let mut hit = 0;
    for (i, (name, trigger)) in triggers.iter().enumerate() {
        let cache = fx.path(&format!("cache-{i}"));
        build(&old_spec, &out, &cache).expect_code(0);
        let old_index = assert_whole_layout(&out);
        fx.server.clear_log();
        let started = Instant::now();
        let mut child = spawn_build(&spec, &out, &cache);
        let mut fired = false;
        while started.elapsed() < Duration::from_secs(60) {
            if trigger(&cache, started.elapsed()) {
                fired = true;
                let _ = child.kill(); // SIGKILL
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let done = child.wait_with_output().unwrap();
        let finished = done.status.success();
        let stderr = String::from_utf8_lossy(&done.stderr).to_string();
        let index = assert_whole_layout(&out);
        if !finished {
            assert!(fired, "{name}: the build failed by itself: {stderr}");
            hit += 1;
            // Killed before the swap: the old image; after it (while the old
            // one was being deleted): the new one. Never anything else.
            assert!(
                index == old_index || index == new_index,
                "{name}: a killed build left an output that is neither the old nor the new image"
            );
        }
        assert_cache_consistent(&cache);
        // The next run, on what the killed one left, gives the same image.
        let next = build(&spec, &out, &cache);
        next.expect_code(0);
        assert_eq!(next.last_line(), want, "{name}: the run after the kill");
        assert_cache_consistent(&cache);
        assert!(siblings(&out).is_empty(), "{name}: leftovers of the killed run remain: {:?}", siblings(&out));
        table.push(format!(
            "{name:<22} {:>6} ms  {}",
            started.elapsed().as_millis(),
            if finished { "finished before the kill" } else { "killed; old output intact; next run ok" }
        ));
    }
    eprintln!("kill points:\n{}", table.join("\n"));
    assert!(hit >= triggers.len() - 2, "most kills must land inside the build:\n{}", table.join("\n"));
}

#[test]
fn output_left_between_two_renames_is_restored_by_the_next_run() {
    // What a writer killed between "move the old layout aside" and "move
    // the new one in" leaves on a filesystem without RENAME_EXCHANGE.
    let fx = Fixture::new(repo());
    let out = fx.path("out");
    let spec = fx.spec("crash").packages(&["base"]).write(&fx.path("s.yaml"));
    build(&spec, &out, &fx.path("cache")).expect_code(0);
    let index = std::fs::read(out.join("index.json")).unwrap();
    let dead_pid = 4_194_305; // above the largest pid_max: never a live process
    std::fs::rename(&out, fx.path(&format!(".out.old-{dead_pid}"))).unwrap();
    std::fs::create_dir(fx.path(&format!(".out.tmp-{dead_pid}-x1y2"))).unwrap();
    std::fs::write(fx.path(&format!(".out.tmp-{dead_pid}-x1y2/index.json")), b"{half").unwrap();

    // A build that fails (unknown package) still leaves the output as it was.
    let bad = fx.spec("crash").packages(&["base", "no-such-package"]).write(&fx.path("bad.yaml"));
    build(&bad, &out, &fx.path("cache")).expect_code(5);
    let good = build(&spec, &out, &fx.path("cache"));
    good.expect_code(0);
    assert_eq!(std::fs::read(out.join("index.json")).unwrap(), index);
    assert!(siblings(&out).is_empty(), "{:?}", siblings(&out));
}

#[test]
fn stale_temporary_files_in_the_cache_are_swept() {
    let fx = Fixture::new(repo());
    let cache = fx.path("cache");
    let spec = fx.spec("crash").packages(&["base"]).write(&fx.path("s.yaml"));
    build(&spec, &fx.path("out"), &cache).expect_code(0);
    let stale = cache.join("blobs/sha256/.tmpDEAD01");
    let fresh = cache.join("blobs/sha256/.tmpLIVE01");
    std::fs::write(&stale, b"half a download").unwrap();
    std::fs::write(&fresh, b"a download in progress").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&stale).unwrap().set_modified(two_hours_ago).unwrap();
    build(&spec, &fx.path("out"), &cache).expect_code(0);
    assert!(!stale.exists(), "a dead process's temporary file is removed");
    assert!(fresh.exists(), "a recent one may belong to a running build");
}

#[test]
fn builds_sharing_one_cache_at_the_same_time_all_succeed() {
    let fx = Fixture::new(repo());
    let spec = fx.spec("crash").packages(&["base", "bigdata", "moredata"]).write(&fx.path("s.yaml"));
    let cache = fx.path("cache");
    for round in 0..2 {
        // Cold cache in round 0, warm in round 1; two outputs and two
        // builds racing for the same output.
        let outs = [fx.path("a"), fx.path("b"), fx.path("same"), fx.path("same")];
        let children: Vec<Child> = outs.iter().map(|o| spawn_build(&spec, o, &cache)).collect();
        let mut digests = Vec::new();
        for c in children {
            let done = c.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&done.stderr);
            assert!(done.status.success(), "round {round}: concurrent build failed: {stderr}");
            let stdout = String::from_utf8_lossy(&done.stdout).to_string();
            digests.push(stdout.lines().last().unwrap_or_default().to_string());
        }
        assert!(digests.iter().all(|d| d == &digests[0] && d.starts_with("sha256:")), "{digests:?}");
        for o in &outs {
            assert_whole_layout(o);
        }
        assert_cache_consistent(&cache);
        assert!(siblings(&fx.path("same")).is_empty());
    }
}

/// Mount a tmpfs of `size` (e.g. `256k`) at `dir` with extra `opts`;
/// false (with a note) when this machine does not allow mounting.
fn mount_tmpfs(dir: &Path, size: &str, opts: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let o = if opts.is_empty() { format!("size={size}") } else { format!("size={size},{opts}") };
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &o, "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("NOTE: cannot mount a tmpfs here (needs root); the full-disk and read-only cases are not run");
    }
    ok
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_gives_a_clear_error_and_writes_nothing() {
    let fx = Fixture::new(repo());
    let spec = fx.spec("crash").packages(&["base", "bigdata"]).write(&fx.path("s.yaml"));
    // A cache on a 4 MiB filesystem cannot take the 6 MiB package.
    let small = fx.path("small");
    if !mount_tmpfs(&small, "4m", "") {
        return;
    }
    let _guard = Unmount(small.clone());
    let run = build(&spec, &fx.path("out"), &small.join("cache"));
    run.expect_code(1).stderr_has(&["No space left on device", &small.join("cache").display().to_string()]);
    assert!(!fx.path("out").exists());
    assert_cache_consistent(&small.join("cache"));
    let temps: Vec<_> = std::fs::read_dir(small.join("cache/blobs/sha256"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(temps.is_empty(), "the failed write removed its temporary file");

    // An output on a full filesystem: the previous image stays whole.
    let outfs = fx.path("outfs");
    if !mount_tmpfs(&outfs, "1m", "") {
        return;
    }
    let _guard2 = Unmount(outfs.clone());
    let out = outfs.join("out");
    let small_spec = fx.spec("crash").packages(&["base"]).write(&fx.path("small.yaml"));
    build(&small_spec, &out, &fx.path("cache")).expect_code(0);
    let index = assert_whole_layout(&out);
    let run = build(&spec, &out, &fx.path("cache"));
    run.expect_code(1).stderr_has(&["No space left on device", &outfs.display().to_string()]);
    assert_eq!(assert_whole_layout(&out), index);
    assert!(siblings(&out).is_empty(), "{:?}", siblings(&out));
}

#[test]
fn read_only_output_directory_gives_a_clear_error() {
    let fx = Fixture::new(repo());
    let spec = fx.spec("crash").packages(&["base"]).write(&fx.path("s.yaml"));
    let ro = fx.path("ro");
    if !mount_tmpfs(&ro, "1m", "ro") {
        return;
    }
    let _guard = Unmount(ro.clone());
    let run = build(&spec, &ro.join("out"), &fx.path("cache"));
    run.expect_code(1).stderr_has(&["Read-only file system", &ro.display().to_string()]);
    assert!(!ro.join("out").exists());
}
