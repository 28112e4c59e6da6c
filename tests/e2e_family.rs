//! The distroless family, each image proven by running its runtime inside
//! it: specs/*.yaml built from their locks, unpacked per architecture
//! (skopeo copy --override-arch, umoci unpack) and run with chroot; arm64
//! runs through qemu-user-static (binfmt_misc, set up by scripts/test).
//! `DISTILL_SKIP_E2E=1` skips; otherwise a missing tool is a failure.

mod real;

use real::{project, skip, ProcMount};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const ARCHS: [&str; 2] = ["amd64", "arm64"];

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

/// Build specs/<name>.yaml from its lock into target/e2e-family/<name>.
fn build(name: &str) -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let out = project().join("target/e2e-family").join(name);
    let cache = real::cache_dir();
    must(
        Command::new(env!("CARGO_BIN_EXE_distill"))
            .current_dir(project())
            .args(["build", &format!("specs/{name}.yaml"), "--locked", "-q", "--output"])
            .arg(&out)
            .arg("--cache-dir")
            .arg(cache),
    );
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The config of `tag` for `arch`.
fn config(layout: &Path, tag: &str, arch: &str) -> serde_json::Value {
    let blob = |d: &str| json(&layout.join("blobs/sha256").join(d.trim_start_matches("sha256:")));
    let index = json(&layout.join("index.json"));
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag}"));
    let idx = blob(desc["digest"].as_str().unwrap());
    let m = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap_or_else(|| panic!("no {arch} in {tag}"));
    let manifest = blob(m["digest"].as_str().unwrap());
    blob(manifest["config"]["digest"].as_str().unwrap())
}

