//! Packages indices: `dists/<suite>/<component>/binary-<arch>/Packages.xz`,
//! one stanza per binary package (Debian Policy §5.3, "Binary package
//! control files", as written by the archive).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use debian_packaging::control::ControlParagraphReader;
use crate::version::Version;

use super::release::{IndexEntry, VerifiedRelease};
use super::RepoError;

/// The fields of one Packages stanza that distill uses. Dependency fields
/// are kept as text and parsed when the resolver visits the package.
#[derive(Debug, Clone)]
pub struct BinaryPackage {
    /// `Package`.
    pub name: String,
    /// `Version`, parsed for ordering (Debian Policy §5.6.12).
    pub version: Version,
    /// `Architecture`: a Debian architecture or `all`.
    pub arch: String,
    /// `Multi-Arch`: `same`, `foreign`, `allowed`, or empty.
    pub multi_arch: String,
    /// `Priority`, e.g. `required`, `optional`.
    pub priority: String,
    /// `Source` name (without the version in parentheses); the package name when absent.
    pub source: String,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Pre-Depends`, raw.
    pub pre_depends: String,
    /// `Depends`, raw.
    pub depends: String,
    /// `Provides`, raw.
    pub provides: String,
    /// `Conflicts`, raw.
    pub conflicts: String,
    /// `Breaks`, raw.
    pub breaks: String,
    /// `Filename`: pool path relative to the archive base URL.
    pub filename: String,
    /// `Size` of the .deb in bytes.
    pub size: u64,
    /// `SHA256` of the .deb, lowercase hex.
    pub sha256: String,
    /// `Installed-Size` in KiB.
    pub installed_size: u64,
    /// The suite whose index listed it.
    pub suite: String,
    /// The component (e.g. `main`).
    pub component: String,
    /// The archive base URL.
    pub base_url: String,
}

/// All packages of one suite × component × architecture index.
#[derive(Debug, Clone)]
pub struct PackageIndex {
    /// The suite.
    pub suite: String,
    /// The component.
    pub component: String,
    /// The architecture of the index (`binary-<arch>`).
    pub arch: String,
    /// SHA256 of the compressed index as listed in InRelease.
    pub sha256: String,
    /// The packages, in index order.
    pub packages: Vec<Arc<BinaryPackage>>,
}

/// How the chosen index file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexCompression {
    /// `Packages.xz`.
    Xz,
    /// `Packages.gz`.
    Gz,
    /// `Packages`.
    None,
}

/// Pick the Packages index for `component`/`arch` from a verified release:
/// `.xz`, else `.gz`, else uncompressed. Returns (path under `dists/<suite>/`,
/// URL to fetch — by-hash when the release sets `Acquire-By-Hash: yes` —,
/// expected entry, compression).
pub fn locate(
    release: &VerifiedRelease,
    component: &str,
    arch: &str,
) -> Result<(String, String, IndexEntry, IndexCompression), RepoError> {
    let dir = format!("{component}/binary-{arch}");
    for (name, comp) in [("Packages.xz", IndexCompression::Xz), ("Packages.gz", IndexCompression::Gz), ("Packages", IndexCompression::None)] {
        let path = format!("{dir}/{name}");
        if let Some(entry) = release.files.get(&path) {
            let url = if release.acquire_by_hash {
                release.dists_url(&format!("{dir}/by-hash/SHA256/{}", entry.sha256))
            } else {
                release.dists_url(&path)
            };
            return Ok((path, url, entry.clone(), comp));
        }
    }
    Err(RepoError::NoIndex { suite: release.suite.clone(), component: component.into(), arch: arch.into() })
}

/// Decompress and parse verified index bytes.
pub fn parse(
    release: &VerifiedRelease,
    component: &str,
    arch: &str,
    compressed: &[u8],
    compression: IndexCompression,
    sha256: &str,
) -> Result<PackageIndex, RepoError> {
    let what = format!("{} {component}/binary-{arch}", release.suite);
    let reader: Box<dyn Read> = match compression {
        IndexCompression::Xz => Box::new(xz2::read::XzDecoder::new(compressed)),
        IndexCompression::Gz => Box::new(flate2::read::GzDecoder::new(compressed)),
        IndexCompression::None => Box::new(compressed),
    };
    let packages = parse_stanzas(BufReader::with_capacity(1 << 20, reader), &release.suite, component, &release.base_url)
        .map_err(|reason| RepoError::BadIndex { what, reason })?;
    Ok(PackageIndex {
        suite: release.suite.clone(),
        component: component.into(),
        arch: arch.into(),
        sha256: sha256.into(),
        packages,
    })
}

/// Parse Packages stanzas from `reader`.
pub fn parse_stanzas(reader: impl BufRead, suite: &str, component: &str, base_url: &str) -> Result<Vec<Arc<BinaryPackage>>, String> {
    let mut out = Vec::new();
    for (n, para) in ControlParagraphReader::new(reader).enumerate() {
        let para = para.map_err(|e| format!("stanza {}: {e}", n + 1))?;
        let field = |name: &str| para.field_str(name).unwrap_or("").to_string();
        let required = |name: &str| {
            para.field_str(name)
                .map(|s| s.to_string())
                .ok_or_else(|| format!("stanza {} ({}): missing {name}", n + 1, para.field_str("Package").unwrap_or("?")))
        };
        let name = required("Package")?;
        let version_str = required("Version")?;
        let version = Version::parse(&version_str).map_err(|e| format!("package {name}: bad Version {version_str:?}: {e}"))?;
        let number = |f: &str, v: String| v.trim().parse::<u64>().map_err(|_| format!("package {name}: bad {f} {v:?}"));
        let size = number("Size", required("Size")?)?;
        let installed_size = match para.field_str("Installed-Size") {
            Some(v) => number("Installed-Size", v.to_string())?,
            None => 0,
        };
        let sha256 = required("SHA256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("package {name}: bad SHA256"));
        }
        let filename = required("Filename")?;
        if filename.starts_with('/') || filename.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(format!("package {name}: unsafe Filename {filename:?}"));
        }
        let source = para
            .field_str("Source")
            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| name.clone());
        out.push(Arc::new(BinaryPackage {
            version,
            arch: required("Architecture")?,
            multi_arch: field("Multi-Arch"),
            priority: field("Priority"),
            source,
            essential: para.field_str("Essential") == Some("yes"),
            pre_depends: field("Pre-Depends"),
            depends: field("Depends"),
            provides: field("Provides"),
            conflicts: field("Conflicts"),
            breaks: field("Breaks"),
            filename,
            size,
            sha256,
            installed_size,
            suite: suite.into(),
            component: component.into(),
            base_url: base_url.into(),
            name,
        }));
    }
    Ok(out)
}

/// Count of packages per name, for diagnostics.
pub fn names(indices: &[PackageIndex]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for i in indices {
        for p in &i.packages {
            *m.entry(p.name.as_str()).or_insert(0) += 1;
        }
    }
    m
}
