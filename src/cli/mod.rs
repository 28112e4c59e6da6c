//! Command-line interface (clap). Reads the environment (mirrors, clock,
//! `SOURCE_DATE_EPOCH`, terminal) and hands plain values to the library.

mod check;
mod export;
mod inspect;
mod push;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use distill::build::{self, BuildError, BuildOptions};
use distill::fetch::Cache;
use distill::repo::{mirror, RepoError};
use distill::report::{Reporter, Verbosity};

/// Exit codes (documented in README.md).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other failure (I/O, internal).
    pub const FAILURE: u8 = 1;
    /// Bad command line or spec.
    pub const USAGE: u8 = 2;
    /// `--locked` and the lock file is missing or stale.
    pub const STALE_LOCK: u8 = 3;
    /// Signature, checksum or other verification failure.
    pub const VERIFY: u8 = 4;
    /// Dependencies cannot be satisfied.
    pub const RESOLVE: u8 = 5;
    /// The image failed its checks (e.g. a shell).
    pub const CHECK: u8 = 6;
    /// Network or mirror failure.
    pub const NETWORK: u8 = 7;
}

/// Build small, shell-less OCI base images from Debian packages.
#[derive(Parser, Debug)]
#[command(name = "distill", version, about, long_about = None)]
pub struct Cli {
    /// Only print warnings and errors (and results on stdout).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build an OCI image layout from a spec; prints the image index digest last on stdout.
    Build(BuildArgs),
    /// Resolve a spec and write its lock file (`<spec>.lock` beside it); prints the lock path.
    Lock(LockArgs),
    /// Resolve a spec and print the package set (name, version, arch, suite, sizes).
    Resolve(ResolveArgs),
    /// Explain why a package is (or is not) in a spec's resolution: every chain from the spec, and the alternatives and providers passed over.
    Why(WhyArgs),
    /// Check an OCI image layout (`DIR` or `DIR:TAG`): ELF closure, dangling links, shells, setuid, copyright; exit 6 on findings.
    Check(check::CheckArgs),
    /// Show where an image's bytes are (per layer, largest files, per package) and, given a second image, the layers both share.
    ///
    /// IMAGE and IMAGE2 are OCI image layouts, `DIR` or `DIR:TAG` (tag
    /// `latest` by default). Every blob is verified (digests, sizes,
    /// diff_ids) while it is read; layers are streamed, not unpacked.
    /// Sizes are bytes (MB = 10^6 bytes in the table). A layer's packages
    /// are the `var/lib/dpkg/status.d/<name>` files it holds. A file
    /// belongs to the package whose `status.d/<pkg>.md5sums` (or
    /// `Conffiles:`) lists it; without md5sums, to the package of its
    /// layer only when that layer holds exactly one package; otherwise it
    /// is counted as generated/unattributed.
    ///
    /// `--json` prints one document (sizes in bytes, layer `index` from 0
    /// at the bottom):
    ///
    /// {"images": [{"image", "tag", "digest", "media_type",
    ///   "platforms": [{"platform", "manifest", "config",
    ///     "compressed_size", "uncompressed_size",
    ///     "layers": [{"index", "digest", "media_type", "compressed_size",
    ///       "uncompressed_size", "diff_id", "entries", "whiteouts",
    ///       "file_bytes", "packages": [name]}],
    ///     "filesystem": {"entries", "files", "file_bytes"},
    ///     "largest_files": [{"path", "size", "package" (or null), "layer",
    ///       "hardlinks": [path]}],
    ///     "packages": {"packages": [{"name", "size", "files",
    ///       "source" ("md5sums" | "layer")}], "total_bytes", "owned_bytes",
    ///       "unattributed_bytes", "unattributed_files", "installed",
    ///       "without_ownership": [name]}}]}],
    ///  "comparison": null | {"a", "b", "platforms_only_in_a",
    ///   "platforms_only_in_b", "platforms": [{"platform", "shared": [layer],
    ///   "shared_compressed_size", "shared_uncompressed_size",
    ///   "only_in_a": [layer], "only_in_b": [layer]}]}}
    ///
    /// where a comparison layer is {"digest", "media_type",
    /// "compressed_size", "uncompressed_size"}. A missing layout, an unknown
    /// tag or a digest mismatch exits 1 with a message naming the file,
    /// blob or tag; an --arch naming no platform of the image exits 2,
    /// listing the platforms.
    #[command(verbatim_doc_comment)]
    Inspect(inspect::InspectArgs),
    /// Push an image of a layout to a registry (OCI distribution-spec); prints the pushed digest last on stdout.
    ///
    /// IMAGE is an OCI image layout, `DIR` or `DIR:TAG` (tag `latest` by
    /// default); REFERENCE is `REGISTRY/REPOSITORY[:TAG]` (tag `latest` by
    /// default), e.g. `registry.example/base/nodejs:18` or
    /// `localhost:5000/nodejs`. A tag naming an image index is pushed as an
    /// index (every platform); `--arch` pushes one platform as a plain image
    /// manifest. Blobs the registry has are skipped (HEAD), blobs in a
    /// `--mount-from` repository are mounted, the rest uploaded (in one
    /// request up to `--chunk-size`, in chunks above it); then the
    /// manifests, the index last. The printed digest is the registry's
    /// (`Docker-Content-Digest`), checked equal to the local one.
    ///
    /// HTTPS by default; plain HTTP only for a loopback registry
    /// (localhost, 127.0.0.0/8, ::1) or with `--insecure`. Credentials:
    /// `--username` with `--password-stdin`, else DISTILL_REGISTRY_USERNAME
    /// and DISTILL_REGISTRY_PASSWORD, else $REGISTRY_AUTH_FILE,
    /// $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.config/containers/auth.json, $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json (`auths`, `credHelpers`, `credsStore`), else
    /// anonymous. Basic auth and bearer tokens (scoped per repository) are
    /// both spoken. Secrets are never printed.
    ///
    /// `--json` prints one document (sizes in bytes):
    ///
    /// {"reference", "registry", "repository", "tag", "digest",
    ///  "layout_digest", "media_type", "format", "platforms": [platform],
    ///  "blobs": [{"digest", "media_type", "size",
    ///    "status" ("uploaded" | "skipped" | "mounted"),
    ///    "from" (mounted), "requests", "chunked" (uploaded)}],
    ///  "manifests": [{"digest", "media_type", "size", "platform",
    ///    "reference", "status" ("pushed" | "skipped")}],
    ///  "uploaded": {"count", "bytes"}, "skipped": {…}, "mounted": {…},
    ///  "token_scopes": [scope set],
    ///  "artifacts": [{"digest", "size", "artifact_type", "subject",
    ///    "platform", "file", "method" ("referrers-api" | "tag-schema"),
    ///    "tag" (tag-schema), "index_updated"}], "seconds"}
    ///
    /// SBOMs in `<layout>.sbom/` (`distill build --sbom`) are attached to
    /// the platform manifests of their architecture as OCI 1.1 artifacts
    /// (`--no-sbom`: not).
    ///
    /// Exit codes: 2 bad reference or option (or --format docker with zstd
    /// layers), 1 local layout problem, 7 registry unreachable, refused
    /// request or failed authentication.
    #[command(verbatim_doc_comment)]
    Push(push::PushArgs),
    /// Write one platform of an image as a `docker load` / `podman load` archive; prints the config digest (image ID).
    ///
    /// The archive is the `docker save` format: manifest.json (Config,
    /// RepoTags, Layers), the config blob and each layer blob as it is in
    /// the layout (compressed). The platform is `--arch`, else the image's
    /// only one, else this machine's. Written to a temporary file beside
    /// FILE and renamed into place.
    Export(export::ExportArgs),
}

