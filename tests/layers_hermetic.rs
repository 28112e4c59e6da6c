//! Hermetic tests of layering, seen from outside: the real `distill`
//! binary builds from a signed loopback archive whose packages are sized
//! so that Debian source packages decide the layers, and the tests read
//! every layer of the OCI layout back (digests, diff_ids, whiteouts).
//!
//! The archive: `libbig1` and `big-data` (source `big`, 600 KiB each:
//! only together over the 1 MiB a group needs for a layer of its own),
//! `huge` (no `Source:` field, 1.5 MiB), and the small `tool` and `small`.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const SUITE: &str = "testing";
const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const KIB: usize = 1024;
/// Every package of [`layers_repo`].
const ALL: [&str; 5] = ["big-data", "huge", "libbig1", "small", "tool"];

const LIBBIG: &str = "/usr/lib/x86_64-linux-gnu/libbig.so.1";
const BIGDATA: &str = "/usr/share/big/data.bin";
const HUGE: &str = "/usr/lib/huge/huge.bin";

/// `n` pseudo-random (incompressible) bytes from `seed`; never an ELF
/// header, so the ELF closure check leaves them alone.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v[0] = b'#';
    v
}

/// Contents of `tool`'s files, in the order its .deb lists them.
fn tool_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("usr/bin/tool", b"#!tool v1\n".to_vec()),
        ("usr/share/tool/keep.txt", b"kept\n".to_vec()),
        ("usr/share/tool/extra.txt", b"only the parent keeps this\n".to_vec()),
        ("usr/share/doc/tool/changelog.gz", b"not really gzip".to_vec()),
        ("usr/share/man/man1/tool.1.gz", b"manual".to_vec()),
        ("usr/share/doc/tool/copyright", b"tool copyright\n".to_vec()),
    ]
}

fn tool_deb(arch: &str, binary: &[u8]) -> Deb {
    let mut b = DebBuilder::new("tool", "1.0").arch(arch).with_md5sums();
    for (path, data) in tool_files() {
        let data = if path == "usr/bin/tool" { binary.to_vec() } else { data };
        b = b.file(&format!("./{path}"), if path.starts_with("usr/bin/") { 0o755 } else { 0o644 }, &data);
    }
    b.symlink("./usr/bin/tool-link", "tool").build()
}

/// The archive; `small_version` and its file's contents vary per test.
fn layers_repo(small_version: &str) -> RepoBuilder {
    RepoBuilder::new()
        .add(
            SUITE,
            DebBuilder::new("libbig1", "1.0-1")
                .field("Source", "big")
                .with_md5sums()
                .file(&format!(".{LIBBIG}"), 0o644, &noise(600 * KIB, 1))
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("big-data", "1.0-1")
                .arch("all")
                // A binary version differing from the source's: `Source: name (version)`.
                .field("Source", "big (0.9-1)")
                .file(&format!(".{BIGDATA}"), 0o644, &noise(600 * KIB, 2))
                .build(),
        )
        .add(SUITE, DebBuilder::new("huge", "2.0").file(&format!(".{HUGE}"), 0o644, &noise(1536 * KIB, 3)).build())
        .add(SUITE, tool_deb("amd64", b"#!tool v1\n"))
        .add(
            SUITE,
            DebBuilder::new("small", small_version)
                .file("./usr/bin/small", 0o755, format!("#!small {small_version}\n").as_bytes())
                .build(),
        )
}

/// `distill build SPEC --output <tmp>/OUT --cache-dir <tmp>/cache --json
/// --jobs 1 EXTRA…` at the default verbosity. One download at a time:
/// tiny_http's thread pool can queue a second concurrent connection
/// behind an idle keep-alive one (which reqwest holds for 90 s), and on a
/// loaded machine that stalls a parallel fetch for that long.
fn build_json(fx: &Fixture, spec: &Path, out: &str, extra: &[&str]) -> Outcome {
    let mut args: Vec<OsString> = vec![
        "build".into(),
        spec.into(),
        "--output".into(),
        fx.path(out).into(),
        "--cache-dir".into(),
        fx.path("cache").into(),
        "--json".into(),
        "--jobs".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(OsString::from));
    run_distill(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>())
}

