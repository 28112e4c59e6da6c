//! `distill inspect`: OCI layouts written by the test itself (blobs named
//! by their SHA-256, gzip / plain / zstd tar layers with `status.d` files,
//! md5sums, Conffiles, whiteouts and a hard link), inspected by the real
//! binary; every expected number is computed from what the test wrote.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{run_distill, sha256_hex, Outcome};
use serde_json::{json, Value};

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const STATUS_D: &str = "var/lib/dpkg/status.d";

/// One tar entry to write.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, Vec<u8>),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// A layer as written: its blob, media type, uncompressed tar and the
/// number of tar entries.
#[derive(Clone)]
struct Layer {
    media_type: &'static str,
    blob: Vec<u8>,
    tar: Vec<u8>,
    entries: u64,
}

impl Layer {
    fn digest(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.blob))
    }
    fn diff_id(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.tar))
    }
}

fn layer(media_type: &'static str, entries: &[E]) -> Layer {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, data.as_slice()).unwrap();
            }
            E::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                h.set_link_name(target).unwrap();
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::HardLink(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                h.set_link_name(target).unwrap();
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
        }
    }
    let tar = b.into_inner().unwrap();
    let blob = match media_type {
        GZIP => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&tar).unwrap();
            gz.finish().unwrap()
        }
        ZSTD => zstd::encode_all(tar.as_slice(), 3).unwrap(),
        _ => tar.clone(),
    };
    Layer { media_type, blob, tar, entries: entries.len() as u64 }
}

/// Write `data` as a blob of the layout at `dir`; its descriptor.
fn blob(dir: &Path, media_type: &str, data: &[u8]) -> Value {
    let hex = sha256_hex(data);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&hex), data).unwrap();
    json!({ "mediaType": media_type, "digest": format!("sha256:{hex}"), "size": data.len() })
}

/// An OCI layout tagged `latest`: an image index over one manifest per
/// `(architecture, variant, layers)`. Returns the manifest digests.
fn write_layout(dir: &Path, images: &[(&str, Option<&str>, Vec<&Layer>)]) -> Vec<String> {
    let mut manifests = Vec::new();
    let mut digests = Vec::new();
    for (arch, variant, layers) in images {
        let mut platform = json!({ "os": "linux", "architecture": arch });
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        let mut config = platform.clone();
        config["rootfs"] =
            json!({ "type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id()).collect::<Vec<_>>() });
        let cd = blob(dir, "application/vnd.oci.image.config.v1+json", &serde_json::to_vec(&config).unwrap());
        for l in layers {
            blob(dir, l.media_type, &l.blob);
        }
        let lds: Vec<Value> = layers
            .iter()
            .map(|l| json!({ "mediaType": l.media_type, "digest": l.digest(), "size": l.blob.len() }))
            .collect();
        let m = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cd, "layers": lds });
        let mut md = blob(dir, "application/vnd.oci.image.manifest.v1+json", &serde_json::to_vec(&m).unwrap());
        digests.push(md["digest"].as_str().unwrap().to_string());
        md["platform"] = platform;
        manifests.push(md);
    }
    let idx =
        json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
    let mut id = blob(dir, "application/vnd.oci.image.index.v1+json", &serde_json::to_vec(&idx).unwrap());
    id["annotations"] = json!({ "org.opencontainers.image.ref.name": "latest" });
    let top = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [id] });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    digests
}

/// `n` pseudo-random bytes (seeded by `seed`), so that compressed sizes
/// are close to the file sizes.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn md5line(path: &str) -> String {
    format!("{}  {path}\n", "0123456789abcdef0123456789abcdef")
}

const A_BIN: usize = 300_000;
const LIBA_OLD: usize = 5_000;
const LIBA: usize = 1_200_000;
const A_CONF: usize = 40;
const B_DATA: usize = 700_000;
const B_KEEP: usize = 11;
const GENERATED: usize = 100;
const OPT_OLD: usize = 50;
const C_BIN: usize = 2_500_000;
const OPT_NEW: usize = 20;
const D_BIN: usize = 1_234;
const E_BIN: usize = 400_000;

fn status(name: &str, extra: &str) -> Vec<u8> {
    format!("Package: {name}\nStatus: install ok installed\nVersion: 1.0\n{extra}").into_bytes()
}