/// `DIR` or `DIR:TAG` (an image argument of `check` and `inspect`); an
/// existing directory whose name contains `:` is taken whole.
fn split_image(image: &str) -> (PathBuf, String) {
    if Path::new(image).is_dir() {
        return (image.into(), "latest".into());
    }
    match image.rsplit_once(':') {
        Some((dir, tag)) if !dir.is_empty() && !tag.is_empty() && !tag.contains('/') => (dir.into(), tag.into()),
        _ => (image.into(), "latest".into()),
    }
}

/// `distill why`.
#[derive(Args, Debug)]
pub struct WhyArgs {
    /// The spec file (YAML).
    pub spec: PathBuf,
    /// The package to explain.
    pub package: String,
    /// Architecture [default: the spec's first].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// Options shared by commands that read the archive.
#[derive(Args, Debug, Clone)]
pub struct ArchiveArgs {
    /// Archive base URL for sources without `url:`; `URL` or `SUITE_GLOB=URL`, repeatable.
    #[arg(long = "mirror", env = "DISTILL_MIRROR", value_name = "[SUITE=]URL")]
    pub mirror: Vec<String>,
    /// Cache directory [default: $XDG_CACHE_HOME/distill or ~/.cache/distill].
    #[arg(long, env = "DISTILL_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use only the cache; fail on the first missing blob.
    #[arg(long)]
    pub offline: bool,
    /// Parallel downloads (1 or more).
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = jobs_parser())]
    pub jobs: usize,
}

