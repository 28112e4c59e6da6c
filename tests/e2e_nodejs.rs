//! End to end against the real Debian archive: build specs/nodejs.yaml,
//! unpack the layout with umoci, and run node inside it with chroot.
//!
//! Needs root, umoci, skopeo and a reachable mirror (found the way distill
//! finds it: spec `url`, `DISTILL_MIRROR`, or the host's apt sources). The
//! README's test command installs the tools. Set `DISTILL_SKIP_E2E=1` to
//! skip on a machine without them; otherwise a missing tool fails the test.

mod real;

use real::{cache_dir, project, skip};
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn blob(layout: &Path, digest: &str) -> serde_json::Value {
    read_json(&layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:")))
}

#[test]
fn nodejs_image_runs_node_in_chroot() {
    if skip() {
        eprintln!("DISTILL_SKIP_E2E=1: skipped");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("nodejs");
    let (ok, stdout, stderr) = run(Command::new(env!("CARGO_BIN_EXE_distill"))
        .current_dir(project())
        .args(["build", "specs/nodejs.yaml", "--locked", "--output"])
        .arg(&layout)
        .arg("--cache-dir")
        .arg(cache_dir()));
    assert!(ok, "build failed:\n{stderr}");
    let digest = stdout.lines().last().unwrap_or_default().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "last stdout line is not a digest: {stdout:?}");

    // The layout: index.json → image index (the printed digest) → manifest → config.
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest");
    let image_index = blob(&layout, &digest);
    let manifest = blob(&layout, image_index["manifests"][0]["digest"].as_str().unwrap());
    let config = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/bin/node");

    // The layout holds several tags (latest, nonroot, debug, debug-nonroot), so
    // skopeo needs the tag.
    let (ok, out, err) = run(Command::new("skopeo").arg("inspect").arg(format!("oci:{}:latest", layout.display())));
    assert!(ok, "skopeo inspect failed: {err}");
    assert!(out.contains("\"Architecture\": \"amd64\""), "{out}");

    // The layout holds amd64 and arm64: take the amd64 image, then unpack it.
    let single = work.path().join("amd64");
    let (ok, _, err) = run(Command::new("skopeo")
        .args(["copy", "-q", "--override-arch", "amd64"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("oci:{}:latest", single.display())));
    assert!(ok, "skopeo copy failed: {err}");
    let bundle = work.path().join("bundle");
    let (ok, _, err) =
        run(Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:latest", single.display())).arg(&bundle));
    assert!(ok, "umoci unpack failed: {err}");
    let rootfs = bundle.join("rootfs");

    // No shell anywhere in the image.
    let mut shells = Vec::new();
    let mut stack = vec![rootfs.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            if ["sh", "bash", "dash", "busybox"].contains(&name.as_str()) {
                shells.push(e.path());
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(shells.is_empty(), "shells found: {shells:?}");

    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("nonroot:x:65532:65532:")), "{passwd}");

    // Run node with exactly the image's environment, plus NODE_EXTRA_CA_CERTS
    // so node itself loads the bundle and would warn if it could not.
    let env: Vec<(String, String)> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let script = r#"
        const https = require('https'); const tls = require('tls'); const fs = require('fs');
        if (typeof https.request !== 'function') throw new Error('https');
        if (tls.rootCertificates.length < 100) throw new Error('roots ' + tls.rootCertificates.length);
        const pem = fs.readFileSync(process.env.SSL_CERT_FILE, 'utf8');
        const n = (pem.match(/BEGIN CERTIFICATE/g) || []).length;
        if (n < 100) throw new Error('bundle ' + n);
        tls.createSecureContext({ ca: pem });
        const f = new Intl.DateTimeFormat('en', { timeZone: 'Europe/Paris', timeZoneName: 'short' });
        const s = f.format(new Date(Date.UTC(2024, 0, 1, 12)));
        if (!/GMT\+1|CET/.test(s)) throw new Error('tz ' + s);
        const pw = fs.readFileSync('/etc/passwd', 'utf8');
        if (!/^nonroot:x:65532:/m.test(pw)) throw new Error('passwd');
        console.log('ok', tls.rootCertificates.length, n, s);
    "#;
    let (ok, out, err) = run(Command::new("chroot")
        .arg(&rootfs)
        .args(["/usr/bin/node", "-e", script])
        .env_clear()
        .envs(env)
        .env("NODE_EXTRA_CA_CERTS", "/etc/ssl/certs/ca-certificates.crt"));
    assert!(ok, "node failed in the image:\nstdout: {out}\nstderr: {err}");
    assert!(out.starts_with("ok "), "{out}");
    assert!(err.trim().is_empty(), "node printed warnings: {err}");
}

/// Two builds of specs/nodejs.yaml from its lock: as root and as `nobody`,
/// with different umask, TZ, working directory and cache directory. Every
/// blob (index, manifest, config, layer) must be bit-identical.
#[test]
fn nodejs_build_is_reproducible_across_users_and_environments() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // A world-readable copy of specs/ and keys/ in another directory, so the
    // second build also runs from a different working directory.
    let copy = work.path().join("checkout");
    for dir in ["specs", "keys"] {
        std::fs::create_dir_all(copy.join(dir)).unwrap();
        for e in std::fs::read_dir(project().join(dir)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), copy.join(dir).join(e.file_name())).unwrap();
        }
    }
    let scratch = work.path().join("nobody");
    std::fs::create_dir_all(&scratch).unwrap();
    let chmod = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(work.path(), 0o755);
    chmod(&scratch, 0o777);
    let bin = env!("CARGO_BIN_EXE_distill");

    let first = work.path().join("root-out");
    let (ok, out1, err) = run(Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(bin)
        .args(["build", "specs/nodejs.yaml", "--locked", "-q", "--output"])
        .arg(&first)
        .arg("--cache-dir")
        .arg(cache_dir())
        .current_dir(project())
        .env("TZ", "UTC")
        .env_remove("SOURCE_DATE_EPOCH"));
    assert!(ok, "root build failed: {err}");

    let second = scratch.join("out");
    let (ok, out2, err) = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", "umask 077; exec \"$0\" \"$@\""])
        .arg(bin)
        .args(["build", "nodejs.yaml", "--locked", "-q", "--output"])
        .arg(&second)
        .arg("--cache-dir")
        .arg(scratch.join("cache"))
        .current_dir(copy.join("specs"))
        .env("TZ", "Asia/Kathmandu")
        .env("HOME", &scratch)
        .env_remove("SOURCE_DATE_EPOCH"));
    assert!(ok, "build as nobody failed: {err}");
    assert_eq!(out1.lines().last(), out2.lines().last(), "image index digests differ");
    let blobs = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        v.sort();
        v
    };
    assert_eq!(blobs(&first), blobs(&second), "blob sets differ");
    assert_eq!(std::fs::read(first.join("index.json")).unwrap(), std::fs::read(second.join("index.json")).unwrap());
    eprintln!("reproducible digest: {}", out1.lines().last().unwrap_or_default());
}