/// The test's images: A (amd64: base + upper, arm64: one plain tar layer)
/// and B (amd64: base + a zstd layer), sharing the base layer.
struct World {
    _tmp: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    base: Layer,
    upper: Layer,
    arm: Layer,
    zst: Layer,
    a_manifests: Vec<String>,
    /// Sizes of generated files (status.d, md5sums).
    status_a: usize,
    md5sums_a: usize,
    status_b: usize,
    status_c: usize,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let status_a = status("pkga", "Conffiles:\n /etc/a.conf 0123456789abcdef0123456789abcdef\n");
    let md5sums_a = format!("{}{}", md5line("usr/bin/a"), md5line("usr/lib/liba.so")).into_bytes();
    let status_b = status("pkgb", "");
    let status_c = status("pkgc", "");
    let base = layer(
        GZIP,
        &[
            E::Dir("etc/"),
            E::Dir("opt/"),
            E::Dir("opt/old/"),
            E::Dir("usr/"),
            E::Dir("usr/bin/"),
            E::Dir("usr/lib/"),
            E::Dir("usr/share/"),
            E::Dir("usr/share/b/"),
            E::Dir("var/"),
            E::Dir("var/lib/"),
            E::Dir("var/lib/dpkg/"),
            E::Dir(&format!("{STATUS_D}/")),
            E::File(&format!("{STATUS_D}/pkga"), status_a.clone()),
            E::File(&format!("{STATUS_D}/pkga.md5sums"), md5sums_a.clone()),
            E::File(&format!("{STATUS_D}/pkgb"), status_b.clone()),
            E::File("etc/a.conf", bytes(A_CONF, b'c')),
            E::File("etc/generated", bytes(GENERATED, b'g')),
            E::File("opt/old/x", bytes(OPT_OLD, b'o')),
            E::File("usr/bin/a", bytes(A_BIN, 1)),
            E::HardLink("usr/bin/a-link", "usr/bin/a"),
            E::Symlink("usr/bin/a-sym", "a"),
            E::File("usr/lib/liba.so", bytes(LIBA_OLD, 2)),
            E::File("usr/share/b/data", bytes(B_DATA, 3)),
            E::File("usr/share/b/keep", bytes(B_KEEP, 4)),
        ],
    );
    let upper = layer(
        GZIP,
        &[
            E::File(&format!("{STATUS_D}/pkgc"), status_c.clone()),
            E::File("usr/bin/c", bytes(C_BIN, 5)),
            E::File("usr/share/b/.wh.data", vec![]),
            E::File("opt/.wh..wh..opq", vec![]),
            E::File("opt/new", bytes(OPT_NEW, 6)),
            E::File("usr/lib/liba.so", bytes(LIBA, 7)),
        ],
    );
    let arm = layer(
        TAR,
        &[
            E::Dir("usr/"),
            E::Dir("usr/bin/"),
            E::File(&format!("{STATUS_D}/pkgd"), status("pkgd", "")),
            E::File("usr/bin/d", b"d-binary".repeat(D_BIN / 8 + 1)[..D_BIN].to_vec()),
        ],
    );
    let zst =
        layer(ZSTD, &[E::File(&format!("{STATUS_D}/pkge"), status("pkge", "")), E::File("usr/bin/e", bytes(E_BIN, 8))]);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let a_manifests = write_layout(&a, &[("amd64", None, vec![&base, &upper]), ("arm64", Some("v8"), vec![&arm])]);
    write_layout(&b, &[("amd64", None, vec![&base, &zst])]);
    World {
        _tmp: tmp,
        a,
        b,
        base,
        upper,
        arm,
        zst,
        a_manifests,
        status_a: status_a.len(),
        md5sums_a: md5sums_a.len(),
        status_b: status_b.len(),
        status_c: status_c.len(),
    }
}

fn inspect(args: &[&str]) -> Outcome {
    let args: Vec<&std::ffi::OsStr> =
        std::iter::once("inspect").chain(args.iter().copied()).map(std::ffi::OsStr::new).collect();
    run_distill(&args)
}

fn inspect_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = inspect(&all);
    out.expect_code(0);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", out.stdout))
}

fn mb(n: usize) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
}

