//! `distill export IMAGE --docker-archive FILE`: one platform of a layout
//! tag as the tarball `docker load` and `podman load` read (the format of
//! `docker save`, moby `image/spec/v1.2.md` "Combined Image JSON + Filesystem
//! Changeset Format", as written since Docker 1.10):
//!
//! ```text
//! manifest.json              [{"Config": "<config hex>.json", "RepoTags": ["NAME:TAG"],
//!                              "Layers": ["<layer hex>.tar.gz", …]}]
//! <config hex>.json          the config blob, byte for byte (its digest is the image ID)
//! <layer hex>.tar.gz         each layer blob as it is in the layout (`.tar` for an
//!                            uncompressed layer, `.tar.zst` for zstd)
//! ```
//!
//! Layers stay compressed: `docker load` and containers/image (podman,
//! skopeo) detect the compression of each layer file and check the
//! uncompressed stream against the config's `diff_ids`. Each path occurs
//! once, even when a manifest lists a layer twice. Every blob is hashed
//! while it is copied and checked against its digest. The archive is
//! written to a temporary file beside `FILE` and renamed into place.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::registry::layout::{self, Image, LocalImage, Tagged};
use crate::registry::reference;
use crate::registry::RegistryError;

/// Options of an export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The platform: a Debian architecture or `os/arch[/variant]`
    /// [default: the only one, else the host's].
    pub arch: Option<String>,
    /// `NAME[:TAG]` for `RepoTags` [default: the layout directory's name
    /// and the layout tag].
    pub repo_tag: Option<String>,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The archive.
    pub file: PathBuf,
    /// Platform exported (`linux/amd64`).
    pub platform: String,
    /// `RepoTags` entry.
    pub repo_tag: String,
    /// The platform manifest's digest in the layout.
    pub manifest: String,
    /// Config digest (Docker's image ID).
    pub config: String,
    /// Layer digests with their sizes, bottom first.
    pub layers: Vec<(String, u64)>,
    /// Archive size in bytes.
    pub size: u64,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io { path: path.to_path_buf(), source }
}

/// Pick the platform: `want`, else the only one, else the host's.
pub fn choose<'a>(local: &'a LocalImage, want: Option<&str>) -> Result<&'a Image, RegistryError> {
    if let Some(w) = want {
        return local.select(w);
    }
    match &local.tagged {
        Tagged::Image(i) => Ok(i),
        Tagged::Index { images, .. } if images.len() == 1 => Ok(&images[0]),
        Tagged::Index { .. } => {
            let host = layout::host_arch();
            local.select(host).map_err(|_| {
                RegistryError::Usage(format!(
                    "{}:{} has no image for this machine's architecture ({host}); choose one with --arch (platforms: {})",
                    local.dir.display(),
                    local.tag,
                    local.platforms().join(", ")
                ))
            })
        }
    }
}

/// `NAME:TAG` for `RepoTags`, checked against the reference grammar.
fn repo_tag(local: &LocalImage, given: Option<&str>) -> Result<String, RegistryError> {
    let (name, tag) = match given {
        Some(g) => match g.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
            _ => (g.to_string(), "latest".to_string()),
        },
        None => {
            let dir = local.dir.canonicalize().unwrap_or_else(|_| local.dir.clone());
            let base = dir.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            (base, local.tag.clone())
        }
    };
    let bad = |why: String| {
        RegistryError::Usage(format!(
            "cannot name the image {name:?}:{tag:?} in the archive: {why}; pass --tag NAME[:TAG]"
        ))
    };
    reference::validate_repository_name(&name).map_err(|e| bad(e.to_string()))?;
    reference::validate_tag(&tag).map_err(bad)?;
    Ok(format!("{name}:{tag}"))
}

fn layer_suffix(media_type: &str) -> &'static str {
    if media_type.ends_with("gzip") {
        ".tar.gz"
    } else if media_type.ends_with("zstd") {
        ".tar.zst"
    } else {
        ".tar"
    }
}

/// Write one platform of `dir:tag` as a docker-archive at `out`.
pub fn docker_archive(dir: &Path, tag: &str, out: &Path, opts: &ExportOptions) -> Result<ExportReport, RegistryError> {
    let local = layout::open(dir, tag)?;
    let image = choose(&local, opts.arch.as_deref())?;
    let repo_tag = repo_tag(&local, opts.repo_tag.as_deref())?;
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let config_name = format!("{}.json", hex(&image.config.digest));
    let layer_names: Vec<String> =
        image.layers.iter().map(|l| format!("{}{}", hex(&l.digest), layer_suffix(&l.media_type))).collect();
    let manifest = json!([{ "Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names }]);
    let manifest_bytes = serde_json::to_vec(&manifest).expect("json");

    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new().prefix(".distill-export-").tempfile_in(parent).map_err(io_err(parent))?;
    {
        let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp.as_file()));
        let mut written = std::collections::HashSet::new();
        let mut append = |name: &str, size: u64, reader: &mut dyn Read| -> Result<(), RegistryError> {
            let mut h = tar::Header::new_ustar();
            h.set_path(name).map_err(io_err(out))?;
            h.set_size(size);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            tar.append(&h, reader).map_err(io_err(out))
        };
        append("manifest.json", manifest_bytes.len() as u64, &mut manifest_bytes.as_slice())?;
        let config = std::fs::read(&image.config.path).map_err(io_err(&image.config.path))?;
        append(&config_name, config.len() as u64, &mut config.as_slice())?;
        for (l, name) in image.layers.iter().zip(&layer_names) {
            if !written.insert(name.clone()) {
                continue;
            }
            let file = File::open(&l.path).map_err(io_err(&l.path))?;
            let mut hashing = Hashing { inner: file.take(l.size), hasher: Sha256::new() };
            append(name, l.size, &mut hashing)?;
            let actual = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
            if actual != l.digest {
                return Err(RegistryError::Layout {
                    path: l.path.clone(),
                    reason: format!("layer digest mismatch: expected {}, got {actual}", l.digest),
                });
            }
        }
        let mut w = tar.into_inner().map_err(io_err(out))?;
        w.flush().map_err(io_err(out))?;
    }
    tmp.as_file().sync_all().map_err(io_err(out))?;
    let size = tmp.as_file().metadata().map_err(io_err(out))?.len();
    tmp.persist(out).map_err(|e| RegistryError::Io { path: out.to_path_buf(), source: e.error })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o644));
    }
    Ok(ExportReport {
        file: out.to_path_buf(),
        platform: image.platform.to_string(),
        repo_tag,
        manifest: image.manifest.digest.clone(),
        config: image.config.digest.clone(),
        layers: image.layers.iter().map(|l| (l.digest.clone(), l.size)).collect(),
        size,
    })
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
