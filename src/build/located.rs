//! Build failures traced back to the spec: a missing key file
//! (`sources[i].keys[j]`), an unknown suite (`sources[i].suite`, its
//! InRelease is missing), an unknown component or architecture, an unknown
//! package (the `packages` entry, in whichever spec of the `extends:` chain
//! lists it) and a `paths.exclude` pattern that removes a file the image
//! needs. Each becomes a [`Diagnostic`] naming the file, line and field,
//! with a hint; the underlying error still decides the exit code.

use std::collections::BTreeSet;
use std::path::Path;

use super::{sources, BuildError, Level};
use crate::check::{CheckError, Finding};
use crate::fetch::unpacked::Unpacked;
use crate::repo::release::{self, TrustedKey, VerifiedRelease};
use crate::repo::RepoError;
use crate::resolve::ResolveError;
use crate::spec::locate::{closest, did_you_mean, named, Files};
use crate::spec::{Diagnostic, LoadedSpec};
use crate::tree::Tree;

/// Most detail lines (candidates, findings) an error shows: one screen.
const MAX_DETAIL: usize = 8;

fn located(d: Diagnostic, cause: BuildError) -> BuildError {
    BuildError::Located(Box::new(d), Box::new(cause))
}

/// The key files of source `i`; a missing or unreadable one is a spec
/// error at `sources[i].keys[j]`.
pub(super) fn load_keys(spec: &LoadedSpec, i: usize) -> Result<Vec<TrustedKey>, BuildError> {
    let mut keys = Vec::new();
    for (j, k) in spec.spec.sources[i].keys.iter().enumerate() {
        let path = spec.key_path(k);
        match release::load_key(&path) {
            Ok(key) => keys.push(key),
            Err(e) => {
                let files = Files::chain(spec);
                let field = format!("sources[{i}].keys[{j}]");
                let written = files.value(&field).and_then(|v| v.as_str()).map(String::from);
                let written = written.unwrap_or_else(|| k.display().to_string());
                let (message, hint) = if path.is_file() {
                    (
                        format!("key file {written} is not an OpenPGP public key ({})", reason(&e)),
                        "use an ASCII-armored public key, as in keys/ (see keys/README.md)".to_string(),
                    )
                } else {
                    let mean = did_you_mean(&closest(
                        &file_name(Path::new(&written)),
                        siblings(&path).iter().map(String::as_str),
                        2,
                    ));
                    (
                        format!("key file {written} not found\n  looked for {}", path.display()),
                        then(
                            mean,
                            "relative paths are looked up beside the spec, then in its parent directory; \
                             Debian's keys are in the project's keys/ directory (see keys/README.md), \
                             e.g. `keys/debian-12-archive.asc`",
                        ),
                    )
                };
                return Err(BuildError::Spec(files.origin(&field).diagnostic(message, hint).into()));
            }
        }
    }
    Ok(keys)
}

/// `did you mean …?` followed by `rest` (capitalised), or `rest` alone.
fn then(mean: String, rest: &str) -> String {
    if mean.is_empty() {
        return rest.to_string();
    }
    let mut chars = rest.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    format!("{mean} {first}{}", chars.as_str())
}

