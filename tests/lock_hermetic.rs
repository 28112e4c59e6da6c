//! Lock files and reproducibility, against a signed test archive on
//! loopback: `distill lock`, `build --locked`, `--offline`, stale locks,
//! vanished pool files, and digests that do not depend on package order,
//! cache directory, working directory, TZ or umask.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::*;

const SUITE: &str = "testing";

fn repo() -> RepoBuilder {
    RepoBuilder::new()
        .add(
            SUITE,
            DebBuilder::new("alpha", "1.0-1").depends("libcommon1").file("./usr/bin/alpha", 0o755, b"alpha").build(),
        )
        .add(
            SUITE,
            DebBuilder::new("beta", "2.0-1")
                .depends("libcommon1 (>= 1)")
                .file("./usr/bin/beta", 0o755, b"beta")
                .build(),
        )
        .add(SUITE, DebBuilder::new("gamma", "0.1").file("./usr/share/gamma/data", 0o644, b"gamma").build())
        .add(SUITE, DebBuilder::new("libcommon1", "1.5").file("./usr/lib/libcommon.so.1", 0o644, b"\x7fELF").build())
}

fn spec(fx: &Fixture, packages: &[&str]) -> PathBuf {
    fx.spec("locked").packages(packages).entrypoint(&["/usr/bin/alpha"]).write(&fx.path("locked.yaml"))
}

fn distill(args: &[&OsStr]) -> Outcome {
    run_distill(args)
}

fn lock(spec: &Path, cache: &Path) -> Outcome {
    distill(&["lock".as_ref(), spec.as_os_str(), "--cache-dir".as_ref(), cache.as_os_str(), "-q".as_ref()])
}

fn lock_check(spec: &Path, cache: &Path) -> Outcome {
    distill(&[
        "lock".as_ref(),
        spec.as_os_str(),
        "--check".as_ref(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
        "-q".as_ref(),
    ])
}

fn build_locked(spec: &Path, out: &Path, cache: &Path, extra: &[&str]) -> Outcome {
    let mut args: Vec<&OsStr> = vec![
        "build".as_ref(),
        spec.as_os_str(),
        "--locked".as_ref(),
        "--output".as_ref(),
        out.as_os_str(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
        "-q".as_ref(),
    ];
    args.extend(extra.iter().map(|e| OsStr::new(*e)));
    distill(&args)
}

#[test]
fn lock_is_written_beside_the_spec_and_is_stable() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, &["alpha", "beta"]);
    lock(&spec, &fx.path("cache")).expect_code(0);
    let text = std::fs::read_to_string(fx.path("locked.lock")).unwrap();
    assert!(text.contains("schema: 1"), "{text}");
    for name in ["alpha", "beta", "libcommon1"] {
        assert!(text.contains(&format!("- name: {name}\n")), "{name} missing:\n{text}");
    }
    assert!(!text.contains("gamma"));
    assert!(text.contains(&fx.repo.deb("alpha").sha256()), "pins the .deb sha256");
    assert!(!text.contains("127.0.0.1"), "no mirror URL in the lock");
    // Locking again gives the same bytes; `lock --check` agrees.
    lock(&spec, &fx.path("cache2")).expect_code(0);
    assert_eq!(std::fs::read_to_string(fx.path("locked.lock")).unwrap(), text);
    lock_check(&spec, &fx.path("cache")).expect_code(0);
}

#[test]
fn locked_build_matches_resolved_build_and_skips_indices() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, &["alpha", "beta"]);
    let free = build(&spec, &fx.path("free"), &fx.path("cache"));
    free.expect_code(0);
    lock(&spec, &fx.path("cache")).expect_code(0);
    fx.server.clear_log();
    let locked = build_locked(&spec, &fx.path("locked-out"), &fx.path("cache-locked"), &[]);
    locked.expect_code(0);
    assert_eq!(locked.last_line(), free.last_line());
    let reqs = fx.server.requests();
    assert!(!reqs.iter().any(|r| r.contains("/dists/")), "a locked build reads no index or InRelease: {reqs:?}");
    assert!(reqs.iter().any(|r| r.contains("alpha_1.0-1")), "{reqs:?}");
}

