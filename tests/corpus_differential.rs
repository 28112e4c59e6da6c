//! The differential test against dpkg (issue 14 "Proof"): every set of
//! tests/corpus/sets.yaml is built by distill from its lock
//! (tests/corpus/specs/<name>.{yaml,lock}), unpacked per architecture
//! (skopeo + umoci, as tests/e2e_family.rs) and compared with what dpkg and
//! the maintainer scripts made of the same packages
//! (tests/corpus/goldens/<name>.txt, recorded by scripts/corpus-goldens):
//!
//! - alternatives: every golden alternative (and slave) whose chosen path
//!   is in the image has its link and `/etc/alternatives/<name>` resolving
//!   to that path;
//! - script paths: every path the scripts made is in the image with the
//!   same type, symlink target or file digest, mode and owner — or matches
//!   a pattern of tests/corpus/omissions.txt (the reason is there);
//! - users: every system user and group the scripts added exists;
//! - smoke: the set's command runs in the image (chroot as root; /proc
//!   mounted when asked; arm64 through qemu-user-static).
//!
//! A set's `expect:` lists the kinds it is known to fail; the test fails
//! when the failing kinds of any set differ from its `expect:` (a new gap,
//! or a known one closed: remove it from sets.yaml). It prints a table per
//! set and writes it to target/corpus/report.txt. `DISTILL_CORPUS=a,b`
//! runs only those sets; `DISTILL_CORPUS_JOBS` bounds parallel sets
//! (default 2); `DISTILL_SKIP_E2E=1` skips.

mod real;

use real::{cache_dir, project, skip};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Deserialize)]
struct Corpus {
    sets: Vec<Set>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Set {
    name: String,
    suite: String,
    archs: Vec<String>,
    packages: Vec<String>,
    smoke: Smoke,
    #[serde(default)]
    extras: Option<serde_yaml::Value>,
    #[serde(default)]
    expect: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Smoke {
    argv: Vec<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    proc: bool,
}

/// The failure kinds a set's `expect:` may name.
const KINDS: [&str; 6] = ["build", "golden", "alternatives", "script-paths", "users", "smoke"];

/// What one set gave.
#[derive(Default)]
struct Outcome {
    name: String,
    seconds: f64,
    build: Option<String>,
    golden: Option<String>,
    alt_ok: usize,
    alt_absent: usize,
    alt_bad: Vec<String>,
    path_ok: usize,
    path_omitted: usize,
    path_bad: Vec<String>,
    users_bad: Vec<String>,
    smoke: Vec<(String, Result<(), String>)>,
}

impl Outcome {
    fn failed_kinds(&self) -> BTreeSet<&'static str> {
        let mut k = BTreeSet::new();
        if self.build.is_some() {
            k.insert("build");
        }
        if self.golden.is_some() {
            k.insert("golden");
        }
        if !self.alt_bad.is_empty() {
            k.insert("alternatives");
        }
        if !self.path_bad.is_empty() {
            k.insert("script-paths");
        }
        if !self.users_bad.is_empty() {
            k.insert("users");
        }
        if self.smoke.iter().any(|(_, r)| r.is_err()) {
            k.insert("smoke");
        }
        k
    }
}

fn run_capture(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Build the set from its lock into target/corpus/<name>.
fn build(set: &Set) -> Result<PathBuf, String> {
    let out = project().join("target/corpus").join(&set.name);
    run_capture(
        Command::new(env!("CARGO_BIN_EXE_distill"))
            .current_dir(project())
            .args(["build", &format!("tests/corpus/specs/{}.yaml", set.name), "--locked", "-q", "--output"])
            .arg(&out)
            .arg("--cache-dir")
            .arg(cache_dir()),
    )?;
    Ok(out)
}

/// Unpack the image for `arch` (skopeo copy --override-arch, umoci unpack).
fn unpack(layout: &Path, arch: &str) -> Result<(tempfile::TempDir, PathBuf), String> {
    let dir = tempfile::tempdir_in(project().join("target")).map_err(|e| e.to_string())?;
    let single = dir.path().join("single");
    run_capture(
        Command::new("skopeo")
            .args(["copy", "-q", "--override-arch", arch])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("oci:{}:latest", single.display())),
    )?;
    let bundle = dir.path().join("bundle");
    run_capture(
        Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:latest", single.display())).arg(&bundle),
    )?;
    Ok((dir, bundle.join("rootfs")))
}

/// `path` (absolute, in the image) with its symlinks followed inside
/// `root`: the last component too when `last`. `None` when a component is
/// missing or the links loop.
fn resolve(root: &Path, path: &str, last: bool) -> Option<String> {
    let mut todo: Vec<String> = path.split('/').filter(|c| !c.is_empty()).rev().map(String::from).collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let here = format!("/{}", cur.iter().chain(std::iter::once(&c)).cloned().collect::<Vec<_>>().join("/"));
        let meta = std::fs::symlink_metadata(root.join(here.trim_start_matches('/'))).ok()?;
        if meta.file_type().is_symlink() && (last || !todo.is_empty()) {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(root.join(here.trim_start_matches('/'))).ok()?;
            let t = target.to_string_lossy().to_string();
            if t.starts_with('/') {
                cur.clear();
            }
            todo.extend(t.split('/').filter(|c| !c.is_empty()).rev().map(String::from));
        } else {
            cur.push(c);
        }
    }
    Some(format!("/{}", cur.join("/")))
}

