//! Differential tests against Debian's own tools, on the real bookworm
//! archive:
//!
//! * `resolver_matches_apt`: for every name in
//!   `tests/apt_differential/corpus.txt`, distill's resolver
//!   (`distill::resolve::resolve`) and `apt-get install
//!   --no-install-recommends` (on a private apt state with an empty dpkg
//!   status, the same suites and the same mirror distill chose) must pick
//!   the same set of (package, version). Every difference must be listed in
//!   [`ALLOWED`] with the reason the two differ; entries marked `BUG:` are
//!   resolver bugs to fix (then delete the entry). apt is asked with
//!   `--print-uris` (the same marking as `--simulate`, without the slow dpkg
//!   ordering); a few entries ([`SIMULATE_CHECK`]) are also run with
//!   `--simulate` and must give the same `Inst` set, and
//!   `DISTILL_APT_SIMULATE=1` uses `--simulate` for every entry.
//! * `version_order_matches_dpkg`: distill's `Version` order agrees with
//!   `dpkg --compare-versions` on ~3000 pairs of real bookworm versions.
//!
//! The indices are loaded once (shared by both tests) through
//! `distill::build::sources::load`, so the mirror is found the way distill
//! finds it: `DISTILL_MIRROR`, else the host's apt sources; apt is given
//! the same base URLs and must have fetched byte-identical InRelease files.
//! apt runs on a private state in a temp dir (no host apt config is read,
//! nothing under /etc/apt or /var/lib/apt is touched).
//!
//! Run: `cargo test --test apt_differential -- --nocapture` (the report is
//! printed to stderr and written to `target/apt-differential.txt`).
//! `DISTILL_SKIP_E2E=1` skips; otherwise a missing `apt-get`, `dpkg` or
//! `gpg`, or no reachable mirror, fails the test.

mod real;

use real::{cache_dir, project, skip};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use distill::build::{sources, BuildOptions};
use distill::fetch::Cache;
use distill::repo::{mirror, Transport};
use distill::report::Reporter;
use distill::resolve::{self, Request, Universe};
use distill::spec::{self, LoadedSpec};
use distill::version::Version;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// The allow-list
// ---------------------------------------------------------------------------

/// What kind of difference an [`Allowed`] entry covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// distill installs the package, apt does not.
    OnlyDistill,
    /// apt installs the package, distill does not.
    OnlyApt,
    /// Both install the package, at different versions.
    Version,
    /// apt-get refused the request (the `package` field is ignored: `*`).
    AptRefused,
    /// distill's resolver failed (the `package` field is ignored: `*`).
    DistillFailed,
}

/// One accepted difference. `corpus` is a corpus entry or `*` (every entry
/// whose closure shows this difference); `package` is the package that
/// differs (or `*`).
struct Allowed {
    corpus: &'static str,
    kind: Kind,
    package: &'static str,
    why: &'static str,
}

/// Every accepted difference between distill and apt, with the reason.
///
/// Prefixes of `why`:
/// * `BY DESIGN:` distill deliberately decides otherwise than apt;
/// * `ORDER:` both sets are complete and consistent, but the resolvers
///   visit dependencies in a different order, so an or-group or a
///   dependency also met by a `Provides` is met by a different package
///   (apt's `MarkInstall` is depth-first in field order; see the comments
///   in corpus.txt for the entries that caught a breadth-first resolver);
/// * `BUG:` distill is wrong and apt right: fix the resolver, then delete
///   the entry.
///
/// Entries that no longer match anything are listed at the end of the report
/// (not a failure: a point release can make a difference disappear).
const ALLOWED: &[Allowed] = &[
    // `awk` is only virtual: mawk (Priority: required), gawk and original-awk
    // (optional) provide it. apt-get refuses a virtual name with several
    // providers ("has no installation candidate"; the user must name one).
    // distill takes the provider of highest Priority, mawk, and only refuses
    // a tie (as for `mail-transport-agent`, which both refuse).
    Allowed {
        corpus: "awk",
        kind: Kind::AptRefused,
        package: "*",
        why: "BY DESIGN: apt refuses a virtual package with several providers; distill picks the one of highest Priority (mawk, required)",
    },
];

