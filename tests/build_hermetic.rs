//! Hermetic end-to-end tests: every build reads a Debian-style archive
//! made in the test, signed with a TEST-ONLY key, served on 127.0.0.1.
//! Each test runs the real `distill` binary and checks its exit code,
//! messages, the OCI layout and the cache.

mod common;

use std::collections::BTreeMap;

use common::*;

const SUITE: &str = "testing";

/// `hello` → `libgreet` → `greet-data`, with a symlink, a hard link, docs
/// to be filtered and a copyright to be kept.
fn hello_repo() -> RepoBuilder {
    RepoBuilder::new()
        .add(
            SUITE,
            DebBuilder::new("hello", "1.0-1")
                .depends("libgreet1 (>= 1.0)")
                .dir("./usr/", 0o755)
                .dir("./usr/bin/", 0o755)
                .file("./usr/bin/hello", 0o755, b"#!hello binary\n")
                .symlink("./usr/bin/hi", "hello")
                .hardlink("./usr/bin/hello2", "./usr/bin/hello")
                .dir("./usr/share/", 0o755)
                .dir("./usr/share/doc/", 0o755)
                .dir("./usr/share/doc/hello/", 0o755)
                .file("./usr/share/doc/hello/copyright", 0o644, b"hello copyright\n")
                .file("./usr/share/doc/hello/changelog.gz", 0o644, b"not really gzip")
                .dir("./usr/share/man/", 0o755)
                .dir("./usr/share/man/man1/", 0o755)
                .file("./usr/share/man/man1/hello.1.gz", 0o644, b"manual")
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("libgreet1", "1.2-3")
                .multi_arch("same")
                .pre_depends("greet-data")
                .dir("./usr/lib/x86_64-linux-gnu/", 0o755)
                .file("./usr/lib/x86_64-linux-gnu/libgreet.so.1.2", 0o644, b"\x7fELF greet")
                .symlink("./usr/lib/x86_64-linux-gnu/libgreet.so.1", "libgreet.so.1.2")
                .file("./usr/share/doc/libgreet1/copyright", 0o644, b"libgreet copyright\n")
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("greet-data", "2024.1")
                .arch("all")
                .multi_arch("foreign")
                .file("./usr/share/greet/words.txt", 0o644, b"hello\nworld\n")
                .build(),
        )
        .add(
            SUITE,
            // Not requested by anything: must stay out of the image.
            DebBuilder::new("unrelated", "9.9").file("./usr/bin/unrelated", 0o755, b"nope").build(),
        )
}

fn hello_spec(fx: &Fixture) -> std::path::PathBuf {
    fx.spec("hello").packages(&["hello"]).entrypoint(&["/usr/bin/hello"]).write(&fx.path("hello.yaml"))
}

