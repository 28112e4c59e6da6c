//! Hostile packages and hostile metadata (issue "Hostile input and
//! failures"): crafted `.deb` files and replayed or tampered archive
//! metadata, served by the signed test repository on loopback. Each case
//! must be rejected with an error naming the package and the path (or the
//! suite and URL), or neutralised; no output is written and the host
//! filesystem outside the cache and the output directory is untouched.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::*;

const SUITE: &str = "testing";

/// A repository holding `pkg` and a plain dependency-free `base` package.
fn repo_with(pkg: Deb) -> RepoBuilder {
    RepoBuilder::new()
        .add(SUITE, DebBuilder::new("base", "1").file("./usr/share/base/ok", 0o644, b"ok").build())
        .add(SUITE, pkg)
}

/// Build a spec asking for `name` (plus `extra` YAML) against `fx`.
fn build_pkg(fx: &Fixture, name: &str, extra: &str) -> Outcome {
    let spec = fx.spec("hostile").packages(&["base", name]).extra(extra).write(&fx.path("hostile.yaml"));
    fx.build(&spec)
}

/// Assert the refusal left nothing behind: no output, no temporary
/// output next to it.
fn assert_nothing_written(fx: &Fixture) {
    assert!(!fx.path("out").exists(), "no layout may be written");
    let leftovers: Vec<String> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".out"))
        .collect();
    assert!(leftovers.is_empty(), "temporary outputs left: {leftovers:?}");
}

/// The members of an ar archive, in order.
fn ar_members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut ar = ar::Archive::new(bytes);
    let mut out = Vec::new();
    while let Some(entry) = ar.next_entry() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8_lossy(entry.header().identifier()).to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

/// An ar archive of `members`.
fn ar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut ar = ar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
        h.set_mode(0o100644);
        ar.append(&h, data.as_slice()).unwrap();
    }
    ar.into_inner().unwrap()
}

/// `deb` with its bytes replaced (the index then lists the new bytes:
/// the archive is consistent, only the package is hostile).
fn with_bytes(deb: Deb, bytes: Vec<u8>) -> Deb {
    Deb { bytes, ..deb }
}