/// Build and parse the JSON summary, expecting success.
#[track_caller]
fn built(fx: &Fixture, spec: &Path, out: &str, extra: &[&str]) -> (Outcome, Value) {
    let run = build_json(fx, spec, out, extra);
    run.expect_code(0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("--json output: {e}\n{}", run.stdout));
    (run, doc)
}

/// The `layers` of the only architecture of a `--json` summary.
#[track_caller]
fn json_layers(doc: &Value) -> Vec<Value> {
    let archs = doc["architectures"].as_array().expect("architectures");
    assert_eq!(archs.len(), 1, "{doc:#}");
    archs[0]["layers"].as_array().expect("layers").clone()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn layer_packages(layers: &[Value]) -> Vec<Vec<String>> {
    layers.iter().map(|l| strs(&l["packages"])).collect()
}

fn field(layers: &[Value], name: &str) -> Vec<String> {
    layers.iter().map(|l| l[name].as_str().unwrap().to_string()).collect()
}

fn cached(layers: &[Value]) -> Vec<bool> {
    layers.iter().map(|l| l["cached"].as_bool().expect("cached")).collect()
}

fn spec_all(fx: &Fixture, name: &str, extra: &str) -> PathBuf {
    fx.spec(name).packages(&ALL).extra(extra).write(&fx.path(&format!("{name}.yaml")))
}

/// Each layer states every directory above its entries.
#[track_caller]
fn assert_layers_carry_parents(img: &PlatformImage) {
    for (i, layer) in img.layers.iter().enumerate() {
        for path in layer.entries.keys() {
            let mut cur = path.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                if parent.is_empty() {
                    break;
                }
                let desc = layer.entries.get(parent).map(|e| e.desc.as_str());
                assert!(
                    desc.is_some_and(|d| d.starts_with("dir ")),
                    "layer {i} has {path} but not its directory {parent} ({desc:?})"
                );
                cur = parent;
            }
        }
    }
}

/// The JSON layers describe exactly the manifest's layers and the config's diff_ids.
#[track_caller]
fn assert_json_matches_manifest(layers: &[Value], img: &PlatformImage) {
    assert_eq!(layers.len(), img.layers.len());
    for (j, l) in layers.iter().zip(&img.layers) {
        assert_eq!(j["digest"], l.descriptor["digest"]);
        assert_eq!(j["size"], l.descriptor["size"]);
        assert_eq!(j["media_type"], l.descriptor["mediaType"]);
        assert_eq!(j["diff_id"].as_str().unwrap(), l.diff_id);
        assert_eq!(j["uncompressed_size"].as_u64().unwrap(), l.tar_len);
    }
}

