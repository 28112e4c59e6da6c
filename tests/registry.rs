//! `distill push` against a real registry: Debian's `docker-registry` (the
//! CNCF distribution registry) on a loopback port with its own storage,
//! without auth, with htpasswd basic auth, and with token auth from a token
//! server run by the test. Layouts are written by the test; what was pushed
//! is read back with `skopeo inspect` and `skopeo copy --all` into a fresh
//! OCI layout, and every digest compared. A proxy in front of the registry
//! injects failures (5xx, 429, a chunk the registry stored but whose answer
//! was lost) and holds a request so the push can be killed halfway.
//!
//! Skipped (with a message) only with DISTILL_SKIP_E2E=1 or when
//! /usr/bin/docker-registry is missing; scripts/test installs it.

#[path = "common/registry.rs"]
mod registry_common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use registry_common::*;
use serde_json::{json, Value};

fn blob_statuses(doc: &Value) -> Vec<(String, String)> {
    doc["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["digest"].as_str().unwrap().to_string(), b["status"].as_str().unwrap().to_string()))
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Three layers: a shared base and one per platform.
fn two_platform_image(dir: &Path, seed: u64) -> TestImage {
    let base = layer(seed, 1 << 20, GZIP);
    let a = layer(seed + 1, 600 << 10, GZIP);
    let b = layer(seed + 2, 600 << 10, GZIP);
    test_image(dir, &[&base], &[&a], &[&b])
}

#[test]
fn multi_arch_push_round_trips_and_a_second_push_uploads_nothing() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = two_platform_image(&tmp.path().join("img"), 10);
    let target = format!("{}/multi/app:v1", reg.host());

    let first = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--json"]).ok();
    let doc = first.json();
    assert_eq!(doc["digest"], json!(img.index));
    assert_eq!(doc["layout_digest"], json!(img.index));
    assert_eq!(doc["media_type"], json!(OCI_INDEX));
    assert_eq!(doc["platforms"], json!(["linux/amd64", "linux/arm64/v8"]));
    // Two configs and three layers, each once.
    assert_eq!(doc["uploaded"]["count"], json!(5), "{doc:#}");
    assert_eq!(doc["skipped"]["count"], json!(0));
    let statuses: Vec<&str> =
        doc["manifests"].as_array().unwrap().iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pushed", "pushed", "pushed"]);
    // The index is pushed last, under the tag; the manifests by digest.
    assert_eq!(doc["manifests"][2]["reference"], json!("v1"));
    assert_eq!(doc["manifests"][0]["reference"], json!(img.amd64));

    // The registry serves the same bytes: same digest.
    let (raw, digest) = raw_manifest(&target, None);
    assert_eq!(digest, img.index);
    assert_eq!(raw["mediaType"], json!(OCI_INDEX));
    let inspect = skopeo(&["inspect", "--tls-verify=false", &format!("docker://{target}")]);
    let inspect: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(inspect["Digest"], json!(img.index));

    // Copied back whole, every digest is the local one.
    let back = tmp.path().join("back");
    let (top, blobs) = copy_back(&target, None, &back);
    assert_eq!(top, img.index);
    assert_eq!(blobs, sorted(img.blobs.clone()));

    // Again: nothing is uploaded, every blob and manifest is skipped; the
    // digest is the last line.
    let again = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--json"]).ok().json();
    assert_eq!(again["uploaded"]["count"], json!(0), "{again:#}");
    assert_eq!(again["skipped"]["count"], json!(5));
    assert!(again["manifests"].as_array().unwrap().iter().all(|m| m["status"] == "skipped"), "{again:#}");
    let plain = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target]).ok();
    assert_eq!(plain.last_line(), img.index);
    assert!(plain.stderr.contains("0 blob(s) uploaded"), "{}", plain.stderr);
}