// ---------------------------------------------------------------------------
// Shared fixture: the indices, loaded once
// ---------------------------------------------------------------------------

const ARCH: &str = "amd64";
const SUITES: [&str; 3] = ["bookworm", "bookworm-updates", "bookworm-security"];

/// The spec the tests resolve against: the three bookworm suites, main, amd64.
fn spec() -> LoadedSpec {
    let key = |k: &str| project().join("keys").join(k).display().to_string();
    let yaml = format!(
        "name: apt-differential\n\
         sources:\n\
         \x20 - suite: bookworm\n\
         \x20   components: [main]\n\
         \x20   keys: [{}, {}, {}]\n\
         \x20 - suite: bookworm-updates\n\
         \x20   components: [main]\n\
         \x20   keys: [{}, {}]\n\
         \x20 - suite: bookworm-security\n\
         \x20   components: [main]\n\
         \x20   keys: [{}]\n\
         archs: [{ARCH}]\n\
         packages: [libc6]\n",
        key("debian-12-archive.asc"),
        key("debian-13-archive.asc"),
        key("debian-12-release.asc"),
        key("debian-12-archive.asc"),
        key("debian-13-archive.asc"),
        key("debian-12-security.asc"),
    );
    let path = project().join("tests/apt_differential/spec.yaml");
    let parsed = spec::parse(&path, yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    LoadedSpec { spec: parsed, path, raw: yaml.into_bytes(), parents: Vec::new() }
}

fn load_indices() -> sources::Loaded {
    let mirrors = mirror::parse_overrides(std::env::var("DISTILL_MIRROR").ok().as_deref())
        .unwrap_or_else(|e| panic!("DISTILL_MIRROR: {e}"));
    let opts = BuildOptions {
        output: std::env::temp_dir().join("distill-apt-differential-unused"),
        cache_dir: cache_dir(),
        mirrors,
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
    let transport = Transport::new().unwrap_or_else(|e| panic!("{e}"));
    let cache = Cache::open(&opts.cache_dir, false).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let loaded = sources::load(&spec(), &opts, &transport, &cache, &Reporter::silent()).unwrap_or_else(|e| {
        panic!("loading the bookworm indices failed (set DISTILL_MIRROR, or DISTILL_SKIP_E2E=1 to skip): {e}")
    });
    eprintln!(
        "loaded {} indices ({} packages) in {:.1}s",
        loaded.indices.len(),
        loaded.indices.iter().map(|i| i.packages.len()).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    loaded
}

/// The indices, loaded once for both tests (the second caller waits for
/// the first; if loading panics, the next caller tries again).
fn fixture() -> &'static sources::Loaded {
    static LOADED: OnceLock<sources::Loaded> = OnceLock::new();
    LOADED.get_or_init(load_indices)
}

fn require_tool(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "`{tool}` is required (install it, or set DISTILL_SKIP_E2E=1 to skip)");
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

// ---------------------------------------------------------------------------
// The corpus and both resolvers
// ---------------------------------------------------------------------------

fn corpus() -> Vec<String> {
    let path = project().join("tests/apt_differential/corpus.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut names: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut seen = BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// A closure: package name → version.
type Closure = BTreeMap<String, String>;

/// distill's closure of `name`, and for each package why it was chosen
/// (`spec → a → b` and the dependency that pulled it in).
fn distill_closure(universe: &Universe, name: &str) -> (Result<Closure, String>, BTreeMap<String, String>) {
    match resolve::resolve(universe, &Request::new(ARCH, [name])) {
        Ok(res) => {
            let why =
                res.reasons.iter().map(|(n, (_, dep))| (n.clone(), format!("{} [{dep}]", res.chain(n)))).collect();
            (Ok(res.packages.iter().map(|(n, p)| (n.clone(), p.version.to_string())).collect()), why)
        }
        Err(e) => (Err(e.to_string()), BTreeMap::new()),
    }
}

/// A private apt: its own config, sources, keyring, lists, cache and an
/// empty dpkg status. Nothing of the host's apt configuration is read.
struct PrivateApt {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    lists: PathBuf,
}

impl PrivateApt {
    fn new(releases: &[distill::repo::VerifiedRelease]) -> Self {
        let tmp = tempfile::Builder::new().prefix("distill-apt-diff").tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let dirs = [
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
            "etc/trusted.gpg.d",
            "state",
            "cache/archives/partial",
            "log",
            "gnupg",
        ];
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        // Everything apt writes (lists, caches, logs) stays in the temp dir.
        let lists = root.join("state/lists");
        std::fs::create_dir_all(lists.join("partial")).unwrap();
        std::fs::write(root.join("state/status"), b"").unwrap();

        // One keyring from every key in keys/ (binary, as apt's gpgv wants).
        let mut keyring = Vec::new();
        let mut keys: Vec<PathBuf> = std::fs::read_dir(project().join("keys"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "asc"))
            .collect();
        keys.sort();
        for key in &keys {
            let out = Command::new("gpg")
                .args(["--batch", "--no-options", "--homedir"])
                .arg(root.join("gnupg"))
                .args(["--dearmor", "--output", "-"])
                .arg(key)
                .output()
                .unwrap_or_else(|e| panic!("gpg: {e}"));
            assert!(out.status.success(), "gpg --dearmor {}: {}", key.display(), String::from_utf8_lossy(&out.stderr));
            keyring.extend_from_slice(&out.stdout);
        }
        let keyring_path = root.join("etc/distill-keys.gpg");
        std::fs::write(&keyring_path, keyring).unwrap();

        let mut sources_list = String::new();
        for r in releases {
            writeln!(
                sources_list,
                "deb [arch={ARCH} signed-by={}] {} {} main",
                keyring_path.display(),
                r.base_url,
                r.suite
            )
            .unwrap();
        }
        std::fs::write(root.join("etc/sources.list"), sources_list).unwrap();

        let p = |rel: &str| root.join(rel).display().to_string();
        let config = format!(
            "Dir \"/\";\n\
             Dir::Etc \"{etc}/\";\n\
             Dir::Etc::main \"/dev/null\";\n\
             Dir::Etc::Parts \"{etc}/apt.conf.d/\";\n\
             Dir::Etc::SourceList \"{etc}/sources.list\";\n\
             Dir::Etc::SourceParts \"{etc}/sources.list.d/\";\n\
             Dir::Etc::Preferences \"{etc}/preferences\";\n\
             Dir::Etc::PreferencesParts \"{etc}/preferences.d/\";\n\
             Dir::Etc::Trusted \"{etc}/trusted.gpg\";\n\
             Dir::Etc::TrustedParts \"{etc}/trusted.gpg.d/\";\n\
             Dir::State \"{state}/\";\n\
             Dir::State::Lists \"{lists}/\";\n\
             Dir::State::status \"{state}/status\";\n\
             Dir::State::extended_states \"{state}/extended_states\";\n\
             Dir::Cache \"{cache}/\";\n\
             Dir::Log \"{log}/\";\n\
             APT::Architecture \"{ARCH}\";\n\
             APT::Architectures {{ \"{ARCH}\"; }};\n\
             APT::Sandbox::User \"root\";\n\
             APT::Install-Recommends \"false\";\n\
             APT::Install-Suggests \"false\";\n\
             Acquire::Languages \"none\";\n\
             Acquire::Retries \"3\";\n",
            etc = p("etc"),
            state = p("state"),
            lists = lists.display(),
            cache = p("cache"),
            log = p("log"),
        );
        let config_path = root.join("apt.conf");
        std::fs::write(&config_path, config).unwrap();
        PrivateApt { _tmp: tmp, config: config_path, lists }
    }

    fn apt_get(&self) -> Command {
        let mut c = Command::new("apt-get");
        c.env("APT_CONFIG", &self.config).env("LC_ALL", "C").env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    fn update(&self) {
        let (ok, out, err) = run(self.apt_get().arg("update"));
        assert!(ok && !err.contains("W: ") && !err.contains("E: "), "apt-get update failed:\n{out}\n{err}");
    }

    /// SHA256 of the InRelease apt holds for `suite`.
    fn inrelease_sha256(&self, suite: &str) -> Option<String> {
        let suffix = format!("_dists_{suite}_InRelease");
        let entry = std::fs::read_dir(&self.lists)
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))?;
        Some(hex::encode(Sha256::digest(std::fs::read(entry.path()).ok()?)))
    }

    /// The packages apt would install for `name`, or apt's error. With
    /// `Mode::Simulate`, `apt-get install --simulate` and its `Inst` lines;
    /// with `Mode::PrintUris`, `apt-get install --print-uris` and the file
    /// names of the .debs it would fetch. Both run the same marking (the
    /// same depcache after the same problem resolver); only `--simulate`
    /// then runs the dpkg ordering, which is what makes it slow (seconds
    /// per large closure).
    fn closure(&self, name: &str, mode: Mode) -> Result<Closure, String> {
        let mut cmd = self.apt_get();
        cmd.args(["install", "--no-install-recommends", "-o", "APT::Install-Suggests=0", "-o", "Debug::NoLocking=1"]);
        match mode {
            Mode::Simulate => cmd.arg("--simulate"),
            Mode::PrintUris => cmd.args(["--print-uris", "-qq"]),
        };
        let (ok, out, err) = run(cmd.arg(name));
        if !ok {
            let msg: Vec<&str> = err
                .lines()
                .chain(out.lines())
                .filter(|l| l.starts_with("E: ") || l.contains("virtual package") || l.contains("but it is not"))
                .collect();
            return Err(if msg.is_empty() { err.trim().to_string() } else { msg.join(" / ") });
        }
        let mut closure = Closure::new();
        for line in out.lines() {
            let parsed = match mode {
                // `Inst NAME [OLD] (VERSION ARCHIVE [ARCH])`
                Mode::Simulate => line.strip_prefix("Inst ").and_then(|rest| {
                    let pkg = rest.split_whitespace().next()?;
                    let version = rest.split_once('(')?.1.split_whitespace().next()?;
                    Some((pkg.split(':').next()?.to_string(), version.to_string()))
                }),
                // `'URI' NAME_VERSION_ARCH.deb SIZE HASH`, `_`, `:` and `%` %-quoted
                Mode::PrintUris => line
                    .starts_with('\'')
                    .then(|| {
                        let file = line.split_whitespace().nth(1)?;
                        let mut parts = file.strip_suffix(".deb")?.split('_');
                        let (pkg, version, _arch) = (parts.next()?, parts.next()?, parts.next()?);
                        Some((unquote(pkg), unquote(version)))
                    })
                    .flatten(),
            };
            match parsed {
                Some((pkg, version)) => {
                    closure.insert(pkg, version);
                }
                None if mode == Mode::Simulate && line.starts_with("Inst ") => {
                    panic!("cannot parse apt-get line {line:?}")
                }
                None if mode == Mode::PrintUris && line.starts_with('\'') => {
                    panic!("cannot parse apt-get line {line:?}")
                }
                None => {}
            }
        }
        Ok(closure)
    }
}

/// How apt is asked for a closure (see [`PrivateApt::closure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Simulate,
    PrintUris,
}

/// Undo apt's `QuoteString` (`%xx`).
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(c) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(c);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------
// Comparison and report
// ---------------------------------------------------------------------------

/// One observed difference for a corpus entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Diff {
    corpus: String,
    kind: Kind,
    package: String,
    detail: String,
}

impl Diff {
    fn allowed(&self) -> Option<&'static Allowed> {
        ALLOWED.iter().find(|a| {
            (a.corpus == "*" || a.corpus == self.corpus)
                && a.kind == self.kind
                && (a.package == "*" || a.package == self.package)
        })
    }
}