#[test]
fn layers_follow_debian_source_packages_with_small_ones_last() {
    let fx = Fixture::new(layers_repo("1.0"));
    let spec = spec_all(&fx, "all", "");
    let (_, doc) = built(&fx, &spec, "out", &[]);
    let layers = json_layers(&doc);
    // `big` (two binaries of 600 KiB, 1.2 MiB together) and `huge` (1.5 MiB)
    // get layers of their own, in group-name order although huge is larger;
    // the small packages and the generated files share the last layer.
    assert_eq!(layer_packages(&layers), [vec!["big-data", "libbig1"], vec!["huge"], vec!["small", "tool"]], "{doc:#}");
    assert!(cached(&layers).iter().all(|c| !c), "a fresh cache has no layer: {doc:#}");
    assert_eq!(field(&layers, "media_type"), [GZIP; 3]);

    let img = read_platform(&fx.path("out"), "latest", "amd64");
    assert_eq!(img.index_digest, doc["digest"].as_str().unwrap());
    assert_json_matches_manifest(&layers, &img);
    assert_layers_carry_parents(&img);
    let json_uncompressed: u64 = layers.iter().map(|l| l["uncompressed_size"].as_u64().unwrap()).sum();
    assert_eq!(doc["architectures"][0]["uncompressed_size"].as_u64().unwrap(), json_uncompressed);

    let (big, huge, rest) = (&img.layers[0], &img.layers[1], &img.layers[2]);
    let sd = "/var/lib/dpkg/status.d";
    let mut want_big = vec![
        LIBBIG.to_string(),
        BIGDATA.to_string(),
        "/usr/share/doc/big-data/copyright".into(),
        "/usr/share/doc/libbig1/copyright".into(),
        format!("{sd}/big-data"),
        format!("{sd}/big-data.md5sums"),
        format!("{sd}/libbig1"),
        format!("{sd}/libbig1.md5sums"),
    ];
    want_big.sort();
    assert_eq!(big.non_dirs(), want_big, "the big layer: both binaries of source big, status.d and md5sums");
    let mut want_huge = vec![
        HUGE.to_string(),
        "/usr/share/doc/huge/copyright".into(),
        format!("{sd}/huge"),
        format!("{sd}/huge.md5sums"),
    ];
    want_huge.sort();
    assert_eq!(huge.non_dirs(), want_huge, "a package without Source: is its own source");
    for p in [
        "/etc/passwd",
        "/etc/group",
        "/usr/bin/small",
        "/usr/bin/tool",
        &format!("{sd}/tool.md5sums"),
        &format!("{sd}/small"),
    ] {
        assert!(rest.has(p), "last layer lacks {p}: {:?}", rest.non_dirs());
    }
    // No file is in two layers; only directories repeat.
    let mut seen = BTreeMap::new();
    for (i, l) in img.layers.iter().enumerate() {
        for p in l.non_dirs() {
            assert!(seen.insert(p.clone(), i).is_none(), "{p} in layers {} and {i}", seen[&p]);
        }
    }
    assert_eq!(img.merged()[LIBBIG].data, noise(600 * KIB, 1));

    // Budget 2: one own layer, for the largest group.
    let (_, doc2) = built(&fx, &spec_all(&fx, "two", "layering: {budget: 2}\n"), "two", &[]);
    let l2 = json_layers(&doc2);
    assert_eq!(layer_packages(&l2), [vec!["huge"], vec!["big-data", "libbig1", "small", "tool"]], "{doc2:#}");
    assert_eq!(l2[0]["digest"], layers[1]["digest"], "huge's layer does not depend on the budget");
    let img2 = read_platform(&fx.path("two"), "latest", "amd64");
    assert!(img2.layers[1].has(LIBBIG) && img2.layers[1].has("/etc/passwd"));

    // Budget 1: a single layer with everything, the same filesystem.
    let (_, doc1) = built(&fx, &spec_all(&fx, "one", "layering: {budget: 1}\n"), "one", &[]);
    let l1 = json_layers(&doc1);
    assert_eq!(layer_packages(&l1), [ALL.to_vec()], "{doc1:#}");
    let img1 = read_platform(&fx.path("one"), "latest", "amd64");
    assert_eq!(img1.layers.len(), 1);
    assert_eq!(img1.merged_dump(), img.merged_dump(), "layering does not change the filesystem");
}

#[test]
fn layering_budget_outside_1_to_127_is_rejected() {
    let fx = Fixture::new(layers_repo("1.0"));
    for bad in ["0", "128"] {
        let spec = spec_all(&fx, &format!("b{bad}"), &format!("layering:\n  budget: {bad}\n"));
        let run = build_json(&fx, &spec, &format!("b{bad}"), &[]);
        run.expect_code(2).stderr_has(&["layering.budget", &spec.display().to_string()]);
        assert!(!fx.path(&format!("b{bad}")).exists());
    }
    let spec = spec_all(&fx, "b127", "layering:\n  budget: 127\n");
    build_json(&fx, &spec, "b127", &[]).expect_code(0);
}