#[test]
fn one_platform_is_pushed_as_a_plain_image_manifest() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = two_platform_image(&tmp.path().join("img"), 20);
    let dir = img.dir.to_str().unwrap();

    // --arch picks one platform of the index.
    let arm = format!("{}/single:arm", reg.host());
    let r = distill(tmp.path(), &["push", dir, &arm, "--arch", "arm64", "--json"]).ok().json();
    assert_eq!(r["digest"], json!(img.arm64));
    assert_eq!(r["media_type"], json!(OCI_MANIFEST));
    assert_eq!(r["uploaded"]["count"], json!(3)); // config, base, arm64 layer
    let (raw, digest) = raw_manifest(&arm, None);
    assert_eq!(digest, img.arm64);
    assert_eq!(raw["mediaType"], json!(OCI_MANIFEST));
    let inspect: Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{arm}")]).stdout).unwrap();
    assert_eq!(inspect["Architecture"], json!("arm64"));

    // A tag naming one manifest.
    let amd = format!("{}/single:amd", reg.host());
    let r = distill(tmp.path(), &["push", &format!("{dir}:amd64"), &amd]).ok();
    assert_eq!(r.last_line(), img.amd64);
    assert_eq!(raw_manifest(&amd, None).1, img.amd64);
    let (top, blobs) = copy_back(&amd, None, &tmp.path().join("back"));
    assert_eq!(top, img.amd64);
    assert!(blobs.iter().all(|b| img.blobs.contains(b)));

    // Unknown platform, unknown tag, bad reference: usage errors, nothing sent.
    let r = distill(tmp.path(), &["push", dir, &arm, "--arch", "s390x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("linux/amd64, linux/arm64/v8"), "{}", r.stderr);
    let r = distill(tmp.path(), &["push", &format!("{dir}:nope"), &arm]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no image tagged \"nope\"") && r.stderr.contains("latest, amd64"), "{}", r.stderr);
    for bad in ["single:arm", "127.0.0.1:5/UPPER:x", "127.0.0.1:5/a@sha256:00"] {
        let r = distill(tmp.path(), &["push", dir, bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("REGISTRY/REPOSITORY"), "{}", r.stderr);
    }
}

#[test]
fn chunked_upload_follows_the_registry_range_through_failures() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    let big = layer(30, 2 << 20, GZIP);
    let small = layer(31, 100 << 10, GZIP);
    let w = LayoutWriter::new(&dir);
    let m = w.image("amd64", None, &[&small, &big]);
    w.tags(&[("latest", &m)]);

    // 1st HEAD: 503. 1st monolithic PUT: 500 (not forwarded). 2nd PATCH:
    // the registry stores it but the answer is lost (503). 4th PATCH: 429
    // with Retry-After (not forwarded).
    let hook: Hook = Arc::new(|s: &Seen, _| {
        let _ = s;
        Action::Forward
    });
    let counters = Arc::new(Mutex::new((0usize, 0usize, 0usize)));
    let c2 = counters.clone();
    let hook: Hook = {
        let _ = hook;
        Arc::new(move |s: &Seen, _| {
            let mut c = c2.lock().unwrap();
            match s.method.as_str() {
                "HEAD" => {
                    c.0 += 1;
                    if c.0 == 1 {
                        return Action::Respond(503, vec![]);
                    }
                }
                "PUT" if s.body_len > 0 && s.url.contains("/blobs/uploads/") => {
                    c.1 += 1;
                    if c.1 == 1 {
                        return Action::Respond(500, vec![]);
                    }
                }
                "PATCH" => {
                    c.2 += 1;
                    if c.2 == 2 {
                        return Action::ForwardThenFail(503);
                    }
                    if c.2 == 4 {
                        return Action::Respond(429, vec![("Retry-After".into(), "1".into())]);
                    }
                }
                _ => {}
            }
            Action::Forward
        })
    };
    let proxy = Proxy::start(&reg.host(), hook);
    let target = format!("{}/chunked:v1", proxy.host());
    let r =
        distill(tmp.path(), &["push", dir.to_str().unwrap(), &target, "--chunk-size", "256K", "--jobs", "1", "--json"])
            .ok()
            .json();
    assert_eq!(r["digest"], json!(digest_of(&m)));
    let big_report =
        r["blobs"].as_array().unwrap().iter().find(|b| b["digest"] == json!(big.digest())).unwrap().clone();
    assert_eq!(big_report["status"], json!("uploaded"));
    assert_eq!(big_report["chunked"], json!(true));
    let small_report =
        r["blobs"].as_array().unwrap().iter().find(|b| b["digest"] == json!(small.digest())).unwrap().clone();
    assert_eq!(small_report["chunked"], json!(false));

    let seen = proxy.seen.lock().unwrap();
    // Every PATCH carried a Content-Range matching its length, at most 256 KiB.
    let mut forwarded = 0usize;
    let mut patches = 0;
    for s in seen.iter().filter(|s| s.method == "PATCH") {
        patches += 1;
        let range = &s.headers["content-range"];
        let (a, b) = range.split_once('-').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(b - a + 1, s.body_len, "{range}");
        assert!(s.body_len <= 256 << 10);
        if patches != 4 {
            forwarded += s.body_len;
        }
    }
    assert!(patches >= 9, "{patches} PATCH requests");
    // After the 429 distill asked where the upload stood (GET on the upload
    // URL) and went on from the reported Range: no byte sent twice there.
    // After the lost answer, the status query carries the Location from
    // before that chunk, and distribution cancels such a session (404
    // BLOB_UPLOAD_INVALID), so the blob starts over once: the two chunks of
    // that first session are the only bytes sent twice.
    let gets = seen.iter().filter(|s| s.method == "GET" && s.url.contains("/blobs/uploads/")).count();
    assert!(gets >= 2, "{gets} status queries");
    assert_eq!(forwarded, big.blob.len() + 2 * (256 << 10));
    drop(seen);

    let (top, _) = copy_back(&format!("{}/chunked:v1", reg.host()), None, &tmp.path().join("back"));
    assert_eq!(top, digest_of(&m));
}

