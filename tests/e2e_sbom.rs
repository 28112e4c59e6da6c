//! Scanners' view of real images: specs/python3.yaml and specs/java17.yaml
//! built from their locks (`--arch amd64 --sbom`) on the real archive,
//! their layers merged and checked against the dpkg database and the SBOM:
//!
//! - every regular file belongs to exactly one package's
//!   `status.d/<pkg>.md5sums` or `Conffiles:`, or is a generated file
//!   (`distill::tree::generate::GENERATED_FILES`, `status.d` itself);
//! - every md5sum and conffile sum matches the file;
//! - `dpkg-query --admindir` on a `status` assembled from `status.d` lists
//!   the lock's packages;
//! - the SBOM lists the lock's packages and every regular file, and passes
//!   `pyspdxtools` when it is installed (scripts/test installs it).
//!
//! `DISTILL_SKIP_E2E=1` skips; otherwise a missing tool or mirror fails.

mod common;
mod real;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use common::{md5_hex, read_platform, sha256_hex, LayerEntry};
use real::{project, skip};

/// Builds are serialised: they share the cache and two cores.
static BUILD: Mutex<()> = Mutex::new(());

/// Build specs/<name>.yaml; returns the layout and the paths the
/// maintainer scripts made (`build --json`), which are the image's own files.
fn build(name: &str) -> (PathBuf, BTreeSet<String>) {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let out = project().join("target/e2e-sbom").join(name);
    let run = Command::new(env!("CARGO_BIN_EXE_distill"))
        .current_dir(project())
        .args([
            "build",
            &format!("specs/{name}.yaml"),
            "--locked",
            "--arch",
            "amd64",
            "--sbom",
            "-q",
            "--json",
            "--output",
        ])
        .arg(&out)
        .arg("--cache-dir")
        .arg(real::cache_dir())
        .output()
        .expect("run distill");
    assert!(run.status.success(), "build {name}:\n{}", String::from_utf8_lossy(&run.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).expect("build --json");
    let made = doc["architectures"][0]["maintainer_scripts"]["made"]
        .as_array()
        .expect("maintainer_scripts.made")
        .iter()
        .map(|p| p.as_str().unwrap_or_default().to_string())
        .collect();
    (out, made)
}

/// Follow symlinks of `path`'s parents (and of `path` itself when
/// `follow_last`) in a merged filesystem.
fn resolve(fs: &BTreeMap<String, LayerEntry>, path: &str, follow_last: bool) -> String {
    let mut comps: Vec<String> = path.split('/').filter(|c| !c.is_empty()).map(String::from).collect();
    let mut i = 0;
    let mut hops = 0;
    while i < comps.len() && hops < 40 {
        let prefix = format!("/{}", comps[..=i].join("/"));
        let last = i + 1 == comps.len();
        match fs.get(&prefix).and_then(|e| e.desc.strip_prefix("symlink -> ")) {
            Some(target) if !last || follow_last => {
                hops += 1;
                let mut base: Vec<String> = if target.starts_with('/') { Vec::new() } else { comps[..i].to_vec() };
                for t in target.split('/').filter(|c| !c.is_empty() && *c != ".") {
                    if t == ".." {
                        base.pop();
                    } else {
                        base.push(t.into());
                    }
                }
                base.extend(comps[i + 1..].iter().cloned());
                comps = base;
                i = 0;
            }
            _ => i += 1,
        }
    }
    format!("/{}", comps.join("/"))
}

/// Regular files, hard links followed: path → contents.
fn regular_files(fs: &BTreeMap<String, LayerEntry>) -> BTreeMap<String, &[u8]> {
    fs.iter()
        .filter_map(|(p, e)| {
            if e.desc.starts_with("file ") {
                Some((p.clone(), e.data.as_slice()))
            } else {
                let t = e.desc.strip_prefix("hardlink -> ")?;
                Some((p.clone(), fs[t].data.as_slice()))
            }
        })
        .collect()
}

/// ` /path md5` lines of the `Conffiles:` field.
fn conffiles(status: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in status.lines() {
        if line.starts_with(' ') {
            let w: Vec<&str> = line.split_whitespace().collect();
            if inside && w.len() == 2 {
                out.push((w[0].to_string(), w[1].to_string()));
            }
        } else {
            inside = line.starts_with("Conffiles:");
        }
    }
    out
}

fn lock_packages(name: &str) -> BTreeSet<String> {
    let lock: serde_yaml::Value =
        serde_yaml::from_slice(&std::fs::read(project().join(format!("specs/{name}.lock"))).unwrap()).unwrap();
    lock["packages"]["amd64"].as_sequence().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

fn pyspdxtools() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DISTILL_PYSPDXTOOLS") {
        return Some(p.into());
    }
    let venv = project().join("target/spdx-venv/bin/pyspdxtools");
    venv.is_file().then_some(venv)
}

