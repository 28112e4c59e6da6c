//! The build pipeline, one stage per function: load sources → resolve →
//! fetch → assemble → check → layer → OCI layout. Each stage takes plain
//! values; the CLI supplies the environment (mirrors, clock, epoch).

pub mod assemble;
mod located;
pub mod missing;
pub mod record;
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
    /// Layer compression.
    pub compression: crate::layer::Compression,
    /// Only these Debian architectures (default: the spec's).
    pub archs: Option<Vec<String>>,
    /// Threads for compression (default: the machine's cores).
    pub threads: usize,
    /// Write SBOM documents beside the layout (`<output>.sbom/`), see [`crate::sbom`].
    pub sbom: Option<crate::sbom::SbomFormat>,
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
    /// A bad command-line option (exit 2), e.g. `--arch` naming no
    /// architecture of the spec.
    #[error("{0}")]
    Usage(String),
    /// A failure traced to a place in a spec (an unknown package, a
    /// `paths.exclude` that removes a file the image needs): the located
    /// message with a hint, and the error it explains (which decides the
    /// exit code; not printed).
    #[error("{0}")]
    Located(Box<crate::spec::Diagnostic>, Box<BuildError>),
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
    /// Warnings of the image check (optional pieces that do not work).
    pub warnings: Vec<crate::check::Finding>,
    /// The image's layers, bottom first (without the debug layer).
    pub layers: Vec<crate::layer::Layer>,
    /// What the maintainer scripts of the image's own packages (the last
    /// spec of the chain) did, call by call.
    pub maintainer_scripts: crate::maint::Report,
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
    let out = resolve_loaded(spec, &loaded, report)?;
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

/// The specs of an `extends:` chain, the root first and `spec` last.
pub fn chain(spec: &LoadedSpec) -> Result<Vec<LoadedSpec>, BuildError> {
    let mut out = vec![spec.clone()];
    while let Some(parent) = out
        .last()
        .and_then(|s| s.spec.extends.as_ref().map(|e| s.path.parent().unwrap_or(std::path::Path::new(".")).join(e)))
    {
        out.push(crate::spec::load(&parent)?);
    }
    out.reverse();
    Ok(out)
}

/// One spec of the chain with what it installs.
#[derive(Debug, Clone)]
pub struct Level {
    /// The spec (merged with what it extends).
    pub spec: LoadedSpec,
    /// Its packages.
    pub plan: Plan,
}

/// Resolve (or read the locks, with `locked`) and build. An image whose
/// spec extends another is built on that spec's image: its layers are the
/// parent's, made from the parent's own lock (or resolution), plus its own.
pub fn build(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    locked: bool,
    report: &Reporter,
) -> Result<BuildOutput, BuildError> {
    let mut levels = Vec::new();
    let mut loaded_by_sources: Vec<(String, sources::Loaded)> = Vec::new();
    for s in chain(spec)? {
        let plan = if locked {
            let lock = Lock::read_fresh(&s.path, &s.digest())?;
            report.detail(&format!("building {} from lock {}", s.spec.name, crate::lock::path_for(&s.path).display()));
            plan_from_lock(&s, &lock, opts)?
        } else {
            let key = format!("{:?}{:?}", s.spec.sources, s.spec.archs);
            let loaded = match loaded_by_sources.iter().find(|(k, _)| *k == key) {
                Some((_, l)) => l.clone(),
                None => {
                    let transport = Transport::new()?;
                    let cache = Cache::open(&opts.cache_dir, opts.offline)?;
                    let l = sources::load(&s, opts, &transport, &cache, report)?;
                    loaded_by_sources.push((key, l.clone()));
                    l
                }
            };
            let resolutions = resolve_loaded(&s, &loaded, report)?;
            let debug = resolve_debug(&s, &loaded)?;
            plan_from_resolutions(&s, &resolutions, &debug, &loaded)
        };
        levels.push(Level { spec: s, plan });
    }
    build_levels(&levels, opts, report)
}

