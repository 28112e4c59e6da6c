//! End to end against the real Debian archive: trigger programs run in
//! the sandbox on an assembled image (`distill::sandbox::run_in_image`).
//!
//! Builds a bookworm image of gdk-pixbuf with the SVG loader and GIO's
//! TLS module (amd64 and arm64), reads it back from the layout, and runs
//! the programs the packages' triggers run: `gdk-pixbuf-query-loaders
//! --update-cache` (libgdk-pixbuf-2.0-0) and `gio-querymodules`
//! (libglib2.0-0). arm64 runs through qemu-user (qemu-aarch64-static).
//!
//! With `DISTILL_DPKG_ROOT_<ARCH>` set to a root where dpkg installed the
//! same packages (`mmdebstrap --variant=apt --include=…`), the files must
//! equal the ones dpkg's triggers made there, byte for byte.
//!
//! Needs root (or unprivileged user namespaces), qemu-user-static, and a
//! reachable mirror. `DISTILL_SKIP_E2E=1` skips.

mod real;

use distill::sandbox::{run_in_image, Change, Options, SandboxError};
use distill::tree::Tree;
use real::{cache_dir, project, skip};
use std::process::Command;

const PACKAGES: &str = "[libgdk-pixbuf-2.0-0, librsvg2-common, libgdk-pixbuf2.0-bin, glib-networking]";
/// Their D-Bus services pull systemd (through dbus-user-session), which no trigger needs.
const EXCLUDE: &str = "glib-networking-services, dconf-gsettings-backend";