#[track_caller]
fn has_line(text: &str, parts: &[&str]) {
    assert!(text.lines().any(|l| parts.iter().all(|p| l.contains(p))), "no line with all of {parts:?} in:\n{text}");
}

fn layer_json(l: &Layer) -> Value {
    json!({
        "digest": l.digest(),
        "media_type": l.media_type,
        "compressed_size": l.blob.len(),
        "uncompressed_size": l.tar.len(),
    })
}

#[test]
fn json_reports_layers_files_and_packages_per_platform() {
    let w = world();
    let a = w.a.to_str().unwrap();
    let doc = inspect_json(&[a]);
    assert_eq!(doc["comparison"], Value::Null);
    let image = &doc["images"][0];
    assert_eq!(image["image"], a);
    assert_eq!(image["tag"], "latest");
    let platforms = image["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    let p = &platforms[0];
    assert_eq!(p["platform"], "linux/amd64");
    assert_eq!(p["manifest"], w.a_manifests[0]);
    assert_eq!(platforms[1]["platform"], "linux/arm64/v8");
    assert_eq!(platforms[1]["manifest"], w.a_manifests[1]);

    // Layers: sizes of what was written, entries, packages, whiteouts.
    let layers = p["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (i, (got, l)) in layers.iter().zip([&w.base, &w.upper]).enumerate() {
        assert_eq!(got["index"], i);
        assert_eq!(got["digest"], l.digest());
        assert_eq!(got["diff_id"], l.diff_id());
        assert_eq!(got["media_type"], GZIP);
        assert_eq!(got["compressed_size"], l.blob.len() as u64);
        assert_eq!(got["uncompressed_size"], l.tar.len() as u64);
        assert_eq!(got["entries"], l.entries);
    }
    assert_eq!(layers[0]["packages"], json!(["pkga", "pkgb"]));
    assert_eq!(layers[1]["packages"], json!(["pkgc"]));
    assert_eq!(layers[0]["whiteouts"], 0);
    assert_eq!(layers[1]["whiteouts"], 2);
    assert_eq!(
        layers[0]["file_bytes"],
        (w.status_a + w.md5sums_a + w.status_b + A_CONF + GENERATED + OPT_OLD + A_BIN + LIBA_OLD + B_DATA + B_KEEP)
            as u64
    );
    assert_eq!(p["compressed_size"], (w.base.blob.len() + w.upper.blob.len()) as u64);
    assert_eq!(p["uncompressed_size"], (w.base.tar.len() + w.upper.tar.len()) as u64);

    // The merged filesystem: the whiteouts removed usr/share/b/data and
    // opt/old (opaque), the upper layer replaced liba.so, the hard link
    // counts once.
    let total = w.status_a
        + w.md5sums_a
        + w.status_b
        + A_CONF
        + GENERATED
        + A_BIN
        + LIBA
        + B_KEEP
        + w.status_c
        + C_BIN
        + OPT_NEW;
    assert_eq!(p["filesystem"]["files"], 11);
    assert_eq!(p["filesystem"]["file_bytes"], total as u64);
    let top = p["largest_files"].as_array().unwrap();
    assert_eq!(top.len(), 11, "all files when fewer than --top (15)");
    assert_eq!(top[0], json!({ "path": "/usr/bin/c", "size": C_BIN, "package": "pkgc", "layer": 1, "hardlinks": [] }));
    assert_eq!(
        top[1],
        json!({ "path": "/usr/lib/liba.so", "size": LIBA, "package": "pkga", "layer": 1, "hardlinks": [] })
    );
    assert_eq!(
        top[2],
        json!({ "path": "/usr/bin/a", "size": A_BIN, "package": "pkga", "layer": 0, "hardlinks": ["/usr/bin/a-link"] })
    );
    let paths: Vec<&str> = top.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(!paths.contains(&"/usr/share/b/data") && !paths.contains(&"/opt/old/x"), "{paths:?}");
    let generated = top.iter().find(|f| f["path"] == "/etc/generated").unwrap();
    assert_eq!(generated["package"], Value::Null);

    // Ownership: pkga by md5sums (+ Conffiles), pkgc as the only package of
    // its layer, pkgb shares its layer and has no md5sums.
    let pk = &p["packages"];
    assert_eq!(
        pk["packages"],
        json!([
            { "name": "pkgc", "size": C_BIN + OPT_NEW + w.status_c, "files": 3, "source": "layer" },
            { "name": "pkga", "size": A_BIN + LIBA + A_CONF, "files": 3, "source": "md5sums" },
        ])
    );
    let owned = C_BIN + OPT_NEW + w.status_c + A_BIN + LIBA + A_CONF;
    assert_eq!(pk["total_bytes"], total as u64);
    assert_eq!(pk["owned_bytes"], owned as u64);
    assert_eq!(pk["unattributed_bytes"], (total - owned) as u64);
    assert_eq!(pk["unattributed_files"], 5);
    assert_eq!(pk["installed"], 3);
    assert_eq!(pk["without_ownership"], json!(["pkgb"]));

    // arm64: an uncompressed layer.
    let arm = &platforms[1];
    assert_eq!(arm["layers"][0]["media_type"], TAR);
    assert_eq!(arm["layers"][0]["compressed_size"], w.arm.tar.len() as u64);
    assert_eq!(arm["layers"][0]["uncompressed_size"], w.arm.tar.len() as u64);
    assert_eq!(arm["largest_files"][0]["path"], "/usr/bin/d");
    assert_eq!(arm["largest_files"][0]["size"], D_BIN as u64);
    assert_eq!(
        arm["packages"]["packages"],
        json!([{ "name": "pkgd", "size": D_BIN + status("pkgd", "").len(), "files": 2, "source": "layer" }])
    );
    assert_eq!(arm["packages"]["unattributed_bytes"], 0);
    assert_eq!(arm["packages"]["without_ownership"], json!([]));
}

#[test]
fn arch_and_top_select() {
    let w = world();
    let a = w.a.to_str().unwrap();
    let doc = inspect_json(&[a, "--arch", "arm64", "--top", "1"]);
    let platforms = doc["images"][0]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 1);
    assert_eq!(platforms[0]["platform"], "linux/arm64/v8");
    assert_eq!(platforms[0]["largest_files"].as_array().unwrap().len(), 1);
    let doc = inspect_json(&[&format!("{a}:latest"), "--arch", "amd64", "--top", "2"]);
    let platforms = doc["images"][0]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 1);
    assert_eq!(platforms[0]["platform"], "linux/amd64");
    let top: Vec<&str> =
        platforms[0]["largest_files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(top, ["/usr/bin/c", "/usr/lib/liba.so"]);
}