fn reason(e: &RepoError) -> String {
    match e {
        RepoError::Key { reason, .. } => reason.clone(),
        e => e.to_string(),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The names of the files beside `path` (for suggestions).
fn siblings(path: &Path) -> Vec<String> {
    let Some(dir) = path.parent() else { return Vec::new() };
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Suite names of Debian, for suggestions.
fn known_suites() -> Vec<String> {
    let mut out = Vec::new();
    for base in ["buster", "bullseye", "bookworm", "trixie", "forky", "duke"] {
        out.push(base.to_string());
        for suffix in ["updates", "security", "backports", "proposed-updates"] {
            out.push(format!("{base}-{suffix}"));
        }
    }
    out.extend(["sid", "stable", "oldstable", "testing", "unstable", "experimental"].map(String::from));
    out
}

/// A failed InRelease download of source `i`: a 404 is an unknown suite
/// (a spec error at `sources[i].suite`); anything else is returned as is.
pub(super) fn fetch_error(spec: &LoadedSpec, i: usize, url: &str, e: RepoError) -> BuildError {
    let RepoError::NotFound { .. } = e else { return e.into() };
    let suite = &spec.spec.sources[i].suite;
    let known = known_suites();
    let mean = did_you_mean(&closest(suite, known.iter().map(String::as_str), 2));
    let hint = then(
        mean,
        &format!(
            "the mirror has no {}; suite names are like bookworm, trixie, bookworm-updates, \
             bookworm-security (or the mirror URL is not the directory holding dists/ and pool/)",
            crate::repo::transport::redact(url)
        ),
    );
    let d = Files::chain(spec)
        .origin(&format!("sources[{i}].suite"))
        .diagnostic(format!("unknown suite `{suite}`: its InRelease is not on the mirror"), hint);
    BuildError::Spec(d.into())
}

/// Components and architectures of a release, from the indices it lists.
fn listed(rel: &VerifiedRelease) -> (BTreeSet<&str>, BTreeSet<&str>) {
    let mut components = BTreeSet::new();
    let mut archs = BTreeSet::new();
    for path in rel.files.keys() {
        let mut parts = path.split('/');
        if let (Some(c), Some(b)) = (parts.next(), parts.next()) {
            if let Some(a) = b.strip_prefix("binary-") {
                components.insert(c);
                if a != "all" {
                    archs.insert(a);
                }
            }
        }
    }
    (components, archs)
}

/// Every component of source `i`, and every architecture of the spec,
/// has Packages indices in the release: else a spec error at
/// `sources[i].components[j]` or `archs[k]` listing what it has.
pub(super) fn check_release(spec: &LoadedSpec, i: usize, rel: &VerifiedRelease) -> Result<(), BuildError> {
    let (components, archs) = listed(rel);
    let suite = &rel.suite;
    for (j, c) in spec.spec.sources[i].components.iter().enumerate() {
        if !components.contains(c.as_str()) {
            let mean = did_you_mean(&closest(c, components.iter().copied(), 1));
            let have: Vec<&str> = components.iter().copied().collect();
            let hint = then(
                mean,
                &format!(
                    "InRelease of {suite} lists the components {}",
                    if have.is_empty() { "(none)".to_string() } else { have.join(", ") }
                ),
            );
            let d = Files::chain(spec)
                .origin(&format!("sources[{i}].components[{j}]"))
                .diagnostic(format!("unknown component `{c}` of suite {suite}"), hint);
            return Err(BuildError::Spec(d.into()));
        }
    }
    for (k, a) in spec.spec.archs.iter().enumerate() {
        if !archs.contains(a.as_str()) {
            let have: Vec<&str> = archs.iter().copied().collect();
            let hint = format!(
                "InRelease of {suite} has indices for {}; remove `{a}` from `archs`, or use a source that has it",
                if have.is_empty() { "no architecture".to_string() } else { have.join(", ") }
            );
            let d = Files::chain(spec)
                .origin(&format!("archs[{k}]"))
                .diagnostic(format!("suite {suite} has no packages for architecture `{a}`"), hint);
            return Err(BuildError::Spec(d.into()));
        }
    }
    Ok(())
}

/// The package name of a request (`name`, `name=version`, `name/suite`)
/// or of a dependency as written (`name (>= 1)`, `name:any`).
fn package_name(s: &str) -> &str {
    s.split(['=', '/', ' ', '(', ':']).next().unwrap_or(s)
}

/// `testing (main), bookworm-updates (main, contrib)`.
fn searched(spec: &LoadedSpec) -> String {
    spec.spec
        .sources
        .iter()
        .map(|s| format!("{} ({})", s.suite, s.components.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `lines` (each `    - …`), at most [`MAX_DETAIL`], with a count of the rest.
fn capped(lines: &[&str]) -> String {
    let mut out: Vec<String> = lines.iter().take(MAX_DETAIL).map(|l| l.to_string()).collect();
    if lines.len() > MAX_DETAIL {
        out.push(format!("    … and {} more", lines.len() - MAX_DETAIL));
    }
    out.join("\n")
}

/// A resolution failure placed at the `packages` entry it starts from.
pub(super) fn resolve_error(spec: &LoadedSpec, loaded: &sources::Loaded, arch: &str, e: ResolveError) -> BuildError {
    let (root, what, chain) = match &e {
        ResolveError::Unsatisfiable { what, chain, .. } | ResolveError::Ambiguous { name: what, chain, .. } => {
            let root = chain.split(" → ").nth(1).unwrap_or(what.as_str());
            (package_name(root).to_string(), what.clone(), chain.clone())
        }
        ResolveError::BadField { .. } => return e.into(),
    };
    let files = Files::chain(spec);
    let request = spec.spec.packages.iter().find(|r| package_name(r) == root).cloned();
    let place =
        request.as_deref().and_then(|r| files.item("packages", named(r))).unwrap_or_else(|| files.origin("packages"));
    let d = match &e {
        ResolveError::Ambiguous { name, providers, .. } => place.diagnostic(
            format!("virtual package {name} (for {arch}) has several providers of equal priority: {providers}\n  required by: {chain}"),
            format!("choose one with `prefer:`, e.g. `prefer: [{}]`", providers.split(", ").next().unwrap_or("")),
        ),
        ResolveError::Unsatisfiable { tried, .. } => {
            let tried: Vec<&str> = tried.lines().filter(|l| !l.trim().is_empty()).collect();
            let unknown = tried.iter().any(|t| t.contains("no package or provider of that name"));
            let name = package_name(&what);
            if chain == "spec" && tried.iter().any(|t| t.contains("listed in both packages and exclude")) {
                let at = files.item("exclude", named(name)).map(|p| format!(" (at {p})")).unwrap_or_default();
                place.diagnostic(
                    format!("package `{name}` is listed in both `packages` and `exclude`"),
                    format!("remove it from `exclude`{at} or from `packages`"),
                )
            } else if chain == "spec" && unknown {
                let names: BTreeSet<&str> = loaded
                    .indices
                    .iter()
                    .filter(|i| i.arch == arch)
                    .flat_map(|i| i.packages.iter().map(|p| p.name.as_str()))
                    .collect();
                let mean = did_you_mean(&closest(name, names.iter().copied(), 3));
                place.diagnostic(
                    format!("unknown package `{name}`: no package or provider of that name for {arch}"),
                    then(
                        mean,
                        &format!("check the spelling, or add a source that has it (searched: {})", searched(spec)),
                    ),
                )
            } else if chain == "spec" {
                place.diagnostic(
                    format!("cannot satisfy `{what}` for {arch}\n  candidates tried:\n{}", capped(&tried)),
                    "check the pinned version (`name=version`) or suite (`name/suite`) against `distill resolve`",
                )
            } else {
                let hint = if unknown {
                    format!(
                        "{name} is in none of the sources ({}): add the source that has it (e.g. the -updates \
                         or -security suite), or `exclude` it if nothing needs it at run time",
                        searched(spec)
                    )
                } else {
                    format!("`distill why {} {root}` shows what was chosen and why", spec.path.display())
                };
                place.diagnostic(
                    format!(
                        "cannot satisfy {what} for {arch}\n  required by: {chain} (from this entry)\n  candidates tried:\n{}",
                        capped(&tried)
                    ),
                    hint,
                )
            }
        }
        ResolveError::BadField { .. } => unreachable!("returned above"),
    };
    located(d, e.into())
}

/// What a check finding needs that may have been filtered out: the
/// program interpreter's path, or a `DT_NEEDED` library's name.
enum Needs<'a> {
    Path(&'a str),
    Library(&'a str),
}

fn needs(f: &Finding) -> Option<Needs<'_>> {
    if let Some(rest) = f.problem.strip_prefix("program interpreter ") {
        return rest.strip_suffix(" is not in the image").map(Needs::Path);
    }
    let rest = f.problem.strip_prefix("needs ")?;
    let lib = &rest[..rest.find(", which is not in the image")?];
    Some(if lib.contains('/') { Needs::Path(lib) } else { Needs::Library(lib) })
}

/// The merged `paths.exclude` pattern that removes `path` (itself or a
/// parent directory), if `path` is not kept.
fn excluding<'s>(spec: &'s LoadedSpec, path: &str) -> Option<&'s str> {
    let filter = crate::tree::filter::PathFilter::new(&spec.spec.paths).ok()?;
    if filter.keeps(path) {
        return None;
    }
    spec.spec.paths.exclude.iter().map(String::as_str).find(|g| {
        let Ok(m) = globset::GlobBuilder::new(g).literal_separator(true).build().map(|g| g.compile_matcher()) else {
            return false;
        };
        let mut cur = path;
        loop {
            if m.is_match(cur) {
                return true;
            }
            match cur.rfind('/') {
                Some(0) | None => return false,
                Some(i) => cur = &cur[..i],
            }
        }
    })
}

/// One file a `paths.exclude` pattern removed that the image needs.
struct Culprit<'a> {
    pattern: &'a str,
    removed: String,
    /// Who needs it and as what.
    why: String,
}

/// After a failed check (`err`) or with a missing entrypoint: when a
/// `paths.exclude` pattern removed what is missing (found by assembling the
/// packages again without `paths.exclude`), the located error naming the
/// pattern; else `None` (the plain check error stands).
pub(super) fn excluded_needed(
    level: &Level,
    packages: &[std::sync::Arc<crate::repo::BinaryPackage>],
    unpacked: &[Unpacked],
    tree: &Tree,
    err: Option<&CheckError>,
) -> Option<BuildError> {
    let spec = &level.spec;
    let missing = super::missing_entrypoint(spec, tree);
    let entrypoint = missing.as_ref().map(|f| &f.path);
    if spec.spec.paths.exclude.is_empty() || (err.is_none() && entrypoint.is_none()) {
        return None;
    }
    let mut unfiltered = spec.clone();
    unfiltered.spec.paths.exclude.clear();
    let full =
        super::assemble::assemble(&unfiltered, &level.plan.os, packages, unpacked, &crate::report::Reporter::silent())
            .ok()?
            .0;
    let removed = |p: &str| -> Option<(&str, String)> {
        let real = full.resolve(p)?;
        if tree.resolve(p).is_some() {
            return None;
        }
        let pattern = excluding(spec, p).or_else(|| excluding(spec, &real))?;
        Some((pattern, real))
    };
    let mut culprits: Vec<Culprit> = Vec::new();
    if let Some(ep) = entrypoint {
        if let Some((pattern, real)) = removed(ep) {
            let pkg = full.get(&real).map(crate::check::package_of).unwrap_or_default();
            culprits.push(Culprit { pattern, removed: real, why: format!("image.entrypoint[0] {ep} (from {pkg})") });
        }
    }
    for f in err.map(|e| e.0.as_slice()).unwrap_or_default() {
        let found = match needs(f) {
            Some(Needs::Path(p)) => removed(p).map(|r| (r, format!("{} (from {}) needs {p}", f.path, f.package))),
            Some(Needs::Library(lib)) => full
                .iter()
                .filter(|(p, _)| p.rsplit('/').next() == Some(lib) && tree.get(p).is_none())
                .find_map(|(p, _)| removed(p))
                .map(|r| (r, format!("{} (from {}) needs {lib} (DT_NEEDED)", f.path, f.package))),
            None => None,
        };
        if let Some(((pattern, real), why)) = found {
            culprits.push(Culprit { pattern, removed: real, why });
        }
    }
    let first = culprits.first()?;
    let files = Files::chain(spec);
    let place = files.item("paths.exclude", named(first.pattern)).unwrap_or_else(|| {
        let mut p = files.origin("paths.exclude");
        p.field = Some("paths.exclude (the default)".into());
        p
    });
    let same: Vec<&Culprit> = culprits.iter().filter(|c| c.pattern == first.pattern).collect();
    let mut message = format!(
        "a paths.exclude pattern removes a file the image needs\n  `{}` removes {}",
        first.pattern, first.removed
    );
    for c in same.iter().take(MAX_DETAIL) {
        message.push_str(&format!("\n  {}", c.why));
    }
    if same.len() > MAX_DETAIL {
        message.push_str(&format!("\n  … and {} more", same.len() - MAX_DETAIL));
    }
    let others = err.map(|e| e.0.len()).unwrap_or_default().saturating_sub(same.len());
    if others > 0 {
        message.push_str(&format!("\n  (the image check found {others} other problem(s) too)"));
    }
    let hint = format!("narrow the pattern so that it spares {}, or add that path to `paths.keep`", first.removed);
    let cause = match err {
        Some(e) => BuildError::Check(CheckError(e.0.clone())),
        None => BuildError::Check(CheckError(vec![Finding {
            path: first.removed.clone(),
            package: "spec".into(),
            problem: "the entrypoint was removed by paths.exclude".into(),
        }])),
    };
    Some(located(place.diagnostic(message, hint), cause))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::elf::testelf::{build, X86_64};
    use crate::tree::Entry;

    #[test]
    fn reads_what_the_elf_check_reports_missing() {
        let mut t = Tree::new();
        let elf = build(true, X86_64, Some("/lib64/ld-linux-x86-64.so.2"), &["libgone.so.1"], None);
        t.insert("/usr/bin/app", Entry::file(0o755, elf, 1));
        let findings = crate::check::elf::elf_closure(&t);
        let got: Vec<String> = findings
            .iter()
            .map(|f| match needs(f) {
                Some(Needs::Path(p)) => format!("path {p}"),
                Some(Needs::Library(l)) => format!("library {l}"),
                None => format!("unread: {}", f.problem),
            })
            .collect();
        assert_eq!(got, ["path /lib64/ld-linux-x86-64.so.2", "library libgone.so.1"]);
    }

    #[test]
    fn package_names_of_requests_and_dependencies() {
        for (s, want) in [("a", "a"), ("a=1.0", "a"), ("a/bookworm", "a"), ("a (>= 2)", "a"), ("a:any", "a")] {
            assert_eq!(package_name(s), want);
        }
    }
}
