//! Resolver cases on the real Debian archive (structure, not exact
//! versions, which move). Mirror discovery as distill does it: spec `url`,
//! `DISTILL_MIRROR`, or the host's apt sources. `DISTILL_SKIP_E2E=1` skips.

mod real;

use real::skip;
use std::path::{Path, PathBuf};

use distill::build::{sources, BuildOptions};
use distill::fetch::Cache;
use distill::repo::{mirror, Transport};
use distill::report::Reporter;
use distill::resolve::{resolve, Request, Resolution, Universe};
use distill::spec::LoadedSpec;

fn keys() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("keys")
}

fn spec(suites: &[&str], archs: &[&str]) -> LoadedSpec {
    let k = keys();
    let mut y = String::from("name: t\nsources:\n");
    for s in suites {
        let files: Vec<&str> = match *s {
            "bookworm" => vec!["debian-12-archive.asc", "debian-13-archive.asc", "debian-12-release.asc"],
            "bookworm-updates" => vec!["debian-12-archive.asc", "debian-13-archive.asc"],
            "bookworm-security" => vec!["debian-12-security.asc"],
            "trixie" => vec!["debian-13-archive.asc", "debian-13-release.asc", "debian-12-archive.asc"],
            other => panic!("no keys for {other}"),
        };
        let list: Vec<String> = files.iter().map(|f| k.join(f).display().to_string()).collect();
        y.push_str(&format!("  - suite: {s}\n    keys: [{}]\n", list.join(", ")));
    }
    y.push_str(&format!("archs: [{}]\npackages: [x]\n", archs.join(", ")));
    let path = Path::new("test.yaml");
    LoadedSpec {
        spec: distill::spec::parse(path, y.as_bytes()).unwrap(),
        path: path.into(),
        raw: y.into_bytes(),
        parents: Vec::new(),
    }
}

fn load(suites: &[&str], archs: &[&str]) -> sources::Loaded {
    let s = spec(suites, archs);
    let opts = BuildOptions {
        output: PathBuf::new(),
        cache_dir: real::cache_dir(),
        mirrors: mirror::parse_overrides(std::env::var("DISTILL_MIRROR").ok().as_deref()).unwrap(),
        apt: mirror::read_apt_sources(Path::new("/etc/apt")),
        source_date_epoch: None,
        now: chrono::Utc::now(),
        offline: false,
        jobs: 4,
        compression: distill::layer::Compression::Gzip,
        archs: None,
        threads: 2,
        sbom: None,
    };
    let cache = Cache::open(&opts.cache_dir, false).unwrap();
    sources::load(&s, &opts, &Transport::new().unwrap(), &cache, &Reporter::silent()).unwrap()
}

fn resolve_for(loaded: &sources::Loaded, arch: &str, packages: &[&str]) -> (Universe, Resolution) {
    let u = Universe::new(loaded.indices.iter().filter(|i| i.arch == arch), arch);
    let r = resolve(&u, &Request::new(arch, packages.iter().copied())).unwrap_or_else(|e| panic!("{e}"));
    (u, r)
}

#[test]
fn bash_awk_is_met_by_exactly_one_provider_mawk() {
    if skip() {
        return;
    }
    let loaded = load(&["bookworm"], &["amd64"]);
    let (u, r) = resolve_for(&loaded, "amd64", &["bash"]);
    let awks: Vec<&String> =
        r.packages.keys().filter(|n| u.providers("awk").iter().any(|(p, _)| &p.name == *n)).collect();
    assert_eq!(awks, ["mawk"], "awk providers chosen");
    let edge = r
        .edges
        .iter()
        .find(|e| e.from == "base-files" && e.dependency.starts_with("awk"))
        .expect("base-files Pre-Depends awk");
    assert_eq!(edge.field, "Pre-Depends");
    assert_eq!(edge.to.as_deref(), Some("mawk"));
    // Nothing is left open: every dependency edge has a target (no excludes here).
    assert!(r.edges.iter().all(|e| e.to.is_some()));
}

#[test]
fn trixie_ffmpeg_takes_libavcodec61_not_extra() {
    if skip() {
        return;
    }
    let loaded = load(&["trixie"], &["amd64"]);
    let (_, r) = resolve_for(&loaded, "amd64", &["ffmpeg"]);
    assert!(r.packages.contains_key("libavcodec61"), "{:?}", r.packages.keys());
    assert!(!r.packages.contains_key("libavcodec-extra61"));
    assert!(!r.packages.keys().any(|n| n.contains("-extra")), "{:?}", r.packages.keys());
}

#[test]
fn highest_version_wins_across_main_updates_and_security() {
    if skip() {
        return;
    }
    let loaded = load(&["bookworm", "bookworm-updates", "bookworm-security"], &["amd64"]);
    let (u, r) = resolve_for(&loaded, "amd64", &["libc6", "libssl3", "openssl"]);
    for (name, p) in &r.packages {
        let best = u.candidates(name).iter().map(|c| &c.version).max().unwrap();
        assert_eq!(&p.version, best, "{name}: chose {} from {}", p.version, p.suite);
    }
    // The security suite carries a newer openssl than the point release in practice;
    // the choice must follow the version, whichever suite has it.
    let suites: std::collections::BTreeSet<&str> = r.packages.values().map(|p| p.suite.as_str()).collect();
    assert!(!suites.is_empty());
}

#[test]
fn each_architecture_gets_its_own_binaries() {
    if skip() {
        return;
    }
    let loaded = load(&["bookworm", "bookworm-security"], &["amd64", "arm64"]);
    for arch in ["amd64", "arm64"] {
        let (_, r) = resolve_for(&loaded, arch, &["ca-certificates"]);
        assert_eq!(r.packages["openssl"].arch, arch);
        assert_eq!(r.packages["libssl3"].arch, arch);
        assert_eq!(r.packages["ca-certificates"].arch, "all");
    }
    let (_, a) = resolve_for(&loaded, "amd64", &["ca-certificates"]);
    let (_, b) = resolve_for(&loaded, "arm64", &["ca-certificates"]);
    let all_a: Vec<_> = a.packages.values().filter(|p| p.arch == "all").map(|p| (&p.name, &p.sha256)).collect();
    let all_b: Vec<_> = b.packages.values().filter(|p| p.arch == "all").map(|p| (&p.name, &p.sha256)).collect();
    assert_eq!(all_a, all_b, "Architecture: all packages are the same file on both");
}

#[test]
fn python_minimal_brings_expat_and_zlib() {
    if skip() {
        return;
    }
    let loaded = load(&["bookworm"], &["amd64"]);
    let (_, r) = resolve_for(&loaded, "amd64", &["python3.11-minimal"]);
    assert!(r.packages.contains_key("libexpat1"));
    assert!(r.packages.contains_key("zlib1g"));
}

#[test]
fn missing_on_one_architecture_names_it() {
    if skip() {
        return;
    }
    let loaded = load(&["bookworm"], &["amd64", "arm64"]);
    // syslinux is built for x86 only.
    let u = Universe::new(loaded.indices.iter().filter(|i| i.arch == "arm64"), "arm64");
    let err = resolve(&u, &Request::new("arm64", ["syslinux"])).unwrap_err().to_string();
    assert!(err.contains("arm64") && err.contains("syslinux"), "{err}");
    let u = Universe::new(loaded.indices.iter().filter(|i| i.arch == "amd64"), "amd64");
    assert!(resolve(&u, &Request::new("amd64", ["syslinux"])).is_ok());
}