#[test]
fn changing_a_small_package_changes_only_the_last_layer() {
    let fx = Fixture::new(layers_repo("1.0"));
    let spec = spec_all(&fx, "all", "");
    let (_, first) = built(&fx, &spec, "out", &[]);
    let before = json_layers(&first);
    // The archive moves `small` to a new version with new contents.
    layers_repo("1.1").write(&fx.repo.root, test_key());
    let (_, second) = built(&fx, &spec, "out", &[]);
    let after = json_layers(&second);
    assert_ne!(first["digest"], second["digest"]);
    assert_eq!(layer_packages(&after), layer_packages(&before));
    let (d0, d1) = (field(&before, "digest"), field(&after, "digest"));
    assert_eq!(d1[..2], d0[..2], "the big and huge layers are untouched");
    assert_ne!(d1[2], d0[2], "the last layer holds small");
    assert_eq!(cached(&after), [true, true, false], "untouched layers come from the layer cache: {second:#}");
    let img = read_platform(&fx.path("out"), "latest", "amd64");
    let merged = img.merged();
    assert_eq!(merged["/usr/bin/small"].data, b"#!small 1.1\n");
    assert!(String::from_utf8_lossy(&merged["/var/lib/dpkg/status.d/small"].data).contains("Version: 1.1\n"));
}

#[test]
fn child_image_carries_parent_layers_bit_for_bit() {
    let fx = Fixture::new(layers_repo("1.0"));
    let parent = fx.spec("p").packages(&["libbig1", "big-data", "tool"]).write(&fx.path("p.yaml"));
    let paths = "paths:\n  exclude: [/usr/share/doc, /usr/share/man, /usr/share/info, /usr/share/locale, \
                 /usr/share/lintian, /usr/share/tool/extra.txt]\n";
    let child = fx.path("c.yaml");
    std::fs::write(&child, format!("name: c\nextends: p.yaml\npackages: [huge, small]\n{paths}")).unwrap();
    let flat = fx.spec("flat").packages(&ALL).extra(paths).write(&fx.path("flat.yaml"));

    let (_, pdoc) = built(&fx, &parent, "p", &[]);
    let (_, cdoc) = built(&fx, &child, "c", &[]);
    built(&fx, &flat, "flat", &[]);
    let (p, c, f) = (
        read_platform(&fx.path("p"), "latest", "amd64"),
        read_platform(&fx.path("c"), "latest", "amd64"),
        read_platform(&fx.path("flat"), "latest", "amd64"),
    );
    assert_eq!(layer_packages(&json_layers(&pdoc)), [vec!["big-data", "libbig1"], vec!["tool"]]);
    assert_eq!(
        layer_packages(&json_layers(&cdoc)),
        [vec!["big-data", "libbig1"], vec!["tool"], vec!["huge"], vec!["small", "tool"]],
        "{cdoc:#}"
    );

    // The parent's layers, same descriptors in the same order, then the child's own.
    let n = p.layers.len();
    assert_eq!(c.layers.len(), n + 2);
    for i in 0..n {
        assert_eq!(c.layers[i].descriptor, p.layers[i].descriptor, "layer {i}");
        assert_eq!(c.layers[i].diff_id, p.layers[i].diff_id, "diff_id {i}");
    }
    assert_eq!(
        c.config["rootfs"]["diff_ids"].as_array().unwrap()[..n],
        p.config["rootfs"]["diff_ids"].as_array().unwrap()[..]
    );
    assert_layers_carry_parents(&c);

    // The child's layers hold the difference only.
    let own: Vec<String> = c.layers[n..].iter().flat_map(|l| l.non_dirs()).collect();
    for path in [LIBBIG, BIGDATA, "/etc/passwd", "/usr/bin/tool", "/var/lib/dpkg/status.d/libbig1"] {
        assert!(!own.contains(&path.to_string()), "{path} unchanged, yet in the child's own layers: {own:?}");
    }
    assert!(c.layers[n].has(HUGE));
    let top = &c.layers[n + 1];
    assert!(top.has("/usr/bin/small"));
    let wh = "/usr/share/tool/.wh.extra.txt";
    assert_eq!(top.entries.get(wh).map(|e| e.desc.as_str()), Some(file_desc(0, b"").as_str()), "{:?}", top.non_dirs());
    assert!(top.has("/var/lib/dpkg/status.d/tool.md5sums"), "tool's md5sums lose extra.txt in the child");
    assert_eq!(whiteouts(top), [wh]);
    assert_whiteouts_sound(top);
    assert!(p.merged().contains_key("/usr/share/tool/extra.txt"));

    // Merged, the child is what one spec with every package gives.
    let tuple = |m: BTreeMap<String, LayerEntry>| -> BTreeMap<String, (String, u64, u64, u64)> {
        m.into_iter().map(|(k, e)| (k, (e.desc, e.uid, e.gid, e.mtime))).collect()
    };
    let (cm, fm) = (c.merged(), f.merged());
    assert!(!cm.contains_key("/usr/share/tool/extra.txt"));
    assert_eq!(tuple(cm.clone()), tuple(fm.clone()));
    for (path, e) in &cm {
        assert_eq!(e.data, fm[path].data, "{path}");
    }
    assert_eq!(c.config["config"], f.config["config"]);

    run_distill(&["check".as_ref(), fx.path("c").as_os_str()]).expect_code(0);
}

