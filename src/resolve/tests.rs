use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;
use crate::repo::{BinaryPackage, PackageIndex};
use crate::version::Version;

fn pkg(name: &str, version: &str, fields: &[(&str, &str)]) -> Arc<BinaryPackage> {
    let f = |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()).unwrap_or_default();
    Arc::new(BinaryPackage {
        name: name.into(),
        version: Version::parse(version).unwrap(),
        arch: if f("Architecture").is_empty() { "amd64".into() } else { f("Architecture") },
        multi_arch: f("Multi-Arch"),
        priority: f("Priority"),
        source: name.into(),
        essential: false,
        pre_depends: f("Pre-Depends"),
        depends: f("Depends"),
        provides: f("Provides"),
        conflicts: f("Conflicts"),
        breaks: f("Breaks"),
        filename: format!("pool/{name}.deb"),
        size: 1,
        sha256: "0".repeat(64),
        installed_size: 1,
        suite: f("Suite"),
        component: "main".into(),
        base_url: String::new(),
    })
}

fn universe(pkgs: Vec<Arc<BinaryPackage>>) -> Universe {
    let idx = PackageIndex {
        suite: "s".into(),
        component: "main".into(),
        arch: "amd64".into(),
        sha256: String::new(),
        packages: pkgs,
    };
    Universe::new([&idx], "amd64")
}

fn names(r: &Resolution) -> Vec<String> {
    r.packages.keys().cloned().collect()
}

fn req(p: &[&str], exclude: &[&str]) -> Request {
    Request {
        arch: "amd64".into(),
        packages: p.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        prefer: Vec::new(),
    }
}

#[test]
fn follows_depends_and_pre_depends_not_recommends() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "b"), ("Pre-Depends", "c"), ("Recommends", "d")]),
        pkg("b", "1", &[]),
        pkg("c", "1", &[]),
        pkg("d", "1", &[]),
    ]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "b", "c"]);
}

#[test]
fn first_satisfiable_alternative_wins() {
    let u = universe(vec![pkg("a", "1", &[("Depends", "missing | c | b")]), pkg("b", "1", &[]), pkg("c", "1", &[])]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "c"]);
}

#[test]
fn alternative_already_chosen_is_reused() {
    let u = universe(vec![pkg("a", "1", &[("Depends", "c | b")]), pkg("b", "1", &[]), pkg("c", "1", &[])]);
    assert_eq!(names(&resolve(&u, &req(&["a", "b"], &[])).unwrap()), ["a", "b"]);
}

#[test]
fn real_package_beats_provider_and_provider_fills_virtual() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "awk, mail-transport")]),
        pkg("awk", "1", &[]),
        pkg("mawk", "1", &[("Provides", "awk"), ("Priority", "required")]),
        pkg("postfix", "1", &[("Provides", "mail-transport")]),
    ]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "awk", "postfix"]);
}

#[test]
fn provider_with_higher_priority_is_preferred() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "awk")]),
        pkg("gawk", "1", &[("Provides", "awk"), ("Priority", "optional")]),
        pkg("mawk", "1", &[("Provides", "awk"), ("Priority", "required")]),
    ]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "mawk"]);
}

#[test]
fn versioned_dependency_needs_versioned_provides() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "v (>= 2)")]),
        pkg("p1", "1", &[("Provides", "v")]),
        pkg("p2", "1", &[("Provides", "v (= 3)")]),
    ]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "p2"]);
}

#[test]
fn highest_version_wins_unless_constrained() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "b (<< 2)")]),
        pkg("b", "1.5", &[]),
        pkg("b", "2.1", &[]),
        pkg("c", "1", &[("Depends", "b")]),
    ]);
    let r = resolve(&u, &req(&["a"], &[])).unwrap();
    assert_eq!(r.packages["b"].version.to_string(), "1.5");
    let r = resolve(&u, &req(&["c"], &[])).unwrap();
    assert_eq!(r.packages["b"].version.to_string(), "2.1");
}

#[test]
fn tilde_constraint_is_met_by_plus_version() {
    // libnode108 Depends node-cjs-module-lexer (>= 1.2.2~); bookworm has 1.2.2+dfsg-5.
    let u = universe(vec![pkg("libnode", "1", &[("Depends", "lexer (>= 1.2.2~)")]), pkg("lexer", "1.2.2+dfsg-5", &[])]);
    assert_eq!(names(&resolve(&u, &req(&["libnode"], &[])).unwrap()), ["lexer", "libnode"]);
}

#[test]
fn any_qualifier_needs_multi_arch_allowed() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "python3:any (>= 3)")]),
        pkg("python3", "3.11", &[("Multi-Arch", "allowed")]),
    ]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "python3"]);
    let u = universe(vec![pkg("a", "1", &[("Depends", "python3:any")]), pkg("python3", "3.11", &[])]);
    let err = resolve(&u, &req(&["a"], &[])).unwrap_err().to_string();
    assert!(err.contains("needs Multi-Arch: allowed"), "{err}");
}

#[test]
fn tight_version_pair_settles_on_one_version() {
    // Like libnode108's `nodejs (>= 18.19), nodejs (<< 18.20~)`: the first
    // constraint alone would take the newest.
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "foo (>= 1.0), foo (<< 1.1~)")]),
        pkg("foo", "1.0.5", &[]),
        pkg("foo", "1.1.0", &[]),
        pkg("foo", "2.0", &[]),
    ]);
    assert_eq!(resolve(&u, &req(&["a"], &[])).unwrap().packages["foo"].version.to_string(), "1.0.5");
}