#[test]
fn stale_lock_fails_with_exit_3() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, &["alpha"]);
    build_locked(&spec, &fx.path("out"), &fx.path("cache"), &[])
        .expect_code(3)
        .stderr_has(&["no lock file", "distill lock"]);
    lock(&spec, &fx.path("cache")).expect_code(0);
    let spec = self::spec(&fx, &["alpha", "gamma"]);
    build_locked(&spec, &fx.path("out"), &fx.path("cache"), &[])
        .expect_code(3)
        .stderr_has(&["is stale", "distill lock"]);
    let check = lock_check(&spec, &fx.path("cache"));
    check.expect_code(3).stderr_has(&["is stale", "changed since it was written", "distill lock"]);
    assert!(!check.stderr.contains("(resolution changed)"), "names the digests, not a placeholder: {}", check.stderr);
    assert!(!fx.path("out").exists(), "nothing written");
}

#[test]
fn vanished_pool_file_names_the_package_and_suggests_a_snapshot() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, &["alpha"]);
    lock(&spec, &fx.path("cache")).expect_code(0);
    let pool = fx.repo.deb("alpha").pool_path();
    fx.server.fail(&pool, 404);
    build_locked(&spec, &fx.path("out"), &fx.path("fresh-cache"), &[]).expect_code(7).stderr_has(&[
        "package alpha 1.0-1",
        "no longer on the mirror",
        "snapshot",
        "url:",
    ]);
}

#[test]
fn offline_locked_build_uses_only_the_cache_and_names_a_missing_blob() {
    let mut fx = Fixture::new(repo());
    let spec = spec(&fx, &["alpha"]);
    lock(&spec, &fx.path("cache")).expect_code(0);
    let online = build_locked(&spec, &fx.path("a"), &fx.path("cache"), &[]);
    online.expect_code(0);
    fx.server.stop();
    let offline = build_locked(&spec, &fx.path("b"), &fx.path("cache"), &["--offline"]);
    offline.expect_code(0);
    assert_eq!(offline.last_line(), online.last_line());
    build_locked(&spec, &fx.path("c"), &fx.path("empty-cache"), &["--offline"])
        .expect_code(7)
        .stderr_has(&["not in the cache", "--offline"]);
}

#[test]
fn digest_does_not_depend_on_package_order() {
    let fx = Fixture::new(repo());
    let orders: [[&str; 3]; 6] = [
        ["alpha", "beta", "gamma"],
        ["alpha", "gamma", "beta"],
        ["beta", "alpha", "gamma"],
        ["beta", "gamma", "alpha"],
        ["gamma", "alpha", "beta"],
        ["gamma", "beta", "alpha"],
    ];
    let mut digests = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let spec = spec(&fx, order);
        let out = build(&spec, &fx.path(&format!("out{i}")), &fx.path("cache"));
        out.expect_code(0);
        digests.push(out.last_line().to_string());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}

#[test]
fn digest_does_not_depend_on_cwd_tz_umask_or_cache() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, &["alpha", "beta"]);
    lock(&spec, &fx.path("cache")).expect_code(0);
    let run = |cwd: &Path, tz: &str, umask: &str, cache: &Path, out: &Path| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_distill"))
            .args([
                "build".as_ref(),
                spec.as_os_str(),
                "--locked".as_ref(),
                "-q".as_ref(),
                "--output".as_ref(),
                out.as_os_str(),
                "--cache-dir".as_ref(),
                cache.as_os_str(),
            ])
            .current_dir(cwd)
            .env("TZ", tz)
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string()
    };
    std::fs::create_dir_all(fx.path("elsewhere/deeper")).unwrap();
    let a = run(fx.dir.path(), "UTC", "022", &fx.path("c1"), &fx.path("o1"));
    let b = run(&fx.path("elsewhere/deeper"), "Pacific/Kiritimati", "077", &fx.path("c2"), &fx.path("o2"));
    assert_eq!(a, b);
    assert_eq!(blob_digests(&fx.path("o1")), blob_digests(&fx.path("o2")));
}

#[test]
fn source_date_epoch_sets_created_and_mtimes() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, &["alpha", "gamma"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distill"))
        .args([
            "build".as_ref(),
            spec.as_os_str(),
            "-q".as_ref(),
            "--output".as_ref(),
            fx.path("o").as_os_str(),
            "--cache-dir".as_ref(),
            fx.path("c").as_os_str(),
        ])
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let image = read_image(&fx.path("o"));
    assert_eq!(image.config["created"], "2001-09-09T01:46:40Z");
    assert!(image.entries.values().all(|e| e.mtime == 1_000_000_000), "every mtime is SOURCE_DATE_EPOCH");
}

fn blob_digests(layout: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    v.sort();
    v
}