#[test]
fn rebuilds_come_from_the_build_record_and_the_layer_cache() {
    let fx = Fixture::new(layers_repo("1.0"));
    let spec = spec_all(&fx, "all", "");
    let (first, d1) = built(&fx, &spec, "out", &[]);
    assert!(!first.stderr.contains("from the build cache"), "{}", first.stderr);
    let layers1 = json_layers(&d1);

    // Same inputs: the record is replayed, into a fresh directory too.
    let (second, d2) = built(&fx, &spec, "again", &[]);
    second.stderr_has(&["from the build cache"]);
    assert_eq!(d2["digest"], d1["digest"]);
    assert_eq!(field(&json_layers(&d2), "digest"), field(&layers1, "digest"));
    assert_eq!(std::fs::read(fx.path("again/index.json")).unwrap(), std::fs::read(fx.path("out/index.json")).unwrap());
    let (a, b) =
        (read_platform(&fx.path("out"), "latest", "amd64"), read_platform(&fx.path("again"), "latest", "amd64"));
    assert_eq!(a.merged_dump(), b.merged_dump());
    run_distill(&["check".as_ref(), fx.path("again").as_os_str()]).expect_code(0);

    // Without build records, every layer comes from the layer cache.
    std::fs::remove_dir_all(fx.path("cache/builds")).unwrap();
    let (third, d3) = built(&fx, &spec, "third", &[]);
    assert!(!third.stderr.contains("from the build cache"), "{}", third.stderr);
    assert_eq!(d3["digest"], d1["digest"]);
    let layers3 = json_layers(&d3);
    assert_eq!(field(&layers3, "digest"), field(&layers1, "digest"));
    assert_eq!(cached(&layers3), [true; 3], "{d3:#}");

    // A config-only edit: a new manifest over the same, cached layers.
    let edited = spec_all(&fx, "all", "image:\n  env:\n    GREETING: hi\n");
    assert_eq!(edited, spec);
    let (fourth, d4) = built(&fx, &spec, "fourth", &[]);
    assert!(!fourth.stderr.contains("from the build cache"), "{}", fourth.stderr);
    assert_ne!(d4["digest"], d1["digest"]);
    assert_ne!(d4["architectures"][0]["manifest"], d1["architectures"][0]["manifest"]);
    let layers4 = json_layers(&d4);
    assert_eq!(field(&layers4, "digest"), field(&layers1, "digest"));
    assert_eq!(cached(&layers4), [true; 3], "{d4:#}");
    let img = read_platform(&fx.path("fourth"), "latest", "amd64");
    assert!(strs(&img.config["config"]["Env"]).contains(&"GREETING=hi".to_string()), "{:#}", img.config);
}

