//! `distill export --docker-archive`: layouts written by the test, exported
//! and read back by skopeo's `docker-archive:` transport (containers/image,
//! the reader of `podman load`); the config digest and diff_ids must match
//! the layout's. Needs skopeo (scripts/test installs it); skipped only with
//! DISTILL_SKIP_E2E=1.

#[path = "common/registry.rs"]
mod registry_common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use registry_common::*;
use serde_json::{json, Value};

fn skip_e2e() -> bool {
    if std::env::var("DISTILL_SKIP_E2E").is_ok_and(|v| v == "1") {
        eprintln!("skipping: DISTILL_SKIP_E2E=1");
        return true;
    }
    false
}

/// Entries of a tar: name → bytes.
fn entries(file: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(file).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn config_of(layout: &Path, manifest_digest: &str) -> (String, Value) {
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
    let m: Value = serde_json::from_slice(&blob(manifest_digest)).unwrap();
    let cd = m["config"]["digest"].as_str().unwrap().to_string();
    let c: Value = serde_json::from_slice(&blob(&cd)).unwrap();
    (cd, c)
}

#[test]
fn docker_archive_is_read_back_by_skopeo_with_the_same_config_and_diff_ids() {
    if skip_e2e() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = layer(90, 300 << 10, GZIP);
    let a = layer(91, 100 << 10, GZIP);
    let b = layer(92, 100 << 10, GZIP);
    // The arm64 image lists its base layer twice (a legal, if odd, manifest).
    let dir = tmp.path().join("nodejs");
    let w = LayoutWriter::new(&dir);
    let ma = w.image("amd64", None, &[&base, &a]);
    let mb = w.image("arm64", Some("v8"), &[&base, &b, &base]);
    let idx = w.index(&[ma.clone(), mb.clone()]);
    w.tags(&[("latest", &idx)]);

    let file = tmp.path().join("out/arm.tar");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let r = distill(
        tmp.path(),
        &["export", dir.to_str().unwrap(), "--docker-archive", file.to_str().unwrap(), "--arch", "arm64", "--json"],
    )
    .ok();
    let doc = r.json();
    let (config_digest, config) = config_of(&dir, &digest_of(&mb));
    assert_eq!(doc["config"], json!(config_digest));
    assert_eq!(doc["platform"], json!("linux/arm64/v8"));
    assert_eq!(doc["repo_tag"], json!("nodejs:latest"));
    assert_eq!(doc["manifest"], json!(digest_of(&mb)));

    // The archive: manifest.json, the config, each layer once.
    let ents = entries(&file);
    let names: Vec<&str> = ents.iter().map(|(n, _)| n.as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "duplicate paths: {names:?}");
    assert_eq!(names.len(), 4, "{names:?}");
    let manifest: Value = serde_json::from_slice(&ents.iter().find(|(n, _)| n == "manifest.json").unwrap().1).unwrap();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    assert_eq!(
        manifest,
        json!([{
            "Config": format!("{}.json", hex(&config_digest)),
            "RepoTags": ["nodejs:latest"],
            "Layers": [format!("{}.tar.gz", hex(&base.digest())), format!("{}.tar.gz", hex(&b.digest())), format!("{}.tar.gz", hex(&base.digest()))],
        }])
    );
    for (name, data) in &ents {
        if name != "manifest.json" {
            assert_eq!(hex(&sha256(data)), name.split('.').next().unwrap(), "{name} is its blob");
        }
    }
    // No temporary file left beside it.
    assert_eq!(std::fs::read_dir(file.parent().unwrap()).unwrap().count(), 1);

    // skopeo (containers/image: podman load's reader) takes it.
    let inspect: Value =
        serde_json::from_str(&skopeo(&["inspect", &format!("docker-archive:{}", file.display())]).stdout).unwrap();
    assert_eq!(inspect["Architecture"], json!("arm64"));
    // The config skopeo reads is ours byte for byte: the same image ID.
    let raw_config = skopeo(&["inspect", "--config", "--raw", &format!("docker-archive:{}", file.display())]).stdout;
    assert_eq!(sha256(raw_config.as_bytes()), config_digest);
    // Copied into an OCI layout (skopeo converts the Docker manifest, and
    // re-serialises the config: same content, keys in another order), the
    // layers decompress to the config's diff_ids (c/image checks them).
    let back = tmp.path().join("back");
    skopeo(&["copy", "-q", &format!("docker-archive:{}", file.display()), &format!("oci:{}:t", back.display())]);
    let index: Value = serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    let (_, back_cfg) = config_of(&back, index["manifests"][0]["digest"].as_str().unwrap());
    assert_eq!(back_cfg, config);
    assert_eq!(back_cfg["rootfs"]["diff_ids"], json!([base.diff_id, b.diff_id, base.diff_id]));
    // Its `dir:` transport keeps the config blob as it is.
    let back_dir = tmp.path().join("back-dir");
    skopeo(&["copy", "-q", &format!("docker-archive:{}", file.display()), &format!("dir:{}", back_dir.display())]);
    assert_eq!(sha256(&std::fs::read(back_dir.join(hex(&config_digest))).unwrap()), config_digest);

    // Exporting again replaces the file; --tag names the image.
    let r = distill(
        tmp.path(),
        &[
            "export",
            dir.to_str().unwrap(),
            "--docker-archive",
            file.to_str().unwrap(),
            "--arch",
            "linux/amd64",
            "--tag",
            "base/node:18",
        ],
    )
    .ok();
    let (amd_config, _) = config_of(&dir, &digest_of(&ma));
    assert_eq!(r.last_line(), amd_config);
    let inspect: Value =
        serde_json::from_str(&skopeo(&["inspect", &format!("docker-archive:{}", file.display())]).stdout).unwrap();
    assert_eq!(inspect["Architecture"], json!("amd64"));
    let ents = entries(&file);
    let manifest: Value = serde_json::from_slice(&ents.iter().find(|(n, _)| n == "manifest.json").unwrap().1).unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!(["base/node:18"]));
    // skopeo finds the image by that name too.
    skopeo(&["inspect", &format!("docker-archive:{}:base/node:18", file.display())]);
}