/// `--jobs`: a count of 1 or more.
pub(crate) fn jobs_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024)
}

/// `distill build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The spec file (YAML).
    pub spec: PathBuf,
    /// Output directory for the OCI image layout [default: images/<name>].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Print a JSON summary on stdout instead of the digest.
    #[arg(long)]
    pub json: bool,
    /// Build only from the lock file beside the spec (no index resolution);
    /// exit 3 if it is missing or the spec changed since it was written.
    #[arg(long)]
    pub locked: bool,
    /// Layer compression: gzip (every runtime reads it) or zstd (OCI
    /// `tar+zstd`, smaller and faster to unpack; needs containerd ≥ 1.5,
    /// Docker ≥ 23 or podman ≥ 4).
    #[arg(long, value_enum, default_value_t = distill::layer::Compression::Gzip)]
    pub compression: distill::layer::Compression,
    /// Build only this architecture (Debian name, e.g. `amd64`); repeatable
    /// [default: the spec's `archs`].
    #[arg(long = "arch", value_name = "ARCH")]
    pub archs: Vec<String>,
    /// Also write an SBOM per architecture beside the layout:
    /// `<output>.sbom/<arch>.spdx.json` (SPDX 2.3) and/or `<arch>.cdx.json`
    /// (CycloneDX 1.5), listing every package (version, architecture,
    /// source, purl, license) and its files in the image with their SHA256.
    #[arg(long)]
    pub sbom: bool,
    /// SBOM format (implies --sbom).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub sbom_format: Option<distill::sbom::SbomFormat>,
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// After building, push the `latest` tag to REGISTRY/REPOSITORY[:TAG]
    /// (as `distill push`; the pushed digest is the last line on stdout).
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    #[command(flatten)]
    pub registry: push::RegistryArgs,
}

/// `distill lock`.
#[derive(Args, Debug)]
pub struct LockArgs {
    /// The spec file (YAML).
    pub spec: PathBuf,
    /// Exit 3 if the lock is missing or differs, instead of writing it.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// `distill resolve`.
#[derive(Args, Debug)]
pub struct ResolveArgs {
    /// The spec file (YAML).
    pub spec: PathBuf,
    /// Only this architecture.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

/// Map an error to its exit code.
pub fn exit_code(e: &BuildError) -> u8 {
    match e {
        BuildError::Spec(_) => exit::USAGE,
        BuildError::Repo(r) => match r {
            RepoError::NoMirror { .. }
            | RepoError::BadMirror { .. }
            | RepoError::Key { .. }
            | RepoError::NoIndex { .. }
            | RepoError::Settings { .. } => exit::USAGE,
            RepoError::Fetch { .. } | RepoError::NotFound { .. } => exit::NETWORK,
            RepoError::Cache { .. } => exit::FAILURE,
            _ => exit::VERIFY,
        },
        BuildError::Resolve(_) => exit::RESOLVE,
        BuildError::Deb(_) | BuildError::Extract(_) => exit::VERIFY,
        BuildError::Check(_) => exit::CHECK,
        BuildError::Lock(crate_lock) => match crate_lock {
            distill::lock::LockError::Missing { .. }
            | distill::lock::LockError::Stale { .. }
            | distill::lock::LockError::Outdated { .. } => exit::STALE_LOCK,
            distill::lock::LockError::Invalid { .. } => exit::USAGE,
            distill::lock::LockError::Io { .. } => exit::FAILURE,
        },
        BuildError::Gone { .. } => exit::NETWORK,
        BuildError::Usage(_) => exit::USAGE,
        BuildError::Located(_, cause) => exit_code(cause),
        BuildError::Oci(_) | BuildError::Other(_) => exit::FAILURE,
    }
}

fn options(archive: &ArchiveArgs, output: PathBuf) -> Result<BuildOptions, BuildError> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let epoch =
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => Some(v.trim().parse::<i64>().map_err(|_| {
                BuildError::Other(format!("SOURCE_DATE_EPOCH={v:?} is not an integer number of seconds"))
            })?),
            _ => None,
        };
    Ok(BuildOptions {
        output,
        cache_dir: archive.cache_dir.clone().unwrap_or_else(Cache::default_dir),
        mirrors: mirror::parse_overrides(archive.mirror.iter().map(String::as_str))?,
        apt: mirror::read_apt_sources(std::path::Path::new("/etc/apt")),
        source_date_epoch: epoch,
        now: chrono::Utc::now(),
        offline: archive.offline,
        jobs: archive.jobs.max(1),
        compression: distill::layer::Compression::Gzip,
        archs: None,
        threads,
        sbom: None,
    })
}