/// Resolve every architecture of `spec` against loaded sources.
pub fn resolve_loaded(
    spec: &LoadedSpec,
    loaded: &sources::Loaded,
    report: &Reporter,
) -> Result<Vec<Resolution>, BuildError> {
    let mut out = Vec::new();
    for arch in &spec.spec.archs {
        report.step(&format!("resolving {} package(s) of {} for {arch}", spec.spec.packages.len(), spec.spec.name));
        let universe = Universe::new(loaded.indices.iter().filter(|i| &i.arch == arch), arch);
        let request = Request {
            arch: arch.clone(),
            packages: spec.spec.packages.clone(),
            exclude: spec.spec.exclude.iter().cloned().collect::<BTreeSet<_>>(),
            prefer: spec.spec.prefer.clone(),
        };
        out.push(resolve::resolve(&universe, &request).map_err(|e| located::resolve_error(spec, loaded, arch, e))?);
    }
    Ok(out)
}

/// Build one spec from one plan (no `extends:` layering: every file in
/// layers of this spec's own). For a chain use [`build_levels`].
pub fn build_plan(
    spec: &LoadedSpec,
    plan: &Plan,
    opts: &BuildOptions,
    report: &Reporter,
) -> Result<BuildOutput, BuildError> {
    build_levels(&[Level { spec: spec.clone(), plan: plan.clone() }], opts, report)
}