#[test]
fn a_push_killed_halfway_is_completed_by_a_rerun() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let small = layer(40, 50 << 10, GZIP);
    let a = layer(41, 1 << 20, GZIP);
    let b = layer(42, 1 << 20, GZIP);
    let img = test_image(&tmp.path().join("img"), &[&small], &[&a], &[&b]);

    // Hold the third PATCH (inside the amd64 layer, after its config and
    // the small layer are complete) and kill distill there.
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let patches = Mutex::new(0usize);
    let hook: Hook = Arc::new(move |s: &Seen, _| {
        if s.method == "PATCH" {
            let mut n = patches.lock().unwrap();
            *n += 1;
            if *n == 3 {
                let _ = tx.lock().unwrap().send(());
                return Action::Hold;
            }
        }
        Action::Forward
    });
    let proxy = Proxy::start(&reg.host(), hook);
    let mut child = distill_cmd(tmp.path())
        .args(["push", img.dir.to_str().unwrap(), &format!("{}/killed:v1", proxy.host())])
        .args(["--chunk-size", "128K", "--jobs", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    rx.recv_timeout(Duration::from_secs(60)).expect("distill reached its third PATCH");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.is_empty(), "a killed push printed a digest: {out}");
    // Nothing is tagged yet.
    let r = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{}/killed:v1", reg.host())])
        .output()
        .unwrap();
    assert!(!r.status.success());

    // The rerun skips what was complete and finishes the rest.
    let target = format!("{}/killed:v1", reg.host());
    let r = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--chunk-size", "128K", "--json"])
        .ok()
        .json();
    assert_eq!(r["digest"], json!(img.index));
    let st = blob_statuses(&r);
    let skipped: BTreeSet<&str> = st.iter().filter(|(_, s)| s == "skipped").map(|(d, _)| d.as_str()).collect();
    assert!(skipped.contains(small.digest().as_str()), "{r:#}");
    assert!(st.iter().any(|(d, s)| *d == a.digest() && s == "uploaded"), "{r:#}");
    assert_eq!(r["uploaded"]["count"].as_u64().unwrap() + r["skipped"]["count"].as_u64().unwrap(), 5);
    let (top, blobs) = copy_back(&target, None, &tmp.path().join("back"));
    assert_eq!(top, img.index);
    assert_eq!(blobs, sorted(img.blobs.clone()));
}

#[test]
fn a_push_killed_at_each_step_is_completed_by_a_rerun() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let small = layer(50, 50 << 10, GZIP);
    let a = layer(51, 1 << 20, GZIP);
    let b = layer(52, 1 << 20, GZIP);
    let img = test_image(&tmp.path().join("img"), &[&small], &[&a], &[&b]);
    // (name, which request to hold): the push is SIGKILLed while the
    // registry holds it, before it is forwarded.
    type Pick = fn(&Seen) -> bool;
    let points: [(&str, Pick, usize); 6] = [
        ("first blob check (HEAD)", |s| s.method == "HEAD" && s.url.contains("/blobs/"), 1),
        ("second upload session (POST)", |s| s.method == "POST", 2),
        ("inside a chunked upload (2nd PATCH)", |s| s.method == "PATCH", 2),
        ("closing the 3rd blob (PUT)", |s| s.method == "PUT" && s.url.contains("/blobs/uploads/"), 3),
        ("first manifest (PUT)", |s| s.method == "PUT" && s.url.contains("/manifests/"), 1),
        ("the tag: image index (PUT)", |s| s.method == "PUT" && s.url.contains("/manifests/v1"), 1),
    ];
    for (i, (name, pick, nth)) in points.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let count = Mutex::new(0usize);
        let hook: Hook = Arc::new(move |s: &Seen, _| {
            if pick(s) {
                let mut n = count.lock().unwrap();
                *n += 1;
                if *n == nth {
                    let _ = tx.lock().unwrap().send(());
                    return Action::Hold;
                }
            }
            Action::Forward
        });
        let proxy = Proxy::start(&reg.host(), hook);
        let repo = format!("steps{i}/app:v1");
        let mut child = distill_cmd(tmp.path())
            .args(["push", img.dir.to_str().unwrap(), &format!("{}/{repo}", proxy.host())])
            .args(["--chunk-size", "256K", "--jobs", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("{name}: the push never got there"));
        child.kill().unwrap(); // SIGKILL
        assert!(!child.wait().unwrap().success(), "{name}");
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(out.is_empty(), "{name}: a killed push printed a digest: {out}");
        let tagged = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{}/{repo}", reg.host())])
            .output()
            .unwrap();
        assert!(!tagged.status.success(), "{name}: the tag exists before the push finished");

        let target = format!("{}/{repo}", reg.host());
        let r = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--chunk-size", "256K", "--json"])
            .ok()
            .json();
        assert_eq!(r["digest"], json!(img.index), "{name}");
        let (top, blobs) = copy_back(&target, None, &tmp.path().join(format!("back{i}")));
        assert_eq!(top, img.index, "{name}");
        assert_eq!(blobs, sorted(img.blobs.clone()), "{name}");
    }
}