/// Run the parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<(), BuildError> {
    let verbosity = if cli.quiet {
        Verbosity::Quiet
    } else if cli.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let report = Reporter::new(verbosity);
    match cli.command {
        Command::Build(args) => cmd_build(args, &report),
        Command::Lock(args) => cmd_lock(args, &report),
        Command::Resolve(args) => cmd_resolve(args, &report),
        Command::Why(args) => cmd_why(args, &report),
        Command::Check(args) => check::cmd_check(args, &report),
        Command::Inspect(args) => inspect::cmd_inspect(args, &report),
        Command::Push(args) => push::cmd_push(args, &report),
        Command::Export(args) => export::cmd_export(args, &report),
    }
}

fn cmd_build(args: BuildArgs, report: &Reporter) -> Result<(), BuildError> {
    let spec = distill::spec::load(&args.spec)?;
    let push_to = args.push.as_deref().map(push::reference_or_exit);
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from("images").join(&spec.spec.name));
    let mut opts = options(&args.archive, output)?;
    opts.compression = args.compression;
    if args.sbom || args.sbom_format.is_some() {
        opts.sbom = Some(args.sbom_format.unwrap_or(distill::sbom::SbomFormat::Spdx));
    }
    if !args.archs.is_empty() {
        for a in &args.archs {
            if !spec.spec.archs.contains(a) {
                let of = format!("spec {}", args.spec.display());
                return Err(BuildError::Usage(distill::spec::unknown_arch(a, &of, &spec.spec.archs)));
            }
        }
        opts.archs = Some(args.archs.clone());
    }
    let started = std::time::Instant::now();
    let out = build::build(&spec, &opts, args.locked, report)?;
    for a in &out.archs {
        report.step(&format!(
            "{}: {} packages, {} entries, {:.1} MB uncompressed, {:.1} MB compressed, manifest {}",
            a.arch,
            a.packages.len(),
            a.entries,
            a.uncompressed as f64 / 1e6,
            a.compressed as f64 / 1e6,
            a.manifest
        ));
    }
    report.step(&format!("built {} in {:.1} s", out.layout.display(), started.elapsed().as_secs_f64()));
    let pushed = push_to.map(|r| push::push_layout(&out.layout, "latest", &r, &args.registry, None, 4, report));
    if args.json {
        let mut doc = serde_json::json!({
            "digest": out.digest,
            "tags": out.tags.iter().map(|(t, d)| (t.clone(), serde_json::Value::from(d.clone()))).collect::<serde_json::Map<_, _>>(),
            "layout": out.layout,
            "created": distill::oci::rfc3339(out.epoch),
            "architectures": out.archs.iter().map(|a| serde_json::json!({
                "architecture": a.arch,
                "manifest": a.manifest,
                "packages": a.packages.len(),
                "uncompressed_size": a.uncompressed,
                "compressed_size": a.compressed,
                "layers": a.layers.iter().map(|l| serde_json::json!({
                    "digest": l.digest,
                    "diff_id": l.diff_id,
                    "media_type": l.media_type,
                    "size": l.size,
                    "uncompressed_size": l.tar_size,
                    "packages": l.packages,
                    "cached": l.cached,
                })).collect::<Vec<_>>(),
                "dropped": a.dropped.iter().map(|d| format!("{}: {}", d.package, d.dependency)).collect::<Vec<_>>(),
                "maintainer_scripts": maintainer_scripts_json(&a.maintainer_scripts),
                "warnings": a.warnings.iter().map(|w| serde_json::json!({
                    "path": w.path, "package": w.package, "problem": w.problem,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        if let Some(p) = &pushed {
            doc["push"] = p.to_json();
        }
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        println!("{}", out.digest);
        if let Some(p) = pushed.as_ref().filter(|p| p.digest != out.digest) {
            println!("{}", p.digest);
        }
    }
    Ok(())
}

fn cmd_resolve(args: ResolveArgs, report: &Reporter) -> Result<(), BuildError> {
    let mut spec = distill::spec::load(&args.spec)?;
    if let Some(a) = &args.arch {
        spec.spec.archs = vec![a.clone()];
    }
    let opts = options(&args.archive, PathBuf::new())?;
    let (resolutions, _) = build::resolve_spec(&spec, &opts, report)?;
    let mut rows = Vec::new();
    for res in &resolutions {
        for p in res.packages.values() {
            rows.push(serde_json::json!({
                "name": p.name, "version": p.version.to_string(), "arch": p.arch,
                "resolved_for": res.arch, "suite": p.suite, "size": p.size, "installed_size_kib": p.installed_size,
            }));
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows).expect("json"));
    } else {
        for r in &rows {
            println!(
                "{:<32} {:<36} {:<6} {:<20} {:>10} {:>10}",
                r["name"].as_str().unwrap_or(""),
                r["version"].as_str().unwrap_or(""),
                r["arch"].as_str().unwrap_or(""),
                r["suite"].as_str().unwrap_or(""),
                r["size"],
                r["installed_size_kib"]
            );
        }
    }
    Ok(())
}

fn cmd_why(args: WhyArgs, report: &Reporter) -> Result<(), BuildError> {
    let mut spec = distill::spec::load(&args.spec)?;
    spec.spec.archs = vec![args.arch.clone().unwrap_or_else(|| spec.spec.archs[0].clone())];
    let opts = options(&args.archive, PathBuf::new())?;
    let (resolutions, _) = build::resolve_spec(&spec, &opts, report)?;
    let res = &resolutions[0];
    let w = distill::resolve::why::why(res, &args.package);
    let installed = res.packages.get(&args.package).map(|p| p.version.to_string());
    print!("{}", distill::resolve::why::render(&args.package, &w, installed.as_deref()));
    if installed.is_some() {
        print!("{}", why_scripts(&spec, opts, &args.package));
    }
    Ok(())
}

/// The package's maintainer-script calls distill did not reproduce, from a
/// build of the spec into a temporary directory (a no-op rebuild when the
/// cache has one).
fn why_scripts(spec: &distill::spec::LoadedSpec, mut opts: BuildOptions, package: &str) -> String {
    let Ok(dir) = tempfile::tempdir() else { return String::new() };
    opts.output = dir.path().join("image");
    opts.archs = Some(spec.spec.archs.clone());
    let built = match build::build(spec, &opts, false, &Reporter::silent()) {
        Ok(b) => b,
        Err(e) => {
            return format!(
                "maintainer scripts: not known (the image does not build: {})\n",
                e.to_string().lines().next().unwrap_or("")
            )
        }
    };
    let Some(r) = built.archs.first().map(|a| &a.maintainer_scripts) else { return String::new() };
    let mine: Vec<&distill::maint::Record> = r.records.iter().filter(|x| x.package == package).collect();
    if mine.is_empty() {
        return format!(
            "maintainer scripts of {package}: none ran, or the package belongs to a spec this one extends\n"
        );
    }
    let count = |f: fn(&distill::maint::Handling) -> bool| mine.iter().filter(|x| f(&x.handling)).count();
    let mut out = format!(
        "maintainer scripts of {package}: {} call(s): {} reproduced, {} with no effect in an image, {} omitted, {} unknown\n",
        mine.len(),
        count(|h| matches!(h, distill::maint::Handling::Reproduced(_))),
        count(|h| matches!(h, distill::maint::Handling::NoEffect(_))),
        count(|h| matches!(h, distill::maint::Handling::Omitted(_))),
        count(|h| matches!(h, distill::maint::Handling::Unknown { .. })),
    );
    let shown: Vec<&&distill::maint::Record> =
        mine.iter().filter(|x| !matches!(x.handling, distill::maint::Handling::NoEffect(_))).collect();
    for x in shown {
        let how = match &x.handling {
            distill::maint::Handling::Reproduced(what) => format!("reproduced: {what}"),
            distill::maint::Handling::NoEffect(why) => format!("no effect in an image: {why}"),
            distill::maint::Handling::Omitted(cost) => format!("omitted: {cost}"),
            distill::maint::Handling::Unknown { changes_system: true } => {
                "NOT reproduced (unknown to distill; names a system path)".into()
            }
            distill::maint::Handling::Unknown { .. } => "not reproduced (unknown to distill)".into(),
        };
        out.push_str(&format!("  {} line {}: {}\n      {how}\n", x.script, x.line, x.command));
    }
    out
}

/// What differs between two locks of one spec, for messages: packages
/// added, removed or at another version per architecture (at most 8 named).
fn lock_changes(old: &distill::lock::Lock, new: &distill::lock::Lock) -> String {
    let mut changes = Vec::new();
    for (kind, a, b) in [("", &old.packages, &new.packages), ("debug ", &old.debug, &new.debug)] {
        let archs: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for arch in archs {
            let list = |m: &std::collections::BTreeMap<String, Vec<distill::lock::LockedPackage>>| {
                m.get(arch)
                    .map(|v| {
                        v.iter()
                            .map(|p| (p.name.clone(), p.version.clone()))
                            .collect::<std::collections::BTreeMap<_, _>>()
                    })
                    .unwrap_or_default()
            };
            let (was, now) = (list(a), list(b));
            for (name, v) in &now {
                match was.get(name) {
                    None => changes.push(format!("{kind}+{name} {v} ({arch})")),
                    Some(w) if w != v => changes.push(format!("{kind}{name} {w} → {v} ({arch})")),
                    _ => {}
                }
            }
            for (name, w) in &was {
                if !now.contains_key(name) {
                    changes.push(format!("{kind}-{name} {w} ({arch})"));
                }
            }
        }
    }
    if changes.is_empty() {
        return "the same packages from other sources (InRelease dates or hashes)".into();
    }
    let more = changes.len().saturating_sub(8);
    changes.truncate(8);
    let mut text = changes.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn cmd_lock(args: LockArgs, report: &Reporter) -> Result<(), BuildError> {
    let spec = distill::spec::load(&args.spec)?;
    let opts = options(&args.archive, PathBuf::new())?;
    let (resolutions, loaded) = build::resolve_spec(&spec, &opts, report)?;
    let debug = build::resolve_debug(&spec, &loaded)?;
    let lock = build::lock_from_resolutions(&spec, &resolutions, &debug, &loaded);
    let path = distill::lock::path_for(&args.spec);
    if args.check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != lock.to_text() {
            // Missing or stale (spec changed) first: the same errors as `build --locked`.
            distill::lock::Lock::read_fresh(&args.spec, &spec.digest())?;
            return Err(BuildError::Lock(distill::lock::LockError::Outdated {
                path: path.clone(),
                spec: args.spec.clone(),
                changes: lock_changes(&distill::lock::Lock::read_fresh(&args.spec, &spec.digest())?, &lock),
            }));
        }
        report.step(&format!("{} is up to date", path.display()));
    } else {
        lock.write(&path)?;
        report.step(&format!("wrote {}", path.display()));
    }
    println!("{}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_argument_splits_off_a_tag() {
        assert_eq!(split_image("images/nodejs"), (PathBuf::from("images/nodejs"), "latest".into()));
        assert_eq!(split_image("images/nodejs:v1"), (PathBuf::from("images/nodejs"), "v1".into()));
        assert_eq!(split_image("/no/such:dir/x"), (PathBuf::from("/no/such:dir/x"), "latest".into()));
    }
}

/// `--json`'s summary of the maintainer scripts: counts per handling, the
/// alternatives' links, and every call not reproduced.
fn maintainer_scripts_json(r: &distill::maint::Report) -> serde_json::Value {
    let (reproduced, no_effect, omitted, unknown) = r.counts();
    serde_json::json!({
        "reproduced": reproduced,
        "no_effect": no_effect,
        "omitted": omitted,
        "unknown": unknown,
        "alternatives": r.alternatives,
        "made": r.made,
        "not_reproduced": r.not_reproduced().collect::<Vec<_>>(),
        "unreadable": r.unreadable.iter().map(|(p, s, why)| serde_json::json!({"package": p, "script": s, "error": why})).collect::<Vec<_>>(),
    })
}