/// Fetch, unpack, assemble, check and write the layout for a chain of
/// levels (root first; the last is the image): one image index per tag
/// (`latest` and the spec's variants), each over every architecture.
pub fn build_levels(levels: &[Level], opts: &BuildOptions, report: &Reporter) -> Result<BuildOutput, BuildError> {
    let top = levels.last().ok_or_else(|| BuildError::Other("nothing to build".into()))?;
    let spec = &top.spec;
    let epoch = opts.source_date_epoch.unwrap_or(top.plan.epoch);
    let created = oci::rfc3339(epoch);
    let transport = Transport::new()?;
    let cache = Cache::open(&opts.cache_dir, opts.offline)?;
    let tags = variants::tags(&spec.spec.variants);
    let key = record::key(levels, opts, &tags);
    if let Some(out) = record::replay(&cache, &key, top, opts, epoch, report)? {
        return Ok(out);
    }
    let mut blobs: Vec<Blob> = Vec::new();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut per_tag: Vec<Vec<(Blob, Platform)>> = vec![Vec::new(); tags.len()];
    let mut archs = Vec::new();
    let memo = std::sync::Mutex::new(std::collections::HashMap::new());
    let mut sbom_docs: Vec<crate::sbom::Document> = Vec::new();
    for ap in &top.plan.archs {
        if opts.archs.as_ref().is_some_and(|only| !only.contains(&ap.arch)) {
            continue;
        }
        for d in &ap.dropped {
            report.detail(&format!("dropped dependency of {}: {} (excluded)", d.package, d.dependency));
        }
        // Every package of every spec of the chain (and the debug variant's)
        // fetched and unpacked in one parallel batch, before assembling.
        let mut all: Vec<Arc<BinaryPackage>> = Vec::new();
        let mut seen = BTreeSet::new();
        for level in levels {
            for p in
                level.plan.archs.iter().filter(|a| a.arch == ap.arch).flat_map(|a| a.packages.iter().chain(&a.debug))
            {
                if seen.insert(p.sha256.clone()) {
                    all.push(p.clone());
                }
            }
        }
        all.sort_by_key(|p| std::cmp::Reverse(p.size));
        report.step(&format!("fetching and unpacking {} package(s) for {}", all.len(), ap.arch));
        sources::unpack_packages_memo(&all, &transport, &cache, opts.jobs, report, &memo)?;
        let mut base: Option<crate::tree::Tree> = None;
        let mut pending: Vec<(crate::layer::LayerContent, i64, String)> = Vec::new();
        let mut tree = crate::tree::Tree::new();
        let mut maint: Option<crate::maint::Report> = None;
        let mut made_by_scripts = std::collections::BTreeSet::new();
        // The layers of the specs this one extends are final as soon as
        // their level is assembled: they are written in the background
        // while the next levels are assembled (one core assembles, the
        // other compresses), and the image's own layers after.
        let mut warnings: Vec<crate::check::Finding> = Vec::new();
        let mut written = std::thread::scope(|scope| -> Result<Vec<(crate::layer::Layer, PathBuf)>, BuildError> {
            let mut early = Vec::new();
            for (i, level) in levels.iter().enumerate() {
                let lp = level.plan.archs.iter().find(|a| a.arch == ap.arch).ok_or_else(|| {
                    BuildError::Other(format!(
                        "{} extends {}, which does not build {}",
                        spec.path.display(),
                        level.spec.path.display(),
                        ap.arch
                    ))
                })?;
                report.step(&format!(
                    "assembling {} ({} package(s), {})",
                    level.spec.spec.name,
                    lp.packages.len(),
                    ap.arch
                ));
                let unpacked =
                    sources::unpack_packages_memo(&lp.packages, &transport, &cache, opts.jobs, report, &memo)?;
                let (assembled, scripts) =
                    assemble::assemble(&level.spec, &level.plan.os, &lp.packages, &unpacked, report)?;
                tree = assembled;
                made_by_scripts.extend(scripts.made.iter().cloned());
                maint = Some(scripts);
                let last = i + 1 == levels.len();
                if last {
                    let allow_setuid = level.spec.spec.paths.setuid == Some(crate::spec::SetuidPolicy::Keep);
                    let options = crate::check::CheckOptions { allow_setuid, ..Default::default() };
                    let mut checked = crate::check::check(&tree, &options);
                    if let Some(missing) = missing_entrypoint(&level.spec, &tree) {
                        checked = match checked {
                            Ok(_) => Err(crate::check::CheckError(vec![missing])),
                            Err(crate::check::CheckError(mut all)) => {
                                all.push(missing);
                                Err(crate::check::CheckError(all))
                            }
                        };
                    }
                    if let Err(crate::check::CheckError(errors)) = &mut checked {
                        let installed = lp.packages.iter().map(|p| p.name.as_str()).collect();
                        let archive = missing::Archive {
                            spec: &level.spec,
                            opts,
                            arch: &ap.arch,
                            transport: &transport,
                            cache: &cache,
                        };
                        missing::name_packages(&archive, report, &installed, errors);
                    }
                    // A failure a `paths.exclude` pattern caused names the pattern.
                    let failed = checked.as_ref().err();
                    if let Some(e) = located::excluded_needed(level, &lp.packages, &unpacked, &tree, failed) {
                        return Err(e);
                    }
                    for w in checked? {
                        report.warn(&format!("{} ({}): {w}", level.spec.spec.name, ap.arch));
                        warnings.push(w);
                    }
                }
                let sources: std::collections::HashMap<&str, &str> =
                    lp.packages.iter().map(|p| (p.name.as_str(), p.source.as_str())).collect();
                let source_of = |p: &str| sources.get(p).map(|s| s.to_string()).unwrap_or_else(|| p.to_string());
                let contents =
                    crate::layer::plan::plan(&tree, base.as_ref(), &source_of, level.spec.spec.layering.budget);
                let level_epoch = opts.source_date_epoch.unwrap_or(level.plan.epoch);
                let batch: Vec<(crate::layer::LayerContent, i64, String)> =
                    contents.into_iter().map(|c| (c, level_epoch, level.spec.spec.name.clone())).collect();
                if last {
                    pending = batch;
                } else {
                    let (cache, quiet) = (&cache, crate::report::Reporter::silent());
                    early.push(scope.spawn(move || write_layers(cache, &batch, opts, &quiet).map(|w| (w, batch))));
                }
                base = Some(tree.clone());
            }
            if tags.iter().any(|t| t.debug) {
                let pkg = ap.debug.iter().find(|p| p.name == variants::BUSYBOX_PACKAGE).ok_or_else(|| {
                    BuildError::Other(format!("the debug variant needs {} for {}", variants::BUSYBOX_PACKAGE, ap.arch))
                })?;
                let unpacked = sources::unpack_packages(std::slice::from_ref(pkg), &transport, &cache, 1, report)?;
                let mut content = crate::layer::whole_tree(&variants::busybox_tree(pkg, &unpacked[0])?);
                content.name = "debug".into();
                content.packages = vec![pkg.name.clone()];
                pending.push((content, epoch, "debug".into()));
            }
            let own = write_layers(&cache, &pending, opts, report)?;
            let mut all = Vec::new();
            for handle in early {
                let (w, batch) = handle.join().map_err(|_| BuildError::Other("a layer writer panicked".into()))??;
                report_layers(&w, &batch, report);
                all.extend(w);
            }
            all.extend(own);
            Ok(all)
        })?;
        // The image's own layers (after its parents'), then the debug layer.
        let image_layers = written.len() - usize::from(tags.iter().any(|t| t.debug));
        for (l, path) in &written {
            files.push((l.digest.clone(), path.clone()));
        }
        let debug_layer = (written.len() > image_layers).then(|| written.pop().map(|(l, _)| l)).flatten();
        let layers: Vec<crate::layer::Layer> = written.into_iter().map(|(l, _)| l).collect();
        let total = layers.len() + usize::from(debug_layer.is_some());
        if total > crate::layer::plan::MAX_LAYERS {
            return Err(BuildError::Other(format!(
                "{}: the image would have {total} layers, more than {}; lower `layering.budget` in the specs of the chain",
                spec.path.display(),
                crate::layer::plan::MAX_LAYERS
            )));
        }
        let platform = Platform::from_debian(&ap.arch);
        let refs = |ls: &[crate::layer::Layer]| -> Vec<LayerRef> {
            ls.iter()
                .map(|l| LayerRef {
                    media_type: l.media_type.clone(),
                    digest: l.digest.clone(),
                    size: l.size,
                    size_uncompressed: l.tar_size,
                    diff_id: l.diff_id.clone(),
                })
                .collect()
        };
        let mut latest_manifest = String::new();
        for (t, tag) in tags.iter().enumerate() {
            let mut ls = layers.clone();
            if tag.debug {
                ls.extend(debug_layer.clone());
            }
            let run = assemble::run_config(spec, &tree, tag);
            let lrefs = refs(&ls);
            let config = oci::config_blob(&platform, &run, &lrefs, &created)?;
            let manifest = oci::manifest_blob(&config, &lrefs)?;
            if t == 0 {
                latest_manifest = manifest.digest.clone();
            }
            blobs.push(config);
            blobs.push(manifest.clone());
            per_tag[t].push((manifest, platform.clone()));
        }
        if let Some(format) = opts.sbom {
            // SBOM of the final filesystem (checked above), naming its manifest.
            report.step(&format!("writing SBOM of {} ({})", spec.spec.name, ap.arch));
            let info = crate::sbom::ImageInfo {
                name: &spec.spec.name,
                arch: &ap.arch,
                os: &top.plan.os,
                created: &created,
                manifest: &latest_manifest,
            };
            sbom_docs.extend(crate::sbom::generate(format, &tree, &ap.packages, &info, opts.threads)?);
        }
        archs.push(ArchSummary {
            arch: ap.arch.clone(),
            packages: ap.packages.clone(),
            manifest: latest_manifest,
            uncompressed: layers.iter().map(|l| l.tar_size).sum(),
            compressed: layers.iter().map(|l| l.size).sum(),
            entries: tree.len(),
            dropped: ap.dropped.clone(),
            warnings,
            layers,
            maintainer_scripts: crate::maint::Report {
                made: made_by_scripts.iter().cloned().collect(),
                ..maint.take().unwrap_or_default()
            },
        });
    }
    if archs.is_empty() {
        return Err(BuildError::Other(format!(
            "{}: none of the requested architectures ({}) is in the spec ({})",
            spec.path.display(),
            opts.archs.as_deref().unwrap_or_default().join(", "),
            spec.spec.archs.join(", ")
        )));
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
    oci::write_layout(&opts.output, &all, &files, &refs)?;
    if let Some(dir) = crate::sbom::write(&opts.output, &sbom_docs)? {
        report.step(&format!("wrote SBOM {}", dir.display()));
    }
    let out = BuildOutput {
        digest: indices[0].digest.clone(),
        tags: tags.iter().map(|t| t.name.clone()).zip(indices.iter().map(|b| b.digest.clone())).collect(),
        layout: opts.output.clone(),
        archs,
        epoch,
    };
    record::save(&cache, &key, &all, &files, &sbom_docs, &out)?;
    Ok(out)
}

/// Write (or take from the layer cache) each layer: (content, mtime, the
/// spec it belongs to), in parallel, largest first so that the big layers
/// do not end up last on one core; results in the order of `contents`.
fn write_layers(
    cache: &Cache,
    contents: &[(crate::layer::LayerContent, i64, String)],
    opts: &BuildOptions,
    report: &Reporter,
) -> Result<Vec<(crate::layer::Layer, PathBuf)>, BuildError> {
    let total: u64 = contents.iter().map(|c| c.0.file_bytes()).sum();
    let bar = report.bar("layers", total, true);
    let threads = opts.threads.max(1);
    let mut order: Vec<usize> = (0..contents.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(contents[*i].0.file_bytes()));
    let done = crate::fetch::parallel(&order, threads, |&i| {
        let (c, epoch, what) = &contents[i];
        bar.message(&format!("{what}/{}", c.name));
        crate::layer::write_layer(cache, c, (*epoch).max(0) as u64, opts.compression, threads, &|n| bar.inc(n))
            .map(|r| (i, r))
            .map_err(|e| BuildError::Other(format!("cannot write layer {} of {what}: {e}", c.name)))
    });
    bar.finish();
    let mut out: Vec<Option<(crate::layer::Layer, PathBuf)>> = (0..contents.len()).map(|_| None).collect();
    for (i, r) in done? {
        out[i] = Some(r);
    }
    let out: Vec<(crate::layer::Layer, PathBuf)> = out.into_iter().flatten().collect();
    report_layers(&out, contents, report);
    Ok(out)
}

/// A finding when the spec's entrypoint is an absolute path that is not a
/// regular file of the image (after symlinks): the image could not start.
fn missing_entrypoint(spec: &LoadedSpec, tree: &crate::tree::Tree) -> Option<crate::check::Finding> {
    let ep = spec.spec.image.entrypoint.first().filter(|e| e.starts_with('/'))?;
    let is_file = tree
        .resolve(ep)
        .and_then(|p| tree.get(&p).map(|e| matches!(e.kind, crate::tree::Kind::File { .. })))
        .unwrap_or(false);
    (!is_file).then(|| crate::check::Finding {
        path: ep.clone(),
        package: "the spec".into(),
        problem: "image.entrypoint[0] is not a file of the image".into(),
    })
}

/// One detail line per written layer.
fn report_layers(
    out: &[(crate::layer::Layer, PathBuf)],
    contents: &[(crate::layer::LayerContent, i64, String)],
    report: &Reporter,
) {
    for ((l, _), (c, _, what)) in out.iter().zip(contents) {
        report.detail(&format!(
            "layer {what}/{} {} ({:.1} MB, {:.1} MB compressed{}): {}",
            c.name,
            l.digest,
            l.tar_size as f64 / 1e6,
            l.size as f64 / 1e6,
            if l.cached { ", cached" } else { "" },
            l.packages.join(" ")
        ));
    }
}