#[test]
fn two_images_share_their_base_layer() {
    let w = world();
    let (a, b) = (w.a.to_str().unwrap(), w.b.to_str().unwrap());
    let doc = inspect_json(&[a, b]);
    assert_eq!(doc["images"].as_array().unwrap().len(), 2);
    let zst = &doc["images"][1]["platforms"][0]["layers"][1];
    assert_eq!(zst["media_type"], ZSTD);
    assert_eq!(zst["uncompressed_size"], w.zst.tar.len() as u64);
    assert_eq!(zst["packages"], json!(["pkge"]));
    let c = &doc["comparison"];
    assert_eq!(c["a"], format!("{a}:latest"));
    assert_eq!(c["b"], format!("{b}:latest"));
    assert_eq!(c["platforms_only_in_a"], json!(["linux/arm64/v8"]));
    assert_eq!(c["platforms_only_in_b"], json!([]));
    assert_eq!(
        c["platforms"],
        json!([{
            "platform": "linux/amd64",
            "shared": [layer_json(&w.base)],
            "shared_compressed_size": w.base.blob.len(),
            "shared_uncompressed_size": w.base.tar.len(),
            "only_in_a": [layer_json(&w.upper)],
            "only_in_b": [layer_json(&w.zst)],
        }])
    );

    // The table.
    let out = inspect(&[a, b]);
    out.expect_code(0);
    let t = &out.stdout;
    has_line(t, &[&format!("A = {a}:latest"), &format!("B = {b}:latest")]);
    has_line(t, &["linux/amd64:", "1 shared layer(s)", &mb(w.base.blob.len())]);
    has_line(t, &["A and B", &mb(w.base.blob.len()), &mb(w.base.tar.len()), &w.base.digest()]);
    has_line(t, &["A only", &w.upper.digest()]);
    has_line(t, &["B only", &w.zst.digest()]);
    has_line(t, &["linux/arm64/v8: only in A"]);
}

