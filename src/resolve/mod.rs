//! Dependency resolution: from the spec's package names to the closed set
//! of binary packages to install, the way apt chooses (Debian Policy §7,
//! "Declaring relationships between packages").
//!
//! Pure: works on a [`Universe`] built from already-verified Packages
//! indices and does no I/O. Follows `Pre-Depends` and `Depends`, never
//! `Recommends` or `Suggests`, and never adds `Essential` packages on its
//! own. For every choice it records why, so errors show the chain that led
//! to a dependency that cannot be met.

mod universe;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use debian_packaging::dependency::{DependencyList, SingleDependency, VersionRelationship};
use crate::version::{self, Version};

pub use universe::Universe;

use crate::repo::BinaryPackage;

/// A resolution failure, with the chain of packages that led to it.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A requested or depended-on package cannot be satisfied.
    #[error("cannot satisfy {what} for {arch}\n  required by: {chain}\n  candidates tried:{tried}")]
    Unsatisfiable {
        /// The dependency (or requested name) that failed.
        what: String,
        /// The architecture being resolved.
        arch: String,
        /// `spec → a → b` chain.
        chain: String,
        /// One line per candidate tried and why it was rejected.
        tried: String,
    },
    /// A dependency field does not parse.
    #[error("package {package} {version} ({arch}): cannot parse {field}: {reason}")]
    BadField {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// Its architecture.
        arch: String,
        /// The field, e.g. `Depends`.
        field: String,
        /// Parser message.
        reason: String,
    },
}

/// What to resolve: package requests and exclusions for one architecture.
#[derive(Debug, Clone)]
pub struct Request {
    /// The architecture, e.g. `amd64`.
    pub arch: String,
    /// Requested packages: `name`, `name=version` or `name/suite`.
    pub packages: Vec<String>,
    /// Package names never installed.
    pub exclude: BTreeSet<String>,
    /// Providers to take for a virtual package when several of equal
    /// Priority could (the spec's `prefer:`).
    pub prefer: Vec<String>,
}

impl Request {
    /// A request for `packages` on `arch`, with no exclusions or preferences.
    pub fn new(arch: &str, packages: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Request { arch: arch.into(), packages: packages.into_iter().map(Into::into).collect(), exclude: BTreeSet::new(), prefer: Vec::new() }
    }
}

/// A dependency that was dropped because it names an excluded package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dropped {
    /// The package whose dependency was dropped.
    pub package: String,
    /// The dependency (alternative group) as written.
    pub dependency: String,
}

/// The resolved set for one architecture.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The architecture.
    pub arch: String,
    /// Chosen packages by name.
    pub packages: BTreeMap<String, Arc<BinaryPackage>>,
    /// For each chosen package, the package whose dependency pulled it in
    /// (`None` for requested packages) and the dependency text.
    pub reasons: BTreeMap<String, (Option<String>, String)>,
    /// Dependencies dropped because of `exclude`.
    pub dropped: Vec<Dropped>,
}

impl Resolution {
    /// `spec → a → b` chain for `name`.
    pub fn chain(&self, name: &str) -> String {
        let mut parts = vec![name.to_string()];
        let mut cur = name.to_string();
        let mut guard = 0;
        while let Some((Some(parent), _)) = self.reasons.get(&cur) {
            parts.push(parent.clone());
            cur = parent.clone();
            guard += 1;
            if guard > 10_000 {
                break;
            }
        }
        parts.push("spec".into());
        parts.reverse();
        parts.join(" → ")
    }
}

