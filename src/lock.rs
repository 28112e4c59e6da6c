//! Lock files: `specs/<name>.lock` beside the spec, pinning exactly what a
//! build installs so that CI rebuilds the same image from the same commit.
//!
//! The file is YAML (diff-friendly, sorted, stable) with a schema version:
//! the SHA256 of the spec it was made from, each source's InRelease digest
//! and `Date`, the build epoch, and per architecture every package (name,
//! version, arch, suite, pool filename, size, SHA256). No mirror URL is
//! recorded: a locked build finds its mirror the same way any build does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::repo::BinaryPackage;
use crate::version::Version;

/// The lock schema this distill writes and reads.
pub const SCHEMA: u32 = 1;

/// Errors reading, writing or checking a lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// No lock file beside the spec.
    #[error("no lock file {path}: run `distill lock {spec}` and commit the result")]
    Missing {
        /// The expected lock path.
        path: PathBuf,
        /// The spec path.
        spec: PathBuf,
    },
    /// The spec changed since the lock was written.
    #[error("lock file {path} is stale: the spec {spec} changed since it was written (spec sha256 {actual}, lock records {locked}); run `distill lock {spec}` and review the diff")]
    Stale {
        /// The lock path.
        path: PathBuf,
        /// The spec path.
        spec: PathBuf,
        /// SHA256 of the spec now.
        actual: String,
        /// SHA256 the lock records.
        locked: String,
    },
    /// The spec is unchanged but resolving it now gives other packages
    /// (`distill lock --check`).
    #[error("lock file {path} is out of date: resolving {spec} now gives {changes}; run `distill lock {spec}` and review the diff")]
    Outdated {
        /// The lock path.
        path: PathBuf,
        /// The spec path.
        spec: PathBuf,
        /// What differs, e.g. `libssl3 3.0.15-1~deb12u1 → 3.0.17-1~deb12u2 (amd64)`.
        changes: String,
    },
    /// The lock does not parse or has an unknown schema.
    #[error("invalid lock file {path}: {reason}")]
    Invalid {
        /// The lock path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// I/O error.
    #[error("cannot read or write lock file {path}: {source}")]
    Io {
        /// The lock path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A lock file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Schema version ([`SCHEMA`]).
    pub schema: u32,
    /// The spec it was made from.
    pub spec: LockedSpec,
    /// Build time in seconds since the Unix epoch (newest InRelease `Date`),
    /// used when `SOURCE_DATE_EPOCH` is not set.
    pub epoch: i64,
    /// The sources, in spec order.
    pub sources: Vec<LockedSource>,
    /// Packages per Debian architecture, sorted by name.
    pub packages: BTreeMap<String, Vec<LockedPackage>>,
    /// The debug variant's extra packages (busybox) per architecture.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub debug: BTreeMap<String, Vec<LockedPackage>>,
}

/// The spec file a lock was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSpec {
    /// File name of the spec.
    pub file: String,
    /// SHA256 of the spec's bytes (and, in order, of every spec it extends).
    pub sha256: String,
}

/// One source as it was when locked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSource {
    /// Suite.
    pub suite: String,
    /// `Codename` from InRelease.
    pub codename: Option<String>,
    /// `Version` from InRelease.
    pub version: Option<String>,
    /// `Date` from InRelease (RFC 3339).
    pub date: String,
    /// SHA256 of the InRelease file.
    pub inrelease_sha256: String,
}

/// One locked package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture (`all` or the Debian architecture).
    pub arch: String,
    /// Suite whose index listed it.
    pub suite: String,
    /// Component.
    pub component: String,
    /// Source package name.
    pub source: String,
    /// Pool path relative to the archive base URL.
    pub filename: String,
    /// .deb size in bytes.
    pub size: u64,
    /// .deb SHA256.
    pub sha256: String,
    /// Installed size in KiB.
    pub installed_size: u64,
}

impl LockedPackage {
    /// From a resolved package.
    pub fn from_package(p: &BinaryPackage) -> Self {
        LockedPackage {
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: p.arch.clone(),
            suite: p.suite.clone(),
            component: p.component.clone(),
            source: p.source.clone(),
            filename: p.filename.clone(),
            size: p.size,
            sha256: p.sha256.clone(),
            installed_size: p.installed_size,
        }
    }

    /// Back to a package record fetchable from `base_url`. Relationship
    /// fields are empty: a locked build does not resolve.
    pub fn to_package(&self, base_url: &str) -> Result<Arc<BinaryPackage>, String> {
        Ok(Arc::new(BinaryPackage {
            name: self.name.clone(),
            version: Version::parse(&self.version).map_err(|e| format!("package {}: {e}", self.name))?,
            arch: self.arch.clone(),
            multi_arch: String::new(),
            priority: String::new(),
            source: self.source.clone(),
            essential: false,
            pre_depends: String::new(),
            depends: String::new(),
            provides: String::new(),
            conflicts: String::new(),
            breaks: String::new(),
            filename: self.filename.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            installed_size: self.installed_size,
            suite: self.suite.clone(),
            component: self.component.clone(),
            base_url: base_url.into(),
        }))
    }
}