#[test]
fn zstd_layers_hold_the_same_tars_as_gzip_layers() {
    let fx = Fixture::new(layers_repo("1.0"));
    let spec = spec_all(&fx, "all", "");
    let (_, gz) = built(&fx, &spec, "gz", &[]);
    let (_, zst) = built(&fx, &spec, "zst", &["--compression", "zstd"]);
    let (lg, lz) = (json_layers(&gz), json_layers(&zst));
    assert_eq!(lz.len(), lg.len());
    assert_eq!(field(&lz, "media_type"), vec![ZSTD; lz.len()]);
    assert_eq!(field(&lz, "diff_id"), field(&lg, "diff_id"), "the same tar streams");
    assert_eq!(
        lz.iter().map(|l| &l["uncompressed_size"]).collect::<Vec<_>>(),
        lg.iter().map(|l| &l["uncompressed_size"]).collect::<Vec<_>>()
    );
    for (z, g) in lz.iter().zip(&lg) {
        assert_ne!(z["digest"], g["digest"]);
    }
    assert_ne!(zst["digest"], gz["digest"]);
    // Read back: the zstd blobs decompress to tars with those diff_ids.
    let img = read_platform(&fx.path("zst"), "latest", "amd64");
    assert_json_matches_manifest(&lz, &img);
    assert!(img.layers.iter().all(|l| l.descriptor["mediaType"] == ZSTD));
    assert_eq!(img.merged_dump(), read_platform(&fx.path("gz"), "latest", "amd64").merged_dump());
    run_distill(&["check".as_ref(), fx.path("zst").as_os_str()]).expect_code(0);
}

fn two_arch_fixture() -> (Fixture, PathBuf) {
    let repo = RepoBuilder::new()
        .archs(&["amd64", "arm64"])
        .add(SUITE, tool_deb("amd64", b"#!tool for amd64\n"))
        .add(SUITE, tool_deb("arm64", b"#!tool for arm64\n"))
        .add(
            SUITE,
            DebBuilder::new("greet-data", "1.0").arch("all").file("./usr/share/greet/words", 0o644, b"hi\n").build(),
        );
    let fx = Fixture::new(repo);
    let spec = fx.spec("two").archs(&["amd64", "arm64"]).packages(&["tool", "greet-data"]).write(&fx.path("two.yaml"));
    (fx, spec)
}