/// Strip an architecture qualifier (`:any`, `:native`, `:amd64`) from a
/// dependency's package name (Debian Policy §7.1, multiarch spec).
fn base_name(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

fn satisfies_version(version: &Version, dep: &SingleDependency) -> bool {
    match &dep.version_constraint {
        None => true,
        Some(c) => {
            let ord = version::compare(&version.0, &c.version);
            match c.relationship {
                VersionRelationship::StrictlyEarlier => ord.is_lt(),
                VersionRelationship::EarlierOrEqual => ord.is_le(),
                VersionRelationship::ExactlyEqual => ord.is_eq(),
                VersionRelationship::LaterOrEqual => ord.is_ge(),
                VersionRelationship::StrictlyLater => ord.is_gt(),
            }
        }
    }
}

/// Whether `pkg` satisfies `dep` by its own name or through `Provides`
/// (a versioned dependency is only met by a versioned Provides, Policy §7.5).
fn package_satisfies(pkg: &BinaryPackage, dep: &SingleDependency, provides: &[(String, Option<Version>)]) -> bool {
    let name = base_name(&dep.package);
    if pkg.name == name && satisfies_version(&pkg.version, dep) {
        return true;
    }
    provides.iter().any(|(p, v)| {
        p == name
            && match (&dep.version_constraint, v) {
                (None, _) => true,
                (Some(_), Some(v)) => satisfies_version(v, dep),
                (Some(_), None) => false,
            }
    })
}

fn applies_to_arch(dep: &SingleDependency, arch: &str) -> bool {
    match &dep.architectures {
        None => true,
        Some((negate, arches)) => arches.iter().any(|a| a == arch) != *negate,
    }
}

/// Resolve `request` against `universe`.
///
/// Errors: [`ResolveError::Unsatisfiable`] naming the chain and every
/// candidate tried; [`ResolveError::BadField`] for unparsable fields.
pub fn resolve(universe: &Universe, request: &Request) -> Result<Resolution, ResolveError> {
    let mut st = State {
        universe,
        arch: request.arch.clone(),
        exclude: &request.exclude,
        res: Resolution { arch: request.arch.clone(), packages: BTreeMap::new(), reasons: BTreeMap::new(), dropped: Vec::new() },
        provides: BTreeMap::new(),
        queue: VecDeque::new(),
    };
    let mut requested: Vec<&String> = request.packages.iter().collect();
    requested.sort();
    requested.dedup();
    for req in requested {
        st.request(req)?;
    }
    while let Some(name) = st.queue.pop_front() {
        let pkg = st.res.packages[&name].clone();
        for field in ["Pre-Depends", "Depends"] {
            let text = if field == "Depends" { &pkg.depends } else { &pkg.pre_depends };
            if text.trim().is_empty() {
                continue;
            }
            let list = parse_list(&pkg, field, text)?;
            for group in list.requirements() {
                st.satisfy(&pkg, group.iter().collect())?;
            }
        }
    }
    st.res.dropped.sort();
    st.res.dropped.dedup();
    Ok(st.res)
}

fn parse_list(pkg: &BinaryPackage, field: &str, text: &str) -> Result<DependencyList, ResolveError> {
    DependencyList::parse(text).map_err(|e| ResolveError::BadField {
        package: pkg.name.clone(),
        version: pkg.version.to_string(),
        arch: pkg.arch.clone(),
        field: field.into(),
        reason: e.to_string(),
    })
}

struct State<'a> {
    universe: &'a Universe,
    arch: String,
    exclude: &'a BTreeSet<String>,
    res: Resolution,
    /// Parsed Provides of each chosen package.
    provides: BTreeMap<String, Vec<(String, Option<Version>)>>,
    queue: VecDeque<String>,
}