#[test]
fn table_shows_layers_largest_files_and_packages() {
    let w = world();
    let a = w.a.to_str().unwrap();
    let out = inspect(&[a, "--arch", "amd64"]);
    out.expect_code(0);
    let t = &out.stdout;
    assert!(!t.contains("arm64"), "{t}");
    has_line(t, &[&format!("{a}:latest"), "linux/amd64"]);
    has_line(t, &["manifest", &w.a_manifests[0]]);
    // Layer rows: index, compressed, uncompressed, entries, type, digest.
    for (i, l) in [&w.base, &w.upper].iter().enumerate() {
        has_line(
            t,
            &[
                &format!("  {i}  "),
                &mb(l.blob.len()),
                &mb(l.tar.len()),
                &format!(" {} ", l.entries),
                "tar+gzip",
                &l.digest(),
            ],
        );
        has_line(t, &["diff_id", &l.diff_id()]);
    }
    has_line(t, &["pkga pkgb"]);
    has_line(t, &["2 whiteout(s)"]);
    // Largest files: size, layer, package, path.
    has_line(t, &[&mb(C_BIN), " 1 ", "pkgc", "/usr/bin/c"]);
    has_line(t, &[&mb(A_BIN), " 0 ", "pkga", "/usr/bin/a (also /usr/bin/a-link)"]);
    has_line(t, &["-", "/etc/generated"]);
    // Per package, then the totals.
    has_line(t, &[&mb(C_BIN + OPT_NEW + w.status_c), "3", "pkgc", "layer"]);
    has_line(t, &[&mb(A_BIN + LIBA + A_CONF), "3", "pkga", "md5sums"]);
    has_line(t, &["5", "generated/unattributed"]);
    has_line(t, &["11", "total"]);
    has_line(t, &["1 package(s) without file ownership"]);
    // The package table is sorted by size, largest first.
    let table = &t[t.find("installed size by package (3 installed)").expect("package table")..];
    let (c, a_row) = (table.find("  pkgc  ").unwrap(), table.find("  pkga  ").unwrap());
    assert!(c < a_row, "{table}");
}

#[test]
fn errors_name_the_file_tag_or_blob() {
    let w = world();
    let a = w.a.to_str().unwrap();

    let missing = w.a.parent().unwrap().join("nope");
    let out = inspect(&[missing.to_str().unwrap()]);
    out.expect_code(1).stderr_has(&["nope:latest", "nope/index.json"]);

    inspect(&[&format!("{a}:v9")]).expect_code(1).stderr_has(&["no image tagged \"v9\" (tags: latest)"]);

    inspect(&[a, "--arch", "s390x"])
        .expect_code(2)
        .stderr_has(&["--arch s390x: not an architecture of", "allowed: linux/amd64, linux/arm64/v8"]);

    // One byte of a file in the uncompressed arm64 layer changed: the tar
    // is still valid, only its digest tells; amd64 alone still reads.
    let path = w.a.join("blobs/sha256").join(&w.arm.digest()[7..]);
    let mut tar = w.arm.tar.clone();
    let at = tar.windows(8).position(|x| x == b"d-binary").unwrap();
    tar[at] = b'D';
    std::fs::write(&path, &tar).unwrap();
    inspect(&[a]).expect_code(1).stderr_has(&[&format!("layer {}", w.arm.digest()), "digest mismatch"]);
    inspect(&[a, "--arch", "amd64"]).expect_code(0);
    assert!(inspect(&[a, "--arch", "arm64", "--json"]).stdout.is_empty());

    // The shared layer is verified in each layout: B's copy has a trailing byte.
    let b = w.b.to_str().unwrap();
    let path = w.b.join("blobs/sha256").join(&w.base.digest()[7..]);
    std::fs::write(&path, [w.base.blob.as_slice(), b"x"].concat()).unwrap();
    inspect(&[a, b, "--arch", "amd64"]).expect_code(1).stderr_has(&[
        &format!("{b}:latest: layer {}", w.base.digest()),
        &format!("layer blob is longer than its size {}", w.base.blob.len()),
    ]);
    inspect(&[a, "--arch", "amd64"]).expect_code(0);
}
