//! Package sets a user names, against the real archive (issue 14, points 4
//! and 5): trixie's merged-/usr layout without base-files, and bookworm
//! sets whose only faults are optional pieces (a dlopen plugin without its
//! optional library, rdoc's template links into a package only
//! recommended). Each builds with warnings (in `--json` too), and its
//! program runs in the image with chroot.
//!
//! Needs root, umoci, skopeo and a reachable mirror (found the way distill
//! finds it). `DISTILL_SKIP_E2E=1` skips.

mod real;

use real::{cache_dir, project, skip, ProcMount};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[track_caller]
fn must(cmd: &mut Command) -> String {
    let (ok, out, err) = run(cmd);
    assert!(ok, "{cmd:?} failed:\n{out}\n{err}");
    out
}

/// Builds are serialised: they share the cache and two cores.
static BUILD: Mutex<()> = Mutex::new(());

/// A spec of `packages` on `suite` (amd64), keys from the project's keys/.
fn spec(dir: &Path, name: &str, suite: &str, packages: &[&str]) -> PathBuf {
    let keys = project().join("keys");
    let k = |f: &str| keys.join(f).display().to_string();
    let keys = match suite {
        "trixie" => [k("debian-13-archive.asc"), k("debian-13-release.asc"), k("debian-12-archive.asc")],
        _ => [k("debian-12-archive.asc"), k("debian-13-archive.asc"), k("debian-12-release.asc")],
    };
    let text = format!(
        "name: {name}\nsources:\n  - suite: {suite}\n    components: [main]\n    keys: [{}]\narchs: [amd64]\npackages: [{}]\n",
        keys.join(", "),
        packages.join(", ")
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Build `spec` with `--json`; returns (layout, the build's JSON document).
fn build(spec: &Path, out: &Path) -> serde_json::Value {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let stdout = must(
        Command::new(env!("CARGO_BIN_EXE_distill"))
            .args(["build", "--json", "-q"])
            .arg(spec)
            .arg("--output")
            .arg(out)
            .arg("--cache-dir")
            .arg(cache_dir()),
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("build --json: {e}: {stdout}"))
}

/// The image's warnings as "path: problem".
fn warnings(doc: &serde_json::Value) -> Vec<String> {
    doc["architectures"][0]["warnings"]
        .as_array()
        .expect("warnings in --json")
        .iter()
        .map(|w| format!("{}: {}", w["path"].as_str().unwrap(), w["problem"].as_str().unwrap()))
        .collect()
}

/// Unpack the layout's amd64 `latest` into `dir`; returns the rootfs.
fn unpack(layout: &Path, dir: &Path) -> PathBuf {
    let single = dir.join("single");
    must(
        Command::new("skopeo")
            .args(["copy", "-q", "--override-arch", "amd64"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("oci:{}:latest", single.display())),
    );
    let bundle = dir.join("bundle");
    must(Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:latest", single.display())).arg(&bundle));
    bundle.join("rootfs")
}

/// Run `argv` in `rootfs` with the image's default PATH.
fn chroot(rootfs: &Path, argv: &[&str]) -> (bool, String, String) {
    run(Command::new("chroot").arg(rootfs).args(argv).env_clear().env("PATH", distill::build::assemble::DEFAULT_PATH))
}

#[test]
fn trixie_jre_without_base_files_gets_merged_usr_links_and_runs() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let spec = spec(work.path(), "jre21", "trixie", &["openjdk-21-jre-headless"]);
    let layout = work.path().join("layout");
    let doc = build(&spec, &layout);
    let root = unpack(&layout, work.path());
    for (link, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")] {
        assert_eq!(std::fs::read_link(root.join(link)).unwrap(), Path::new(target), "/{link}");
    }
    // libfontmanager.so (AWT fonts) and libjsound.so are JNI plugins whose
    // libraries trixie only recommends: warnings, not failures.
    let w = warnings(&doc);
    assert!(w.iter().any(|w| w.contains("libfontmanager.so") && w.contains("optional")), "{w:?}");
    let _proc = ProcMount::new(&root);
    let (ok, out, err) = chroot(&root, &["/usr/bin/java", "-version"]);
    assert!(ok && err.contains("21."), "java -version: {out}{err}");
}

#[test]
fn nginx_light_builds_with_the_tc_plugin_as_a_warning_and_runs() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let spec = spec(work.path(), "nginx", "bookworm", &["nginx-light"]);
    let layout = work.path().join("layout");
    let doc = build(&spec, &layout);
    let w = warnings(&doc);
    assert!(w.iter().any(|w| w.contains("/tc/q_atm.so") && w.contains("libatm.so.1")), "{w:?}");
    let root = unpack(&layout, work.path());
    let (ok, out, err) = chroot(&root, &["/usr/sbin/nginx", "-v"]);
    assert!(ok && err.contains("nginx version"), "nginx -v: {out}{err}");
}

#[test]
fn ruby_builds_with_rdoc_links_into_recommends_as_warnings_and_runs() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let spec = spec(work.path(), "ruby", "bookworm", &["ruby"]);
    let layout = work.path().join("layout");
    let doc = build(&spec, &layout);
    let w = warnings(&doc);
    assert!(w.iter().any(|w| w.contains("Lato-Light.ttf") && w.contains("fonts-lato")), "{w:?}");
    let root = unpack(&layout, work.path());
    let (ok, out, err) = chroot(&root, &["/usr/bin/ruby", "-e", "puts 1"]);
    assert!(ok && out.trim() == "1", "ruby: {out}{err}");
}

/// ffmpeg also needs libblas.so.3, which libblas3's postinst registers with
/// update-alternatives: it builds once maintainer-script alternatives are
/// reproduced (issue 14 point 1, src/maint).
#[test]
fn ffmpeg_builds_with_the_caca_gl_plugin_as_a_warning_and_runs() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let spec = spec(work.path(), "ffmpeg", "bookworm", &["ffmpeg"]);
    let layout = work.path().join("layout");
    let doc = build(&spec, &layout);
    let w = warnings(&doc);
    assert!(w.iter().any(|w| w.contains("caca/libgl_plugin.so") && w.contains("libGLU")), "{w:?}");
    let root = unpack(&layout, work.path());
    let (ok, out, err) = chroot(&root, &["/usr/bin/ffmpeg", "-version"]);
    assert!(ok && out.contains("ffmpeg version"), "ffmpeg -version: {out}{err}");
}

/// A program whose library was excluded: the failure names the package
/// that ships it, from the suite's signed Contents index.
#[test]
fn missing_library_names_the_package_from_contents() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let spec = spec(work.path(), "curl", "bookworm", &["curl"]);
    let text = std::fs::read_to_string(&spec).unwrap() + "exclude: [libcurl4]\n";
    std::fs::write(&spec, text).unwrap();
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let (ok, _, err) = run(Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["build", "-q"])
        .arg(&spec)
        .arg("--output")
        .arg(work.path().join("layout"))
        .arg("--cache-dir")
        .arg(cache_dir()));
    assert!(!ok, "built without libcurl4: {err}");
    assert!(
        err.contains("/usr/bin/curl (from curl): needs libcurl.so.4")
            && err.contains("shipped by libcurl4 (/usr/lib/x86_64-linux-gnu/libcurl.so.4, Contents-amd64); hint: add libcurl4 to `packages`"),
        "{err}"
    );
}
