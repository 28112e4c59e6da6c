//! Dependency resolution: from the spec's package names to the closed set
//! of binary packages to install, the way apt chooses (Debian Policy §7,
//! "Declaring relationships between packages").
//!
//! Pure: works on a [`Universe`] built from already-verified Packages
//! indices and does no I/O. Follows `Pre-Depends` and `Depends`, never
//! `Recommends` or `Suggests`, and never adds `Essential` packages on its
//! own. For every choice it records why, so errors show the chain that led
//! to a dependency that cannot be met.

mod state;
mod universe;
pub mod why;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::version::{self, Version};
use debian_packaging::dependency::{SingleDependency, VersionRelationship};

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
    /// A virtual package has several providers of the same Priority.
    #[error("virtual package {name} (needed for {arch} by {chain}) has several providers of equal priority: {providers}\n  note: add `prefer: [<one of them>]` to the spec")]
    Ambiguous {
        /// The virtual package.
        name: String,
        /// The architecture.
        arch: String,
        /// `spec → a → b` chain.
        chain: String,
        /// The candidates, comma-separated.
        providers: String,
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
        Request {
            arch: arch.into(),
            packages: packages.into_iter().map(Into::into).collect(),
            exclude: BTreeSet::new(),
            prefer: Vec::new(),
        }
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
    /// Every dependency edge examined, in resolution order: which package
    /// met it and which alternatives or providers were passed over, and why.
    pub edges: Vec<Edge>,
    /// The requested names (after pins are stripped), sorted.
    pub requested: Vec<String>,
}

/// One dependency of a chosen package and how it was met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The package that has the dependency (`spec` for requests).
    pub from: String,
    /// `Pre-Depends`, `Depends` or `request`.
    pub field: String,
    /// The alternative group as written.
    pub dependency: String,
    /// The chosen package that meets it; `None` when dropped by `exclude`.
    pub to: Option<String>,
    /// Alternatives and providers not taken, each with the reason.
    pub passed_over: Vec<String>,
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

/// Resolve `request` against `universe`: the way apt would, for one
/// architecture (see the module docs for the rules).
///
/// Errors: [`ResolveError::Unsatisfiable`] naming the chain and every
/// candidate tried (sorted, so the message is stable);
/// [`ResolveError::Ambiguous`] when a virtual package has several equally
/// good providers and the spec has no `prefer:` for it;
/// [`ResolveError::BadField`] for unparsable fields.
pub fn resolve(universe: &Universe, request: &Request) -> Result<Resolution, ResolveError> {
    state::State::new(universe, request).run()
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