struct Row {
    name: String,
    distill: Result<Closure, String>,
    apt: Result<Closure, String>,
    diffs: Vec<Diff>,
}

fn compare(
    name: &str,
    distill: &Result<Closure, String>,
    why: &BTreeMap<String, String>,
    apt: &Result<Closure, String>,
) -> Vec<Diff> {
    let diff =
        |kind, package: &str, detail: String| Diff { corpus: name.into(), kind, package: package.into(), detail };
    let mut out = Vec::new();
    match (distill, apt) {
        (Ok(d), Ok(a)) => {
            for (p, v) in d {
                match a.get(p) {
                    None => out.push(diff(
                        Kind::OnlyDistill,
                        p,
                        format!("{v}, via {}", why.get(p).map(String::as_str).unwrap_or("?")),
                    )),
                    Some(av) if av != v => out.push(diff(Kind::Version, p, format!("distill {v}, apt {av}"))),
                    Some(_) => {}
                }
            }
            for (p, v) in a {
                if !d.contains_key(p) {
                    out.push(diff(Kind::OnlyApt, p, v.clone()));
                }
            }
        }
        (Ok(_), Err(e)) => out.push(diff(Kind::AptRefused, "*", e.clone())),
        (Err(e), Ok(_)) => out.push(diff(Kind::DistillFailed, "*", e.lines().next().unwrap_or_default().to_string())),
        // Both refuse (e.g. a virtual name with several equal providers):
        // that is agreement; the report lists both messages.
        (Err(_), Err(_)) => {}
    }
    out
}