impl State<'_> {
    fn request(&mut self, req: &str) -> Result<(), ResolveError> {
        let (name, pin_version, pin_suite) = match (req.split_once('='), req.split_once('/')) {
            (Some((n, v)), _) => (n, Some(v), None),
            (None, Some((n, s))) => (n, None, Some(s)),
            (None, None) => (req, None, None),
        };
        if self.exclude.contains(name) {
            return Err(self.unsatisfiable(req, None, vec![format!("{name}: listed in both packages and exclude")]));
        }
        let mut tried = Vec::new();
        let real = self.universe.candidates(name);
        for cand in real {
            if pin_version.is_some_and(|v| cand.version.to_string() != v) {
                tried.push(format!("{} {}: not the pinned version {}", cand.name, cand.version, pin_version.unwrap_or("")));
                continue;
            }
            if pin_suite.is_some_and(|s| cand.suite != s) {
                tried.push(format!("{} {} from {}: not from pinned suite {}", cand.name, cand.version, cand.suite, pin_suite.unwrap_or("")));
                continue;
            }
            if let Some(why) = self.conflict(cand) {
                tried.push(format!("{} {}: {why}", cand.name, cand.version));
                continue;
            }
            self.choose(cand.clone(), None, req.to_string());
            return Ok(());
        }
        if pin_version.is_none() && pin_suite.is_none() {
            let dep = SingleDependency { package: name.into(), version_constraint: None, architectures: None };
            if let Some(p) = self.pick_provider(&dep, &mut tried) {
                self.choose(p, None, req.to_string());
                return Ok(());
            }
        }
        if tried.is_empty() {
            tried.push(format!("no package or provider named {name} in any source for {}", self.arch));
        }
        Err(self.unsatisfiable(req, None, tried))
    }

    fn satisfy(&mut self, from: &Arc<BinaryPackage>, group: Vec<&SingleDependency>) -> Result<(), ResolveError> {
        let group: Vec<&SingleDependency> = group.into_iter().filter(|d| applies_to_arch(d, &self.arch)).collect();
        if group.is_empty() {
            return Ok(());
        }
        let text = group.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" | ");
        if group.iter().any(|d| self.exclude.contains(base_name(&d.package))) {
            self.res.dropped.push(Dropped { package: from.name.clone(), dependency: text });
            return Ok(());
        }
        // Already satisfied by something chosen?
        for dep in &group {
            if self.satisfied_by_chosen(dep) {
                return Ok(());
            }
        }
        let mut tried = Vec::new();
        for dep in &group {
            let name = base_name(&dep.package);
            if let Some(chosen) = self.res.packages.get(name) {
                tried.push(format!("{} {} (already chosen): does not satisfy {dep}", chosen.name, chosen.version));
                continue;
            }
            for cand in self.universe.candidates(name) {
                if !satisfies_version(&cand.version, dep) {
                    tried.push(format!("{} {}: version does not satisfy {dep}", cand.name, cand.version));
                    continue;
                }
                if let Some(why) = self.conflict(cand) {
                    tried.push(format!("{} {}: {why}", cand.name, cand.version));
                    continue;
                }
                self.choose(cand.clone(), Some(from.name.clone()), text.clone());
                return Ok(());
            }
            if let Some(p) = self.pick_provider(dep, &mut tried) {
                self.choose(p, Some(from.name.clone()), text.clone());
                return Ok(());
            }
            if self.universe.candidates(name).is_empty() && self.universe.providers(name).is_empty() {
                tried.push(format!("{name}: no package or provider of that name for {}", self.arch));
            }
        }
        Err(self.unsatisfiable(&text, Some(&from.name), tried))
    }

    fn satisfied_by_chosen(&self, dep: &SingleDependency) -> bool {
        let name = base_name(&dep.package);
        if let Some(p) = self.res.packages.get(name) {
            if satisfies_version(&p.version, dep) {
                return true;
            }
        }
        self.provides.iter().any(|(pname, provs)| {
            let p = &self.res.packages[pname];
            package_satisfies(p, dep, provs)
        })
    }

    /// Providers of `dep` not yet excluded or conflicting, best first:
    /// higher Priority, then name (stable).
    fn pick_provider(&self, dep: &SingleDependency, tried: &mut Vec<String>) -> Option<Arc<BinaryPackage>> {
        let name = base_name(&dep.package);
        let mut ok: Vec<Arc<BinaryPackage>> = Vec::new();
        for (p, provided_version) in self.universe.providers(name) {
            let versioned_ok = match (&dep.version_constraint, provided_version) {
                (None, _) => true,
                (Some(_), Some(v)) => satisfies_version(v, dep),
                (Some(_), None) => false,
            };
            if !versioned_ok {
                tried.push(format!("{} {} provides {name}: provided version does not satisfy {dep}", p.name, p.version));
            } else if self.exclude.contains(&p.name) {
                tried.push(format!("{} {} provides {name}: excluded by the spec", p.name, p.version));
            } else if self.res.packages.get(&p.name).is_some_and(|c| c.version != p.version) {
                tried.push(format!("{} {} provides {name}: another version of {} is chosen", p.name, p.version, p.name));
            } else if let Some(why) = self.conflict(p) {
                tried.push(format!("{} {} provides {name}: {why}", p.name, p.version));
            } else if !ok.iter().any(|q| q.name == p.name) {
                ok.push(p.clone());
            }
        }
        ok.sort_by(|a, b| priority_rank(&a.priority).cmp(&priority_rank(&b.priority)).then(a.name.cmp(&b.name)));
        ok.into_iter().next()
    }

    /// Why `cand` cannot join the chosen set (Conflicts/Breaks either way).
    fn conflict(&self, cand: &BinaryPackage) -> Option<String> {
        for field in [&cand.conflicts, &cand.breaks] {
            if field.trim().is_empty() {
                continue;
            }
            let Ok(list) = DependencyList::parse(field) else { continue };
            for group in list.requirements() {
                for dep in group.iter() {
                    for (pname, p) in &self.res.packages {
                        if *pname == cand.name {
                            continue;
                        }
                        let provs = self.provides.get(pname).map(Vec::as_slice).unwrap_or(&[]);
                        if package_satisfies(p, dep, provs) {
                            return Some(format!("conflicts with chosen {} {} ({dep})", p.name, p.version));
                        }
                    }
                }
            }
        }
        None
    }

    fn choose(&mut self, pkg: Arc<BinaryPackage>, parent: Option<String>, why: String) {
        let provides = DependencyList::parse(&pkg.provides)
            .map(|l| {
                l.requirements()
                    .flat_map(|g| g.iter())
                    .map(|d| (base_name(&d.package).to_string(), d.version_constraint.as_ref().map(|c| Version(c.version.clone()))))
                    .collect()
            })
            .unwrap_or_default();
        self.provides.insert(pkg.name.clone(), provides);
        self.res.reasons.insert(pkg.name.clone(), (parent, why));
        self.queue.push_back(pkg.name.clone());
        self.res.packages.insert(pkg.name.clone(), pkg);
    }

    fn unsatisfiable(&self, what: &str, parent: Option<&str>, tried: Vec<String>) -> ResolveError {
        let chain = match parent {
            Some(p) => self.res.chain(p),
            None => "spec".into(),
        };
        let tried = if tried.is_empty() { " (none)".into() } else { tried.iter().map(|t| format!("\n    - {t}")).collect() };
        ResolveError::Unsatisfiable { what: what.into(), arch: self.arch.clone(), chain, tried }
    }
}

/// Priority order, lower is preferred (Debian Policy §2.5).
fn priority_rank(p: &str) -> u8 {
    match p {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        "extra" => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests;