fn spec(dir: &std::path::Path) -> std::path::PathBuf {
    let k = project().join("keys");
    let k = k.display();
    let text = format!(
        "name: triggers\nsources:\n  - suite: bookworm\n    components: [main]\n    keys: [{k}/debian-12-archive.asc, {k}/debian-13-archive.asc, {k}/debian-12-release.asc]\n  - suite: bookworm-updates\n    components: [main]\n    keys: [{k}/debian-12-archive.asc, {k}/debian-13-archive.asc]\n  - suite: bookworm-security\n    components: [main]\n    keys: [{k}/debian-12-security.asc]\narchs: [amd64, arm64]\npackages: {PACKAGES}\nexclude: [{EXCLUDE}]\n"
    );
    let path = dir.join("triggers.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn triplet(arch: &str) -> &'static str {
    match arch {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        a => panic!("no triplet for {a}"),
    }
}

/// The one file the run made, which must be `want`.
fn only_file(changes: &[Change], want: &str) -> Vec<u8> {
    match changes {
        [Change::File { path, data, mode: 0o644 }] if path == want => data.clone(),
        other => panic!("expected only {want}, got {:?}", other.iter().map(Change::path).collect::<Vec<_>>()),
    }
}

/// A regular file of the built image (made by the build's maintainer-script run).
fn file_bytes(tree: &Tree, path: &str) -> Vec<u8> {
    match &tree.get(path).unwrap_or_else(|| panic!("the build made no {path}")).kind {
        distill::tree::Kind::File { data, .. } => data.read_lossy().into_owned(),
        k => panic!("{path} is {k:?}"),
    }
}

fn dpkg_made(arch: &str, path: &str) -> Option<Vec<u8>> {
    let root = std::env::var_os(format!("DISTILL_DPKG_ROOT_{}", arch.to_uppercase()))?;
    Some(std::fs::read(std::path::Path::new(&root).join(&path[1..])).unwrap())
}

fn images() -> Vec<(String, Tree)> {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .arg("build")
        .arg(spec(work.path()))
        .arg("--output")
        .arg(&layout)
        .arg("--cache-dir")
        .arg(cache_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let images = distill::check::read::read_layout(&layout, "latest").unwrap();
    // The trees read file contents lazily from the layout: keep it.
    std::mem::forget(work);
    images
}

#[test]
fn trigger_programs_make_gdk_pixbuf_and_gio_caches_on_amd64_and_arm64() {
    if skip() {
        eprintln!("DISTILL_SKIP_E2E=1: skipped");
        return;
    }
    let images = images();
    assert_eq!(images.len(), 2);
    for (platform, tree) in &images {
        let arch = platform.split('/').nth(1).unwrap();
        let t = triplet(arch);
        let opts = Options { package: Some("libgdk-pixbuf-2.0-0".into()), ..Options::default() };

        // libgdk-pixbuf-2.0-0's postinst: the loaders found, sorted, on
        // the command line; standard output to loaders.cache.
        let dir = format!("/usr/lib/{t}/gdk-pixbuf-2.0/2.10.0");
        let mut argv = vec![format!("/usr/lib/{t}/gdk-pixbuf-2.0/gdk-pixbuf-query-loaders")];
        let mut loaders: Vec<String> =
            tree.children(&format!("{dir}/loaders")).map(|(p, _)| p.clone()).filter(|p| p.ends_with(".so")).collect();
        loaders.sort();
        argv.extend(loaders);
        let cache_path = format!("{dir}/loaders.cache");
        let opts = Options { stdout_to: Some(cache_path.clone()), ..opts };
        let start = std::time::Instant::now();
        let changes = run_in_image(tree, arch, &argv, &opts).unwrap();
        eprintln!("{arch}: gdk-pixbuf-query-loaders twice in {:.1?}", start.elapsed());
        let cache = only_file(&changes, &cache_path);
        assert_eq!(cache, file_bytes(tree, &cache_path), "{arch}: the build's loaders.cache differs from a fresh run");
        let text = String::from_utf8(cache.clone()).unwrap();
        // PNG and JPEG are built into bookworm's libgdk-pixbuf; these are modules.
        for loader in ["libpixbufloader-svg.so", "libpixbufloader-gif.so", "libpixbufloader-tiff.so"] {
            assert!(
                text.contains(&format!("\"/usr/lib/{t}/gdk-pixbuf-2.0/2.10.0/loaders/{loader}\"")),
                "{loader}:\n{text}"
            );
        }
        assert!(text.contains("\"image/svg+xml\""), "{text}");
        if let Some(dpkg) = dpkg_made(arch, &cache_path) {
            assert_eq!(text, String::from_utf8(dpkg).unwrap(), "{arch}: differs from dpkg's");
        }

        let opts = Options { package: Some("libglib2.0-0".into()), ..Options::default() };
        let modules = format!("/usr/lib/{t}/gio/modules");
        let prog = format!("/usr/lib/{t}/glib-2.0/gio-querymodules");
        // The build already ran libglib2.0-0's postinst (src/maint runs the
        // program in the sandbox): run it again on the image without that
        // cache and expect the same bytes.
        let gio_cache = format!("{modules}/giomodule.cache");
        let built_gio = file_bytes(tree, &gio_cache);
        let mut bare = tree.clone();
        bare.remove(&gio_cache);
        let changes = run_in_image(&bare, arch, &[prog, modules.clone()], &opts).unwrap();
        let cache = only_file(&changes, &gio_cache);
        assert_eq!(cache, built_gio, "{arch}: the build's giomodule.cache differs from a fresh run");
        let text = String::from_utf8(cache).unwrap();
        assert!(text.contains("libgiognutls.so: gio-tls-backend"), "{text}");
        if let Some(dpkg) = dpkg_made(arch, &format!("{modules}/giomodule.cache")) {
            // dpkg's root also has dconf's module (excluded here): compare
            // the lines of the modules this image has.
            let here = |line: &&str| {
                let name = line.split(':').next().unwrap_or_default();
                tree.get(&format!("{modules}/{name}")).is_some()
            };
            let dpkg = String::from_utf8(dpkg).unwrap();
            let dpkg: Vec<&str> = dpkg.lines().filter(here).collect();
            assert_eq!(text.lines().collect::<Vec<_>>(), dpkg, "{arch}: differs from dpkg's");
        }

        let forbid = Options { allow: false, ..Options::default() };
        let prog = format!("/usr/lib/{t}/gdk-pixbuf-2.0/gdk-pixbuf-query-loaders");
        let err = run_in_image(tree, arch, &[prog], &forbid).unwrap_err();
        assert!(matches!(err, SandboxError::Forbidden { .. }), "{err}");
    }
}