/// uid/gid → name maps of the image's /etc/passwd and /etc/group.
fn id_names(root: &Path, file: &str) -> BTreeMap<u32, String> {
    let text = std::fs::read_to_string(root.join("etc").join(file)).unwrap_or_default();
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if let (Some(name), Some(Ok(id))) = (f.first(), f.get(2).map(|s| s.parse::<u32>())) {
            m.entry(id).or_insert_with(|| name.to_string());
        }
    }
    m
}

/// The patterns of tests/corpus/omissions.txt: (paths omitted, paths whose
/// bytes may differ — the `content-differs` lines).
fn omissions() -> (globset::GlobSet, globset::GlobSet) {
    let text = std::fs::read_to_string(project().join("tests/corpus/omissions.txt")).unwrap();
    let (mut omit, mut differ) = (globset::GlobSetBuilder::new(), globset::GlobSetBuilder::new());
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap();
        let (set, pat) = match first {
            "content-differs" => (&mut differ, words.next().expect("content-differs needs a glob")),
            _ => (&mut omit, first),
        };
        set.add(globset::GlobBuilder::new(pat).literal_separator(true).build().unwrap());
    }
    (omit.build().unwrap(), differ.build().unwrap())
}

/// Does the link at `link` lead to the same file as `chosen`?
fn leads_to(root: &Path, link: &str, chosen: &str) -> Result<(), String> {
    let want = resolve(root, chosen, true).ok_or_else(|| format!("{chosen} absent"))?;
    match resolve(root, link, true) {
        Some(got) if got == want => Ok(()),
        Some(got) => Err(format!("{link} leads to {got}, dpkg: {want}")),
        None => Err(format!("{link} missing (dpkg: -> {chosen})")),
    }
}

/// Compare the unpacked amd64 image with the set's golden.
fn compare(set: &Set, root: &Path, o: &mut Outcome) {
    let golden = project().join("tests/corpus/goldens").join(format!("{}.txt", set.name));
    let Ok(text) = std::fs::read_to_string(&golden) else {
        o.golden = Some(format!("no golden {}: run scripts/corpus-goldens {}", golden.display(), set.name));
        return;
    };
    let lock_sha = packages_digest(&set.name);
    let (omit, differ) = omissions();
    let (users, groups) = (id_names(root, "passwd"), id_names(root, "group"));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    let has = |text: &str, name: &str| text.lines().any(|l| l.split(':').next() == Some(name));
    let mut chosen_present = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "packages" if f[1] != lock_sha => {
                o.golden = Some(format!(
                    "golden is stale (the lock's packages changed): run scripts/corpus-goldens {}",
                    set.name
                ))
            }
            "alternative" => {
                let (name, link, chosen) = (f[1], f[2], f[3]);
                let present = resolve(root, chosen, true).is_some();
                chosen_present.insert(name.to_string(), present);
                if !present {
                    o.alt_absent += 1;
                    continue;
                }
                let r = leads_to(root, link, chosen)
                    .and_then(|()| leads_to(root, &format!("/etc/alternatives/{name}"), chosen));
                match r {
                    Ok(()) => o.alt_ok += 1,
                    Err(e) => o.alt_bad.push(format!("{name}: {e}")),
                }
            }
            "slave" => {
                let (master, name, link, chosen) = (f[1], f[2], f[3], f[4]);
                if chosen == "-" || chosen_present.get(master) != Some(&true) || resolve(root, chosen, true).is_none() {
                    continue;
                }
                let r = leads_to(root, link, chosen)
                    .and_then(|()| leads_to(root, &format!("/etc/alternatives/{name}"), chosen));
                match r {
                    Ok(()) => o.alt_ok += 1,
                    Err(e) => o.alt_bad.push(format!("{master}/{name}: {e}")),
                }
            }
            "path" => {
                if omit.is_match(f[1]) {
                    o.path_omitted += 1;
                    continue;
                }
                match path_differs(root, &f, &users, &groups, differ.is_match(f[1])) {
                    None => o.path_ok += 1,
                    Some(d) => o.path_bad.push(format!("{}: {d}", f[1])),
                }
            }
            "user" if !has(&passwd, f[1]) => o.users_bad.push(format!("user {} (home {}, shell {})", f[1], f[2], f[3])),
            "group" if !has(&group, f[1]) => o.users_bad.push(format!("group {}", f[1])),
            "omitted" => o.path_omitted += f[2].parse::<usize>().unwrap_or(0),
            _ => {}
        }
    }
}