fn is_digest(s: &str) -> bool {
    s.len() == 71
        && s.starts_with("sha256:")
        && s[7..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn builds_image_from_signed_repo() {
    let fx = Fixture::new(hello_repo());
    let run = fx.build(&hello_spec(&fx));
    run.expect_code(0);
    let digest = run.last_line();
    assert!(is_digest(digest), "last stdout line is not a digest: {:?}", run.stdout);

    let image = read_image(&fx.path("out"));
    assert_eq!(image.index_digest, digest, "stdout digest is the image index that index.json tags");

    // Package files, with symlinks and hard links preserved and docs filtered.
    let want: BTreeMap<String, String> = [
        ("/usr/bin", "dir 0755".to_string()),
        ("/usr/bin/hello", file_desc(0o755, b"#!hello binary\n")),
        ("/usr/bin/hello2", "hardlink -> /usr/bin/hello".into()),
        ("/usr/bin/hi", "symlink -> hello".into()),
        ("/usr/lib/x86_64-linux-gnu", "dir 0755".into()),
        ("/usr/lib/x86_64-linux-gnu/libgreet.so.1", "symlink -> libgreet.so.1.2".into()),
        ("/usr/lib/x86_64-linux-gnu/libgreet.so.1.2", file_desc(0o644, b"\x7fELF greet")),
        ("/usr/share", "dir 0755".into()),
        ("/usr/share/doc", "dir 0755".into()),
        ("/usr/share/doc/greet-data", "dir 0755".into()),
        ("/usr/share/doc/greet-data/copyright", file_desc(0o644, b"greet-data test fixture, public domain\n")),
        ("/usr/share/doc/hello", "dir 0755".into()),
        ("/usr/share/doc/hello/copyright", file_desc(0o644, b"hello copyright\n")),
        ("/usr/share/doc/libgreet1", "dir 0755".into()),
        ("/usr/share/doc/libgreet1/copyright", file_desc(0o644, b"libgreet copyright\n")),
        ("/usr/share/greet", "dir 0755".into()),
        ("/usr/share/greet/words.txt", file_desc(0o644, b"hello\nworld\n")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(image.dump_under(&["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/share"]), want);
    assert!(!image.has("/usr/share/doc/hello/changelog.gz"));
    assert!(!image.has("/usr/share/man"), "excluded directories are pruned");
    assert!(!image.has("/usr/bin/unrelated"));
    assert_eq!((image.entries["/usr/bin/hello"].uid, image.entries["/usr/bin/hello"].gid), (0, 0));

    // Generated files.
    assert!(
        image.text("/etc/passwd").lines().any(|l| l.starts_with("nonroot:x:65532:65532:")),
        "{}",
        image.text("/etc/passwd")
    );
    assert!(image.text("/etc/passwd").starts_with("root:x:0:0:"));
    assert_eq!(image.dump()["/tmp"], "dir 1777");
    assert_eq!(image.dump()["/home/nonroot"], "dir 0755");
    assert_eq!((image.entries["/home/nonroot"].uid, image.entries["/home/nonroot"].gid), (65532, 65532));
    assert_eq!(image.installed(), vec!["greet-data", "hello", "libgreet1"]);
    let status = image.text("/var/lib/dpkg/status.d/hello");
    assert!(status.starts_with("Package: hello\nStatus: install ok installed\n"), "{status}");
    assert!(status.contains("Version: 1.0-1\n") && status.contains("Depends: libgreet1 (>= 1.0)\n"), "{status}");
    assert!(image.text("/usr/lib/os-release").contains("VERSION_CODENAME=testing"));

    // Config.
    let cfg = &image.config;
    assert_eq!(cfg["config"]["Entrypoint"], serde_json::json!(["/usr/bin/hello"]));
    assert_eq!(cfg["architecture"], "amd64");
    assert_eq!(cfg["os"], "linux");
    assert_eq!(cfg["created"], "2024-06-01T12:00:00Z", "created is the Release Date when SOURCE_DATE_EPOCH is unset");

    // Only the archive on loopback was asked, and only for what was needed.
    let reqs = fx.server.requests();
    assert!(reqs.contains(&format!("GET /dists/{SUITE}/InRelease")), "{reqs:?}");
    assert!(reqs.contains(&format!("GET /dists/{SUITE}/main/binary-amd64/Packages.xz")), "{reqs:?}");
    assert!(!reqs.iter().any(|r| r.contains("unrelated")), "unrequested package fetched: {reqs:?}");
}

#[test]
fn same_inputs_give_same_digest() {
    let fx = Fixture::new(hello_repo());
    let spec = hello_spec(&fx);
    let a = build(&spec, &fx.path("a/out"), &fx.path("a/cache"));
    a.expect_code(0);
    let b = build(&spec, &fx.path("b/image"), &fx.path("b/cache2"));
    b.expect_code(0);
    assert!(is_digest(a.last_line()));
    assert_eq!(a.last_line(), b.last_line());
    let ia = std::fs::read(fx.path("a/out/index.json")).unwrap();
    let ib = std::fs::read(fx.path("b/image/index.json")).unwrap();
    assert_eq!(ia, ib, "index.json is byte-identical");
    assert_eq!(read_image(&fx.path("a/out")).dump(), read_image(&fx.path("b/image")).dump());
}

#[test]
fn rejects_inrelease_signed_by_unknown_key() {
    let fx = Fixture::signed_by(hello_repo(), other_key());
    let run = fx.build(&hello_spec(&fx));
    run.expect_code(4).stderr_has(&[
        &format!("suite {SUITE}"),
        "not signed by any trusted key",
        &other_key().subkey_id,
    ]);
    assert!(!fx.path("out").exists());
    assert!(
        !fx.server.requests().iter().any(|r| r.contains("Packages") || r.contains("pool/")),
        "nothing is fetched past an untrusted InRelease: {:?}",
        fx.server.requests()
    );
}

#[test]
fn rejects_unsigned_release() {
    let fx = Fixture::new(hello_repo());
    let plain = fx.repo.release[SUITE].clone();
    fx.server.tamper(&format!("dists/{SUITE}/InRelease"), plain.into_bytes());
    let run = fx.build(&hello_spec(&fx));
    run.expect_code(4).stderr_has(&[&format!("suite {SUITE}"), "not signed by any trusted key", "not clearsigned"]);
    assert!(!fx.path("out").exists());
}

#[test]
fn rejects_expired_inrelease() {
    let mut repo = hello_repo();
    repo.suite(SUITE).valid_until = Some("Sun, 02 Jun 2024 12:00:00 UTC".into());
    let fx = Fixture::new(repo);
    let run = fx.build(&hello_spec(&fx));
    run.expect_code(4).stderr_has(&[&format!("suite {SUITE}"), "expired", "Valid-Until"]);
    assert!(!fx.path("out").exists());
}

#[test]
fn accepts_inrelease_valid_until_the_future() {
    let mut repo = hello_repo();
    repo.suite(SUITE).valid_until = Some("Fri, 01 Jan 2100 00:00:00 UTC".into());
    let fx = Fixture::new(repo);
    fx.build(&hello_spec(&fx)).expect_code(0);
}

#[test]
fn rejects_index_with_wrong_sha256() {
    let fx = Fixture::new(hello_repo());
    // A well-formed index that lists an extra package: only the digest gives it away.
    let evil = DebBuilder::new("evil", "1").file("./usr/bin/evil", 0o755, b"evil").build();
    let mut text =
        std::fs::read_to_string(fx.repo.root.join(format!("dists/{SUITE}/main/binary-amd64/Packages"))).unwrap();
    text.push('\n');
    text.push_str(&packages_stanza(&evil));
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut xz, text.as_bytes()).unwrap();
    let index_path = format!("dists/{SUITE}/main/binary-amd64/Packages.xz");
    fx.server.tamper(&index_path, xz.finish().unwrap());

    let run = fx.build(&hello_spec(&fx));
    run.expect_code(4).stderr_has(&["checksum mismatch", "main/binary-amd64/Packages.xz"]);
    assert!(!fx.path("out").exists());
    let expected = common::sha256_hex(&std::fs::read(fx.repo.root.join(&index_path)).unwrap());
    assert!(!cache_blobs(&fx.path("cache")).contains(&expected));
    assert!(cache_blobs(&fx.path("cache")).is_empty(), "nothing cached: {:?}", cache_blobs(&fx.path("cache")));
}

#[test]
fn rejects_deb_with_wrong_sha256_and_caches_nothing() {
    let fx = Fixture::new(hello_repo());
    let good = fx.repo.deb("libgreet1").clone();
    let bad = DebBuilder::new("libgreet1", "1.2-3")
        .file("./usr/lib/x86_64-linux-gnu/libgreet.so.1.2", 0o644, b"\x7fELF trojan")
        .build();
    assert_ne!(good.sha256(), bad.sha256());
    fx.server.tamper(&good.pool_path(), bad.bytes.clone());

    let run = fx.build(&hello_spec(&fx));
    run.expect_code(4).stderr_has(&["checksum mismatch", "libgreet1", &good.sha256(), &bad.sha256()]);
    let blobs = cache_blobs(&fx.path("cache"));
    assert!(!blobs.contains(&good.sha256()) && !blobs.contains(&bad.sha256()), "{blobs:?}");
    for b in &blobs {
        let data = std::fs::read(fx.path("cache/blobs/sha256").join(b)).unwrap();
        assert_eq!(&common::sha256_hex(&data), b, "the cache holds only verified blobs");
    }
    assert!(!fx.path("out").exists(), "no layout written");
    let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".out"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn failed_build_keeps_previous_output() {
    let fx = Fixture::new(hello_repo());
    let spec = hello_spec(&fx);
    let first = fx.build(&spec);
    first.expect_code(0);
    let before = std::fs::read(fx.path("out/index.json")).unwrap();

    let good = fx.repo.deb("hello").clone();
    let bad = DebBuilder::new("hello", "1.0-1").file("./usr/bin/hello", 0o755, b"trojan").build();
    fx.server.tamper(&good.pool_path(), bad.bytes);
    // A fresh cache, so the tampered .deb is downloaded.
    let second = build(&spec, &fx.path("out"), &fx.path("cache-2"));
    second.expect_code(4).stderr_has(&["hello"]);

    assert_eq!(std::fs::read(fx.path("out/index.json")).unwrap(), before, "previous index.json unchanged");
    let image = read_image(&fx.path("out"));
    assert_eq!(image.index_digest, first.last_line(), "previous layout still complete");
}

#[test]
fn missing_package_names_it_and_the_chain() {
    let repo = RepoBuilder::new()
        .add(SUITE, DebBuilder::new("a", "1").depends("b").build())
        .add(SUITE, DebBuilder::new("b", "1").depends("zz-missing (>= 2)").build());
    let fx = Fixture::new(repo);
    let spec = fx.spec("missing").packages(&["a"]).write(&fx.path("s.yaml"));
    let run = fx.build(&spec);
    run.expect_code(5).stderr_has(&["zz-missing", "spec → a → b"]);
    assert!(!fx.path("out").exists());
    assert!(!fx.server.requests().iter().any(|r| r.contains("pool/")), "no .deb fetched before resolution succeeds");
}

#[test]
fn first_satisfiable_alternative_wins() {
    let repo = RepoBuilder::new()
        .add(SUITE, DebBuilder::new("a", "1").depends("missing | b | c").build())
        .add(SUITE, DebBuilder::new("b", "1").file("./usr/share/b", 0o644, b"b").build())
        .add(SUITE, DebBuilder::new("c", "1").file("./usr/share/c", 0o644, b"c").build());
    let fx = Fixture::new(repo);
    let spec = fx.spec("alt").packages(&["a"]).write(&fx.path("s.yaml"));
    fx.build(&spec).expect_code(0);
    let image = read_image(&fx.path("out"));
    assert_eq!(image.installed(), vec!["a", "b"]);
    assert!(image.has("/usr/share/b") && !image.has("/usr/share/c"));
}

#[test]
fn virtual_package_is_satisfied_by_provider() {
    let repo = RepoBuilder::new()
        .add(SUITE, DebBuilder::new("a", "1").depends("virt").build())
        .add(SUITE, DebBuilder::new("p", "1").provides("virt").file("./usr/share/p", 0o644, b"p").build())
        .add(SUITE, DebBuilder::new("q", "1").build());
    let fx = Fixture::new(repo);
    let spec = fx.spec("virt").packages(&["a"]).write(&fx.path("s.yaml"));
    fx.build(&spec).expect_code(0);
    let image = read_image(&fx.path("out"));
    assert_eq!(image.installed(), vec!["a", "p"]);
    assert!(image.has("/usr/share/p"));
}

#[test]
fn versioned_dependency_picks_matching_version() {
    let lib =
        |v: &str| DebBuilder::new("libv", v).file("./usr/share/libv", 0o644, format!("libv {v}").as_bytes()).build();
    let repo = RepoBuilder::new()
        .add("old", lib("1.0"))
        .add("new", lib("2.0"))
        .add("old", DebBuilder::new("app-any", "1").depends("libv").build())
        .add("old", DebBuilder::new("app-old", "1").depends("libv (<< 2)").build());
    let fx = Fixture::new(repo);

    let spec = fx.spec("any").packages(&["app-any"]).write(&fx.path("any.yaml"));
    build(&spec, &fx.path("out-any"), &fx.path("cache")).expect_code(0);
    let image = read_image(&fx.path("out-any"));
    assert_eq!(image.text("/usr/share/libv"), "libv 2.0", "highest version wins when unconstrained");
    assert!(image.text("/var/lib/dpkg/status.d/libv").contains("Version: 2.0\n"));

    fx.server.clear_log();
    let spec = fx.spec("old").packages(&["app-old"]).write(&fx.path("old.yaml"));
    build(&spec, &fx.path("out-old"), &fx.path("cache-old")).expect_code(0);
    let image = read_image(&fx.path("out-old"));
    assert_eq!(image.text("/usr/share/libv"), "libv 1.0", "(<< 2) picks the older version");
    assert!(image.text("/var/lib/dpkg/status.d/libv").contains("Version: 1.0\n"));
    let reqs = fx.server.requests();
    assert!(
        reqs.iter().any(|r| r.ends_with("/libv_1.0_amd64.deb")) && !reqs.iter().any(|r| r.contains("libv_2.0")),
        "{reqs:?}"
    );
}

#[test]
fn excluded_dependency_is_dropped() {
    let repo = RepoBuilder::new()
        .add(SUITE, DebBuilder::new("a", "1").depends("b, c").file("./usr/share/a", 0o644, b"a").build())
        .add(SUITE, DebBuilder::new("b", "1").file("./usr/share/b", 0o644, b"b").build())
        .add(SUITE, DebBuilder::new("c", "1").build());
    let fx = Fixture::new(repo);
    let spec = fx.spec("excl").packages(&["a"]).exclude(&["b"]).write(&fx.path("s.yaml"));
    fx.build(&spec).expect_code(0);
    let image = read_image(&fx.path("out"));
    assert_eq!(image.installed(), vec!["a", "c"]);
    assert!(image.has("/usr/share/a") && !image.has("/usr/share/b"));
    assert!(!fx.server.requests().iter().any(|r| r.contains("/b_1_")), "excluded package not fetched");

    // The drop is reported in the JSON summary.
    let json = run_distill(&[
        "build".as_ref(),
        spec.as_os_str(),
        "--output".as_ref(),
        fx.path("out-json").as_os_str(),
        "--cache-dir".as_ref(),
        fx.path("cache").as_os_str(),
        "--json".as_ref(),
        "-q".as_ref(),
    ]);
    json.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(doc["architectures"][0]["dropped"], serde_json::json!(["a: b"]));
}

#[test]
fn refuses_image_with_a_shell() {
    let repo = RepoBuilder::new()
        .add(SUITE, DebBuilder::new("app", "1").depends("dash").build())
        .add(SUITE, DebBuilder::new("dash", "0.5").dir("./bin/", 0o755).file("./bin/sh", 0o755, b"\x7fELF sh").build());
    let fx = Fixture::new(repo);
    let spec = fx.spec("shell").packages(&["app"]).write(&fx.path("s.yaml"));
    let run = fx.build(&spec);
    run.expect_code(6).stderr_has(&["/bin/sh", "dash"]);
    assert!(run.stderr.contains("/bin/sh (from dash)"), "{}", run.stderr);
    assert!(!fx.path("out").exists());
}

#[test]
fn unknown_spec_field_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.asc");
    test_key().write_public(&key);
    let yaml = SpecBuilder::new("bad")
        .source(SUITE, "http://127.0.0.1:9", &key)
        .packages(&["hello"])
        .extra("imagee:\n  entrypoint: [/x]\n")
        .yaml();
    let line = yaml.lines().position(|l| l.starts_with("imagee:")).unwrap() + 1;
    let spec = dir.path().join("bad.yaml");
    std::fs::write(&spec, &yaml).unwrap();
    let run = build(&spec, &dir.path().join("out"), &dir.path().join("cache"));
    run.expect_code(2).stderr_has(&[&spec.display().to_string(), &format!("line {line}"), "imagee"]);
    assert!(!dir.path().join("out").exists());
    assert!(!dir.path().join("cache").exists(), "spec errors stop before touching the cache");
}

#[test]
fn tar_entry_escaping_root_is_refused() {
    let repo = RepoBuilder::new().add(
        SUITE,
        DebBuilder::new("sneaky", "1")
            .file("./usr/share/ok", 0o644, b"ok")
            .file("../etc/evil", 0o644, b"pwned")
            .build(),
    );
    let fx = Fixture::new(repo);
    let spec = fx.spec("sneaky").packages(&["sneaky"]).write(&fx.path("s.yaml"));
    let run = fx.build(&spec);
    run.expect_code(4).stderr_has(&["sneaky", "../etc/evil"]);
    assert!(!fx.path("out").exists());
    assert!(!fx.dir.path().join("etc/evil").exists() && !std::path::Path::new("/etc/evil").exists());
}

#[test]
fn inrelease_is_signed_by_the_subkey_not_the_primary() {
    // Guards the fixture: the subkey path of verification is what the
    // other tests exercise.
    let signed = test_key().clearsign("Suite: x\n");
    let parsed = pgp_cleartext::CleartextSignatureReader::new(signed.as_bytes());
    let mut r = std::io::BufReader::new(parsed);
    std::io::Read::read_to_end(&mut r, &mut Vec::new()).unwrap();
    let sigs = r.into_inner().finalize();
    let issuers: Vec<String> = sigs.iter_signatures().flat_map(|s| s.issuer().into_iter().map(hex::encode)).collect();
    assert_eq!(issuers, vec![test_key().subkey_id.clone()]);
    assert!(test_key().public_armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
}

#[test]
fn rejects_inrelease_of_another_suite() {
    // A validly signed InRelease for suite `other`, replayed as `testing`.
    let repo = hello_repo().add("other", DebBuilder::new("hello", "0.1").build());
    let fx = Fixture::new(repo);
    let other = std::fs::read(fx.repo.root.join("dists/other/InRelease")).unwrap();
    fx.server.tamper(&format!("dists/{SUITE}/InRelease"), other);
    let spec = fx.spec("hello").packages(&["hello"]).write(&fx.path("s.yaml"));
    fx.build(&spec).expect_code(4).stderr_has(&[&format!("suite {SUITE}"), "describes suite \"other\""]);
    assert!(!fx.path("out").exists());
}

#[test]
fn rejects_inrelease_with_edited_signed_text() {
    let fx = Fixture::new(hello_repo());
    let inrelease = std::fs::read_to_string(fx.repo.root.join(format!("dists/{SUITE}/InRelease"))).unwrap();
    let edited = inrelease.replace("Version: 12.5", "Version: 12.6");
    assert_ne!(edited, inrelease);
    fx.server.tamper(&format!("dists/{SUITE}/InRelease"), edited.into_bytes());
    fx.build(&hello_spec(&fx)).expect_code(4).stderr_has(&[&format!("suite {SUITE}"), "not signed by any trusted key"]);
}

#[test]
fn signature_by_a_non_signing_subkey_is_not_trusted() {
    let key = generate_key_with(TEST_KEY_UID, SubkeyState::NotForSigning);
    let fx = Fixture::with_keys(hello_repo(), &key, &key);
    fx.build(&hello_spec(&fx)).expect_code(4).stderr_has(&[
        "not signed by any trusted key",
        &format!("subkey {}: subkey has no valid binding signature that allows signing", key.subkey_id),
    ]);
}

#[test]
fn signature_by_a_revoked_subkey_is_not_trusted() {
    let key = generate_key_with(TEST_KEY_UID, SubkeyState::Revoked);
    let fx = Fixture::with_keys(hello_repo(), &key, &key);
    fx.build(&hello_spec(&fx)).expect_code(4).stderr_has(&["not signed by any trusted key", &key.subkey_id]);
    assert!(!fx.path("out").exists());
}

#[test]
fn signature_by_an_expired_subkey_is_not_trusted() {
    let key = generate_key_with(TEST_KEY_UID, SubkeyState::Expired);
    let fx = Fixture::with_keys(hello_repo(), &key, &key);
    fx.build(&hello_spec(&fx)).expect_code(4).stderr_has(&["not signed by any trusted key", &key.subkey_id]);
    assert!(!fx.path("out").exists());
}

#[test]
fn missing_deb_is_a_network_error_naming_the_url() {
    let fx = Fixture::new(hello_repo());
    let path = fx.repo.deb("greet-data").pool_path();
    fx.server.fail(&path, 404);
    fx.build(&hello_spec(&fx))
        .expect_code(7)
        .stderr_has(&["package greet-data 2024.1 (all) is no longer on the mirror", &path]);
    assert!(!fx.path("out").exists());
}

#[test]
fn corrupted_cache_blob_is_fetched_again() {
    let fx = Fixture::new(hello_repo());
    let spec = hello_spec(&fx);
    let first = fx.build(&spec);
    first.expect_code(0);
    let deb = fx.repo.deb("hello");
    let blob = fx.path("cache/blobs/sha256").join(deb.sha256());
    assert!(blob.exists(), "verified .deb is cached under its sha256");
    std::fs::write(&blob, b"bit rot").unwrap();
    // Without the records derived from it, the .deb itself is needed again.
    for kind in ["builds", "layers", "unpacked"] {
        std::fs::remove_dir_all(fx.path("cache").join(kind)).unwrap();
    }
    fx.server.clear_log();
    let second = fx.build(&spec);
    second.expect_code(0);
    assert_eq!(second.last_line(), first.last_line());
    let reqs = fx.server.requests();
    assert!(reqs.contains(&format!("GET /{}", deb.pool_path())), "{reqs:?}");
    assert!(!reqs.iter().any(|r| r.contains("libgreet1_")), "intact blobs come from the cache: {reqs:?}");
    assert_eq!(std::fs::read(&blob).unwrap(), deb.bytes, "the cache holds the good bytes again");
}

#[test]
fn damaged_unpacked_data_and_layers_are_rebuilt_not_used() {
    let fx = Fixture::new(hello_repo());
    let spec = hello_spec(&fx);
    let first = fx.build(&spec);
    first.expect_code(0);
    let json =
        |p: std::path::PathBuf| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    // The unpacked data.tar of `hello`, and every layer blob.
    let record = json(fx.path("cache/unpacked").join(fx.repo.deb("hello").sha256()));
    let data = fx.path("cache/blobs/sha256").join(record["data"]["sha256"].as_str().unwrap());
    let original = std::fs::read(&data).unwrap();
    let mut damaged = original.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    std::fs::write(&data, &damaged).unwrap();
    let mut layers = Vec::new();
    for e in std::fs::read_dir(fx.path("cache/layers")).unwrap() {
        let digest = json(e.unwrap().path())["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
        let p = fx.path("cache/blobs/sha256").join(digest);
        std::fs::write(&p, b"not a layer").unwrap();
        layers.push(p);
    }
    assert!(!layers.is_empty());
    fx.server.clear_log();
    let second = fx.build(&spec);
    second.expect_code(0);
    assert_eq!(second.last_line(), first.last_line(), "same image from repaired inputs");
    assert!(fx.server.requests().iter().all(|r| !r.contains("/pool/")), "repaired from the cached .debs");
    assert_eq!(std::fs::read(&data).unwrap(), original, "unpacked again from the verified .deb");
    for p in layers {
        assert_ne!(std::fs::read(&p).unwrap(), b"not a layer", "{} rewritten", p.display());
    }
}

#[test]
fn offline_build_uses_only_the_cache() {
    let mut fx = Fixture::new(hello_repo());
    let spec = hello_spec(&fx);
    let online = fx.build(&spec);
    online.expect_code(0);
    fx.server.stop();
    let offline = run_distill(&[
        "build".as_ref(),
        spec.as_os_str(),
        "--output".as_ref(),
        fx.path("out-offline").as_os_str(),
        "--cache-dir".as_ref(),
        fx.path("cache").as_os_str(),
        "--offline".as_ref(),
        "-q".as_ref(),
    ]);
    offline.expect_code(0);
    assert_eq!(offline.last_line(), online.last_line());
}

#[test]
fn shell_under_a_directory_later_replaced_by_a_symlink_is_refused() {
    // `aaa-sh` unpacks first (name order) and ships /bin/sh; `zz-base`
    // then ships the merged-/usr link /bin -> usr/bin. A runtime unpacking
    // the layer puts the shell at /usr/bin/sh.
    let repo = RepoBuilder::new()
        .add(SUITE, DebBuilder::new("aaa-sh", "1").dir("./bin/", 0o755).file("./bin/sh", 0o755, b"\x7fELF sh").build())
        .add(SUITE, DebBuilder::new("zz-base", "1").dir("./usr/bin/", 0o755).symlink("./bin", "usr/bin").build());
    let fx = Fixture::new(repo);
    let spec = fx.spec("merged").packages(&["aaa-sh", "zz-base"]).write(&fx.path("s.yaml"));
    let run = fx.build(&spec);
    if run.code == 0 {
        let image = read_image(&fx.path("out"));
        panic!("shell slipped through; layer has {:#?}", image.dump_under(&["/bin", "/usr/bin"]));
    }
    run.expect_code(6).stderr_has(&["sh", "aaa-sh"]);
}

#[test]
fn output_directory_with_foreign_files_is_not_deleted() {
    let fx = Fixture::new(hello_repo());
    std::fs::create_dir_all(fx.path("out")).unwrap();
    std::fs::write(fx.path("out/precious.txt"), b"user data").unwrap();
    let run = fx.build(&hello_spec(&fx));
    assert!(fx.path("out/precious.txt").exists(), "a non-layout --output directory was deleted (exit {})", run.code);
    assert_ne!(run.code, 0, "expected a refusal to replace a directory that is not an OCI layout");
}

#[test]
fn ca_bundle_is_generated_even_when_the_certificates_are_excluded() {
    let repo = RepoBuilder::new().add(
        SUITE,
        DebBuilder::new("ca-certificates", "20230311")
            .arch("all")
            .with_md5sums()
            .file(
                "./usr/share/ca-certificates/mozilla/B_Root.crt",
                0o644,
                b"-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n",
            )
            .file(
                "./usr/share/ca-certificates/mozilla/A_Root.crt",
                0o644,
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            )
            .build(),
    );
    let fx = Fixture::new(repo);
    let want = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
    for (name, extra, kept) in
        [("kept", "", true), ("dropped", "paths:\n  exclude: [/usr/share/doc, /usr/share/ca-certificates]\n", false)]
    {
        let spec = fx.spec(name).packages(&["ca-certificates"]).extra(extra).write(&fx.path(&format!("{name}.yaml")));
        let out = fx.path(&format!("out-{name}"));
        build(&spec, &out, &fx.path("cache")).expect_code(0);
        let img = read_image(&out);
        assert_eq!(img.text("/etc/ssl/certs/ca-certificates.crt"), want, "{name}");
        assert_eq!(img.has("/usr/share/ca-certificates/mozilla/A_Root.crt"), kept, "{name}");
        // status.d lists only what the image holds.
        let sums = img.text("/var/lib/dpkg/status.d/ca-certificates.md5sums");
        assert_eq!(sums.contains("usr/share/ca-certificates/mozilla/A_Root.crt"), kept, "{name}: {sums}");
    }
}