fn report(rows: &[Row], releases: &[distill::repo::VerifiedRelease], mode: Mode, elapsed: f64) -> (String, Vec<Diff>) {
    let mut r = String::new();
    let how = match mode {
        Mode::Simulate => "--simulate",
        Mode::PrintUris => "--print-uris",
    };
    writeln!(r, "distill resolver vs apt-get install {how} --no-install-recommends (empty dpkg status), {ARCH}, main")
        .unwrap();
    for rel in releases {
        // The base URL is not printed: no mirror host name goes into a file.
        writeln!(r, "  {:<18} InRelease sha256 {}…, dated {}", rel.suite, &rel.sha256[..16], rel.date).unwrap();
    }
    writeln!(r).unwrap();
    writeln!(
        r,
        "{:<26} {:>7} {:>5} {:>5} {:>7} {:>7} {:>7}  status",
        "corpus entry", "distill", "apt", "same", "+distl", "+apt", "vers"
    )
    .unwrap();
    let (mut exact, mut inter_total, mut union_total, mut jaccard_sum, mut jaccard_n) =
        (0usize, 0usize, 0usize, 0f64, 0usize);
    let mut all_diffs = Vec::new();
    for row in rows {
        let count =
            |c: &Result<Closure, String>| c.as_ref().map(|c| c.len().to_string()).unwrap_or_else(|_| "fail".into());
        let n = |k: Kind| row.diffs.iter().filter(|d| d.kind == k).count();
        let same = match (&row.distill, &row.apt) {
            (Ok(d), Ok(a)) => {
                let inter = d.iter().filter(|(p, v)| a.get(*p) == Some(*v)).count();
                let union = d.len() + a.len() - inter;
                inter_total += inter;
                union_total += union;
                jaccard_sum += if union == 0 { 1.0 } else { inter as f64 / union as f64 };
                jaccard_n += 1;
                inter.to_string()
            }
            _ => "-".into(),
        };
        if row.diffs.is_empty() {
            exact += 1;
        }
        let unexplained = row.diffs.iter().filter(|d| d.allowed().is_none()).count();
        let status = if row.diffs.is_empty() && row.apt.is_err() {
            "match (both refuse)".to_string()
        } else if row.diffs.is_empty() {
            "match".to_string()
        } else if unexplained == 0 {
            "differs (allowed)".to_string()
        } else {
            format!("differs ({unexplained} UNEXPLAINED)")
        };
        writeln!(
            r,
            "{:<26} {:>7} {:>5} {:>5} {:>7} {:>7} {:>7}  {status}",
            row.name,
            count(&row.distill),
            count(&row.apt),
            same,
            n(Kind::OnlyDistill),
            n(Kind::OnlyApt),
            n(Kind::Version)
        )
        .unwrap();
        all_diffs.extend(row.diffs.iter().cloned());
    }
    writeln!(r).unwrap();
    writeln!(
        r,
        "exact closure matches: {exact}/{} corpus entries ({:.1}%)",
        rows.len(),
        100.0 * exact as f64 / rows.len().max(1) as f64
    )
    .unwrap();
    writeln!(
        r,
        "package-level agreement (Σ|distill ∩ apt| / Σ|distill ∪ apt|, same name and version): {inter_total}/{union_total} = {:.2}%",
        100.0 * inter_total as f64 / union_total.max(1) as f64
    )
    .unwrap();
    writeln!(
        r,
        "mean per-entry Jaccard over {jaccard_n} entries both resolved: {:.4}",
        jaccard_sum / jaccard_n.max(1) as f64
    )
    .unwrap();
    writeln!(r).unwrap();
    let refusals: Vec<&Row> = rows.iter().filter(|r| r.distill.is_err() || r.apt.is_err()).collect();
    if !refusals.is_empty() {
        writeln!(r, "refusals:").unwrap();
        for row in refusals {
            if let Err(e) = &row.distill {
                writeln!(r, "  {:<24} distill: {}", row.name, e.lines().next().unwrap_or_default()).unwrap();
            }
            if let Err(e) = &row.apt {
                writeln!(r, "  {:<24} apt:     {e}", row.name).unwrap();
            }
        }
        writeln!(r).unwrap();
    }
    writeln!(r, "differences ({}):", all_diffs.len()).unwrap();
    for d in &all_diffs {
        let why = match d.allowed() {
            Some(a) => a.why.to_string(),
            None => "UNEXPLAINED (not in ALLOWED)".to_string(),
        };
        writeln!(r, "  {:<24} {:<13} {}: {}", d.corpus, format!("{:?}", d.kind), d.package, d.detail).unwrap();
        writeln!(r, "  {:<24} {:<13} -> {why}", "", "").unwrap();
    }
    let stale: Vec<&Allowed> = ALLOWED
        .iter()
        .filter(|a| !all_diffs.iter().any(|d| d.allowed().is_some_and(|x| std::ptr::eq(x, *a))))
        .collect();
    if !stale.is_empty() {
        writeln!(r).unwrap();
        writeln!(r, "allow-list entries that matched nothing (archive changed, or a bug was fixed: delete them):")
            .unwrap();
        for a in stale {
            writeln!(r, "  {} {:?} {}: {}", a.corpus, a.kind, a.package, a.why).unwrap();
        }
    }
    writeln!(r).unwrap();
    writeln!(r, "runtime: {elapsed:.1}s").unwrap();
    (r, all_diffs)
}