/// SHA256 of the set's locked amd64 packages as `name=version` lines in
/// lock order (scripts/corpus-golden.py `packages_digest`): the key of what
/// its golden was recorded from.
fn packages_digest(name: &str) -> String {
    let path = project().join("tests/corpus/specs").join(format!("{name}.lock"));
    let lock: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut text = String::new();
    for p in lock["packages"]["amd64"].as_sequence().into_iter().flatten() {
        text += &format!("{}={}\n", p["name"].as_str().unwrap_or(""), p["version"].as_str().unwrap_or(""));
    }
    distill_sha256(text.as_bytes())
}

fn distill_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// How the image's `f[1]` differs from the golden line `f`, if it does
/// (the bytes of a file only unless `bytes_may_differ`).
fn path_differs(
    root: &Path,
    f: &[&str],
    users: &BTreeMap<u32, String>,
    groups: &BTreeMap<u32, String>,
    bytes_may_differ: bool,
) -> Option<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some(at) = resolve(root, f[1], false) else { return Some("missing".into()) };
    let full = root.join(at.trim_start_matches('/'));
    let Ok(meta) = std::fs::symlink_metadata(&full) else { return Some("missing".into()) };
    let kind = if meta.file_type().is_symlink() {
        "symlink"
    } else if meta.is_dir() {
        "dir"
    } else if meta.is_file() {
        "file"
    } else {
        "other"
    };
    if kind != f[2] {
        return Some(format!("is a {kind}, dpkg made a {}", f[2]));
    }
    if kind == "symlink" {
        let t = std::fs::read_link(&full).map(|t| t.to_string_lossy().to_string()).unwrap_or_default();
        return (t != f[3]).then(|| format!("links to {t}, dpkg: {}", f[3]));
    }
    let mode = format!("{:04o}", meta.permissions().mode() & 0o7777);
    let owner = format!(
        "{}:{}",
        users.get(&meta.uid()).cloned().unwrap_or(meta.uid().to_string()),
        groups.get(&meta.gid()).cloned().unwrap_or(meta.gid().to_string())
    );
    if kind == "file" && !bytes_may_differ {
        let data = std::fs::read(&full).unwrap_or_default();
        if distill_sha256(&data) != f[5] {
            return Some("content differs".into());
        }
    }
    if mode != f[3] || owner != f[4] {
        return Some(format!("{mode} {owner}, dpkg: {} {}", f[3], f[4]));
    }
    None
}

/// Run the smoke command in `root`.
fn smoke(set: &Set, root: &Path) -> Result<(), String> {
    let s = &set.smoke;
    let proc = root.join("proc");
    if s.proc {
        std::fs::create_dir_all(&proc).map_err(|e| e.to_string())?;
        run_capture(Command::new("mount").args(["-t", "proc", "proc"]).arg(&proc))?;
    }
    // A container engine gives every container /dev/null (OCI runtime
    // spec, "Default Devices"); chroot does not: make it, as a runtime would.
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).map_err(|e| e.to_string())?;
    if !dev.join("null").exists() {
        run_capture(Command::new("mknod").args(["-m", "666"]).arg(dev.join("null")).args(["c", "1", "3"]))?;
    }
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg("chroot").arg(root).args(&s.argv).env_clear();
    cmd.env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").envs(&s.env);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let result = (|| {
        let mut child = cmd.spawn().map_err(|e| format!("cannot run chroot: {e}"))?;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(s.stdin.as_deref().unwrap_or("").as_bytes()).ok();
        drop(stdin);
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let (o, e) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let tail =
            |t: &str| t.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
        if !out.status.success() {
            return Err(format!("exit {:?}: {}", out.status.code(), tail(&format!("{o}{e}"))));
        }
        match &s.stdout {
            Some(want) if !o.contains(want.as_str()) => {
                Err(format!("output lacks {want:?}: {}", tail(&format!("{o}{e}"))))
            }
            _ => Ok(()),
        }
    })();
    if s.proc {
        let _ = Command::new("umount").arg("-l").arg(&proc).status();
    }
    result
}

