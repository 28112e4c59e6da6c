//! Build records: the no-op rebuild. A build is a pure function of its
//! inputs (the specs of the chain, their package sets, the epoch, the
//! options that change bytes, and distill itself), so its result is
//! recorded under the SHA256 of those inputs (`builds/<key>` in the cache,
//! with every blob it wrote in the blob store). A rebuild with the same
//! inputs verifies those blobs again and writes the layout from them
//! without unpacking, assembling or compressing anything.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{variants::Tag, ArchSummary, BuildError, BuildOptions, BuildOutput, Level};
use crate::fetch::Cache;
use crate::layer::Layer;
use crate::oci::{self, Blob};
use crate::report::Reporter;

/// Bumped when the record format or what a key covers changes.
const FORMAT: &str = "distill-build-2";

#[derive(Serialize, Deserialize)]
struct BlobRecord {
    digest: String,
    media_type: String,
    size: u64,
}

#[derive(Serialize, Deserialize)]
struct ArchRecord {
    arch: String,
    manifest: String,
    uncompressed: u64,
    compressed: u64,
    entries: usize,
    layers: Vec<Layer>,
    #[serde(default)]
    maintainer_scripts: crate::maint::Report,
    /// The image check's warnings, [path, package, problem]: a replay reports them again.
    #[serde(default)]
    warnings: Vec<[String; 3]>,
}

/// An SBOM document of the build (`--sbom`), kept in the blob store.
#[derive(Serialize, Deserialize)]
struct SbomRecord {
    file_name: String,
    sha256: String,
    size: u64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    blobs: Vec<BlobRecord>,
    tags: Vec<(String, String)>,
    archs: Vec<ArchRecord>,
    #[serde(default)]
    sbom: Vec<SbomRecord>,
}

/// Identifies the running distill binary: its version, and the size and
/// modification time of the executable (a rebuilt binary gets new records).
fn binary_id() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| std::fs::metadata(p).ok());
    let (len, mtime) = exe
        .map(|m| {
            let t = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            (m.len(), t.map(|d| d.as_nanos()).unwrap_or(0))
        })
        .unwrap_or((0, 0));
    format!("{} {len} {mtime}", env!("CARGO_PKG_VERSION"))
}

/// The SHA256 of everything that decides a build's bytes.
pub fn key(levels: &[Level], opts: &BuildOptions, tags: &[Tag]) -> String {
    let mut h = Sha256::new();
    let mut line = |s: String| {
        h.update(s.as_bytes());
        h.update(b"\n");
    };
    line(format!("{FORMAT} {}", binary_id()));
    line(format!("compression {:?} archs {:?} epoch {:?}", opts.compression, opts.archs, opts.source_date_epoch));
    line(format!("sbom {:?}", opts.sbom));
    line(format!("tags {:?}", tags.iter().map(|t| (&t.name, t.nonroot, t.debug)).collect::<Vec<_>>()));
    for l in levels {
        line(format!("spec {} {}", l.spec.path.display(), l.spec.digest()));
        line(format!("os {:?} epoch {}", l.plan.os, l.plan.epoch));
        for a in &l.plan.archs {
            for (kind, list) in [("pkg", &a.packages), ("debug", &a.debug)] {
                for p in list.iter() {
                    line(format!("{kind} {} {} {} {} {}", a.arch, p.name, p.version, p.sha256, p.source));
                }
            }
        }
    }
    hex::encode(h.finalize())
}

