//! The build pipeline, one stage per function: load sources → resolve →
//! fetch → assemble → check → layer → OCI layout. Each stage takes plain
//! values; the CLI supplies the environment (mirrors, clock, epoch).

pub mod assemble;
pub mod sources;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::fetch::Cache;
use crate::oci::{self, Blob, LayerRef, Platform};
use crate::repo::mirror::{AptEntry, MirrorOverride};
use crate::repo::{BinaryPackage, Transport};
use crate::report::Reporter;
use crate::resolve::{self, Request, Resolution, Universe};
use crate::spec::LoadedSpec;

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

/// Run the whole pipeline and write the layout to `opts.output`.
pub fn build(spec: &LoadedSpec, opts: &BuildOptions, report: &Reporter) -> Result<BuildOutput, BuildError> {
    let (resolutions, loaded) = resolve_spec(spec, opts, report)?;
    let epoch = opts.source_date_epoch.unwrap_or_else(|| loaded.newest_date().timestamp());
    let created = oci::rfc3339(epoch);
    let transport = Transport::new()?;
    let cache = Cache::open(&opts.cache_dir, opts.offline)?;
    let mut blobs: Vec<Blob> = Vec::new();
    let mut manifests: Vec<(Blob, Platform)> = Vec::new();
    let mut archs = Vec::new();
    for res in &resolutions {
        let packages: Vec<Arc<BinaryPackage>> = res.packages.values().cloned().collect();
        for d in &res.dropped {
            report.detail(&format!("dropped dependency of {}: {} (excluded)", d.package, d.dependency));
        }
        let debs = sources::fetch_debs(&packages, &transport, &cache, opts.jobs, report)?;
        report.step(&format!("assembling {} package(s) for {}", packages.len(), res.arch));
        let tree = assemble::assemble(spec, &loaded, &packages, &debs, report)?;
        crate::check::check(&tree)?;
        report.step(&format!("writing layer for {}", res.arch));
        let layer = crate::layer::write_layer(&tree, epoch as u64).map_err(|e| BuildError::Other(format!("cannot write layer: {e}")))?;
        let lref = LayerRef { media_type: layer.media_type.into(), digest: layer.digest.clone(), size: layer.blob.len() as u64, diff_id: layer.diff_id.clone() };
        let platform = Platform::from_debian(&res.arch);
        let run = assemble::run_config(spec, &tree);
        let config = oci::config_blob(&platform, &run, std::slice::from_ref(&lref), &created)?;
        let manifest = oci::manifest_blob(&config, std::slice::from_ref(&lref))?;
        archs.push(ArchSummary {
            arch: res.arch.clone(),
            packages,
            manifest: manifest.digest.clone(),
            uncompressed: layer.tar_size,
            compressed: layer.blob.len() as u64,
            entries: tree.len(),
            dropped: res.dropped.clone(),
        });
        blobs.push(Blob { media_type: layer.media_type.into(), digest: layer.digest, data: layer.blob });
        blobs.push(config);
        blobs.push(manifest.clone());
        manifests.push((manifest, platform));
    }
    let index = oci::index_blob(&manifests)?;
    let mut all: Vec<&Blob> = blobs.iter().collect();
    all.push(&index);
    report.step(&format!("writing OCI layout {}", opts.output.display()));
    oci::write_layout(&opts.output, &all, &[("latest".to_string(), &index)])?;
    Ok(BuildOutput { digest: index.digest.clone(), layout: opts.output.clone(), archs, epoch })
}