/// Build, compare and smoke-test one set.
fn one(set: &Set) -> Outcome {
    let start = Instant::now();
    let mut o = Outcome { name: set.name.clone(), ..Default::default() };
    match build(set) {
        Err(e) => o.build = Some(e),
        Ok(layout) => {
            for arch in &set.archs {
                match unpack(&layout, arch) {
                    Err(e) => o.smoke.push((arch.clone(), Err(format!("unpack: {e}")))),
                    Ok((_dir, root)) => {
                        if arch == "amd64" {
                            compare(set, &root, &mut o);
                        }
                        o.smoke.push((arch.clone(), smoke(set, &root)));
                    }
                }
            }
        }
    }
    o.seconds = start.elapsed().as_secs_f64();
    o
}

/// A build error by kind of finding: `kind ×count: examples` per kind of
/// the image check's findings (`  - PATH (from PKG): MESSAGE` lines), else
/// the error's first lines.
fn build_summary(e: &str) -> String {
    let mut kinds: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    for line in e.lines().filter_map(|l| l.trim().strip_prefix("- ")) {
        let (what, msg) = line.split_once("): ").map(|(w, m)| (w.to_string() + ")", m)).unwrap_or((line.into(), ""));
        let (kind, example) = if let Some(t) = msg.strip_prefix("dangling symlink to ") {
            ("dangling symlink", format!("{what} -> {}", t.split(':').next().unwrap_or(t)))
        } else if msg.starts_with("program interpreter") {
            ("program interpreter missing", msg.split_whitespace().nth(2).unwrap_or("").to_string())
        } else if let Some(lib) = msg.strip_prefix("needs ") {
            ("library missing", lib.split(',').next().unwrap_or(lib).to_string())
        } else if msg.contains("entrypoint") {
            ("entrypoint missing", what.split_whitespace().next().unwrap_or("").to_string())
        } else {
            ("other", line.to_string())
        };
        let k = kinds.entry(kind.to_string()).or_default();
        k.0 += 1;
        k.1.insert(example);
    }
    if kinds.is_empty() {
        return e.lines().take(4).map(str::trim).collect::<Vec<_>>().join(" / ").chars().take(400).collect();
    }
    let part = |(k, (n, ex)): (&String, &(usize, BTreeSet<String>))| {
        let shown: Vec<&str> = ex.iter().take(3).map(String::as_str).collect();
        format!("{k} ×{n} [{}{}]", shown.join("; "), if ex.len() > 3 { "; …" } else { "" })
    };
    kinds.iter().map(part).collect::<Vec<_>>().join("; ")
}

fn table(outcomes: &[Outcome]) -> String {
    let mut t = format!(
        "{:<26} {:>6} {:<6} {:>11} {:>16} {:>6} {:<22} {}\n",
        "set", "secs", "build", "alt ok/bad", "paths ok/bad/om", "users", "smoke", "expected/observed gaps"
    );
    for o in outcomes {
        let smoke = o.smoke.iter().map(|(a, r)| format!("{a}:{}", if r.is_ok() { "ok" } else { "FAIL" }));
        t += &format!(
            "{:<26} {:>6.1} {:<6} {:>11} {:>16} {:>6} {:<22} {}\n",
            o.name,
            o.seconds,
            if o.build.is_some() { "FAIL" } else { "ok" },
            format!("{}/{}", o.alt_ok, o.alt_bad.len()),
            format!("{}/{}/{}", o.path_ok, o.path_bad.len(), o.path_omitted),
            o.users_bad.len(),
            smoke.collect::<Vec<_>>().join(","),
            o.failed_kinds().into_iter().collect::<Vec<_>>().join(",")
        );
    }
    t
}