/// Every check of the module on one image; returns a one-line summary.
fn scanners_see_the_image(name: &str) -> String {
    let (layout, made) = build(name);
    let fs = read_platform(&layout, "latest", "amd64").merged();
    let files = regular_files(&fs);
    let status_d = "/var/lib/dpkg/status.d/";
    let installed: BTreeSet<String> = fs
        .keys()
        .filter_map(|p| p.strip_prefix(status_d))
        .filter(|n| !n.ends_with(".md5sums"))
        .map(String::from)
        .collect();
    let lock = lock_packages(name);
    assert_eq!(installed, lock, "{name}: status.d lists the lock's packages");

    // Ownership and sums.
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |path: &str, pkg: &str, sum: &str, what: &str| {
        let real = resolve(&fs, path, true);
        let data =
            files.get(&real).unwrap_or_else(|| panic!("{name}: {pkg} lists {path} ({what}), not a regular file"));
        assert_eq!(md5_hex(data), sum, "{name}: {what} sum of {path} ({pkg})");
        if let Some(other) = owner.insert(real.clone(), pkg.to_string()) {
            panic!("{name}: {real} belongs to both {other} and {pkg}");
        }
    };
    for pkg in &installed {
        let sums = String::from_utf8(fs[&format!("{status_d}{pkg}.md5sums")].data.clone()).unwrap();
        for line in sums.lines() {
            let (sum, path) = line.split_once("  ").unwrap_or_else(|| panic!("{name}: bad md5sums line {line:?}"));
            claim(&format!("/{path}"), pkg, sum, "md5sums");
        }
        let status = String::from_utf8(fs[&format!("{status_d}{pkg}")].data.clone()).unwrap();
        for (path, sum) in conffiles(&status) {
            claim(&path, pkg, &sum, "Conffiles");
        }
    }
    let generated: BTreeSet<&str> = distill::tree::generate::GENERATED_FILES.into_iter().collect();
    for path in files.keys() {
        if !owner.contains_key(path) {
            assert!(
                generated.contains(path.as_str()) || path.starts_with(status_d) || made.contains(path),
                "{name}: {path} belongs to no package, is not a documented generated file and no maintainer script made it"
            );
        }
    }

    // dpkg-query over the database.
    let admin = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(admin.path().join("info")).unwrap();
    let mut status = String::new();
    for pkg in &installed {
        status.push_str(&String::from_utf8(fs[&format!("{status_d}{pkg}")].data.clone()).unwrap());
        status.push('\n');
    }
    std::fs::write(admin.path().join("status"), status).unwrap();
    let q = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.path().display()))
        .args(["-W", "-f", "${Package} ${db:Status-Abbrev}\\n"])
        .output()
        .expect("dpkg-query (apt-get install dpkg)");
    assert!(q.status.success(), "{name}: dpkg-query: {}", String::from_utf8_lossy(&q.stderr));
    let listed: BTreeSet<String> = String::from_utf8(q.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (p, st) = l.split_once(' ').unwrap();
            assert_eq!(st.trim(), "ii", "{name}: {p} is not installed for dpkg");
            p.split(':').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(listed, lock, "{name}: dpkg-query lists the lock's packages");

    // The SBOM.
    let sbom_path = layout.with_file_name(format!("{name}.sbom")).join("amd64.spdx.json");
    let sbom: serde_json::Value = serde_json::from_slice(&std::fs::read(&sbom_path).unwrap()).unwrap();
    let packages: BTreeSet<String> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["SPDXID"] != "SPDXRef-Image")
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(packages, lock, "{name}: SBOM packages");
    let sbom_files = sbom["files"].as_array().unwrap();
    assert_eq!(sbom_files.len(), files.len(), "{name}: one SBOM file per regular file");
    for f in sbom_files {
        let path = f["fileName"].as_str().unwrap().trim_start_matches('.');
        let sha = f["checksums"].as_array().unwrap().iter().find(|c| c["algorithm"] == "SHA256").unwrap();
        assert_eq!(sha["checksumValue"].as_str().unwrap(), sha256_hex(files[path]), "{name}: SHA256 of {path}");
    }
    let with_license =
        sbom["packages"].as_array().unwrap().iter().filter(|p| p["licenseDeclared"] != "NOASSERTION").count();
    let verdict = match pyspdxtools() {
        Some(tool) => {
            let out = Command::new(&tool).arg("-i").arg(&sbom_path).output().expect("run pyspdxtools");
            assert!(
                out.status.success(),
                "{name}: pyspdxtools rejects {}:\n{}",
                sbom_path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            "valid (pyspdxtools)"
        }
        None => "not validated (pyspdxtools not installed)",
    };
    let summary = format!(
        "{name} amd64: status.d {} packages; SBOM {} packages ({} with a declared license) + image, {} files ({} generated); SPDX {verdict}",
        installed.len(),
        packages.len(),
        with_license,
        sbom_files.len(),
        files.len() - owner.len(),
    );
    eprintln!("{summary}");
    summary
}

#[test]
fn python3_image_files_belong_to_one_package_or_are_generated() {
    if skip() {
        return;
    }
    scanners_see_the_image("python3");
}

#[test]
fn java17_image_files_belong_to_one_package_or_are_generated() {
    if skip() {
        return;
    }
    scanners_see_the_image("java17");
}
