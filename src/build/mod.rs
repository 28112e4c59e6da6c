//! The build pipeline, one stage per function: load sources → resolve →
//! fetch → assemble → check → layer → OCI layout. Each stage takes plain
//! values; the CLI supplies the environment (mirrors, clock, epoch).

pub mod assemble;
pub mod sources;
pub mod variants;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::fetch::Cache;
use crate::lock::{Lock, LockedPackage, LockedSource, LockedSpec};
use crate::oci::{self, Blob, LayerRef, Platform};
use crate::repo::mirror::{AptEntry, MirrorOverride};
use crate::repo::{BinaryPackage, Transport};
use crate::report::Reporter;
use crate::resolve::{self, Request, Resolution, Universe};
use crate::spec::LoadedSpec;
use crate::tree::generate::OsInfo;

/// Everything a build needs from outside the spec.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Where to write the OCI layout.
    pub output: PathBuf,
    /// Cache directory.
    pub cache_dir: PathBuf,
    /// `--mirror` / `DISTILL_MIRROR` values.
    pub mirrors: Vec<MirrorOverride>,
    /// The host's apt sources.
    pub apt: Vec<AptEntry>,
    /// `SOURCE_DATE_EPOCH`, if set.
    pub source_date_epoch: Option<i64>,
    /// The current time, for `Valid-Until` checks.
    pub now: DateTime<Utc>,
    /// Refuse downloads; use the cache only.
    pub offline: bool,
    /// Parallel downloads.
    pub jobs: usize,
}