#[test]
fn shared_layers_are_mounted_from_another_repository() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let base = layer(50, 800 << 10, GZIP);
    let parent = test_image(&tmp.path().join("parent"), &[&base], &[], &[]);
    let a = layer(51, 300 << 10, GZIP);
    let b = layer(52, 300 << 10, GZIP);
    let child = test_image(&tmp.path().join("child"), &[&base], &[&a], &[&b]);

    distill(tmp.path(), &["push", parent.dir.to_str().unwrap(), &format!("{}/base/cc:1", reg.host())]).ok();
    let target = format!("{}/apps/node:1", reg.host());
    let r = distill(
        tmp.path(),
        &[
            "push",
            child.dir.to_str().unwrap(),
            &target,
            "--mount-from",
            "nowhere/else",
            "--mount-from",
            "base/cc",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(r["digest"], json!(child.index));
    assert_eq!(r["mounted"]["count"], json!(1), "{r:#}");
    let mounted = r["blobs"].as_array().unwrap().iter().find(|b| b["status"] == "mounted").unwrap();
    assert_eq!(mounted["digest"], json!(base.digest()));
    assert_eq!(mounted["from"], json!("base/cc"));
    assert_eq!(mounted["size"], json!(base.blob.len()));
    assert_eq!(r["uploaded"]["count"], json!(4)); // two configs, two own layers
    let (top, blobs) = copy_back(&target, None, &tmp.path().join("back"));
    assert_eq!(top, child.index);
    assert_eq!(blobs, sorted(child.blobs.clone()));
}

#[test]
fn docker_format_rewrites_media_types_and_digests() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = two_platform_image(&tmp.path().join("img"), 60);
    let target = format!("{}/docker/app:v1", reg.host());
    let r =
        distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--format", "docker", "--json"]).ok().json();
    let digest = r["digest"].as_str().unwrap().to_string();
    assert_ne!(digest, img.index);
    assert_eq!(r["layout_digest"], json!(img.index));
    assert_eq!(r["format"], json!("docker"));
    let (raw, got) = raw_manifest(&target, None);
    assert_eq!(got, digest);
    assert_eq!(raw["mediaType"], json!("application/vnd.docker.distribution.manifest.list.v2+json"));
    assert_eq!(raw["manifests"][1]["platform"], json!({"architecture": "arm64", "os": "linux", "variant": "v8"}));
    let child = raw["manifests"][0]["digest"].as_str().unwrap();
    assert_eq!(raw["manifests"][0]["mediaType"], json!("application/vnd.docker.distribution.manifest.v2+json"));
    let (m, md) = raw_manifest(&format!("{}/docker/app@{child}", reg.host()), None);
    assert_eq!(md, child);
    assert_eq!(m["mediaType"], json!("application/vnd.docker.distribution.manifest.v2+json"));
    assert_eq!(m["config"]["mediaType"], json!("application/vnd.docker.container.image.v1+json"));
    for l in m["layers"].as_array().unwrap() {
        assert_eq!(l["mediaType"], json!("application/vnd.docker.image.rootfs.diff.tar.gzip"));
        assert!(img.blobs.contains(&l["digest"].as_str().unwrap().to_string()), "layer blobs keep their digests");
    }
    // The plain output ends with the pushed digest.
    let plain = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--format", "docker"]).ok();
    assert_eq!(plain.last_line(), digest);
    // skopeo reads it back whole; its `dir:` transport keeps the manifest
    // list byte for byte (an OCI layout would convert it).
    let back = tmp.path().join("back");
    skopeo(&[
        "copy",
        "-q",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{target}"),
        &format!("dir:{}", back.display()),
    ]);
    assert_eq!(sha256(&std::fs::read(back.join("manifest.json")).unwrap()), digest);
    for l in m["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        let data = std::fs::read(back.join(d.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(sha256(&data), d);
    }

    // zstd layers have no Docker media type: a usage error before any upload.
    let z = layer(61, 10 << 10, ZSTD);
    let zdir = tmp.path().join("zstd");
    let w = LayoutWriter::new(&zdir);
    let zm = w.image("amd64", None, &[&z]);
    w.tags(&[("latest", &zm)]);
    let r = distill(
        tmp.path(),
        &["push", zdir.to_str().unwrap(), &format!("{}/docker/z:1", reg.host()), "--format", "docker"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("zstd") && r.stderr.contains(&z.digest()), "{}", r.stderr);
    // As OCI it is fine.
    let r = distill(tmp.path(), &["push", zdir.to_str().unwrap(), &format!("{}/docker/z:1", reg.host())]).ok();
    assert_eq!(r.last_line(), digest_of(&zm));
}

#[test]
fn basic_auth_from_flags_environment_auth_files_and_credential_helpers() {
    if skip() {
        return;
    }
    let (user, password) = ("ci-bot", "s3cret-PW-42");
    let reg = Registry::start(Auth::Basic { user: user.into(), password: password.into() });
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let img = two_platform_image(&tmp.path().join("img"), 70);
    let dir = img.dir.to_str().unwrap();
    let target = format!("{}/private/app:v1", reg.host());
    let no_secret = |r: &Run| {
        assert!(
            !r.stderr.contains(password) && !r.stdout.contains(password),
            "password printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        assert!(!r.stderr.contains("Basic "), "{}", r.stderr);
    };

    // No credentials anywhere.
    let r = distill(home, &["push", dir, &target]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains(&reg.host()) && r.stderr.contains("requires credentials"), "{}", r.stderr);

    // A wrong password: exit 7, the registry named, the password not.
    let r = distill_stdin(home, &["push", dir, &target, "--username", user, "--password-stdin"], "wrong-pw-123\n");
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains(&reg.host()) && r.stderr.contains("refused") && r.stderr.contains(user), "{}", r.stderr);
    assert!(!r.stderr.contains("wrong-pw-123"), "{}", r.stderr);

    // Flags.
    let r = distill_stdin(
        home,
        &["push", dir, &target, "--username", user, "--password-stdin", "-v"],
        &format!("{password}\n"),
    )
    .ok();
    no_secret(&r);
    assert_eq!(r.last_line(), img.index);
    let creds = format!("{user}:{password}");
    assert_eq!(raw_manifest(&target, Some(&creds)).1, img.index);
    let (top, blobs) = copy_back(&target, Some(&creds), &tmp.path().join("back"));
    assert_eq!(top, img.index);
    assert_eq!(blobs, sorted(img.blobs.clone()));

    // Environment.
    let out = distill_cmd(home)
        .args(["push", dir, &target, "-v", "--json"])
        .env("DISTILL_REGISTRY_USERNAME", user)
        .env("DISTILL_REGISTRY_PASSWORD", password)
        .output()
        .unwrap();
    let r = Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
    .ok();
    no_secret(&r);
    assert_eq!(r.json()["skipped"]["count"], json!(5));
    assert!(r.stderr.contains("DISTILL_REGISTRY_USERNAME"), "{}", r.stderr);

    // $DOCKER_CONFIG/config.json with a base64 `auth`.
    let docker_dir = tmp.path().join("docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        docker_dir.join("config.json"),
        format!(r#"{{"auths": {{"http://{}": {{"auth": "{b64}"}}}}}}"#, reg.host()),
    )
    .unwrap();
    let out = distill_cmd(home).args(["push", dir, &target, "-v"]).env("DOCKER_CONFIG", &docker_dir).output().unwrap();
    let r = Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
    .ok();
    no_secret(&r);
    assert!(!r.stderr.contains(&b64));
    assert!(r.stderr.contains("config.json"), "{}", r.stderr);

    // ~/.docker/config.json naming a credential helper for the registry.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-distilltest");
    let seen = tmp.path().join("helper-stdin");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat > {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$(cat {})\"\n",
            seen.display(),
            seen.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    std::fs::write(
        home.join(".docker/config.json"),
        format!(r#"{{"credHelpers": {{"{}": "distilltest"}}}}"#, reg.host()),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = distill_cmd(home).args(["push", dir, &target, "-v"]).env("PATH", &path).output().unwrap();
    let r = Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
    .ok();
    no_secret(&r);
    assert_eq!(r.last_line(), img.index);
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), reg.host(), "the helper gets the registry host on stdin");
    assert!(r.stderr.contains("docker-credential-distilltest"), "{}", r.stderr);
    std::fs::remove_file(home.join(".docker/config.json")).unwrap();

    // $REGISTRY_AUTH_FILE (podman's format) with a wrong password: the
    // error names the registry and where the credentials came from.
    let auth_file = tmp.path().join("auth.json");
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{user}:nope-nope"));
    std::fs::write(&auth_file, format!(r#"{{"auths": {{"{}/private": {{"auth": "{bad}"}}}}}}"#, reg.host())).unwrap();
    let out = distill_cmd(home).args(["push", dir, &target]).env("REGISTRY_AUTH_FILE", &auth_file).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.json") && err.contains(&reg.host()) && !err.contains("nope-nope"), "{err}");
}

// ---------------------------------------------------------------------------
// Token auth
// ---------------------------------------------------------------------------

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A token server: `GET /token?service=…&scope=…` with Basic credentials
/// answers a JWT (RS256, signed with `openssl dgst`, certificate in `x5c`)
/// granting exactly the scopes asked for. Records each request's scopes.
struct TokenServer {
    port: u16,
    scopes: Arc<Mutex<Vec<Vec<String>>>>,
    tokens: Arc<Mutex<Vec<String>>>,
    server: Arc<tiny_http::Server>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn token_server(key: &Path, cert_pem: &str, user: &str, password: &str, service: &str, issuer: &str) -> TokenServer {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let scopes: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
    let x5c: String = cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    let (srv, sc, tk, key, service, issuer, user) = (
        server.clone(),
        scopes.clone(),
        tokens.clone(),
        key.to_path_buf(),
        service.to_string(),
        issuer.to_string(),
        user.to_string(),
    );
    std::thread::spawn(move || {
        for req in srv.incoming_requests() {
            let auth = req.headers().iter().find(|h| h.field.equiv("Authorization")).map(|h| h.value.to_string());
            if auth.as_deref() != Some(expected.as_str()) {
                let _ = req.respond(
                    tiny_http::Response::from_string("{\"details\":\"bad credentials\"}").with_status_code(401),
                );
                continue;
            }
            let url = reqwest::Url::parse(&format!("http://x{}", req.url())).unwrap();
            let mut asked = Vec::new();
            let mut svc = String::new();
            for (k, v) in url.query_pairs() {
                match k.as_ref() {
                    "scope" => asked.extend(v.split(' ').map(String::from)),
                    "service" => svc = v.to_string(),
                    _ => {}
                }
            }
            assert_eq!(svc, service);
            sc.lock().unwrap().push(asked.clone());
            let access: Vec<Value> = asked
                .iter()
                .filter_map(|s| {
                    let (typ, rest) = s.split_once(':')?;
                    let (name, actions) = rest.rsplit_once(':')?;
                    Some(json!({"type": typ, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                })
                .collect();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
            let claims = json!({
                "iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now - 10,
                "jti": format!("{now}-{}", tk.lock().unwrap().len()), "access": access,
            });
            let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
            let mut child = std::process::Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let sig = child.wait_with_output().unwrap().stdout;
            let token = format!("{input}.{}", b64url(&sig));
            tk.lock().unwrap().push(token.clone());
            let body = json!({"token": token, "access_token": token, "expires_in": 300}).to_string();
            let _ = req.respond(tiny_http::Response::from_string(body));
        }
    });
    TokenServer { port, scopes, tokens, server }
}

#[test]
fn bearer_tokens_are_scoped_per_repository_and_mount_source() {
    if skip() {
        return;
    }
    need_tool("openssl");
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path(), "distill-test-token");
    let (user, password, service, issuer) = ("robot", "t0ken-pass-99", "distill-test-registry", "distill-test-issuer");
    let ts = token_server(&key, &std::fs::read_to_string(&cert).unwrap(), user, password, service, issuer);
    let reg = Registry::start(Auth::Token {
        realm: format!("http://127.0.0.1:{}/token", ts.port),
        service: service.into(),
        issuer: issuer.into(),
        cert: cert.clone(),
    });
    let base = layer(80, 500 << 10, GZIP);
    let parent = test_image(&tmp.path().join("parent"), &[&base], &[], &[]);
    let a = layer(81, 200 << 10, GZIP);
    let b = layer(82, 200 << 10, GZIP);
    let child = test_image(&tmp.path().join("child"), &[&base], &[&a], &[&b]);
    let home = tmp.path();
    let env_push = |args: &[&str]| {
        let out = distill_cmd(home)
            .args(args)
            .env("DISTILL_REGISTRY_USERNAME", user)
            .env("DISTILL_REGISTRY_PASSWORD", password)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    };

    // Anonymous: the token server refuses; named in the error.
    let r = distill(home, &["push", parent.dir.to_str().unwrap(), &format!("{}/team/base:1", reg.host())]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{}/token", ts.port)) && r.stderr.contains("anonymous"),
        "{}",
        r.stderr
    );

    let r = env_push(&["push", parent.dir.to_str().unwrap(), &format!("{}/team/base:1", reg.host()), "-v"]).ok();
    assert_eq!(r.last_line(), parent.index);
    assert!(ts.scopes.lock().unwrap().iter().any(|s| s == &vec!["repository:team/base:pull,push".to_string()]));

    let target = format!("{}/team/app:1", reg.host());
    let r = env_push(&["push", child.dir.to_str().unwrap(), &target, "--mount-from", "team/base", "--json", "-v"]).ok();
    let doc = r.json();
    assert_eq!(doc["digest"], json!(child.index));
    assert_eq!(doc["mounted"]["count"], json!(1), "{doc:#}");
    let asked = ts.scopes.lock().unwrap().clone();
    assert!(asked.contains(&vec!["repository:team/app:pull,push".to_string()]), "{asked:?}");
    assert!(
        asked.contains(&vec!["repository:team/app:pull,push".to_string(), "repository:team/base:pull".to_string()]),
        "the mount asks for pull on its source: {asked:?}"
    );
    // One token per scope set: not one per request.
    assert!(asked.len() <= 4, "{asked:?}");
    for t in ts.tokens.lock().unwrap().iter() {
        assert!(!r.stderr.contains(t.as_str()) && !r.stdout.contains(t.as_str()), "a token was printed");
    }
    assert!(!r.stderr.contains(password));
    let creds = format!("{user}:{password}");
    let (top, blobs) = copy_back(&target, Some(&creds), &tmp.path().join("back"));
    assert_eq!(top, child.index);
    assert_eq!(blobs, sorted(child.blobs.clone()));

    // A wrong password is refused at the token server: exit 7, no password.
    let out = distill_cmd(home)
        .args(["push", child.dir.to_str().unwrap(), &target])
        .env("DISTILL_REGISTRY_USERNAME", user)
        .env("DISTILL_REGISTRY_PASSWORD", "not-the-pass")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("token server") && err.contains(user) && !err.contains("not-the-pass"), "{err}");
}

#[test]
fn https_with_a_certificate_that_does_not_verify_needs_insecure() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path(), "distill-test-registry");
    let reg = Registry::start_with(Auth::None, Some((&cert, &key)));
    let img = two_platform_image(&tmp.path().join("img"), 100);
    let target = format!("{}/tls/app:1", reg.host());

    // Loopback allows plain HTTP, but this registry speaks HTTPS only, with a
    // certificate nobody signed: both failures are reported, with the way out.
    let r = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("https://{}/v2/", reg.host())) && r.stderr.contains("--insecure"),
        "{}",
        r.stderr
    );

    let r = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--insecure", "--json"]).ok().json();
    assert_eq!(r["registry"], json!(format!("https://{}", reg.host())));
    assert_eq!(r["digest"], json!(img.index));
    let (top, blobs) = copy_back(&target, None, &tmp.path().join("back"));
    assert_eq!(top, img.index);
    assert_eq!(blobs, sorted(img.blobs.clone()));
}

#[test]
fn a_registry_that_caps_request_size_gets_smaller_chunks() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    let big = layer(110, 1 << 20, GZIP);
    let w = LayoutWriter::new(&dir);
    let m = w.image("amd64", None, &[&big]);
    w.tags(&[("latest", &m)]);
    // Like a proxy with a 300 KiB body limit: 413 for anything larger.
    let hook: Hook =
        Arc::new(|s: &Seen, _| if s.body_len > 300 << 10 { Action::Respond(413, vec![]) } else { Action::Forward });
    let proxy = Proxy::start(&reg.host(), hook);
    let r = distill(tmp.path(), &["push", dir.to_str().unwrap(), &format!("{}/capped:1", proxy.host()), "--json"])
        .ok()
        .json();
    assert_eq!(r["digest"], json!(digest_of(&m)));
    let seen = proxy.seen.lock().unwrap();
    let forwarded: usize =
        seen.iter().filter(|s| s.method == "PATCH" && s.body_len <= 300 << 10).map(|s| s.body_len).sum();
    assert_eq!(forwarded, big.blob.len(), "every byte once, in chunks under the cap");
    drop(seen);
    assert_eq!(raw_manifest(&format!("{}/capped:1", reg.host()), None).1, digest_of(&m));
}

/// The layout's `.sbom/<arch>.spdx.json` files are attached to the pushed
/// platform manifests as OCI 1.1 artifacts; distribution 2.8 has no
/// referrers API, so they are listed in the referrers tag schema's index
/// (`sha256-<subject hex>`), once, however often the image is pushed.
#[test]
fn sboms_are_attached_as_artifacts_through_the_referrers_tag_schema() {
    if skip() {
        return;
    }
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = two_platform_image(&tmp.path().join("img"), 30);
    let sbom_dir = tmp.path().join("img.sbom");
    std::fs::create_dir_all(&sbom_dir).unwrap();
    let mut sboms = Vec::new();
    for (arch, subject) in [("amd64", &img.amd64), ("arm64", &img.arm64)] {
        let body = format!(
            "{{\"spdxVersion\": \"SPDX-2.3\", \"name\": \"img-{arch}\", \"SPDXID\": \"SPDXRef-DOCUMENT\", \"packages\": []}}\n"
        );
        std::fs::write(sbom_dir.join(format!("{arch}.spdx.json")), &body).unwrap();
        sboms.push((arch, subject.clone(), body.into_bytes()));
    }
    let target = format!("{}/sbom/app:v1", reg.host());
    let http = reqwest::blocking::Client::new();

    let check = |doc: &Value| {
        let artifacts = doc["artifacts"].as_array().unwrap();
        assert_eq!(artifacts.len(), 2, "{doc:#}");
        for (arch, subject, body) in &sboms {
            let hex = subject.trim_start_matches("sha256:");
            let a = artifacts.iter().find(|a| a["subject"] == json!(subject)).unwrap_or_else(|| panic!("{doc:#}"));
            assert_eq!(a["artifact_type"], json!("application/spdx+json"));
            assert_eq!(a["method"], json!("tag-schema"));
            assert_eq!(a["tag"], json!(format!("sha256-{hex}")));
            // The fallback index lists the artifact, once.
            let (index, _) = raw_manifest(&format!("{}/sbom/app:sha256-{hex}", reg.host()), None);
            let entries = index["manifests"].as_array().unwrap();
            assert_eq!(entries.len(), 1, "{arch}: {index:#}");
            assert_eq!(entries[0]["artifactType"], json!("application/spdx+json"));
            assert_eq!(entries[0]["digest"], a["digest"]);
            assert_eq!(entries[0]["annotations"]["org.opencontainers.image.created"], json!("2024-01-01T00:00:00Z"));
            // The artifact manifest refers to the platform manifest; its
            // layer is the SBOM file's bytes.
            let at = format!("{}/sbom/app@{}", reg.host(), a["digest"].as_str().unwrap());
            let (m, digest) = raw_manifest(&at, None);
            assert_eq!(json!(digest), a["digest"]);
            assert_eq!(m["artifactType"], json!("application/spdx+json"));
            assert_eq!(m["config"]["mediaType"], json!("application/vnd.oci.empty.v1+json"));
            assert_eq!(m["subject"]["digest"], json!(subject));
            assert_eq!(m["subject"]["mediaType"], json!(OCI_MANIFEST));
            let layer = m["layers"][0]["digest"].as_str().unwrap();
            assert_eq!(m["layers"][0]["mediaType"], json!("application/spdx+json"));
            let url = format!("http://{}/v2/sbom/app/blobs/{layer}", reg.host());
            let got = http.get(&url).send().unwrap();
            assert!(got.status().is_success(), "GET {url}: {}", got.status());
            assert_eq!(got.bytes().unwrap().to_vec(), *body, "{arch}");
            let config = format!("http://{}/v2/sbom/app/blobs/{}", reg.host(), m["config"]["digest"].as_str().unwrap());
            assert_eq!(http.get(&config).send().unwrap().bytes().unwrap().to_vec(), b"{}".to_vec());
        }
    };

    let first = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--json"]).ok();
    let doc = first.json();
    assert_eq!(doc["digest"], json!(img.index));
    assert!(doc["artifacts"].as_array().unwrap().iter().all(|a| a["index_updated"] == json!(true)), "{doc:#}");
    check(&doc);
    assert_eq!(first.stderr.matches("attached application/spdx+json").count(), 2, "{}", first.stderr);

    // Again: the same artifacts (same digests), no duplicate entry.
    let again = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--json"]).ok().json();
    check(&again);
    assert!(again["artifacts"].as_array().unwrap().iter().all(|a| a["index_updated"] == json!(false)), "{again:#}");
    let digests =
        |d: &Value| sorted(d["artifacts"].as_array().unwrap().iter().map(|a| a["digest"].to_string()).collect());
    assert_eq!(digests(&doc), digests(&again));

    // --no-sbom attaches nothing.
    let none = distill(tmp.path(), &["push", img.dir.to_str().unwrap(), &target, "--json", "--no-sbom"]).ok().json();
    assert_eq!(none["artifacts"], json!([]));
}