#[test]
fn export_chooses_the_platform_or_explains_why_it_cannot() {
    if skip_e2e() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = layer(95, 10 << 10, GZIP);
    let dir = tmp.path().join("odd");
    let w = LayoutWriter::new(&dir);
    let m1 = w.image("s390x", None, &[&l]);
    let m2 = w.image("riscv64", None, &[&l]);
    let m3 = w.image(
        match std::env::consts::ARCH {
            "aarch64" => "arm64",
            _ => "amd64",
        },
        None,
        &[&l],
    );
    let two = w.index(&[m1.clone(), m2.clone()]);
    let one = w.index(std::slice::from_ref(&m1));
    let host = w.index(&[m1.clone(), m3.clone()]);
    w.tags(&[("latest", &two), ("one", &one), ("host", &host), ("manifest", &m2)]);
    let file = tmp.path().join("x.tar");
    let f = file.to_str().unwrap();
    let d = dir.to_str().unwrap();

    // Neither platform is this machine's: exit 2, listing them.
    let r = distill(tmp.path(), &["export", d, "--docker-archive", f]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("linux/s390x, linux/riscv64") && r.stderr.contains("--arch"), "{}", r.stderr);
    assert!(!file.exists());
    // The only platform of an index, a plain manifest, the host's platform.
    for (tag, want) in [("one", &m1), ("manifest", &m2), ("host", &m3)] {
        let r = distill(tmp.path(), &["export", &format!("{d}:{tag}"), "--docker-archive", f, "--json"]).ok();
        assert_eq!(r.json()["manifest"], json!(digest_of(want)), "{tag}");
        assert_eq!(r.json()["repo_tag"], json!(format!("odd:{tag}")));
    }
    // A name docker cannot take.
    let r = distill(tmp.path(), &["export", d, "--docker-archive", f, "--arch", "s390x", "--tag", "Bad/Name"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--tag"), "{}", r.stderr);
    // A corrupt layer blob is caught while copying; the old file stays.
    let before = std::fs::read(&file).unwrap();
    let blob = dir.join("blobs/sha256").join(l.digest().trim_start_matches("sha256:"));
    let mut data = std::fs::read(&blob).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&blob, &data).unwrap();
    let r = distill(tmp.path(), &["export", d, "--docker-archive", f, "--arch", "s390x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&l.digest()) && r.stderr.contains("mismatch"), "{}", r.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".distill"))
            .count(),
        0
    );
}