fn details(o: &Outcome) -> String {
    let mut d = String::new();
    if let Some(e) = &o.build {
        d += &format!("  build: {}\n", build_summary(e));
    }
    if let Some(e) = &o.golden {
        d += &format!("  golden: {e}\n");
    }
    for a in &o.alt_bad {
        d += &format!("  alternative: {a}\n");
    }
    // Paths with the same problem in one directory, four or more: one line.
    let mut by_dir: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for p in &o.path_bad {
        let (path, problem) = p.split_once(": ").unwrap_or((p, ""));
        let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
        by_dir.entry((dir, problem)).or_default().push(path);
    }
    for ((dir, problem), paths) in by_dir {
        if paths.len() >= 4 {
            d += &format!("  script paths: {dir}/* ×{}: {problem} (e.g. {})\n", paths.len(), paths[0]);
        } else {
            for p in paths {
                d += &format!("  script path: {p}: {problem}\n");
            }
        }
    }
    for u in &o.users_bad {
        d += &format!("  account: {u}\n");
    }
    for (arch, r) in &o.smoke {
        if let Err(e) = r {
            d += &format!("  smoke {arch}: {}\n", e.chars().take(300).collect::<String>());
        }
    }
    d
}

/// Every set is well-formed and its committed spec matches it.
fn check_sets(sets: &[&Set]) {
    for s in sets {
        assert!(s.suite == "bookworm" || s.suite == "trixie", "{}: suite {}", s.name, s.suite);
        assert!(!s.packages.is_empty() && !s.archs.is_empty(), "{}: no packages or archs", s.name);
        let _ = &s.extras;
        let spec_path = project().join("tests/corpus/specs").join(format!("{}.yaml", s.name));
        let spec: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&spec_path).unwrap_or_default())
            .unwrap_or(serde_yaml::Value::Null);
        let list = |k: &str| -> Vec<String> {
            spec[k]
                .as_sequence()
                .map(|v| v.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        assert!(
            list("packages") == s.packages && list("archs") == s.archs,
            "{}: {} is missing or out of date with tests/corpus/sets.yaml: run scripts/corpus-locks {}",
            s.name,
            spec_path.display(),
            s.name
        );
        for k in &s.expect {
            assert!(KINDS.contains(&k.as_str()), "{}: expect {k:?} is not one of {KINDS:?}", s.name);
        }
    }
}

#[test]
fn corpus_sets_build_run_and_match_what_dpkg_made() {
    if skip() {
        return;
    }
    let corpus: Corpus =
        serde_yaml::from_str(&std::fs::read_to_string(project().join("tests/corpus/sets.yaml")).unwrap()).unwrap();
    let only: Option<BTreeSet<String>> =
        std::env::var("DISTILL_CORPUS").ok().map(|v| v.split(',').map(String::from).collect());
    let sets: Vec<&Set> = corpus.sets.iter().filter(|s| only.as_ref().map_or(true, |o| o.contains(&s.name))).collect();
    check_sets(&sets);
    let jobs: usize = std::env::var("DISTILL_CORPUS_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(2).max(1);
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(sets.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(set) = sets.get(i) else { break };
                let o = one(set);
                eprintln!("corpus: {} done in {:.1} s: {:?}", o.name, o.seconds, o.failed_kinds());
                results.lock().unwrap().push((i, o));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = results.into_iter().map(|(_, o)| o).collect();
    let mut report = table(&outcomes);
    report += &format!("total {:.0} s for {} sets\n\n", start.elapsed().as_secs_f64(), outcomes.len());
    let mut unexpected = Vec::new();
    for (o, s) in outcomes.iter().zip(&sets) {
        let got: BTreeSet<&str> = o.failed_kinds();
        let want: BTreeSet<&str> = s.expect.iter().map(String::as_str).collect();
        let d = details(o);
        if !d.is_empty() {
            report += &format!("{}:\n{d}", o.name);
        }
        if got != want {
            let new: Vec<_> = got.difference(&want).collect();
            let closed: Vec<_> = want.difference(&got).collect();
            unexpected.push(format!(
                "{}: new gaps {new:?}, closed gaps {closed:?} (update its `expect:` in tests/corpus/sets.yaml)",
                o.name
            ));
        }
    }
    let _ = std::fs::create_dir_all(project().join("target/corpus"));
    let _ = std::fs::write(project().join("target/corpus/report.txt"), &report);
    // The observed gaps per set, for updating `expect:` (scripts/corpus-expect writes them into sets.yaml).
    let observed: BTreeMap<&str, Vec<&str>> =
        outcomes.iter().map(|o| (o.name.as_str(), o.failed_kinds().into_iter().collect())).collect();
    let _ =
        std::fs::write(project().join("target/corpus/observed.json"), serde_json::to_string_pretty(&observed).unwrap());
    println!("{report}");
    assert!(unexpected.is_empty(), "differences from the expected state:\n{}\n\n{report}", unexpected.join("\n"));
}