/// Write the layout from the record `key`, if there is one and every blob
/// it names is intact. `Ok(None)`: build normally.
pub fn replay(
    cache: &Cache,
    key: &str,
    top: &Level,
    opts: &BuildOptions,
    epoch: i64,
    report: &Reporter,
) -> Result<Option<BuildOutput>, BuildError> {
    let Some(record) = cache.get_record("builds", key).and_then(|r| serde_json::from_slice::<Record>(&r).ok()) else {
        return Ok(None);
    };
    let verified = crate::fetch::parallel(&record.blobs, opts.threads.max(1), |b| {
        cache.open_verified(b.digest.trim_start_matches("sha256:"), Some(b.size)).map(|(p, _)| p).ok_or(())
    });
    let Ok(paths) = verified else {
        report.detail("build record found but a blob is missing or damaged; building");
        return Ok(None);
    };
    let files: Vec<(String, PathBuf)> = record.blobs.iter().map(|b| b.digest.clone()).zip(paths).collect();
    let mut refs_blobs = Vec::new();
    for (tag, digest) in &record.tags {
        let Some((_, path)) = files.iter().find(|(d, _)| d == digest) else { return Ok(None) };
        let data = std::fs::read(path).map_err(|e| BuildError::Other(format!("{}: {e}", path.display())))?;
        let media = record.blobs.iter().find(|b| &b.digest == digest).map(|b| b.media_type.clone()).unwrap_or_default();
        refs_blobs.push((tag.clone(), Blob::new(&media, data)));
    }
    let refs: Vec<(String, &Blob)> = refs_blobs.iter().map(|(t, b)| (t.clone(), b)).collect();
    let mut sbom_docs = Vec::new();
    for s in &record.sbom {
        let Some((path, _)) = cache.open_verified(&s.sha256, Some(s.size)) else {
            report.detail("build record found but an SBOM blob is missing or damaged; building");
            return Ok(None);
        };
        let data = std::fs::read(&path).map_err(|e| BuildError::Other(format!("{}: {e}", path.display())))?;
        sbom_docs.push(crate::sbom::Document { file_name: s.file_name.clone(), data });
    }
    report.step(&format!("unchanged inputs: writing OCI layout {} from the build cache", opts.output.display()));
    oci::write_layout(&opts.output, &[], &files, &refs)?;
    if let Some(dir) = crate::sbom::write(&opts.output, &sbom_docs)? {
        report.step(&format!("wrote SBOM {} from the build cache", dir.display()));
    }
    let archs = record
        .archs
        .into_iter()
        .map(|a| {
            let plan = top.plan.archs.iter().find(|p| p.arch == a.arch);
            let arch = a.arch.clone();
            ArchSummary {
                packages: plan.map(|p| p.packages.clone()).unwrap_or_default(),
                dropped: plan.map(|p| p.dropped.clone()).unwrap_or_default(),
                arch: a.arch,
                manifest: a.manifest,
                uncompressed: a.uncompressed,
                compressed: a.compressed,
                entries: a.entries,
                layers: a.layers.into_iter().map(|l| Layer { cached: true, ..l }).collect(),
                maintainer_scripts: a.maintainer_scripts,
                warnings: a
                    .warnings
                    .into_iter()
                    .map(|[path, package, problem]| crate::check::Finding { path, package, problem })
                    .inspect(|w| report.warn(&format!("{} ({arch}): {w}", top.spec.spec.name)))
                    .collect(),
            }
        })
        .collect();
    Ok(Some(BuildOutput {
        digest: record.tags.first().map(|t| t.1.clone()).unwrap_or_default(),
        tags: record.tags,
        layout: opts.output.clone(),
        archs,
        epoch,
    }))
}

/// Record a finished build: the in-memory blobs go to the blob store, the
/// record lists every blob with the layer files, and the SBOM documents
/// (stored as blobs too, so a replay writes them without assembling).
pub fn save(
    cache: &Cache,
    key: &str,
    blobs: &[&Blob],
    files: &[(String, PathBuf)],
    sbom_docs: &[crate::sbom::Document],
    out: &BuildOutput,
) -> Result<(), BuildError> {
    let mut sbom = Vec::new();
    for d in sbom_docs {
        let (sha256, size) = cache.put_reader(d.data.as_slice())?;
        sbom.push(SbomRecord { file_name: d.file_name.clone(), sha256, size });
    }
    let mut list = Vec::new();
    for b in blobs {
        let (sha, size) = cache.put_reader(b.data.as_slice())?;
        list.push(BlobRecord { digest: format!("sha256:{sha}"), media_type: b.media_type.clone(), size });
    }
    for a in &out.archs {
        for l in &a.layers {
            list.push(BlobRecord { digest: l.digest.clone(), media_type: l.media_type.clone(), size: l.size });
        }
    }
    for (digest, path) in files {
        if !list.iter().any(|b| &b.digest == digest) {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            list.push(BlobRecord { digest: digest.clone(), media_type: String::new(), size });
        }
    }
    let record = Record {
        blobs: list,
        tags: out.tags.clone(),
        archs: out
            .archs
            .iter()
            .map(|a| ArchRecord {
                arch: a.arch.clone(),
                manifest: a.manifest.clone(),
                uncompressed: a.uncompressed,
                compressed: a.compressed,
                entries: a.entries,
                layers: a.layers.clone(),
                maintainer_scripts: a.maintainer_scripts.clone(),
                warnings: a.warnings.iter().map(|w| [w.path.clone(), w.package.clone(), w.problem.clone()]).collect(),
            })
            .collect(),
        sbom,
    };
    cache.put_record("builds", key, &serde_json::to_vec(&record).unwrap_or_default())?;
    Ok(())
}