#[test]
fn arch_option_builds_only_that_platform() {
    let (fx, spec) = two_arch_fixture();
    let (_, one) = built(&fx, &spec, "arm", &["--arch", "arm64"]);
    let archs = one["architectures"].as_array().unwrap();
    assert_eq!(archs.iter().map(|a| a["architecture"].as_str().unwrap()).collect::<Vec<_>>(), ["arm64"]);
    let img = read_platform(&fx.path("arm"), "latest", "arm64");
    let platforms: Vec<&Value> = img.index["manifests"].as_array().unwrap().iter().map(|m| &m["platform"]).collect();
    assert_eq!(platforms, [&serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"})]);
    assert_eq!(img.config["architecture"], "arm64");
    assert_eq!(img.merged()["/usr/bin/tool"].data, b"#!tool for arm64\n");

    // The whole spec: both platforms, the arm64 one the same manifest.
    let (_, both) = built(&fx, &spec, "both", &[]);
    let all = read_platform(&fx.path("both"), "latest", "arm64");
    assert_eq!(all.index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(all.manifest_digest, img.manifest_digest);
    assert_ne!(both["digest"], one["digest"]);
    assert_eq!(
        read_platform(&fx.path("both"), "latest", "amd64").merged()["/usr/bin/tool"].data,
        b"#!tool for amd64\n"
    );
}

#[test]
fn arch_option_outside_the_spec_fails_naming_its_archs() {
    let (fx, spec) = two_arch_fixture();
    let run = build_json(&fx, &spec, "s390x", &["--arch", "s390x"]);
    assert_ne!(run.code, 0, "{run:?}");
    run.stderr_has(&["s390x", &spec.display().to_string(), "amd64, arm64"]);
    assert!(!fx.path("s390x").exists());
}

#[test]
fn md5sums_list_only_files_in_the_image() {
    // The helper itself against RFC 1321's test suite.
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        md5_hex(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
    let fx = Fixture::new(layers_repo("1.0"));
    let spec = fx.spec("md5").packages(&["tool", "small"]).write(&fx.path("md5.yaml"));
    built(&fx, &spec, "out", &[]);
    let img = read_platform(&fx.path("out"), "latest", "amd64");
    let merged = img.merged();
    let text =
        |p: &str| String::from_utf8(merged.get(p).unwrap_or_else(|| panic!("{p} missing")).data.clone()).unwrap();
    // The .deb's md5sums, without the changelog and manual the default path filter drops.
    let want: String = tool_files()
        .iter()
        .filter(|(p, _)| !p.ends_with("changelog.gz") && !p.starts_with("usr/share/man/"))
        .map(|(p, d)| format!("{}  {p}\n", md5_hex(d)))
        .collect();
    assert_eq!(text("/var/lib/dpkg/status.d/tool.md5sums"), want);
    for line in want.lines() {
        let (sum, path) = line.split_once("  ").unwrap();
        assert_eq!(md5_hex(&merged[&format!("/{path}")].data), sum, "{path} in the image");
    }
    assert!(!merged.contains_key("/usr/share/doc/tool/changelog.gz"));
    // A package without an md5sums member gets one computed from its
    // files in the image, as dpkg computes them when unpacking.
    assert!(merged.contains_key("/var/lib/dpkg/status.d/small"));
    assert_eq!(
        text("/var/lib/dpkg/status.d/small.md5sums"),
        format!(
            "{}  usr/bin/small\n{}  usr/share/doc/small/copyright\n",
            md5_hex(b"#!small 1.0\n"),
            md5_hex(b"small test fixture, public domain\n")
        )
    );
}

/// Whiteouts the child's layer carries, as absolute `.wh.` paths.
fn whiteouts(layer: &ReadLayer) -> Vec<String> {
    layer.entries.keys().filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(".wh."))).cloned().collect()
}

/// Every whiteout of `layer` sits in a directory the layer states, and
/// under no path the layer whites out. Docker's and containerd's appliers
/// create a whiteout's missing parent directories, and resolve symlinks
/// in its parent path, before removing its target: a whiteout inside a
/// removed directory brings that directory back, and one behind a
/// symlink removes a file where the link points.
#[track_caller]
fn assert_whiteouts_sound(layer: &ReadLayer) {
    let all = whiteouts(layer);
    for w in &all {
        let dir = w.rsplit_once('/').unwrap().0;
        let desc = layer.entries.get(dir).map(|e| e.desc.as_str());
        assert!(desc.is_some_and(|d| d.starts_with("dir ")), "whiteout {w} in {dir}, which the layer has as {desc:?}");
        let mut cur = dir;
        while let Some((parent, name)) = cur.rsplit_once('/') {
            let gone = format!("{parent}/.wh.{name}");
            assert!(!all.contains(&gone), "whiteout {w} lies under {cur}, which {gone} removes: {all:?}");
            cur = parent;
        }
    }
}

#[test]
fn removed_sibling_directories_get_one_whiteout_each_and_none_inside() {
    // `python3` and `python3.11` are siblings, and in byte order
    // `/usr/lib/python3.11` sorts between `/usr/lib/python3` and
    // `/usr/lib/python3/…` ('.' < '/'). A child whose path filter drops
    // both must white out the two directories and nothing under them: a
    // whiteout inside a directory the same layer removes makes Docker and
    // containerd recreate that directory (they create a missing parent
    // before they handle a whiteout), so the directory would come back.
    let repo = RepoBuilder::new().add(
        SUITE,
        DebBuilder::new("py", "1.0")
            .file("./usr/lib/python3/dist-packages/a.py", 0o644, b"a\n")
            .file("./usr/lib/python3/b.py", 0o644, b"b\n")
            .file("./usr/lib/python3.11/os.py", 0o644, b"os\n")
            .file("./usr/lib/keep.txt", 0o644, b"kept\n")
            .build(),
    );
    let fx = Fixture::new(repo);
    let parent = fx.spec("p").packages(&["py"]).write(&fx.path("p.yaml"));
    let child = fx.path("c.yaml");
    std::fs::write(
        &child,
        "name: c\nextends: p.yaml\npackages: []\npaths:\n  exclude: [/usr/share/doc, /usr/lib/python3*]\n",
    )
    .unwrap();
    built(&fx, &parent, "p", &[]);
    built(&fx, &child, "c", &[]);
    let c = read_platform(&fx.path("c"), "latest", "amd64");
    assert_eq!(c.layers.len(), 2, "the parent's layer and one of the child's");
    let top = &c.layers[1];
    assert_eq!(whiteouts(top), ["/usr/lib/.wh.python3", "/usr/lib/.wh.python3.11"], "{:#?}", top.non_dirs());
    assert_whiteouts_sound(top);
    let merged = c.merged();
    assert!(merged.contains_key("/usr/lib/keep.txt"));
    assert!(!merged.keys().any(|p| p.starts_with("/usr/lib/python3")), "{:?}", merged.keys().collect::<Vec<_>>());
}

#[test]
fn a_source_package_named_rest_still_gets_its_own_layer() {
    // The last layer is not a source package: a big source that happens
    // to be called `rest` is a group like any other.
    let repo = RepoBuilder::new()
        .add(
            SUITE,
            DebBuilder::new("librest1", "1.0")
                .field("Source", "rest")
                .file("./usr/lib/librest.so.1", 0o644, &noise(1536 * KIB, 4))
                .build(),
        )
        .add(SUITE, DebBuilder::new("small", "1.0").file("./usr/bin/small", 0o755, b"#!small\n").build());
    let fx = Fixture::new(repo);
    let spec = fx.spec("r").packages(&["librest1", "small"]).write(&fx.path("r.yaml"));
    let (_, doc) = built(&fx, &spec, "out", &[]);
    assert_eq!(layer_packages(&json_layers(&doc)), [vec!["librest1"], vec!["small"]], "{doc:#}");
    let img = read_platform(&fx.path("out"), "latest", "amd64");
    assert!(!img.layers[0].has("/etc/passwd"), "generated files belong in the last layer only");
}

#[test]
fn a_parent_directory_turned_symlink_leaves_no_whiteout_behind_the_link() {
    // The parent ships /opt/d/f; the child adds a package making /opt/d a
    // link to /opt/a, so f moves to /opt/a/f (the merged-/usr rule). The
    // child's layer must white out the directory /opt/d and nothing
    // through the link: `/opt/d/.wh.f`, applied after the link, would
    // remove /opt/a/f.
    let repo =
        RepoBuilder::new().add(SUITE, DebBuilder::new("olddir", "1.0").file("./opt/d/f", 0o644, b"f\n").build()).add(
            SUITE,
            DebBuilder::new("newlink", "1.0")
                .dir("./opt/", 0o755)
                .dir("./opt/a/", 0o755)
                .symlink("./opt/d", "a")
                .build(),
        );
    let fx = Fixture::new(repo);
    let parent = fx.spec("p").packages(&["olddir"]).write(&fx.path("p.yaml"));
    let child = fx.path("c.yaml");
    std::fs::write(&child, "name: c\nextends: p.yaml\npackages: [newlink]\n").unwrap();
    let flat = fx.spec("flat").packages(&["olddir", "newlink"]).write(&fx.path("flat.yaml"));
    built(&fx, &parent, "p", &[]);
    built(&fx, &child, "c", &[]);
    built(&fx, &flat, "flat", &[]);
    let c = read_platform(&fx.path("c"), "latest", "amd64");
    let top = c.layers.last().unwrap();
    assert_eq!(top.entries.get("/opt/d").map(|e| e.desc.as_str()), Some("symlink -> a"));
    assert!(top.has("/opt/.wh.d") && top.has("/opt/a/f"), "{:?}", top.non_dirs());
    assert_whiteouts_sound(top);
    let f = read_platform(&fx.path("flat"), "latest", "amd64");
    assert_eq!(c.merged_dump(), f.merged_dump());
}
