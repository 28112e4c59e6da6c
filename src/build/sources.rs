//! Stage 1: for each source of the spec, find its mirror, fetch and verify
//! InRelease, then fetch, verify and parse each Packages index; and the
//! fetch stage for .debs.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{BuildError, BuildOptions};
use crate::fetch::unpacked::Unpacked;
use crate::fetch::{self, Cache, Wanted};
use crate::repo::index::IndexCompression;
use crate::repo::release::{self, VerifiedRelease};
use crate::repo::{index, mirror, BinaryPackage, PackageIndex, RepoError, Transport};
use crate::report::Reporter;
use crate::spec::LoadedSpec;

/// Verified releases and parsed indices of a spec's sources.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// One per source, in spec order.
    pub releases: Vec<VerifiedRelease>,
    /// One per source × component × architecture, in spec order.
    pub indices: Vec<PackageIndex>,
}

impl Loaded {
    /// The newest `Date` among the releases.
    pub fn newest_date(&self) -> DateTime<Utc> {
        self.releases.iter().map(|r| r.date).max().unwrap_or_default()
    }
}

/// Load and verify every source of `spec` for every architecture.
pub fn load(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    transport: &Transport,
    cache: &Cache,
    report: &Reporter,
) -> Result<Loaded, BuildError> {
    let releases = releases(spec, opts, transport, cache, report)?;
    let mut jobs = Vec::new();
    for (i, source) in spec.spec.sources.iter().enumerate() {
        for component in &source.components {
            for arch in &spec.spec.archs {
                jobs.push((i, component.clone(), arch.clone()));
            }
        }
    }
    let indices = fetch::parallel(&jobs, opts.jobs.min(4), |(ri, component, arch)| {
        load_index(&releases[*ri], component, arch, transport, cache, report)
    })?;
    Ok(Loaded { releases, indices })
}

/// Fetch (or, offline, read from the cache) and verify the InRelease of
/// every source of `spec`, in spec order.
pub fn releases(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    transport: &Transport,
    cache: &Cache,
    report: &Reporter,
) -> Result<Vec<VerifiedRelease>, BuildError> {
    let mut releases = Vec::new();
    for (i, source) in spec.spec.sources.iter().enumerate() {
        let base = mirror::choose(&source.suite, source.url.as_deref(), &opts.mirrors, &opts.apt)?;
        let keys = super::located::load_keys(spec, i)?;
        let url = format!("{base}/dists/{}/InRelease", source.suite);
        report.step(&format!("verifying {}", crate::repo::transport::redact(&url)));
        // Offline, the last verified InRelease is read from the cache and
        // verified again (signature, suite, Valid-Until) like a download.
        let raw = if cache.offline() {
            cache.get_named(&url).ok_or_else(|| RepoError::Fetch {
                url: crate::repo::transport::redact(&url),
                reason: format!(
                    "InRelease of {} is not in the cache {} and --offline forbids downloading",
                    source.suite,
                    cache.root().display()
                ),
            })?
        } else {
            fetch_inrelease(transport, &url).map_err(|e| super::located::fetch_error(spec, i, &url, e))?
        };
        let shown = crate::repo::transport::redact(&url);
        let rel = release::verify(&source.suite, &base, &shown, &raw, &keys, opts.now, source.check_valid_until)?;
        refuse_rollback(spec, &rel, &shown)?;
        super::located::check_release(spec, i, &rel)?;
        if !cache.offline() {
            cache.put_named(&url, &raw)?;
        }
        report.detail(&format!("{} signed by {}, dated {}", source.suite, rel.signed_by.display(), rel.date));
        releases.push(rel);
    }
    Ok(releases)
}

/// Which packages of `spec`'s sources ship each of `libs` (file names) for
/// `arch` in a directory the loader searches, from every source
/// component's `Contents-<arch>` index (verified against InRelease,
/// cached by digest, read as a stream): file name → (path, package).
pub fn library_packages(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    arch: &str,
    libs: &std::collections::BTreeSet<String>,
    transport: &Transport,
    cache: &Cache,
    report: &Reporter,
) -> Result<std::collections::BTreeMap<String, std::collections::BTreeSet<(String, String)>>, BuildError> {
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeSet<(String, String)>> = Default::default();
    for (rel, source) in releases(spec, opts, transport, cache, report)?.iter().zip(&spec.spec.sources) {
        for component in &source.components {
            let Some((path, url, entry, comp)) = crate::repo::contents::locate(rel, component, arch) else { continue };
            let what = format!("Contents index {} {path}", rel.suite);
            report.step(&format!("searching {what} for {}", libs.iter().cloned().collect::<Vec<_>>().join(", ")));
            let bytes =
                cache.fetch(transport, &Wanted { what: &what, url: &url, sha256: &entry.sha256, size: entry.size })?;
            let reader: Box<dyn std::io::Read> = match comp {
                IndexCompression::Xz => Box::new(xz2::read::XzDecoder::new(bytes.as_slice())),
                IndexCompression::Gz => Box::new(flate2::read::GzDecoder::new(bytes.as_slice())),
                IndexCompression::None => Box::new(bytes.as_slice()),
            };
            let found = crate::repo::contents::search(std::io::BufReader::with_capacity(1 << 20, reader), libs)
                .map_err(|e| RepoError::BadIndex { what: what.clone(), reason: format!("cannot read: {e}") })?;
            for (lib, set) in found {
                out.entry(lib).or_default().extend(set);
            }
        }
    }
    Ok(out)
}

/// Most bytes an InRelease may have (Debian's are a few hundred KiB).
pub const INRELEASE_MAX: u64 = 32 << 20;