/// Errors from any stage of a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Spec problem.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// Archive, signature, checksum or network problem.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
    /// Dependency resolution failed.
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    /// A .deb could not be read.
    #[error(transparent)]
    Deb(#[from] crate::deb::DebError),
    /// A package could not be extracted.
    #[error(transparent)]
    Extract(#[from] crate::tree::extract::ExtractError),
    /// The image failed its checks.
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),
    /// OCI output failed.
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    /// Lock file missing, stale or invalid.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A locked package is gone from the mirror.
    #[error("package {package} {version} ({arch}) is no longer on the mirror: {url}\n  note: pool files are removed after point releases; point the source's `url:` in the spec at a snapshot mirror of the date in the lock, or run `distill lock` to move to current versions")]
    Gone {
        /// Package name.
        package: String,
        /// Locked version.
        version: String,
        /// Architecture.
        arch: String,
        /// The URL that answered 404.
        url: String,
    },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

/// Per-architecture result.
#[derive(Debug, Clone)]
pub struct ArchSummary {
    /// Debian architecture.
    pub arch: String,
    /// Packages installed.
    pub packages: Vec<Arc<BinaryPackage>>,
    /// Manifest digest.
    pub manifest: String,
    /// Uncompressed layer bytes.
    pub uncompressed: u64,
    /// Compressed layer bytes.
    pub compressed: u64,
    /// Files, directories and links in the image.
    pub entries: usize,
    /// Dependencies dropped by `exclude`.
    pub dropped: Vec<resolve::Dropped>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// `sha256:` of the image index blob (tagged `latest`).
    pub digest: String,
    /// Every tag with its image index digest, `latest` first.
    pub tags: Vec<(String, String)>,
    /// Where the layout was written.
    pub layout: PathBuf,
    /// One entry per architecture.
    pub archs: Vec<ArchSummary>,
    /// Image creation time (seconds since the epoch).
    pub epoch: i64,
}

/// Resolve the spec for every architecture (loads and verifies indices).
pub fn resolve_spec(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    report: &Reporter,
) -> Result<(Vec<Resolution>, sources::Loaded), BuildError> {
    let transport = Transport::new()?;
    let cache = Cache::open(&opts.cache_dir, opts.offline)?;
    let loaded = sources::load(spec, opts, &transport, &cache, report)?;
    let mut out = Vec::new();
    for arch in &spec.spec.archs {
        report.step(&format!("resolving {} package(s) for {arch}", spec.spec.packages.len()));
        let universe = Universe::new(loaded.indices.iter().filter(|i| &i.arch == arch), arch);
        let request = Request {
            arch: arch.clone(),
            packages: spec.spec.packages.clone(),
            exclude: spec.spec.exclude.iter().cloned().collect::<BTreeSet<_>>(),
            prefer: spec.spec.prefer.clone(),
        };
        out.push(resolve::resolve(&universe, &request)?);
    }
    Ok((out, loaded))
}

/// What to build: per architecture the packages to install, plus what the
/// generated files need. Made by resolving ([`plan_from_resolutions`]) or
/// from a lock file ([`plan_from_lock`]).
#[derive(Debug, Clone)]
pub struct Plan {
    /// One entry per architecture, in spec order.
    pub archs: Vec<ArchPlan>,
    /// What `/etc/os-release` says when base-files is not installed.
    pub os: OsInfo,
    /// Build time when `SOURCE_DATE_EPOCH` is not set (seconds).
    pub epoch: i64,
}

/// The packages of one architecture.
#[derive(Debug, Clone)]
pub struct ArchPlan {
    /// Debian architecture.
    pub arch: String,
    /// Packages, sorted by name.
    pub packages: Vec<Arc<BinaryPackage>>,
    /// Dependencies dropped by `exclude`.
    pub dropped: Vec<resolve::Dropped>,
    /// The debug variant's packages (busybox), when the spec has it.
    pub debug: Vec<Arc<BinaryPackage>>,
}

fn os_info(spec: &LoadedSpec, codename: Option<&str>, version: Option<&str>) -> OsInfo {
    OsInfo {
        version_id: version.and_then(|v| v.split('.').next()).map(String::from),
        codename: codename.map(String::from).unwrap_or_else(|| spec.spec.sources[0].suite.clone()),
    }
}

/// The debug variant's packages per architecture (empty without `debug`).
pub fn resolve_debug(spec: &LoadedSpec, loaded: &sources::Loaded) -> Result<Vec<Resolution>, BuildError> {
    if !spec.spec.variants.contains(&crate::spec::Variant::Debug) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for arch in &spec.spec.archs {
        let universe = Universe::new(loaded.indices.iter().filter(|i| &i.arch == arch), arch);
        out.push(resolve::resolve(&universe, &Request::new(arch, [variants::BUSYBOX_PACKAGE]))?);
    }
    Ok(out)
}

/// A plan from fresh resolutions.
pub fn plan_from_resolutions(
    spec: &LoadedSpec,
    resolutions: &[Resolution],
    debug: &[Resolution],
    loaded: &sources::Loaded,
) -> Plan {
    let first = loaded.releases.first();
    let debug_for = |arch: &str| {
        debug.iter().find(|d| d.arch == arch).map(|d| d.packages.values().cloned().collect()).unwrap_or_default()
    };
    Plan {
        archs: resolutions
            .iter()
            .map(|r| ArchPlan {
                arch: r.arch.clone(),
                packages: r.packages.values().cloned().collect(),
                dropped: r.dropped.clone(),
                debug: debug_for(&r.arch),
            })
            .collect(),
        os: os_info(spec, first.and_then(|r| r.codename.as_deref()), first.and_then(|r| r.version.as_deref())),
        epoch: loaded.newest_date().timestamp(),
    }
}

/// A lock file for a spec and its resolutions.
pub fn lock_from_resolutions(
    spec: &LoadedSpec,
    resolutions: &[Resolution],
    debug: &[Resolution],
    loaded: &sources::Loaded,
) -> Lock {
    Lock {
        schema: crate::lock::SCHEMA,
        spec: LockedSpec {
            file: spec.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
            sha256: spec.digest(),
        },
        epoch: loaded.newest_date().timestamp(),
        sources: loaded
            .releases
            .iter()
            .map(|r| LockedSource {
                suite: r.suite.clone(),
                codename: r.codename.clone(),
                version: r.version.clone(),
                date: oci::rfc3339(r.date.timestamp()),
                inrelease_sha256: r.sha256.clone(),
            })
            .collect(),
        packages: resolutions
            .iter()
            .map(|r| (r.arch.clone(), r.packages.values().map(|p| LockedPackage::from_package(p)).collect()))
            .collect(),
        debug: debug
            .iter()
            .map(|r| (r.arch.clone(), r.packages.values().map(|p| LockedPackage::from_package(p)).collect()))
            .collect(),
    }
}

/// A plan from a lock file: no index is fetched; each package's mirror is
/// found for its suite as in any build.
pub fn plan_from_lock(spec: &LoadedSpec, lock: &Lock, opts: &BuildOptions) -> Result<Plan, BuildError> {
    let mut archs = Vec::new();
    for arch in &spec.spec.archs {
        let locked = lock.packages.get(arch).ok_or_else(|| {
            BuildError::Lock(crate::lock::LockError::Invalid {
                path: crate::lock::path_for(&spec.path),
                reason: format!("no packages for architecture {arch}; rerun `distill lock`"),
            })
        })?;
        let unlock = |list: &[LockedPackage]| -> Result<Vec<Arc<BinaryPackage>>, BuildError> {
            let mut packages = Vec::new();
            for l in list {
                let url = spec.spec.sources.iter().find(|s| s.suite == l.suite).and_then(|s| s.url.as_deref());
                let base = crate::repo::mirror::choose(&l.suite, url, &opts.mirrors, &opts.apt)?;
                packages.push(l.to_package(&base).map_err(BuildError::Other)?);
            }
            packages.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(packages)
        };
        let debug = match lock.debug.get(arch) {
            Some(d) => unlock(d)?,
            None if spec.spec.variants.contains(&crate::spec::Variant::Debug) => {
                return Err(BuildError::Lock(crate::lock::LockError::Invalid {
                    path: crate::lock::path_for(&spec.path),
                    reason: format!("no debug packages for {arch}; rerun `distill lock`"),
                }))
            }
            None => Vec::new(),
        };
        archs.push(ArchPlan { arch: arch.clone(), packages: unlock(locked)?, dropped: Vec::new(), debug });
    }
    let first = lock.sources.first();
    Ok(Plan {
        archs,
        os: os_info(spec, first.and_then(|s| s.codename.as_deref()), first.and_then(|s| s.version.as_deref())),
        epoch: lock.epoch,
    })
}

/// Resolve (or read the lock, with `locked`) and build.
pub fn build(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    locked: bool,
    report: &Reporter,
) -> Result<BuildOutput, BuildError> {
    let plan = if locked {
        let lock = Lock::read_fresh(&spec.path, &spec.digest())?;
        report.step(&format!("building from lock {}", crate::lock::path_for(&spec.path).display()));
        plan_from_lock(spec, &lock, opts)?
    } else {
        let (resolutions, loaded) = resolve_spec(spec, opts, report)?;
        let debug = resolve_debug(spec, &loaded)?;
        plan_from_resolutions(spec, &resolutions, &debug, &loaded)
    };
    build_plan(spec, &plan, opts, report)
}

/// Fetch, assemble, check and write the layout for `plan`: one image index
/// per tag (`latest` and the spec's variants), each over every architecture.
pub fn build_plan(
    spec: &LoadedSpec,
    plan: &Plan,
    opts: &BuildOptions,
    report: &Reporter,
) -> Result<BuildOutput, BuildError> {
    let epoch = opts.source_date_epoch.unwrap_or(plan.epoch);
    let created = oci::rfc3339(epoch);
    let transport = Transport::new()?;
    let cache = Cache::open(&opts.cache_dir, opts.offline)?;
    let tags = variants::tags(&spec.spec.variants);
    let mut blobs: Vec<Blob> = Vec::new();
    let mut per_tag: Vec<Vec<(Blob, Platform)>> = vec![Vec::new(); tags.len()];
    let mut archs = Vec::new();
    for ap in &plan.archs {
        for d in &ap.dropped {
            report.detail(&format!("dropped dependency of {}: {} (excluded)", d.package, d.dependency));
        }
        let debs = sources::fetch_debs(&ap.packages, &transport, &cache, opts.jobs, report)?;
        report.step(&format!("assembling {} package(s) for {}", ap.packages.len(), ap.arch));
        let tree = assemble::assemble(spec, &plan.os, &ap.packages, &debs, report)?;
        crate::check::check(&tree, &crate::check::CheckOptions::default())?;
        report.step(&format!("writing layer for {}", ap.arch));
        let base = write_layer(&tree, epoch)?;
        let debug_layer = if tags.iter().any(|t| t.debug) {
            let pkg = ap.debug.iter().find(|p| p.name == variants::BUSYBOX_PACKAGE).ok_or_else(|| {
                BuildError::Other(format!("the debug variant needs {} for {}", variants::BUSYBOX_PACKAGE, ap.arch))
            })?;
            let deb = sources::fetch_debs(std::slice::from_ref(pkg), &transport, &cache, 1, report)?;
            Some(write_layer(&variants::busybox_tree(pkg, &deb[0])?, epoch)?)
        } else {
            None
        };
        let platform = Platform::from_debian(&ap.arch);
        let mut latest_manifest = String::new();
        for (t, tag) in tags.iter().enumerate() {
            let mut layers = vec![base.0.clone()];
            if tag.debug {
                layers.extend(debug_layer.as_ref().map(|l| l.0.clone()));
            }
            let run = assemble::run_config(spec, &tree, tag);
            let config = oci::config_blob(&platform, &run, &layers, &created)?;
            let manifest = oci::manifest_blob(&config, &layers)?;
            if t == 0 {
                latest_manifest = manifest.digest.clone();
            }
            blobs.push(config);
            blobs.push(manifest.clone());
            per_tag[t].push((manifest, platform.clone()));
        }
        archs.push(ArchSummary {
            arch: ap.arch.clone(),
            packages: ap.packages.clone(),
            manifest: latest_manifest,
            uncompressed: base.0.size_uncompressed,
            compressed: base.0.size,
            entries: tree.len(),
            dropped: ap.dropped.clone(),
        });
        blobs.push(base.1);
        blobs.extend(debug_layer.map(|l| l.1));
    }
    let indices = per_tag.iter().map(|m| oci::index_blob(m)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<(String, &Blob)> = tags.iter().map(|t| t.name.clone()).zip(indices.iter()).collect();
    let mut all: Vec<&Blob> = blobs.iter().collect();
    all.extend(indices.iter());
    report.step(&format!(
        "writing OCI layout {} ({})",
        opts.output.display(),
        tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    oci::write_layout(&opts.output, &all, &refs)?;
    Ok(BuildOutput {
        digest: indices[0].digest.clone(),
        tags: tags.iter().map(|t| t.name.clone()).zip(indices.iter().map(|b| b.digest.clone())).collect(),
        layout: opts.output.clone(),
        archs,
        epoch,
    })
}

/// Write `tree` as a gzip layer; returns its reference and blob.
fn write_layer(tree: &crate::tree::Tree, epoch: i64) -> Result<(LayerRef, Blob), BuildError> {
    let layer = crate::layer::write_layer(tree, epoch as u64)
        .map_err(|e| BuildError::Other(format!("cannot write layer: {e}")))?;
    let r = LayerRef {
        media_type: layer.media_type.into(),
        digest: layer.digest.clone(),
        size: layer.blob.len() as u64,
        size_uncompressed: layer.tar_size,
        diff_id: layer.diff_id.clone(),
    };
    Ok((r, Blob { media_type: layer.media_type.into(), digest: layer.digest, data: layer.blob }))
}
