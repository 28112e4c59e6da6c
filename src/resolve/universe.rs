//! The set of candidate packages for one architecture, indexed by name and
//! by provided (virtual) name.

use std::collections::HashMap;
use std::sync::Arc;

use crate::version::Version;
use debian_packaging::dependency::DependencyList;

use crate::repo::{BinaryPackage, PackageIndex};

/// A provider of a virtual name, with the version it provides (if any).
pub type Provider = (Arc<BinaryPackage>, Option<Version>);

/// Candidates for one architecture: packages of that architecture and
/// `Architecture: all`, from every source.
#[derive(Debug, Default)]
pub struct Universe {
    by_name: HashMap<String, Vec<Arc<BinaryPackage>>>,
    providers: HashMap<String, Vec<Provider>>,
}

impl Universe {
    /// Build from indices; only packages of `arch` or `all` are kept.
    /// Candidates of one name are ordered by version, highest first; equal
    /// versions keep the order of the sources (first source wins).
    pub fn new<'a>(indices: impl IntoIterator<Item = &'a PackageIndex>, arch: &str) -> Self {
        let mut u = Universe::default();
        for idx in indices {
            for p in &idx.packages {
                if p.arch != arch && p.arch != "all" {
                    continue;
                }
                u.add(p.clone());
            }
        }
        for v in u.by_name.values_mut() {
            v.sort_by(|a, b| b.version.cmp(&a.version));
            v.dedup_by(|a, b| a.version == b.version && a.arch == b.arch);
        }
        for v in u.providers.values_mut() {
            v.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(b.0.version.cmp(&a.0.version)));
            v.dedup_by(|a, b| a.0.name == b.0.name && a.0.version == b.0.version);
        }
        u
    }

    fn add(&mut self, p: Arc<BinaryPackage>) {
        if !p.provides.trim().is_empty() {
            if let Ok(list) = DependencyList::parse(&p.provides) {
                for d in list.requirements().flat_map(|g| g.iter()) {
                    let name = d.package.split(':').next().unwrap_or(&d.package).to_string();
                    let v = d.version_constraint.as_ref().map(|c| Version(c.version.clone()));
                    self.providers.entry(name).or_default().push((p.clone(), v));
                }
            }
        }
        self.by_name.entry(p.name.clone()).or_default().push(p);
    }

    /// Real packages named `name`, highest version first.
    pub fn candidates(&self, name: &str) -> &[Arc<BinaryPackage>] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Packages that provide `name`, with the provided version if any.
    pub fn providers(&self, name: &str) -> &[Provider] {
        self.providers.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Number of distinct package names.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when no package is known.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