/// Download an InRelease, refusing one larger than [`INRELEASE_MAX`]
/// without reading further.
fn fetch_inrelease(transport: &Transport, url: &str) -> Result<Vec<u8>, RepoError> {
    let raw = transport.get_limited(url, INRELEASE_MAX)?;
    if raw.len() as u64 > INRELEASE_MAX {
        return Err(RepoError::Fetch {
            url: crate::repo::transport::redact(url),
            reason: format!("the InRelease is larger than {} MiB; refusing to read more", INRELEASE_MAX >> 20),
        });
    }
    Ok(raw)
}

/// Refuse an InRelease older than the one recorded for its suite in the
/// spec's lock file (when there is one): a mirror replaying old, validly
/// signed metadata must not roll an image back to packages with known
/// fixes missing. A lock that cannot be read is ignored here (the locked
/// build reports it).
fn refuse_rollback(spec: &LoadedSpec, rel: &VerifiedRelease, url: &str) -> Result<(), RepoError> {
    let path = crate::lock::path_for(&spec.path);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let Ok(lock) = crate::lock::Lock::parse(&path, &text) else { return Ok(()) };
    for locked in lock.sources.iter().filter(|s| s.suite == rel.suite) {
        let Ok(date) = DateTime::parse_from_rfc3339(&locked.date) else { continue };
        if rel.date < date.with_timezone(&Utc) {
            return Err(RepoError::Rollback {
                suite: rel.suite.clone(),
                url: url.into(),
                date: crate::oci::rfc3339(rel.date.timestamp()),
                locked: locked.date.clone(),
                lock: path,
            });
        }
    }
    Ok(())
}

/// Fetch, verify and parse one Packages index. The uncompressed index is
/// cached too, verified against the SHA256 InRelease lists for the plain
/// `Packages` file, so a warm run skips decompression.
fn load_index(
    rel: &VerifiedRelease,
    component: &str,
    arch: &str,
    transport: &Transport,
    cache: &Cache,
    report: &Reporter,
) -> Result<PackageIndex, RepoError> {
    let (path, url, entry, comp) = index::locate(rel, component, arch)?;
    let plain_path = format!("{component}/binary-{arch}/Packages");
    let plain = rel.files.get(&plain_path).filter(|_| comp != IndexCompression::None);
    let plain_what = format!("Packages index {} {plain_path} (uncompressed)", rel.suite);
    let plain_url = rel.dists_url(&plain_path);
    if let Some(p) = plain {
        if let Some(text) = cache.get(&p.sha256, p.size) {
            return index::parse(rel, component, arch, &text, &entry.sha256);
        }
    }
    let what = format!("Packages index {} {path}", rel.suite);
    report.detail(&format!("fetching {what}"));
    let bytes = cache.fetch(transport, &Wanted { what: &what, url: &url, sha256: &entry.sha256, size: entry.size })?;
    let text = index::decompress(&what, &bytes, comp)?;
    if let Some(p) = plain {
        cache.put(&Wanted { what: &plain_what, url: &plain_url, sha256: &p.sha256, size: p.size }, &text)?;
    }
    index::parse(rel, component, arch, &text, &entry.sha256)
}

/// Every package's unpacked members: from the cache's unpacked records
/// when intact, else the .deb is fetched (or read from the cache), verified
/// against its Packages stanza (or lock) and unpacked into the cache.
/// Returns them in the order of `packages`.
pub fn unpack_packages(
    packages: &[Arc<BinaryPackage>],
    transport: &Transport,
    cache: &Cache,
    jobs: usize,
    report: &Reporter,
) -> Result<Vec<Unpacked>, BuildError> {
    unpack_packages_memo(packages, transport, cache, jobs, report, &Default::default())
}

/// [`unpack_packages`], remembering what this build already unpacked (and
/// verified) in `memo`, by .deb SHA256: a chain of specs shares packages.
pub fn unpack_packages_memo(
    packages: &[Arc<BinaryPackage>],
    transport: &Transport,
    cache: &Cache,
    jobs: usize,
    report: &Reporter,
    memo: &std::sync::Mutex<std::collections::HashMap<String, Unpacked>>,
) -> Result<Vec<Unpacked>, BuildError> {
    let total: u64 = packages.iter().map(|p| p.size).sum();
    report.detail(&format!("unpacking {} package(s), {:.1} MB of .debs", packages.len(), total as f64 / 1e6));
    let bar = report.bar("fetching and unpacking", total, true);
    let out = fetch::parallel(packages, jobs, |p| {
        let what = format!("package {} {} ({})", p.name, p.version, p.arch);
        let url = format!("{}/{}", p.base_url, p.filename);
        let want = Wanted { what: &what, url: &url, sha256: &p.sha256, size: p.size };
        if let Some(u) = memo.lock().ok().and_then(|m| m.get(&p.sha256).cloned()) {
            bar.inc(p.size);
            return Ok(u);
        }
        let unpacked = cache.unpacked(&p.name, &p.sha256, p.installed_size, || {
            cache.fetch(transport, &want).map_err(|e| match e {
                RepoError::NotFound { url } => BuildError::Gone {
                    package: p.name.clone(),
                    version: p.version.to_string(),
                    arch: p.arch.clone(),
                    url,
                },
                e => e.into(),
            })
        });
        bar.inc(p.size);
        if let (Ok(u), Ok(mut m)) = (&unpacked, memo.lock()) {
            m.insert(p.sha256.clone(), u.clone());
        }
        unpacked
    });
    bar.finish();
    out
}