/// The uncompressed data.tar of a built deb.
fn data_tar(deb: &Deb) -> Vec<u8> {
    let (_, xz) = ar_members(&deb.bytes).into_iter().find(|(n, _)| n.starts_with("data.tar")).unwrap();
    let mut out = Vec::new();
    xz2::read::XzDecoder::new(xz.as_slice()).read_to_end(&mut out).unwrap();
    out
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `deb` with its data member replaced by `name` holding `bytes`.
fn with_data_member(deb: Deb, name: &str, bytes: Vec<u8>) -> Deb {
    let members: Vec<(String, Vec<u8>)> = ar_members(&deb.bytes)
        .into_iter()
        .map(|(n, d)| if n.starts_with("data.tar") { (name.to_string(), bytes.clone()) } else { (n, d) })
        .collect();
    let bytes = ar_of(&members);
    with_bytes(deb, bytes)
}

// --- paths and links -------------------------------------------------------

#[test]
fn write_through_a_symlink_leading_out_of_the_root_is_refused() {
    let marker = format!("distill-escape-{}", std::process::id());
    let deb = DebBuilder::new("escape", "1")
        .symlink("./usr/lib/out", "../../../../../../tmp")
        .file(&format!("./usr/lib/out/{marker}"), 0o644, b"pwned")
        .build();
    let fx = Fixture::new(repo_with(deb));
    let run = build_pkg(&fx, "escape", "");
    run.expect_code(4).stderr_has(&[
        "escape",
        &format!("./usr/lib/out/{marker}"),
        "/usr/lib/out",
        "outside the image root",
    ]);
    assert!(!Path::new("/tmp").join(&marker).exists(), "the host was written to");
    assert_nothing_written(&fx);
}

#[test]
fn write_through_an_absolute_symlink_stays_inside_the_image() {
    // An absolute link means the image's root, as dpkg unpacking into a
    // chroot would see it: the file lands in the image, never on the host.
    let marker = format!("distill-abs-{}", std::process::id());
    let deb = DebBuilder::new("abslink", "1")
        .dir("./usr/share/abslink/", 0o755)
        .symlink("./usr/lib/abs", "/usr/share/abslink")
        .file(&format!("./usr/lib/abs/{marker}"), 0o644, b"inside")
        .build();
    let fx = Fixture::new(repo_with(deb));
    build_pkg(&fx, "abslink", "").expect_code(0);
    let img = read_image(&fx.path("out"));
    assert!(img.has(&format!("/usr/share/abslink/{marker}")), "{:?}", img.dump());
    assert!(!Path::new("/usr/share/abslink").exists());
}

#[test]
fn hard_link_out_of_the_root_is_refused() {
    let deb = DebBuilder::new("hardout", "1").hardlink("./usr/bin/passwd", "../../../etc/passwd").build();
    let fx = Fixture::new(repo_with(deb));
    build_pkg(&fx, "hardout", "").expect_code(4).stderr_has(&["hardout", "./usr/bin/passwd", "climbs out"]);
    assert_nothing_written(&fx);
}

#[test]
fn hard_link_to_a_file_of_another_package_is_refused() {
    let deb = DebBuilder::new("hardother", "1").hardlink("./usr/bin/ok", "./usr/share/base/ok").build();
    let fx = Fixture::new(repo_with(deb));
    build_pkg(&fx, "hardother", "").expect_code(4).stderr_has(&[
        "hardother",
        "./usr/bin/ok",
        "not earlier in this package",
    ]);
    assert_nothing_written(&fx);
}

#[test]
fn absolute_entry_path_is_kept_inside_the_image() {
    // tar's `/etc/x` is the image's /etc/x (leading slashes are dropped,
    // as GNU tar and dpkg do); it is never the host's.
    let marker = format!("distill-absolute-{}", std::process::id());
    let deb = DebBuilder::new("absentry", "1").file(&format!("/tmp/{marker}"), 0o644, b"x").build();
    let fx = Fixture::new(repo_with(deb));
    build_pkg(&fx, "absentry", "").expect_code(0);
    assert!(read_image(&fx.path("out")).has(&format!("/tmp/{marker}")));
    assert!(!Path::new("/tmp").join(&marker).exists());
}

#[test]
fn device_nodes_and_fifos_are_refused() {
    for (kind, name) in
        [(tar::EntryType::Char, "chardev"), (tar::EntryType::Block, "blockdev"), (tar::EntryType::Fifo, "fifo")]
    {
        let deb = DebBuilder::new(name, "1").special(&format!("./dev/{name}"), kind).build();
        let fx = Fixture::new(repo_with(deb));
        build_pkg(&fx, name, "").expect_code(4).stderr_has(&[name, &format!("./dev/{name}"), "special files"]);
        assert_nothing_written(&fx);
    }
}

#[test]
fn duplicate_path_in_one_package_is_refused() {
    let deb = DebBuilder::new("twice", "1")
        .file("./usr/bin/tool", 0o755, b"first")
        .file("./usr/bin/tool", 0o755, b"second")
        .build();
    let fx = Fixture::new(repo_with(deb));
    build_pkg(&fx, "twice", "").expect_code(4).stderr_has(&["twice", "./usr/bin/tool", "appears twice"]);
    assert_nothing_written(&fx);
}

// --- setuid / setgid -------------------------------------------------------

fn setuid_repo() -> RepoBuilder {
    repo_with(
        DebBuilder::new("suid", "1")
            .file("./usr/bin/suid-tool", 0o4755, b"tool")
            .file("./usr/bin/sgid-tool", 0o2755, b"tool2")
            .dir("./var/mail/", 0o2775)
            .build(),
    )
}

#[test]
fn setuid_and_setgid_bits_are_stripped_with_a_warning_by_default() {
    let fx = Fixture::new(setuid_repo());
    let run = build_pkg(&fx, "suid", "");
    run.expect_code(0).stderr_has(&["suid", "/usr/bin/suid-tool", "4755", "/usr/bin/sgid-tool", "paths.setuid"]);
    let img = read_image(&fx.path("out"));
    let dump = img.dump();
    assert_eq!(dump["/usr/bin/suid-tool"], file_desc(0o755, b"tool"));
    assert_eq!(dump["/usr/bin/sgid-tool"], file_desc(0o755, b"tool2"));
    assert_eq!(dump["/var/mail"], "dir 2775", "setgid directories keep their bit");
}

#[test]
fn setuid_file_is_refused_when_the_spec_says_so() {
    let fx = Fixture::new(setuid_repo());
    let run = build_pkg(&fx, "suid", "paths:\n  setuid: refuse\n");
    run.expect_code(4).stderr_has(&["suid", "./usr/bin/", "setuid", "refuse"]);
    assert_nothing_written(&fx);
}

#[test]
fn setuid_bits_are_kept_when_the_spec_says_so() {
    let fx = Fixture::new(setuid_repo());
    let run = build_pkg(&fx, "suid", "paths:\n  setuid: keep\n");
    run.expect_code(0);
    assert!(!run.stderr.contains("cleared setuid"), "{}", run.stderr);
    let dump = read_image(&fx.path("out")).dump();
    assert_eq!(dump["/usr/bin/suid-tool"], file_desc(0o4755, b"tool"));
}

#[test]
fn setuid_policy_has_a_typo_checked_value() {
    let fx = Fixture::new(setuid_repo());
    let run = build_pkg(&fx, "suid", "paths:\n  setuid: drop\n");
    run.expect_code(2).stderr_has(&["hostile.yaml", "setuid", "strip"]);
    assert_nothing_written(&fx);
}

// --- malformed archives ----------------------------------------------------

#[test]
fn decompression_bomb_is_refused_before_it_fills_the_cache() {
    // 96 MiB of zeros compress to a few KiB; the stanza claims 4 KiB installed.
    let deb = DebBuilder::new("bomb", "1")
        .field("Installed-Size", "4")
        .file("./usr/share/bomb/zeros", 0o644, &vec![0u8; 96 << 20])
        .build();
    assert!(deb.bytes.len() < 1 << 20, "the fixture is small: {}", deb.bytes.len());
    let fx = Fixture::new(repo_with(deb));
    let run = build_pkg(&fx, "bomb", "");
    run.expect_code(4).stderr_has(&["bomb", "data.tar.xz", "decompression bomb", "Installed-Size 4"]);
    assert_nothing_written(&fx);
    let big: Vec<String> = cache_blobs(&fx.path("cache"))
        .into_iter()
        .filter(|b| std::fs::metadata(fx.path("cache/blobs/sha256").join(b)).unwrap().len() > 60 << 20)
        .collect();
    assert!(big.is_empty(), "an unverified expansion stayed in the cache: {big:?}");
    let tmp: Vec<_> = std::fs::read_dir(fx.path("cache/blobs/sha256"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "temporary blobs left");
}

#[test]
fn truncated_deb_is_refused() {
    let good = DebBuilder::new("cut", "1").file("./usr/share/cut/data", 0o644, &[7u8; 4096]).build();
    let half = good.bytes[..good.bytes.len() / 2].to_vec();
    let fx = Fixture::new(repo_with(with_bytes(good, half)));
    build_pkg(&fx, "cut", "").expect_code(4).stderr_has(&["package cut", "malformed .deb"]);
    assert_nothing_written(&fx);
}

#[test]
fn file_that_is_not_an_ar_archive_is_refused() {
    let good = DebBuilder::new("notar", "1").build();
    let fx = Fixture::new(repo_with(with_bytes(good, b"<html>captive portal</html>\n".to_vec())));
    build_pkg(&fx, "notar", "").expect_code(4).stderr_has(&["package notar", "malformed .deb"]);
    assert_nothing_written(&fx);
}

#[test]
fn deb_without_data_member_is_refused() {
    let good = DebBuilder::new("nodata", "1").build();
    let members: Vec<_> = ar_members(&good.bytes).into_iter().filter(|(n, _)| !n.starts_with("data.tar")).collect();
    let bytes = ar_of(&members);
    let fx = Fixture::new(repo_with(with_bytes(good, bytes)));
    build_pkg(&fx, "nodata", "").expect_code(4).stderr_has(&["package nodata", "no data.tar member"]);
    assert_nothing_written(&fx);
}

#[test]
fn truncated_tar_stream_is_refused() {
    let good = DebBuilder::new("shorttar", "1").file("./usr/share/shorttar/blob", 0o644, &[1u8; 20_000]).build();
    let tar = data_tar(&good);
    // Cut inside the blob's data: the header promises more than there is.
    let cut = tar[..tar.len() - 15_000].to_vec();
    let fx = Fixture::new(repo_with(with_data_member(good, "data.tar.xz", xz(&cut))));
    build_pkg(&fx, "shorttar", "").expect_code(4).stderr_has(&["shorttar", "data.tar"]);
    assert_nothing_written(&fx);
}

#[test]
fn corrupt_tar_header_is_refused() {
    let good = DebBuilder::new("badhdr", "1").file("./usr/share/badhdr/x", 0o644, b"x").build();
    let mut tar = data_tar(&good);
    // The second header's checksum field: garbage.
    tar[512 + 148..512 + 156].copy_from_slice(b"zzzzzzzz");
    let fx = Fixture::new(repo_with(with_data_member(good, "data.tar.xz", xz(&tar))));
    build_pkg(&fx, "badhdr", "").expect_code(4).stderr_has(&["package badhdr", "data.tar"]);
    assert_nothing_written(&fx);
}

#[test]
fn corrupt_compressed_member_is_refused() {
    let good = DebBuilder::new("badxz", "1").file("./usr/share/badxz/x", 0o644, &[3u8; 10_000]).build();
    let mut member = xz(&data_tar(&good));
    let mid = member.len() / 2;
    member[mid] ^= 0xff;
    let fx = Fixture::new(repo_with(with_data_member(good, "data.tar.xz", member)));
    build_pkg(&fx, "badxz", "").expect_code(4).stderr_has(&["package badxz", "data.tar.xz"]);
    assert_nothing_written(&fx);
}

#[test]
fn member_compressed_with_an_unknown_format_is_refused() {
    for name in ["data.tar.lzma", "data.tar.bz2", "data.tar.lz4"] {
        let good = DebBuilder::new("oddcomp", "1").build();
        let tar = data_tar(&good);
        let fx = Fixture::new(repo_with(with_data_member(good, name, tar)));
        build_pkg(&fx, "oddcomp", "").expect_code(4).stderr_has(&["package oddcomp", name, "unsupported compression"]);
        assert_nothing_written(&fx);
    }
}

// --- archive metadata -------------------------------------------------------

#[test]
fn deb_whose_size_differs_from_its_stanza_is_rejected() {
    let fx = Fixture::new(repo_with(DebBuilder::new("sized", "1").build()));
    let good = fx.repo.deb("sized").clone();
    let mut longer = good.bytes.clone();
    longer.extend_from_slice(b"trailing bytes");
    fx.server.tamper(&good.pool_path(), longer);
    let run = build_pkg(&fx, "sized", "");
    run.expect_code(4).stderr_has(&["checksum mismatch", "sized", &format!("size {}", good.bytes.len())]);
    assert!(!cache_blobs(&fx.path("cache")).iter().any(|b| *b != good.sha256() && b.len() == 64 && {
        let data = std::fs::read(fx.path("cache/blobs/sha256").join(b)).unwrap();
        sha256_hex(&data) != *b
    }));
    assert_nothing_written(&fx);
}

#[test]
fn expired_inrelease_is_accepted_for_a_source_that_opts_out() {
    let mut repo = repo_with(DebBuilder::new("snap", "1").build());
    repo.suite(SUITE).valid_until = Some("Sun, 02 Jun 2024 12:00:00 UTC".into());
    let fx = Fixture::new(repo);
    // The default refuses it ...
    build_pkg(&fx, "snap", "").expect_code(4).stderr_has(&["expired", "check_valid_until"]);
    // ... a snapshot source says so explicitly; the signature still counts.
    let yaml = std::fs::read_to_string(fx.path("hostile.yaml")).unwrap();
    let yaml = yaml.replacen("    keys:", "    check_valid_until: false\n    keys:", 1);
    assert!(yaml.contains("check_valid_until: false"), "{yaml}");
    std::fs::write(fx.path("hostile.yaml"), yaml).unwrap();
    fx.build(&fx.path("hostile.yaml")).expect_code(0);
}

#[test]
fn mirror_serving_an_older_inrelease_than_the_lock_is_a_rollback() {
    let newer = "Sat, 15 Jun 2024 12:00:00 UTC";
    let mut repo = repo_with(DebBuilder::new("pinned", "1").build());
    repo.suite(SUITE).date = newer.into();
    let fx = Fixture::new(repo.clone());
    let spec = fx.spec("hostile").packages(&["base", "pinned"]).write(&fx.path("hostile.yaml"));
    let cache = fx.path("cache");
    run_distill(&["lock".as_ref(), spec.as_os_str(), "--cache-dir".as_ref(), cache.as_os_str(), "-q".as_ref()])
        .expect_code(0);
    let lock = std::fs::read_to_string(fx.path("hostile.lock")).unwrap();
    assert!(lock.contains("2024-06-15T12:00:00Z"), "{lock}");

    // The same packages, signed by the same key, but a month older.
    repo.suite(SUITE).date = RELEASE_DATE.into();
    let old = repo.write(&fx.path("old-archive"), test_key());
    let old_inrelease = std::fs::read(old.root.join(format!("dists/{SUITE}/InRelease"))).unwrap();
    fx.server.tamper(&format!("dists/{SUITE}/InRelease"), old_inrelease);

    let run = fx.build(&spec);
    run.expect_code(4).stderr_has(&["rollback", "2024-06-15T12:00:00Z", "2024-06-01T12:00:00Z", "hostile.lock"]);
    assert_nothing_written(&fx);
    let relock =
        run_distill(&["lock".as_ref(), spec.as_os_str(), "--cache-dir".as_ref(), cache.as_os_str(), "-q".as_ref()]);
    relock.expect_code(4).stderr_has(&["rollback"]);
    assert_eq!(std::fs::read_to_string(fx.path("hostile.lock")).unwrap(), lock, "the lock is left as it was");
}

#[test]
fn deb_body_longer_than_its_stanza_is_not_read_past_the_size() {
    // A mirror that streams a body far longer than the signed size (or
    // without end) costs one stanza-sized buffer, then a checksum error.
    let fx = Fixture::new(repo_with(DebBuilder::new("endless", "1").build()));
    let good = fx.repo.deb("endless").clone();
    fx.server.tamper(&good.pool_path(), vec![b'A'; 16 << 20]);
    let run = build_pkg(&fx, "endless", "");
    run.expect_code(4).stderr_has(&[
        "checksum mismatch",
        "endless",
        &format!("size {}", good.bytes.len()),
        &format!("size {}", good.bytes.len() + 1),
        "reading stopped",
    ]);
    assert_nothing_written(&fx);
}

// --- accounts from the spec ---------------------------------------------------

#[test]
fn account_fields_cannot_inject_passwd_lines_or_replace_built_in_users() {
    let fx = Fixture::new(repo_with(DebBuilder::new("plain", "1").build()));
    for (extra, needle) in [
        ("accounts:\n  users: [{name: app, uid: 1000, home: \"/x\\nroot2::0:0::/:/bin/sh\"}]\n", "not a usable home"),
        ("accounts:\n  users: [{name: app, uid: 1000, home: \"/x:/bin/sh\"}]\n", "not a usable home"),
        ("accounts:\n  users: [{name: app, uid: 1000, home: /home/../etc}]\n", "not a usable home"),
        ("accounts:\n  users: [{name: app, uid: 1000, home: home/app}]\n", "not a usable home"),
        ("accounts:\n  users: [{name: root, uid: 5}]\n", "built-in user root"),
        ("accounts:\n  users: [{name: app, uid: 65532}]\n", "built-in user nonroot"),
        ("accounts:\n  groups: [{name: wheel, gid: 0}]\n", "built-in group root"),
    ] {
        let run = build_pkg(&fx, "plain", extra);
        run.expect_code(2).stderr_has(&["hostile.yaml", "accounts.users", "hint:"].map(|s| {
            if extra.contains("groups") && s == "accounts.users" {
                "accounts.groups"
            } else {
                s
            }
        }));
        assert!(run.stderr.contains(needle), "{extra}: {}", run.stderr);
        assert_nothing_written(&fx);
    }
}

#[test]
fn a_home_directory_never_replaces_or_takes_over_packaged_paths() {
    let deb = DebBuilder::new("tool", "1").file("./usr/bin/tool", 0o755, b"tool").dir("./srv/", 0o755).build();
    let fx = Fixture::new(repo_with(deb));
    let extra =
        "accounts:\n  users: [{name: app, uid: 1000, home: /usr/bin/tool}, {name: web, uid: 1001, home: /srv}]\n";
    build_pkg(&fx, "tool", extra).expect_code(0);
    let img = read_image(&fx.path("out"));
    let dump = img.dump();
    assert_eq!(dump["/usr/bin/tool"], file_desc(0o755, b"tool"), "the packaged file stays");
    assert_eq!(dump["/srv"], "dir 0755");
    let srv = &img.entries["/srv"];
    assert_eq!((srv.uid, srv.gid), (0, 0), "a packaged directory is not handed to the user");
    assert!(img.text("/etc/passwd").contains("app:x:1000:1000:app:/usr/bin/tool:/sbin/nologin"));
}

#[test]
fn deb_whose_control_names_another_package_or_version_is_refused() {
    // The index says `evil 1.0`; the .deb's own control file says `other 9.9`:
    // status.d and SBOMs would describe a package nobody verified.
    let inner = DebBuilder::new("other", "9.9").file("./usr/share/other/x", 0o644, b"x").build();
    let mut control = inner.control.clone();
    for (k, v) in control.iter_mut() {
        match k.as_str() {
            "Package" => *v = "evil".into(),
            "Version" => *v = "1.0".into(),
            _ => {}
        }
    }
    let relabelled = Deb { name: "evil".into(), version: "1.0".into(), control, ..inner };
    let fx = Fixture::new(repo_with(relabelled));
    build_pkg(&fx, "evil", "").expect_code(4).stderr_has(&["package evil", "other 9.9", "evil 1.0"]);
    assert_nothing_written(&fx);
}

#[test]
fn a_file_then_a_directory_at_one_path_is_refused() {
    let deb = DebBuilder::new("flip", "1").file("./usr/lib/flip", 0o644, b"file").dir("./usr/lib/flip/", 0o755).build();
    let fx = Fixture::new(repo_with(deb));
    build_pkg(&fx, "flip", "").expect_code(4).stderr_has(&["flip", "./usr/lib/flip/", "appears twice"]);
    assert_nothing_written(&fx);
}

#[test]
fn an_entrypoint_that_is_not_in_the_image_fails_the_check() {
    let fx = Fixture::new(repo_with(DebBuilder::new("tool", "1").file("./usr/bin/tool", 0o755, b"t").build()));
    let spec = fx
        .spec("hostile")
        .packages(&["base", "tool"])
        .entrypoint(&["/usr/bin/nothere"])
        .write(&fx.path("hostile.yaml"));
    fx.build(&spec).expect_code(6).stderr_has(&["/usr/bin/nothere", "image.entrypoint[0] is not a file of the image"]);
    assert_nothing_written(&fx);
    let spec = fx.spec("hostile").packages(&["base", "tool"]).entrypoint(&["/usr/bin/tool"]).write(&fx.path("ok.yaml"));
    fx.build(&spec).expect_code(0);
}

#[test]
fn an_archive_url_with_a_query_or_fragment_is_a_spec_error() {
    let fx = Fixture::new(repo_with(DebBuilder::new("q", "1").build()));
    for suffix in ["?token=abc", "#frag"] {
        let yaml = fx.spec("hostile").packages(&["base"]).yaml().replacen(
            &format!("url: \"{}\"", fx.server.url()),
            &format!("url: \"{}/{suffix}\"", fx.server.url()),
            1,
        );
        assert!(yaml.contains(suffix), "{yaml}");
        std::fs::write(fx.path("hostile.yaml"), yaml).unwrap();
        let run = fx.build(&fx.path("hostile.yaml"));
        run.expect_code(2).stderr_has(&["hostile.yaml", "sources[0].url", "query, a fragment", "hint:"]);
        assert!(!run.stderr.contains("abc"), "{}", run.stderr);
    }
}