#[test]
fn constraint_from_another_chosen_package_limits_the_version() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "b, c")]),
        pkg("b", "1", &[("Depends", "lib (<< 2)")]),
        pkg("c", "1", &[("Depends", "lib")]),
        pkg("lib", "1.5", &[]),
        pkg("lib", "2.5", &[]),
    ]);
    assert_eq!(resolve(&u, &req(&["a"], &[])).unwrap().packages["lib"].version.to_string(), "1.5");
}

#[test]
fn chosen_package_conflicts_block_a_later_candidate() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "z, x | y")]),
        pkg("z", "1", &[("Breaks", "x")]),
        pkg("x", "1", &[]),
        pkg("y", "1", &[]),
    ]);
    let r = resolve(&u, &req(&["a"], &[])).unwrap();
    assert_eq!(names(&r), ["a", "y", "z"]);
    let why = why::why(&r, "x");
    assert!(why.passed_over.iter().any(|(_, reason)| reason.contains("chosen z 1 conflicts with it")), "{why:?}");
}

#[test]
fn self_conflict_through_provides_is_allowed() {
    // postfix: Provides mail-transport-agent, Conflicts mail-transport-agent.
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "mail-transport-agent")]),
        pkg("postfix", "1", &[("Provides", "mail-transport-agent"), ("Conflicts", "mail-transport-agent")]),
    ]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "postfix"]);
}

#[test]
fn equal_priority_providers_need_prefer() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "virt")]),
        pkg("p", "1", &[("Provides", "virt"), ("Priority", "optional")]),
        pkg("q", "1", &[("Provides", "virt"), ("Priority", "optional")]),
    ]);
    let err = resolve(&u, &req(&["a"], &[])).unwrap_err().to_string();
    assert!(err.contains("virtual package virt") && err.contains("p, q") && err.contains("prefer:"), "{err}");
    let mut r = req(&["a"], &[]);
    r.prefer = vec!["q".into()];
    assert_eq!(names(&resolve(&u, &r).unwrap()), ["a", "q"]);
}

#[test]
fn why_lists_every_chain_and_passed_over_alternatives() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "c")]),
        pkg("b", "1", &[("Depends", "missing | c")]),
        pkg("c", "1", &[("Depends", "gawk | mawk")]),
        pkg("mawk", "1", &[]),
    ]);
    let r = resolve(&u, &req(&["a", "b"], &[])).unwrap();
    let w = why::why(&r, "c");
    let chains: Vec<String> =
        w.chains.iter().map(|c| c.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(">")).collect();
    assert_eq!(chains, ["spec>a>c", "spec>b>c"]);
    let w = why::why(&r, "mawk");
    assert_eq!(w.chains.len(), 2, "{w:?}");
    let text = why::render("mawk", &w, Some("1"));
    assert!(text.contains("gawk: no package or provider of that name"), "{text}");
}

#[test]
fn architecture_all_packages_are_candidates() {
    let u = universe(vec![pkg("a", "1", &[("Depends", "data")]), pkg("data", "1", &[("Architecture", "all")])]);
    assert_eq!(names(&resolve(&u, &req(&["a"], &[])).unwrap()), ["a", "data"]);
}

#[test]
fn excluded_dependency_group_is_dropped_and_recorded() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "debconf (>= 0.5) | debconf-2.0, b")]),
        pkg("debconf", "1", &[]),
        pkg("cdebconf", "1", &[("Provides", "debconf-2.0")]),
        pkg("b", "1", &[]),
    ]);
    let r = resolve(&u, &req(&["a"], &["debconf"])).unwrap();
    assert_eq!(names(&r), ["a", "b"]);
    assert_eq!(r.dropped, vec![Dropped { package: "a".into(), dependency: "debconf (>= 0.5) | debconf-2.0".into() }]);
}

#[test]
fn missing_dependency_reports_chain_and_candidates() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "b")]),
        pkg("b", "1", &[("Depends", "c (>= 2)")]),
        pkg("c", "1", &[]),
    ]);
    let err = resolve(&u, &req(&["a"], &[])).unwrap_err().to_string();
    assert!(err.contains("cannot satisfy c (>= 2)"), "{err}");
    assert!(err.contains("spec → a → b"), "{err}");
    assert!(err.contains("c 1: version does not satisfy"), "{err}");
}

#[test]
fn conflicting_alternative_is_skipped() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "x | y, z")]),
        pkg("x", "1", &[("Conflicts", "z")]),
        pkg("y", "1", &[]),
        pkg("z", "1", &[]),
    ]);
    // z is requested first (sorted requests), so x conflicts and y is taken.
    let r = resolve(&u, &req(&["a", "z"], &[])).unwrap();
    assert_eq!(names(&r), ["a", "y", "z"]);
}

#[test]
fn result_does_not_depend_on_request_order() {
    let u = universe(vec![
        pkg("a", "1", &[("Depends", "x | y")]),
        pkg("b", "1", &[("Depends", "y | x")]),
        pkg("x", "1", &[]),
        pkg("y", "1", &[]),
    ]);
    let one = names(&resolve(&u, &req(&["a", "b"], &[])).unwrap());
    let two = names(&resolve(&u, &req(&["b", "a"], &[])).unwrap());
    assert_eq!(one, two);
}

#[test]
fn pinned_version_and_suite() {
    let mut old = (*pkg("b", "1", &[("Suite", "stable")])).clone();
    old.suite = "stable".into();
    let mut new = (*pkg("b", "2", &[])).clone();
    new.suite = "stable-updates".into();
    let u = universe(vec![Arc::new(old), Arc::new(new)]);
    assert_eq!(resolve(&u, &req(&["b=1"], &[])).unwrap().packages["b"].version.to_string(), "1");
    assert_eq!(resolve(&u, &req(&["b/stable-updates"], &[])).unwrap().packages["b"].version.to_string(), "2");
    assert!(resolve(&u, &req(&["b=3"], &[])).is_err());
}