// ---------------------------------------------------------------------------
// Test 1: resolver vs apt
// ---------------------------------------------------------------------------

/// Corpus entries also run with `apt-get --simulate`, to check that the
/// faster `--print-uris` gives the same closure.
const SIMULATE_CHECK: &[&str] = &["bash", "curl", "bsd-mailx"];

#[test]
fn resolver_matches_apt() {
    if skip() {
        eprintln!("DISTILL_SKIP_E2E=1: skipped");
        return;
    }
    let started = Instant::now();
    require_tool("apt-get");
    require_tool("gpg");
    let names = corpus();
    assert!(names.len() >= 50, "corpus has only {} names", names.len());

    let mut loaded = fixture().clone();
    let apt = PrivateApt::new(&loaded.releases);
    apt.update();
    // apt and distill must have read the same InRelease of every suite; a
    // mirror push between the two loads is retried once.
    let same = |loaded: &sources::Loaded| {
        loaded.releases.iter().all(|r| apt.inrelease_sha256(&r.suite).as_deref() == Some(r.sha256.as_str()))
    };
    if !same(&loaded) {
        eprintln!("apt and distill saw different InRelease files; reloading both once");
        loaded = load_indices();
        apt.update();
        for r in &loaded.releases {
            assert_eq!(
                apt.inrelease_sha256(&r.suite).as_deref(),
                Some(r.sha256.as_str()),
                "apt and distill read different InRelease for {}",
                r.suite
            );
        }
    }
    assert_eq!(loaded.releases.iter().map(|r| r.suite.as_str()).collect::<Vec<_>>(), SUITES);

    let universe = Universe::new(loaded.indices.iter(), ARCH);
    for name in &names {
        assert!(
            !universe.candidates(name).is_empty() || !universe.providers(name).is_empty(),
            "corpus name {name} is not in bookworm main {ARCH}: drop it from corpus.txt"
        );
    }

    // apt-get is the slow side: two threads. `--print-uris` by default;
    // DISTILL_APT_SIMULATE=1 uses `--simulate` (dpkg ordering included,
    // several times slower) for every entry.
    let mode =
        if std::env::var("DISTILL_APT_SIMULATE").is_ok_and(|v| v == "1") { Mode::Simulate } else { Mode::PrintUris };
    // Warm apt's binary cache once before running in parallel.
    let _ = apt.closure("libc6", Mode::PrintUris);
    let apt_ref = &apt;
    let apt_results: Vec<Result<Closure, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(names.len().div_ceil(2))
            .map(|chunk| s.spawn(move || chunk.iter().map(|n| apt_ref.closure(n, mode)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    // The two modes must agree: check on a few entries (one with a virtual
    // dependency) that the `Inst` lines of `--simulate` name the same set.
    if mode == Mode::PrintUris {
        for name in SIMULATE_CHECK {
            let i = names.iter().position(|n| n == name).unwrap_or_else(|| panic!("{name} is not in the corpus"));
            let simulated = apt.closure(name, Mode::Simulate);
            assert_eq!(simulated, apt_results[i], "apt-get --simulate and --print-uris disagree on {name}");
        }
    }
    let rows: Vec<Row> = names
        .iter()
        .zip(apt_results)
        .map(|(name, apt)| {
            let (distill, why) = distill_closure(&universe, name);
            let diffs = compare(name, &distill, &why, &apt);
            Row { name: name.clone(), distill, apt, diffs }
        })
        .collect();

    let (text, diffs) = report(&rows, &loaded.releases, mode, started.elapsed().as_secs_f64());
    eprintln!("{text}");
    let out = project().join("target/apt-differential.txt");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::File::create(&out)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));

    let unexplained: Vec<&Diff> = diffs.iter().filter(|d| d.allowed().is_none()).collect();
    assert!(
        unexplained.is_empty(),
        "{} difference(s) between distill and apt are not in ALLOWED (see {}):\n{}",
        unexplained.len(),
        out.display(),
        unexplained
            .iter()
            .map(|d| format!("  {} {:?} {} {}", d.corpus, d.kind, d.package, d.detail))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------
// Test 2: version order vs dpkg
// ---------------------------------------------------------------------------

/// Hand-picked edge cases on top of the sample from the archive.
const EDGE_PAIRS: &[(&str, &str)] = &[
    ("1.0~rc1", "1.0"),
    ("1.0~~", "1.0~"),
    ("1.0~", "1.0"),
    ("1.0", "1.0+"),
    ("1.2.2+dfsg", "1.2.2~"),
    ("1.0a", "1.0+"),
    ("1.0a", "1.0."),
    ("1.0-1", "1.0"),
    ("1.0-0", "1.0"),
    ("1.00", "1.0"),
    ("0:1.0", "1.0"),
    ("1:0.1", "9.9"),
    ("2.30-1", "2.3-1"),
    ("1.0-1~bpo1", "1.0-1"),
    ("1.0+b1", "1.0"),
    ("1.0-1+b1", "1.0-1.1"),
    ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),
    ("1.2-3-4", "1.2-3"),
    ("1.0a", "1.0A"),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rel {
    Lt,
    Eq,
    Gt,
}

impl Rel {
    fn of(o: std::cmp::Ordering) -> Rel {
        match o {
            std::cmp::Ordering::Less => Rel::Lt,
            std::cmp::Ordering::Equal => Rel::Eq,
            std::cmp::Ordering::Greater => Rel::Gt,
        }
    }
    fn op(self) -> &'static str {
        match self {
            Rel::Lt => "lt",
            Rel::Eq => "eq",
            Rel::Gt => "gt",
        }
    }
}

/// For each pair, whether `dpkg --compare-versions A <rel> B` holds. One
/// dpkg per pair, batched through `sh` (the versions are checked to hold
/// only characters that need no quoting inside `'...'`).
fn dpkg_holds(pairs: &[(String, String, Rel)]) -> Vec<bool> {
    let mut script = String::new();
    for (a, b, rel) in pairs {
        for v in [a, b] {
            assert!(
                v.bytes().all(|c| c.is_ascii_alphanumeric() || b".+-~:".contains(&c)),
                "unexpected character in version {v:?}"
            );
        }
        writeln!(script, "if dpkg --compare-versions '{a}' {} '{b}'; then echo y; else echo n; fi", rel.op()).unwrap();
    }
    let mut child =
        Command::new("sh").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("sh");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "sh: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<bool> = stdout.lines().map(|l| l == "y").collect();
    assert_eq!(answers.len(), pairs.len(), "dpkg batch: {}", String::from_utf8_lossy(&out.stderr));
    answers
}

fn dpkg_relation(a: &str, b: &str) -> &'static str {
    for op in ["lt", "eq", "gt"] {
        if Command::new("dpkg").args(["--compare-versions", a, op, b]).status().is_ok_and(|s| s.success()) {
            return op;
        }
    }
    "error"
}

#[test]
fn version_order_matches_dpkg() {
    if skip() {
        eprintln!("DISTILL_SKIP_E2E=1: skipped");
        return;
    }
    let started = Instant::now();
    require_tool("dpkg");
    let loaded = fixture();

    // Every distinct version of bookworm main amd64, in distill's order.
    let main = loaded
        .indices
        .iter()
        .find(|i| i.suite == "bookworm" && i.component == "main" && i.arch == ARCH)
        .expect("bookworm main index");
    let mut by_string: BTreeMap<String, Version> = BTreeMap::new();
    for p in &main.packages {
        by_string.entry(p.version.to_string()).or_insert_with(|| p.version.clone());
    }
    let mut sorted: Vec<(&String, &Version)> = by_string.iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)));

    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    // 1. Adjacent versions in distill's order (the most sensitive pairs),
    //    spread evenly over the whole range, ~1500 of them.
    let stride = (sorted.len() / 1500).max(1);
    for w in sorted.windows(2).step_by(stride) {
        pairs.insert((w[0].0.clone(), w[1].0.clone()));
    }
    //    Every pair that distill calls equal but that is spelled differently.
    for w in sorted.windows(2) {
        if w[0].1 == w[1].1 {
            pairs.insert((w[0].0.clone(), w[1].0.clone()));
        }
    }
    // 2. 1000 random pairs, with a fixed seed.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_d157);
    let all: Vec<&String> = by_string.keys().collect();
    let mut random = 0;
    while random < 1000 {
        let (i, j) = (rng.gen_range(0..all.len()), rng.gen_range(0..all.len()));
        if i != j && pairs.insert((all[i].clone(), all[j].clone())) {
            random += 1;
        }
    }
    // 3. The same package across bookworm, -updates and -security.
    let mut versions_of: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for idx in &loaded.indices {
        for p in &idx.packages {
            versions_of.entry(p.name.as_str()).or_default().insert(p.version.to_string());
        }
    }
    let mut cross = 0;
    for vs in versions_of.values().filter(|vs| vs.len() > 1) {
        let vs: Vec<&String> = vs.iter().collect();
        for i in 0..vs.len() {
            for j in i + 1..vs.len() {
                cross += usize::from(pairs.insert((vs[i].clone(), vs[j].clone())));
            }
        }
    }
    // 4. Hand-picked edge cases.
    for (a, b) in EDGE_PAIRS {
        pairs.insert((a.to_string(), b.to_string()));
    }

    let checks: Vec<(String, String, Rel)> = pairs
        .into_iter()
        .map(|(a, b)| {
            let va = Version::parse(&a).unwrap_or_else(|e| panic!("{a}: {e}"));
            let vb = Version::parse(&b).unwrap_or_else(|e| panic!("{b}: {e}"));
            let rel = Rel::of(va.cmp(&vb));
            (a, b, rel)
        })
        .collect();
    let answers: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = checks.chunks(checks.len().div_ceil(2)).map(|c| s.spawn(move || dpkg_holds(c))).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let wrong: Vec<String> = checks
        .iter()
        .zip(&answers)
        .filter(|(_, ok)| !**ok)
        .map(|((a, b, rel), _)| format!("  {a} vs {b}: distill says {}, dpkg says {}", rel.op(), dpkg_relation(a, b)))
        .collect();
    eprintln!(
        "version order: {} pairs checked against dpkg ({} distinct bookworm main versions, {} cross-suite pairs, {} edge cases) in {:.1}s, {} disagreement(s)",
        checks.len(),
        sorted.len(),
        cross,
        EDGE_PAIRS.len(),
        started.elapsed().as_secs_f64(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "distill's version order disagrees with dpkg --compare-versions:\n{}", wrong.join("\n"));
}