/// The lock path for a spec: `<spec without .yaml/.yml>.lock` beside it.
pub fn path_for(spec: &Path) -> PathBuf {
    spec.with_extension("lock")
}

/// SHA256 over the spec documents, in order (the spec, then what it extends).
pub fn spec_digest<'a>(docs: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for d in docs {
        h.update(Sha256::digest(d));
    }
    hex::encode(h.finalize())
}

impl Lock {
    /// Serialise: a header comment, then sorted YAML.
    pub fn to_text(&self) -> String {
        let mut sorted = self.clone();
        for v in sorted.packages.values_mut().chain(sorted.debug.values_mut()) {
            v.sort_by(|a, b| a.name.cmp(&b.name).then(a.arch.cmp(&b.arch)));
        }
        let body = serde_yaml::to_string(&sorted).expect("lock serialises");
        format!("# Generated by `distill lock`. Do not edit: rerun `distill lock` and review the diff.\n{body}")
    }

    /// Parse lock text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Lock, LockError> {
        let lock: Lock =
            serde_yaml::from_str(text).map_err(|e| LockError::Invalid { path: path.into(), reason: e.to_string() })?;
        if lock.schema != SCHEMA {
            return Err(LockError::Invalid {
                path: path.into(),
                reason: format!("schema {} is not {SCHEMA}; rerun `distill lock`", lock.schema),
            });
        }
        Ok(lock)
    }

    /// Read the lock beside `spec` and check it was made from `spec_sha256`.
    pub fn read_fresh(spec: &Path, spec_sha256: &str) -> Result<Lock, LockError> {
        let path = path_for(spec);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LockError::Missing { path, spec: spec.into() })
            }
            Err(source) => return Err(LockError::Io { path, source }),
        };
        let lock = Lock::parse(&path, &text)?;
        if lock.spec.sha256 != spec_sha256 {
            return Err(LockError::Stale {
                path,
                spec: spec.into(),
                actual: spec_sha256.into(),
                locked: lock.spec.sha256,
            });
        }
        Ok(lock)
    }

    /// Write atomically (temporary file, then rename) to `path`.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io { path: path.into(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, self.to_text().as_bytes()).map_err(io)?;
        // A committed file, readable by everyone (temporary files start 0600).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(io)?;
        }
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let p = |n: &str| LockedPackage {
            name: n.into(),
            version: "1.0-1".into(),
            arch: "amd64".into(),
            suite: "bookworm".into(),
            component: "main".into(),
            source: n.into(),
            filename: format!("pool/main/{n}.deb"),
            size: 1,
            sha256: "a".repeat(64),
            installed_size: 2,
        };
        let mut packages = BTreeMap::new();
        packages.insert("amd64".to_string(), vec![p("zlib1g"), p("libc6")]);
        Lock {
            schema: SCHEMA,
            spec: LockedSpec { file: "x.yaml".into(), sha256: "b".repeat(64) },
            epoch: 1_700_000_000,
            sources: vec![LockedSource {
                suite: "bookworm".into(),
                codename: Some("bookworm".into()),
                version: Some("12.1".into()),
                date: "2023-01-01T00:00:00Z".into(),
                inrelease_sha256: "c".repeat(64),
            }],
            packages,
            debug: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_sorted() {
        let text = sample().to_text();
        assert!(text.find("name: libc6").unwrap() < text.find("name: zlib1g").unwrap());
        let back = Lock::parse(Path::new("x.lock"), &text).unwrap();
        assert_eq!(back.to_text(), text);
    }

    #[test]
    fn stale_and_missing_locks_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("x.yaml");
        assert!(matches!(Lock::read_fresh(&spec, "b"), Err(LockError::Missing { .. })));
        sample().write(&path_for(&spec)).unwrap();
        assert!(Lock::read_fresh(&spec, &"b".repeat(64)).is_ok());
        let err = Lock::read_fresh(&spec, &"d".repeat(64)).unwrap_err();
        assert!(err.to_string().contains("stale") && err.to_string().contains("distill lock"), "{err}");
    }

    #[test]
    fn unknown_schema_is_rejected() {
        let text = sample().to_text().replace("schema: 1", "schema: 9");
        assert!(Lock::parse(Path::new("x.lock"), &text).unwrap_err().to_string().contains("schema 9"));
    }
}