/// Unpack `tag` for `arch`; returns (tempdir holding it, rootfs).
fn unpack(layout: &Path, tag: &str, arch: &str) -> (tempfile::TempDir, PathBuf) {
    if arch != "amd64" {
        assert!(
            Path::new(&format!("/proc/sys/fs/binfmt_misc/qemu-{}", qemu(arch))).exists(),
            "binfmt_misc has no qemu-{} entry: install qemu-user-static and binfmt-support and enable it (scripts/test does)",
            qemu(arch)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    must(
        Command::new("skopeo")
            .args(["copy", "-q", "--override-arch", arch])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("oci:{}:{tag}", single.display())),
    );
    let bundle = dir.path().join("bundle");
    must(Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:{tag}", single.display())).arg(&bundle));
    (dir, bundle.join("rootfs"))
}

fn qemu(arch: &str) -> &'static str {
    match arch {
        "arm64" => "aarch64",
        other => panic!("no qemu name for {other}"),
    }
}

/// Run `argv` in `rootfs` with the image's environment.
fn chroot(rootfs: &Path, cfg: &serde_json::Value, argv: &[&str]) -> (bool, String, String) {
    let env: Vec<(String, String)> = cfg["config"]["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.split_once('=').map(|(k, v)| (k.into(), v.into()))).collect())
        .unwrap_or_default();
    run(Command::new("chroot").arg(rootfs).args(argv).env_clear().envs(env))
}

/// Compile a test program from tests/programs for `arch` into `rootfs/tmp`.
fn compile(src: &str, arch: &str, flags: &[&str], rootfs: &Path) -> String {
    let cxx = src.ends_with(".cpp");
    let compiler = match (arch, cxx) {
        ("amd64", false) => "gcc",
        ("amd64", true) => "g++",
        ("arm64", false) => "aarch64-linux-gnu-gcc",
        ("arm64", true) => "aarch64-linux-gnu-g++",
        _ => panic!("no compiler for {arch}"),
    };
    let out = rootfs.join("tmp/prog");
    must(
        Command::new(compiler)
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(project().join("tests/programs").join(src))
            .args(flags),
    );
    "/tmp/prog".into()
}

#[test]
fn static_image_runs_a_static_program() {
    if skip() {
        return;
    }
    let layout = build("static");
    for arch in ARCHS {
        let (_d, root) = unpack(&layout, "latest", arch);
        assert!(
            !root.join("usr/lib/x86_64-linux-gnu/libc.so.6").exists()
                && !root.join("lib/x86_64-linux-gnu/libc.so.6").exists(),
            "static has no libc"
        );
        let prog = compile("static.c", arch, &["-static"], &root);
        let (ok, out, err) = chroot(&root, &config(&layout, "latest", arch), &[&prog]);
        assert!(ok && out.starts_with("ok"), "{arch}: {out}{err}");
    }
}

#[test]
fn base_image_resolves_users_and_localhost() {
    if skip() {
        return;
    }
    let layout = build("base");
    for arch in ARCHS {
        let (_d, root) = unpack(&layout, "latest", arch);
        let prog = compile("base.c", arch, &[], &root);
        let (ok, out, err) = chroot(&root, &config(&layout, "latest", arch), &[&prog]);
        assert!(ok && out.starts_with("ok uid=65532 home=/home/nonroot"), "{arch}: {out}{err}");
    }
}

#[test]
fn cc_image_runs_cxx_with_openmp() {
    if skip() {
        return;
    }
    let layout = build("cc");
    for arch in ARCHS {
        let (_d, root) = unpack(&layout, "latest", arch);
        let prog = compile("cc.cpp", arch, &["-fopenmp"], &root);
        let (ok, out, err) = chroot(&root, &config(&layout, "latest", arch), &[&prog]);
        assert!(ok && out.starts_with("ok sum=500000500000"), "{arch}: {out}{err}");
    }
}

#[test]
fn python3_image_imports_stdlib_and_trusts_system_cas() {
    if skip() {
        return;
    }
    let layout = build("python3");
    let script = "import ssl, sqlite3, zlib, ctypes, json, urllib.request\n\
                  ctx = ssl.create_default_context()\n\
                  n = ctx.cert_store_stats()['x509_ca']\n\
                  assert n > 100, n\n\
                  sqlite3.connect(':memory:').execute('select 1')\n\
                  assert zlib.decompress(zlib.compress(b'x')) == b'x'\n\
                  ctypes.CDLL(None)\n\
                  print('ok', n)";
    for arch in ARCHS {
        let (_d, root) = unpack(&layout, "latest", arch);
        let cfg = config(&layout, "latest", arch);
        assert_eq!(cfg["config"]["Entrypoint"][0], "/usr/bin/python3");
        let (ok, out, err) = chroot(&root, &cfg, &["/usr/bin/python3", "-c", script]);
        assert!(ok && out.starts_with("ok"), "{arch}: {out}{err}");
        assert!(err.is_empty(), "{arch}: stderr {err}");
    }
}

#[test]
fn nodejs_image_runs_node_on_both_architectures() {
    if skip() {
        return;
    }
    for name in ["nodejs", "nodejs-trixie"] {
        let layout = build(name);
        for arch in ARCHS {
            let (_d, root) = unpack(&layout, "latest", arch);
            let js = "const tls=require('tls'); if (tls.rootCertificates.length<100) throw 1; \
                      new Intl.DateTimeFormat('en',{timeZone:'Europe/Paris'}).format(0); console.log('ok', process.arch)";
            let (ok, out, err) = chroot(&root, &config(&layout, "latest", arch), &["/usr/bin/node", "-e", js]);
            assert!(ok && out.starts_with("ok"), "{name} {arch}: {out}{err}");
        }
    }
}

#[test]
fn java17_image_runs_java_and_trusts_system_cas() {
    if skip() {
        return;
    }
    let layout = build("java17");
    let classes = tempfile::tempdir().unwrap();
    must(Command::new("javac").arg("-d").arg(classes.path()).arg(project().join("tests/programs/TrustAnchors.java")));
    for arch in ARCHS {
        let (_d, root) = unpack(&layout, "latest", arch);
        let cfg = config(&layout, "latest", arch);
        // The JVM finds its libraries through /proc/self/exe ($ORIGIN); a
        // container runtime mounts /proc, chroot does not.
        let _proc = ProcMount::new(&root);
        let (ok, out, err) = chroot(&root, &cfg, &["/usr/bin/java", "-version"]);
        assert!(ok && err.contains("17."), "{arch}: java -version: {out}{err}");
        std::fs::copy(classes.path().join("TrustAnchors.class"), root.join("tmp/TrustAnchors.class")).unwrap();
        let (ok, out, err) = chroot(&root, &cfg, &["/usr/bin/java", "-cp", "/tmp", "TrustAnchors"]);
        assert!(ok && out.starts_with("ok anchors="), "{arch}: {out}{err}");
    }
}

#[test]
fn trixie_base_has_merged_usr_and_runs_glibc_programs() {
    if skip() {
        return;
    }
    let layout = build("base-trixie");
    for arch in ARCHS {
        let (_d, root) = unpack(&layout, "latest", arch);
        let mut links = vec![("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")];
        if arch == "amd64" {
            links.push(("lib64", "usr/lib64")); // where the x86-64 ELF interpreter is named
        }
        for (link, target) in links {
            let meta = std::fs::symlink_metadata(root.join(link)).unwrap_or_else(|e| panic!("{arch}: /{link}: {e}"));
            assert!(meta.file_type().is_symlink(), "{arch}: /{link} is not a symlink");
            assert_eq!(std::fs::read_link(root.join(link)).unwrap(), Path::new(target), "{arch}: /{link}");
        }
        let prog = compile("base.c", arch, &[], &root);
        let (ok, out, err) = chroot(&root, &config(&layout, "latest", arch), &[&prog]);
        assert!(ok && out.starts_with("ok uid=65532"), "{arch}: {out}{err}");
    }
}

#[test]
fn variants_set_user_workdir_entrypoint_and_debug_shell() {
    if skip() {
        return;
    }
    let layout = build("base");
    for arch in ARCHS {
        let latest = config(&layout, "latest", arch);
        assert_eq!(latest["config"]["User"], "0:0");
        assert_eq!(latest["config"]["WorkingDir"], "/");
        let nonroot = config(&layout, "nonroot", arch);
        assert_eq!(nonroot["config"]["User"], "65532:65532");
        assert_eq!(nonroot["config"]["WorkingDir"], "/home/nonroot");
        assert_eq!(latest["rootfs"], nonroot["rootfs"], "nonroot shares the layers");
        let debug = config(&layout, "debug-nonroot", arch);
        assert_eq!(debug["config"]["Entrypoint"], serde_json::json!(["/busybox/sh"]));
        assert_eq!(debug["config"]["User"], "65532:65532");
        assert!(debug["config"]["Env"][0].as_str().unwrap().ends_with(":/busybox"));
        assert_eq!(
            debug["rootfs"]["diff_ids"][0], latest["rootfs"]["diff_ids"][0],
            "debug adds a layer on top of the same base"
        );

        let (_d, root) = unpack(&layout, "debug-nonroot", arch);
        let (ok, out, err) = chroot(&root, &debug, &["/busybox/sh", "-c", "id -u; ls /home"]);
        assert!(ok && out.contains("0\n") && out.contains("nonroot"), "{arch}: {out}{err}");
        use std::os::unix::fs::MetadataExt;
        let home = std::fs::metadata(root.join("home/nonroot")).unwrap();
        assert_eq!((home.uid(), home.gid()), (65532, 65532), "{arch}: /home/nonroot owner");
        let (_d2, plain) = unpack(&layout, "latest", arch);
        assert!(!plain.join("busybox").exists(), "{arch}: latest has no busybox");
    }
}
