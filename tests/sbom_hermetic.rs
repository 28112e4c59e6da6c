//! Hermetic tests of the dpkg database and the SBOM, seen from outside:
//! the real `distill` binary builds from a signed loopback archive with
//! `--sbom`, and the tests read the layout and `<output>.sbom/` back.
//!
//! The archive: `libfoo1` (source `foo`, md5sums, a machine-readable
//! copyright file, documentation the default path filters remove),
//! `foo-conf` (`Architecture: all`, source `foo`, a conffile) and `tool`
//! (no md5sums, a hard link, a free-form copyright file).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use sha2::Digest;

const SUITE: &str = "bookworm";
const LIBFOO: &str = "/usr/lib/x86_64-linux-gnu/libfoo.so.1";
const CHANGELOG: &str = "/usr/share/doc/libfoo1/changelog.gz";
const CONF: &str = "/etc/foo.conf";

const COPYRIGHT: &str = "Format: https://example.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: foo

Files: *
Copyright: 2020 Foo Authors
License: GPL-2+

Files: lib/*
Copyright: 2021 Lib Authors
License: Expat

Files: extra/*
Copyright: 2022 Someone
License: foo-permissive

License: foo-permissive
 Do what you like with this file.

License: GPL-2+
 On Debian systems, see /usr/share/common-licenses/GPL-2.
";

fn repo() -> RepoBuilder {
    RepoBuilder::new()
        .add(
            SUITE,
            DebBuilder::new("libfoo1", "1.0-1+deb12u1")
                .field("Source", "foo")
                .field("Maintainer", "Foo Maintainers <foo@lists.example.org>")
                .field("Homepage", "https://foo.example.org/")
                .field("Description", "foo library\n shared object")
                .with_md5sums()
                .file(&format!(".{LIBFOO}"), 0o644, b"not an ELF, just bytes\n")
                .file(&format!(".{CHANGELOG}"), 0o644, b"changes")
                .file("./usr/share/doc/libfoo1/copyright", 0o644, COPYRIGHT.as_bytes())
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("foo-conf", "1.0-1+deb12u1")
                .arch("all")
                .field("Source", "foo")
                .with_md5sums()
                .conffile(CONF)
                .file(&format!(".{CONF}"), 0o644, b"setting = 1\n")
                .file("./usr/share/foo/defaults", 0o644, b"defaults\n")
                .symlink("./usr/share/doc/foo-conf", "libfoo1")
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("tool", "2.0")
                .file("./usr/bin/tool", 0o755, b"#!tool\n")
                .hardlink("./usr/bin/tool2", "./usr/bin/tool")
                .build(),
        )
}

const PACKAGES: [&str; 3] = ["foo-conf", "libfoo1", "tool"];

fn spec(fx: &Fixture, extra: &str) -> PathBuf {
    fx.spec("foo").packages(&PACKAGES).extra(extra).write(&fx.path("foo.yaml"))
}

/// `distill build SPEC --output <tmp>/OUT --cache-dir <tmp>/CACHE --jobs 1 EXTRA…`.
fn build_with(fx: &Fixture, spec: &Path, out: &str, cache: &str, extra: &[&str]) -> Outcome {
    let mut args: Vec<OsString> = vec![
        "build".into(),
        spec.into(),
        "--output".into(),
        fx.path(out).into(),
        "--cache-dir".into(),
        fx.path(cache).into(),
        "--jobs".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(OsString::from));
    let run = run_distill(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    run.expect_code(0);
    run
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(data))
}

/// The SPDX package named `name`.
#[track_caller]
fn package<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name}"))
}

/// SPDX file id → file.
fn files_by_id(doc: &Value) -> BTreeMap<String, &Value> {
    doc["files"].as_array().unwrap().iter().map(|f| (f["SPDXID"].as_str().unwrap().to_string(), f)).collect()
}

/// Paths (`/…`) of the files `id` CONTAINS.
fn contained_files(doc: &Value, id: &str) -> Vec<String> {
    let files = files_by_id(doc);
    let mut out: Vec<String> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["spdxElementId"] == id && r["relationshipType"] == "CONTAINS")
        .filter_map(|r| files.get(r["relatedSpdxElement"].as_str().unwrap()))
        .map(|f| f["fileName"].as_str().unwrap().trim_start_matches('.').to_string())
        .collect();
    out.sort();
    out
}

/// Regular files (hard links followed) of a merged filesystem: path → contents.
fn regular_files(fs: &BTreeMap<String, LayerEntry>) -> BTreeMap<String, Vec<u8>> {
    fs.iter()
        .filter_map(|(p, e)| {
            if e.desc.starts_with("file ") {
                Some((p.clone(), e.data.clone()))
            } else {
                let target = e.desc.strip_prefix("hardlink -> ")?;
                Some((p.clone(), fs[target].data.clone()))
            }
        })
        .collect()
}

fn checksum<'a>(file: &'a Value, alg: &str) -> &'a str {
    file["checksums"].as_array().unwrap().iter().find(|c| c["algorithm"] == alg).unwrap()["checksumValue"]
        .as_str()
        .unwrap()
}

#[test]
fn sbom_lists_each_package_its_files_in_the_image_and_their_checksums() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, "image:\n  os_release:\n    pretty_name: Foo base (Debian 12)\n");
    let run = build_with(&fx, &spec, "out", "cache", &["--sbom-format", "both"]);
    run.stderr_has(&["wrote SBOM"]);
    let layout = fx.path("out");
    let plat = read_platform(&layout, "latest", "amd64");
    let fs = plat.merged();
    let data = |p: &str| fs.get(p).unwrap_or_else(|| panic!("{p} not in the image")).data.clone();

    // os-release: the link, detection fields, the spec's PRETTY_NAME.
    assert_eq!(fs["/etc/os-release"].desc, "symlink -> ../usr/lib/os-release");
    let os = String::from_utf8(data("/usr/lib/os-release")).unwrap();
    for line in ["ID=debian", "VERSION_ID=\"12\"", "VERSION_CODENAME=bookworm", "PRETTY_NAME=\"Foo base (Debian 12)\""]
    {
        assert!(os.lines().any(|l| l == line), "{line} not in os-release:\n{os}");
    }

    // status.d: Conffiles in the stanza, never in md5sums; the filtered
    // changelog is in no md5sums; tool (no md5sums member) is hashed.
    let text = |p: &str| String::from_utf8(data(p)).unwrap();
    let conf_status = text("/var/lib/dpkg/status.d/foo-conf");
    assert!(conf_status.contains(&format!("Conffiles:\n {CONF} {}\n", md5_hex(b"setting = 1\n"))), "{conf_status}");
    assert!(conf_status.starts_with("Package: foo-conf\nStatus: install ok installed\n"), "{conf_status}");
    assert_eq!(
        text("/var/lib/dpkg/status.d/foo-conf.md5sums"),
        format!("{}  usr/share/foo/defaults\n", md5_hex(b"defaults\n"))
    );
    let libfoo_sums = text("/var/lib/dpkg/status.d/libfoo1.md5sums");
    assert!(!fs.contains_key(CHANGELOG));
    assert!(!libfoo_sums.contains("changelog"), "{libfoo_sums}");
    assert!(libfoo_sums.contains(&format!("{}  {}", md5_hex(b"not an ELF, just bytes\n"), &LIBFOO[1..])));
    assert_eq!(
        text("/var/lib/dpkg/status.d/tool.md5sums"),
        format!(
            "{m}  usr/bin/tool\n{m}  usr/bin/tool2\n{}  usr/share/doc/tool/copyright\n",
            md5_hex(b"tool test fixture, public domain\n"),
            m = md5_hex(b"#!tool\n")
        )
    );

    // SPDX: the image, its three packages, their files.
    let doc = json(&fx.path("out.sbom/amd64.spdx.json"));
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2024-06-01T12:00:00Z");
    let ns = doc["documentNamespace"].as_str().unwrap();
    assert!(ns.starts_with("https://distill.invalid/spdx/foo/amd64/"), "{ns}");
    let root = package(&doc, "foo");
    assert_eq!(root["SPDXID"], "SPDXRef-Image");
    assert_eq!(root["versionInfo"], plat.manifest_digest.as_str());
    assert_eq!(root["primaryPackagePurpose"], "CONTAINER");
    let names: BTreeSet<&str> =
        doc["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["foo", "foo-conf", "libfoo1", "tool"]));
    let describes: Vec<&Value> =
        doc["relationships"].as_array().unwrap().iter().filter(|r| r["relationshipType"] == "DESCRIBES").collect();
    assert_eq!(describes.len(), 1);
    assert_eq!(describes[0]["relatedSpdxElement"], "SPDXRef-Image");

    let lib = package(&doc, "libfoo1");
    assert_eq!(lib["versionInfo"], "1.0-1+deb12u1");
    assert_eq!(lib["supplier"], "Organization: Foo Maintainers (foo@lists.example.org)");
    assert_eq!(lib["sourceInfo"], "built from Debian source package foo 1.0-1+deb12u1");
    assert_eq!(lib["homepage"], "https://foo.example.org/");
    assert_eq!(lib["licenseDeclared"], "GPL-2.0-or-later AND MIT AND LicenseRef-foo-permissive");
    assert_eq!(lib["checksums"][0]["checksumValue"], fx.repo.deb("libfoo1").sha256().as_str());
    assert_eq!(lib["packageFileName"], "libfoo1_1.0-1+deb12u1_amd64.deb");
    assert_eq!(
        lib["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/libfoo1@1.0-1%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=foo"
    );
    let extracted = doc["hasExtractedLicensingInfos"].as_array().unwrap();
    assert_eq!(extracted.len(), 1);
    assert_eq!(extracted[0]["licenseId"], "LicenseRef-foo-permissive");
    assert_eq!(extracted[0]["extractedText"], "Do what you like with this file.");
    let conf = package(&doc, "foo-conf");
    assert_eq!(
        conf["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/foo-conf@1.0-1%2Bdeb12u1?arch=all&distro=debian-12&upstream=foo"
    );
    assert_eq!(conf["licenseDeclared"], lib["licenseDeclared"], "copyright through the doc directory link");
    assert_eq!(package(&doc, "tool")["licenseDeclared"], "NOASSERTION");

    // Each package's files: what is in the image, nothing filtered.
    let id = |name: &str| package(&doc, name)["SPDXID"].as_str().unwrap().to_string();
    assert_eq!(contained_files(&doc, &id("libfoo1")), [LIBFOO, "/usr/share/doc/libfoo1/copyright"]);
    assert_eq!(contained_files(&doc, &id("foo-conf")), [CONF, "/usr/share/foo/defaults"]);
    assert_eq!(
        contained_files(&doc, &id("tool")),
        ["/usr/bin/tool", "/usr/bin/tool2", "/usr/share/doc/tool/copyright"]
    );
    let generated = contained_files(&doc, "SPDXRef-Image");
    for g in ["/etc/passwd", "/etc/group", "/usr/lib/os-release", "/var/lib/dpkg/status.d/libfoo1.md5sums"] {
        assert!(generated.contains(&g.to_string()), "{g} not a generated file of the image: {generated:?}");
    }
    assert!(!doc.to_string().contains("changelog.gz"), "a file the path filters removed is in the SBOM");

    // Every regular file of the image is in the SBOM once, with its sums.
    let regular = regular_files(&fs);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), regular.len());
    for f in files {
        let path = f["fileName"].as_str().unwrap().trim_start_matches('.');
        let data = regular.get(path).unwrap_or_else(|| panic!("{path} is not a file of the image"));
        assert_eq!(checksum(f, "SHA256"), sha256_hex(data), "{path}");
        assert_eq!(checksum(f, "SHA1"), sha1_hex(data), "{path}");
    }

    // CycloneDX: the same packages and files.
    let cdx = json(&fx.path("out.sbom/amd64.cdx.json"));
    assert_eq!(cdx["specVersion"], "1.5");
    assert_eq!(cdx["metadata"]["component"]["version"], plat.manifest_digest.as_str());
    let comps = cdx["components"].as_array().unwrap();
    let lib = comps.iter().find(|c| c["name"] == "libfoo1").unwrap();
    assert_eq!(lib["purl"], package(&doc, "libfoo1")["externalRefs"][0]["referenceLocator"]);
    assert_eq!(lib["licenses"][0]["expression"], "GPL-2.0-or-later AND MIT AND LicenseRef-foo-permissive");
    let nested: usize = comps.iter().map(|c| c["components"].as_array().map_or(0, Vec::len)).sum();
    let top_files = comps.iter().filter(|c| c["type"] == "file").count();
    assert_eq!(nested + top_files, files.len());

    // The image's own check agrees (md5sums paths, os-release).
    run_distill(&["check".as_ref(), layout.as_os_str()]).expect_code(0);
}

#[test]
fn sbom_is_deterministic_and_a_no_op_rebuild_writes_it_from_the_build_record() {
    let fx = Fixture::new(repo());
    let spec = spec(&fx, "");
    let first = build_with(&fx, &spec, "a", "cache", &["--sbom"]);
    assert!(!first.stderr.contains("from the build cache"), "{}", first.stderr);
    let sbom = std::fs::read(fx.path("a.sbom/amd64.spdx.json")).unwrap();
    assert!(!fx.path("a.sbom/amd64.cdx.json").exists(), "spdx is the default format");

    // Replayed from the record (nothing assembled), SBOM included.
    let replay = build_with(&fx, &spec, "b", "cache", &["--sbom"]);
    replay.stderr_has(&["from the build cache", "wrote SBOM"]);
    assert_eq!(std::fs::read(fx.path("b.sbom/amd64.spdx.json")).unwrap(), sbom);

    // A cold cache builds the same bytes.
    build_with(&fx, &spec, "c", "cold-cache", &["--sbom"]);
    assert_eq!(std::fs::read(fx.path("c.sbom/amd64.spdx.json")).unwrap(), sbom);

    // Without --sbom the layout is rebuilt and no stale SBOM stays beside it.
    build_with(&fx, &spec, "a", "cache", &[]);
    assert!(!fx.path("a.sbom").exists());
}

/// `pyspdxtools`: $DISTILL_PYSPDXTOOLS, else the virtualenv scripts/test
/// makes (target/spdx-venv), else on PATH.
fn pyspdxtools() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DISTILL_PYSPDXTOOLS") {
        return Some(p.into());
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/spdx-venv/bin/pyspdxtools");
    if venv.is_file() {
        return Some(venv);
    }
    std::process::Command::new("pyspdxtools")
        .arg("--help")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "pyspdxtools".into())
}

#[test]
fn spdx_output_passes_pyspdxtools_validation() {
    let Some(tool) = pyspdxtools() else {
        if std::env::var("DISTILL_SKIP_E2E").is_ok_and(|v| v == "1") {
            eprintln!("\n\n*** SKIPPED spdx_output_passes_pyspdxtools_validation: pyspdxtools not found (scripts/test installs spdx-tools into target/spdx-venv) ***\n\n");
            return;
        }
        panic!("pyspdxtools not found: run scripts/test (it installs spdx-tools into target/spdx-venv) or set DISTILL_PYSPDXTOOLS");
    };
    let fx = Fixture::new(repo());
    let spec = spec(&fx, "");
    build_with(&fx, &spec, "out", "cache", &["--sbom"]);
    let file = fx.path("out.sbom/amd64.spdx.json");
    let out = std::process::Command::new(&tool).arg("-i").arg(&file).output().expect("run pyspdxtools");
    assert!(
        out.status.success(),
        "pyspdxtools rejects {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dpkg_query_reads_the_status_d_database() {
    if std::process::Command::new("dpkg-query").arg("--version").output().is_err() {
        assert!(std::env::var("DISTILL_SKIP_E2E").is_ok_and(|v| v == "1"), "dpkg-query missing (apt-get install dpkg)");
        eprintln!("*** SKIPPED dpkg_query_reads_the_status_d_database: no dpkg-query ***");
        return;
    }
    let fx = Fixture::new(repo());
    let spec = spec(&fx, "");
    build_with(&fx, &spec, "out", "cache", &[]);
    let fs = read_platform(&fx.path("out"), "latest", "amd64").merged();
    let admin = fx.path("admin");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    let mut status = String::new();
    for (p, e) in &fs {
        if let Some(name) = p.strip_prefix("/var/lib/dpkg/status.d/") {
            if !name.ends_with(".md5sums") {
                status.push_str(&String::from_utf8(e.data.clone()).unwrap());
                status.push('\n');
            }
        }
    }
    std::fs::write(admin.join("status"), status).unwrap();
    let out = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\\n"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "foo-conf 1.0-1+deb12u1 ii \nlibfoo1 1.0-1+deb12u1 ii \ntool 2.0 ii \n"
    );
    let conf = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Conffiles}", "foo-conf"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(conf.stdout).unwrap(), format!(" {CONF} {}", md5_hex(b"setting = 1\n")));
}
