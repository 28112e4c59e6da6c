//! Reading an OCI image layout (image-spec image-layout.md) back into one
//! [`Tree`] per platform, for `distill check IMAGE`.
//!
//! `index.json` → the descriptor tagged `TAG`
//! (`org.opencontainers.image.ref.name`) → an image index (each platform's
//! manifest; nested indexes followed) or a manifest → its config and
//! layers, applied in order to a fresh tree.
//!
//! Everything read is verified while it is read, as go-containerregistry's
//! `validate`/`verify` readers do: JSON blobs against their descriptor's
//! size and digest; each layer blob against its descriptor's digest and
//! size as it streams into the decompressor, and the uncompressed stream
//! against the config's `diff_ids`. A reader reports a mismatch when it
//! reaches the end of its stream (both streams are drained to their end).
//!
//! Layers: `tar`, `tar+gzip`, `tar+zstd` (OCI and Docker media types);
//! regular files, directories, symlinks and hard links; OCI whiteouts
//! (`.wh.<name>` removes `<name>` and what is below it,
//! `.wh..wh..opq` empties the directory of what lower layers put there).
//! Device nodes and FIFOs are skipped. Entries read back have no package
//! (`Entry::package` is `None`).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::tree::{normalize, Entry, Kind, Tree};

/// Errors reading a layout.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Content does not match its digest or size.
    #[error("{what}: {detail}")]
    Digest {
        /// Which blob (and role).
        what: String,
        /// Expected and actual values.
        detail: String,
    },
    /// The layout is not what the image spec says.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A digest mismatch found by a [`Verifier`] at the end of its stream.
#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Mismatch {}

/// A reader that hashes what passes through and, at end of stream, fails
/// unless the SHA-256 (and the size, when known) match. Reading more than
/// the expected size fails at once.
struct Verifier<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    expected_hex: String,
    expected_size: Option<u64>,
    role: &'static str,
    done: bool,
}

impl<R: Read> Verifier<R> {
    fn new(inner: R, digest: &str, size: Option<u64>, role: &'static str) -> Self {
        Verifier {
            inner,
            hasher: Sha256::new(),
            count: 0,
            expected_hex: digest.trim_start_matches("sha256:").to_ascii_lowercase(),
            expected_size: size,
            role,
            done: false,
        }
    }
}

impl<R: Read> Read for Verifier<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        self.hasher.update(&buf[..n]);
        if let Some(size) = self.expected_size {
            if self.count > size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Mismatch(format!("{} is longer than its size {size}", self.role)),
                ));
            }
        }
        if n == 0 && !buf.is_empty() {
            self.done = true;
            if let Some(size) = self.expected_size.filter(|s| *s != self.count) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Mismatch(format!("{} has {} bytes, expected {size}", self.role, self.count)),
                ));
            }
            let actual = hex::encode(self.hasher.clone().finalize());
            if actual != self.expected_hex {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Mismatch(format!(
                        "{} digest mismatch: expected sha256:{}, got sha256:{actual}",
                        self.role, self.expected_hex
                    )),
                ));
            }
        }
        Ok(n)
    }
}

/// A descriptor's fields (image-spec descriptor.md).
#[derive(Debug, Clone)]
struct Desc {
    media_type: String,
    digest: String,
    size: u64,
    platform: Option<String>,
}

fn invalid(path: &Path, reason: impl Into<String>) -> ReadError {
    ReadError::Invalid { path: path.into(), reason: reason.into() }
}

fn platform_string(v: &Value) -> Option<String> {
    let os = v.get("os")?.as_str()?;
    let arch = v.get("architecture")?.as_str()?;
    Some(match v.get("variant").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(var) => format!("{os}/{arch}/{var}"),
        None => format!("{os}/{arch}"),
    })
}

fn desc(v: &Value, at: &Path) -> Result<Desc, ReadError> {
    let media_type = v.get("mediaType").and_then(Value::as_str).unwrap_or("").to_string();
    let digest =
        v.get("digest").and_then(Value::as_str).ok_or_else(|| invalid(at, "descriptor without digest"))?.to_string();
    let size = v
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(at, format!("descriptor {digest} without size")))?;
    let platform = v.get("platform").and_then(platform_string);
    Ok(Desc { media_type, digest, size, platform })
}

/// The image layout being read.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Path of a blob; only `sha256:<64 hex>` is accepted (which also keeps
    /// the path inside `blobs/`).
    fn blob_path(&self, digest: &str) -> Result<PathBuf, ReadError> {
        let hex = digest.strip_prefix("sha256:").filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        match hex {
            Some(h) => Ok(self.dir.join("blobs").join("sha256").join(h)),
            None => Err(invalid(&self.dir.join("index.json"), format!("unsupported digest {digest:?} (only sha256)"))),
        }
    }

    /// A small JSON blob, verified against its descriptor.
    fn json(&self, d: &Desc, role: &'static str) -> Result<(Value, PathBuf), ReadError> {
        let path = self.blob_path(&d.digest)?;
        let file = File::open(&path).map_err(|source| ReadError::Io { path: path.clone(), source })?;
        let mut buf = Vec::new();
        Verifier::new(file.take(d.size.saturating_add(1)), &d.digest, Some(d.size), role)
            .read_to_end(&mut buf)
            .map_err(|e| io_or_digest(e, &path, &d.digest))?;
        let v = serde_json::from_slice(&buf).map_err(|e| invalid(&path, format!("{role} is not JSON: {e}")))?;
        Ok((v, path))
    }
}

/// The [`Mismatch`] inside an I/O error, however deeply the readers above
/// the [`Verifier`] wrapped it.
fn mismatch(e: &io::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().map(|i| i as &(dyn std::error::Error + 'static));
    while let Some(err) = cur {
        if let Some(m) = err.downcast_ref::<Mismatch>() {
            return Some(m.0.clone());
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(m) = mismatch(io) {
                return Some(m);
            }
        }
        cur = err.source();
    }
    None
}

fn io_or_digest(e: io::Error, path: &Path, digest: &str) -> ReadError {
    match mismatch(&e) {
        Some(detail) => ReadError::Digest { what: format!("blob {digest}"), detail },
        None => ReadError::Io { path: path.into(), source: e },
    }
}

const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const MANIFEST_TYPES: [&str; 2] =
    ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];

/// Read the image tagged `tag` in the layout at `dir`: one tree per
/// platform manifest, with its platform (`linux/amd64`, `linux/arm64/v8`).
pub fn read_layout(dir: &Path, tag: &str) -> Result<Vec<(String, Tree)>, ReadError> {
    let layout = Layout { dir: dir.to_path_buf() };
    let top = tagged(dir, tag)?;
    let mut out = Vec::new();
    read_any(&layout, &top, None, 0, &mut |_, manifest, path, platform| {
        out.push(read_manifest(&layout, manifest, path, platform)?);
        Ok(())
    })?;
    if out.is_empty() {
        return Err(invalid(&dir.join("index.json"), format!("image {tag:?} has no platform manifest")));
    }
    Ok(out)
}

/// The descriptor in `index.json` tagged `tag` (`org.opencontainers.image.ref.name`;
/// an untagged single-entry index counts as `latest`).
fn tagged(dir: &Path, tag: &str) -> Result<Desc, ReadError> {
    let index_path = dir.join("index.json");
    let text = crate::oci::read_index_json(&index_path)
        .map_err(|source| ReadError::Io { path: index_path.clone(), source })?;
    let index: Value = serde_json::from_slice(&text).map_err(|e| invalid(&index_path, format!("not JSON: {e}")))?;
    let manifests =
        index.get("manifests").and_then(Value::as_array).ok_or_else(|| invalid(&index_path, "no manifests"))?;
    let top = crate::oci::find_tagged(manifests, tag).map_err(|m| invalid(&index_path, m))?;
    desc(top, &index_path)
}

/// What [`read_any`] calls for each platform manifest: its descriptor, the
/// manifest document (verified against the descriptor), its blob path and
/// the platform of the index entry that named it.
type OnManifest<'a> = dyn FnMut(&Desc, &Value, &Path, Option<String>) -> Result<(), ReadError> + 'a;

fn read_any(
    layout: &Layout,
    d: &Desc,
    platform: Option<String>,
    depth: usize,
    on_manifest: &mut OnManifest<'_>,
) -> Result<(), ReadError> {
    if depth > 4 {
        return Err(invalid(&layout.dir, "image indexes nested too deep"));
    }
    let (doc, path) = layout.json(d, "image index or manifest")?;
    let media = doc.get("mediaType").and_then(Value::as_str).unwrap_or(d.media_type.as_str()).to_string();
    if INDEX_TYPES.contains(&media.as_str()) || (media.is_empty() && doc.get("manifests").is_some()) {
        let list = doc
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(&path, "image index without manifests"))?;
        for m in list {
            let md = desc(m, &path)?;
            // Attestations and other non-images have platform unknown/unknown.
            if md.platform.as_deref().is_some_and(|p| p.starts_with("unknown/")) {
                continue;
            }
            read_any(layout, &md, md.platform.clone(), depth + 1, on_manifest)?;
        }
        Ok(())
    } else if MANIFEST_TYPES.contains(&media.as_str()) || (media.is_empty() && doc.get("layers").is_some()) {
        on_manifest(d, &doc, &path, platform)
    } else {
        Err(invalid(&path, format!("unsupported media type {media:?}")))
    }
}

fn read_manifest(
    layout: &Layout,
    manifest: &Value,
    path: &Path,
    platform: Option<String>,
) -> Result<(String, Tree), ReadError> {
    let parts = manifest_layers(layout, manifest, path, platform)?;
    let mut tree = Tree::new();
    for (ld, diff_id) in &parts.layers {
        apply_layer(layout, ld, diff_id, &mut tree)?;
    }
    Ok((parts.platform, tree))
}

/// What a manifest names.
struct ManifestParts {
    /// From the index entry, else the config.
    platform: String,
    config: Desc,
    /// Each layer's descriptor and diff_id, bottom first.
    layers: Vec<(Desc, String)>,
}

/// A manifest's platform, config descriptor and layer descriptors with
/// their diff_ids; the config is read and verified.
fn manifest_layers(
    layout: &Layout,
    manifest: &Value,
    path: &Path,
    platform: Option<String>,
) -> Result<ManifestParts, ReadError> {
    let cd = desc(manifest.get("config").ok_or_else(|| invalid(path, "manifest without config"))?, path)?;
    let (config, config_path) = layout.json(&cd, "config")?;
    let diff_ids: Vec<String> = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(&config_path, "config without rootfs.diff_ids"))?
        .iter()
        .map(|v| v.as_str().map(String::from).ok_or_else(|| invalid(&config_path, "diff_id is not a string")))
        .collect::<Result<_, _>>()?;
    let layers =
        manifest.get("layers").and_then(Value::as_array).ok_or_else(|| invalid(path, "manifest without layers"))?;
    if layers.len() != diff_ids.len() {
        return Err(invalid(path, format!("{} layers but {} diff_ids in the config", layers.len(), diff_ids.len())));
    }
    let platform = platform.or_else(|| platform_string(&config)).unwrap_or_else(|| "unknown".into());
    let layers =
        layers.iter().zip(diff_ids).map(|(l, diff_id)| Ok((desc(l, path)?, diff_id))).collect::<Result<_, _>>()?;
    Ok(ManifestParts { platform, config: cd, layers })
}

enum Compression {
    None,
    Gzip,
    Zstd,
}

fn compression(media: &str) -> Option<Compression> {
    match media {
        "application/vnd.oci.image.layer.v1.tar" | "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
            Some(Compression::None)
        }
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd" | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
            Some(Compression::Zstd)
        }
        _ => None,
    }
}

fn apply_layer(layout: &Layout, d: &Desc, diff_id: &str, tree: &mut Tree) -> Result<(), ReadError> {
    let path = layout.blob_path(&d.digest)?;
    with_layer_stream(layout, d, diff_id, |tar_stream| apply_tar(tar_stream, tree, &path)).map(|_| ())
}

/// Open a layer blob, decompress it and hand the uncompressed stream to
/// `f`, verifying both streams: the blob against the descriptor's digest
/// and size, the tar stream against `diff_id`. Both are drained to their
/// end after `f` returns, so a mismatch is reported even when `f` stops
/// early. Returns `f`'s value and the uncompressed size in bytes.
fn with_layer_stream<T>(
    layout: &Layout,
    d: &Desc,
    diff_id: &str,
    f: impl FnOnce(&mut dyn Read) -> Result<T, TarError>,
) -> Result<(T, u64), ReadError> {
    let path = layout.blob_path(&d.digest)?;
    let comp = compression(&d.media_type)
        .ok_or_else(|| invalid(&path, format!("unsupported layer media type {:?}", d.media_type)))?;
    if !diff_id.starts_with("sha256:") {
        return Err(invalid(&path, format!("unsupported diff_id {diff_id:?} (only sha256)")));
    }
    let file = File::open(&path).map_err(|source| ReadError::Io { path: path.clone(), source })?;
    let mut blob = Verifier::new(io::BufReader::with_capacity(1 << 16, file), &d.digest, Some(d.size), "layer blob");
    let err = |e: io::Error| -> ReadError {
        match mismatch(&e) {
            Some(detail) => ReadError::Digest { what: format!("layer {}", d.digest), detail },
            None => ReadError::Io { path: path.clone(), source: e },
        }
    };
    let (value, uncompressed) = {
        let decoded: Box<dyn Read + '_> = match comp {
            Compression::None => Box::new(&mut blob),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut blob)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(&mut blob).map_err(err)?),
        };
        let mut tar_stream = Verifier::new(decoded, diff_id, None, "uncompressed layer (diff_id)");
        let value = f(&mut tar_stream).map_err(|e| match e {
            TarError::Io(e) => err(e),
            TarError::Invalid(reason) => invalid(&path, reason),
        })?;
        io::copy(&mut tar_stream, &mut io::sink()).map_err(err)?;
        (value, tar_stream.count)
    };
    io::copy(&mut blob, &mut io::sink()).map_err(err)?;
    Ok((value, uncompressed))
}

enum TarError {
    Io(io::Error),
    Invalid(String),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

/// Remove `path` and everything below it.
fn remove_tree(tree: &mut Tree, path: &str, keep: &HashSet<String>) {
    let below: Vec<String> = tree.children(path).map(|(k, _)| k.clone()).filter(|k| !keep.contains(k)).collect();
    for k in below {
        tree.remove(&k);
    }
    if path != "/" && !keep.contains(path) {
        tree.remove(path);
    }
}

fn apply_tar(stream: impl Read, tree: &mut Tree, blob: &Path) -> Result<(), TarError> {
    let mut ar = tar::Archive::new(stream);
    // Paths written by this layer: opaque whiteouts only hide lower layers.
    let mut this_layer: HashSet<String> = HashSet::new();
    for entry in ar.entries()? {
        let mut e = entry?;
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let path =
            normalize(&raw).ok_or_else(|| TarError::Invalid(format!("layer entry {raw:?} climbs out of the root")))?;
        let h = e.header();
        // Empty numeric fields read as 0, as Go's archive/tar does.
        let mode = h.mode().unwrap_or(0) & 0o7777;
        let uid = h.uid().ok().and_then(|u| u32::try_from(u).ok()).unwrap_or(0);
        let gid = h.gid().ok().and_then(|g| u32::try_from(g).ok()).unwrap_or(0);
        let kind = h.entry_type();
        let (parent, name) =
            path.rsplit_once('/').map(|(p, n)| (if p.is_empty() { "/" } else { p }, n)).unwrap_or(("/", ""));
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let parent = tree.resolve_parents(&format!("{}/x", parent.trim_end_matches('/')));
            let parent = parent
                .rsplit_once('/')
                .map(|(p, _)| if p.is_empty() { "/".to_string() } else { p.to_string() })
                .unwrap_or_default();
            if hidden == ".wh..opq" {
                let below: Vec<String> =
                    tree.children(&parent).map(|(k, _)| k.clone()).filter(|k| !this_layer.contains(k)).collect();
                for k in below {
                    tree.remove(&k);
                }
            } else {
                let target = if parent == "/" { format!("/{hidden}") } else { format!("{parent}/{hidden}") };
                remove_tree(tree, &target, &this_layer);
            }
            continue;
        }
        let new_kind = match kind {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut data = Vec::with_capacity(usize::try_from(e.size()).unwrap_or(0));
                e.read_to_end(&mut data)?;
                Kind::File { data: crate::tree::Content::bytes(data), inode: tree.new_inode() }
            }
            tar::EntryType::Symlink => {
                let target = e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                Kind::Symlink(target)
            }
            tar::EntryType::Link => {
                let raw_target =
                    e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                let target = normalize(&raw_target).ok_or_else(|| {
                    TarError::Invalid(format!("hard link {raw} → {raw_target:?} climbs out of the root"))
                })?;
                let real = tree.resolve_parents(&target);
                match tree.get(&real) {
                    Some(Entry { kind: k @ Kind::File { .. }, .. }) => k.clone(),
                    _ => {
                        return Err(TarError::Invalid(format!(
                            "{}: hard link {raw} → {raw_target} names no regular file before it",
                            blob.display()
                        )))
                    }
                }
            }
            // Devices and FIFOs: nothing the checks look at.
            _ => continue,
        };
        if path == "/" {
            if let Some(root) = tree.get_mut("/") {
                root.mode = mode;
                root.uid = uid;
                root.gid = gid;
            }
            continue;
        }
        let real = tree.resolve_parents(&path);
        let was_dir = matches!(tree.get(&real).map(|x| &x.kind), Some(Kind::Dir));
        if was_dir && !matches!(new_kind, Kind::Dir) {
            remove_tree(tree, &real, &this_layer);
        }
        let written = tree.insert(&real, Entry { kind: new_kind, mode, uid, gid, package: None });
        this_layer.insert(written);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Layer by layer, for `distill inspect`
// ---------------------------------------------------------------------------

/// A layer of a platform image: its descriptor (image-spec descriptor.md)
/// and the config's diff_id for it (config.md, `rootfs.diff_ids`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerRef {
    /// Media type of the blob (`application/vnd.oci.image.layer.v1.tar+gzip` …).
    pub media_type: String,
    /// Digest of the (compressed) blob, `sha256:<hex>`.
    pub digest: String,
    /// Size of the blob in bytes, as the descriptor states (the compressed size).
    pub size: u64,
    /// Digest of the uncompressed tar stream, `sha256:<hex>`.
    pub diff_id: String,
}

/// One platform's image manifest (image-spec manifest.md), read and
/// verified without reading its layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifest {
    /// `os/architecture[/variant]`, from the image index entry or the config.
    pub platform: String,
    /// Digest of the manifest blob.
    pub digest: String,
    /// Digest of the config blob.
    pub config: String,
    /// The layers, bottom first.
    pub layers: Vec<LayerRef>,
}

/// What a tag names, down to the platform manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedImage {
    /// Digest of the blob `index.json` tags (an image index or a manifest).
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// One manifest per platform, in index order (nested indexes
    /// flattened, `unknown/unknown` attestation entries skipped).
    pub platforms: Vec<PlatformManifest>,
}

/// Read the manifests of the image tagged `tag` in the layout at `dir`,
/// verifying every JSON blob (index, manifests, configs) against its
/// descriptor as [`read_layout`] does, but reading no layer; pair it with
/// [`walk_layer`].
pub fn read_manifests(dir: &Path, tag: &str) -> Result<TaggedImage, ReadError> {
    let layout = Layout { dir: dir.to_path_buf() };
    let top = tagged(dir, tag)?;
    let mut platforms = Vec::new();
    read_any(&layout, &top, None, 0, &mut |md, manifest, path, platform| {
        let parts = manifest_layers(&layout, manifest, path, platform)?;
        platforms.push(PlatformManifest {
            platform: parts.platform,
            digest: md.digest.clone(),
            config: parts.config.digest,
            layers: parts
                .layers
                .into_iter()
                .map(|(d, diff_id)| LayerRef { media_type: d.media_type, digest: d.digest, size: d.size, diff_id })
                .collect(),
        });
        Ok(())
    })?;
    if platforms.is_empty() {
        return Err(invalid(&dir.join("index.json"), format!("image {tag:?} has no platform manifest")));
    }
    Ok(TaggedImage { digest: top.digest, media_type: top.media_type, platforms })
}

/// What a layer entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerEntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link ([`LayerEntry::link`] is its target as written).
    Symlink,
    /// A hard link ([`LayerEntry::link`] is the normalised path it names).
    HardLink,
    /// `.wh.<name>`: [`LayerEntry::path`] is the path it removes, with
    /// everything below it, from the lower layers.
    Whiteout,
    /// `.wh..wh..opq`: [`LayerEntry::path`] is the directory whose lower
    /// layers' contents it hides.
    OpaqueWhiteout,
    /// A device node or FIFO.
    Other,
}

/// One entry of a layer's tar stream, as [`walk_layer`] yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Absolute, normalised path as written in the layer (`/usr/bin/node`);
    /// parent symlinks of lower layers are not followed. For whiteouts, the
    /// path hidden (see [`LayerEntryKind`]).
    pub path: String,
    /// What the entry is.
    pub kind: LayerEntryKind,
    /// Size in bytes of a regular file's contents (0 for other kinds).
    pub size: u64,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Symlink target or hard-link target, see [`LayerEntryKind`].
    pub link: Option<String>,
    /// The contents, for regular files the caller asked for (and no larger
    /// than [`MAX_ENTRY_DATA`]).
    pub data: Option<Vec<u8>>,
}

/// The largest file [`walk_layer`] reads into [`LayerEntry::data`].
pub const MAX_ENTRY_DATA: u64 = 16 << 20;

/// What [`walk_layer`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerStats {
    /// Bytes of the uncompressed tar stream (what `diff_id` digests).
    pub uncompressed_size: u64,
    /// Tar entries (whiteouts included; PAX and GNU long-name headers are
    /// part of the entry they describe).
    pub entries: u64,
}

/// Stream one layer of the layout at `dir`, calling `visit` for each tar
/// entry in order. Contents are skipped, except those of regular files for
/// which `want_data(path)` is true (up to [`MAX_ENTRY_DATA`] bytes), so
/// memory does not grow with the layer. The blob is verified against the
/// descriptor's digest and size, and the tar stream against the diff_id,
/// as [`read_layout`] does; a mismatch is found only at the end of the
/// stream, after `visit` has seen the entries, so a caller must discard what
/// it gathered when this returns an error. An `Err(reason)` from `visit`
/// stops the walk and is reported as [`ReadError::Invalid`] on the blob.
pub fn walk_layer(
    dir: &Path,
    layer: &LayerRef,
    want_data: &dyn Fn(&str) -> bool,
    visit: &mut dyn FnMut(LayerEntry) -> Result<(), String>,
) -> Result<LayerStats, ReadError> {
    let layout = Layout { dir: dir.to_path_buf() };
    let d =
        Desc { media_type: layer.media_type.clone(), digest: layer.digest.clone(), size: layer.size, platform: None };
    let (entries, uncompressed_size) =
        with_layer_stream(&layout, &d, &layer.diff_id, |tar_stream| walk_tar(tar_stream, want_data, visit))?;
    Ok(LayerStats { uncompressed_size, entries })
}

fn walk_tar(
    stream: impl Read,
    want_data: &dyn Fn(&str) -> bool,
    visit: &mut dyn FnMut(LayerEntry) -> Result<(), String>,
) -> Result<u64, TarError> {
    let mut ar = tar::Archive::new(stream);
    let mut count = 0;
    for entry in ar.entries()? {
        let mut e = entry?;
        count += 1;
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let path =
            normalize(&raw).ok_or_else(|| TarError::Invalid(format!("layer entry {raw:?} climbs out of the root")))?;
        let mode = e.header().mode().unwrap_or(0) & 0o7777;
        let (parent, name) =
            path.rsplit_once('/').map(|(p, n)| (if p.is_empty() { "/" } else { p }, n)).unwrap_or(("/", ""));
        let mut out =
            LayerEntry { path: path.clone(), kind: LayerEntryKind::Other, size: 0, mode, link: None, data: None };
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                out.kind = LayerEntryKind::OpaqueWhiteout;
                out.path = parent.to_string();
            } else {
                out.kind = LayerEntryKind::Whiteout;
                out.path = if parent == "/" { format!("/{hidden}") } else { format!("{parent}/{hidden}") };
            }
        } else {
            match e.header().entry_type() {
                tar::EntryType::Directory => out.kind = LayerEntryKind::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                    out.kind = LayerEntryKind::File;
                    out.size = e.size();
                    if out.size <= MAX_ENTRY_DATA && want_data(&path) {
                        let mut data = Vec::with_capacity(usize::try_from(out.size).unwrap_or(0));
                        e.read_to_end(&mut data)?;
                        out.data = Some(data);
                    }
                }
                tar::EntryType::Symlink => {
                    out.kind = LayerEntryKind::Symlink;
                    out.link =
                        Some(e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default());
                }
                tar::EntryType::Link => {
                    let target =
                        e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                    out.kind = LayerEntryKind::HardLink;
                    out.link = Some(normalize(&target).ok_or_else(|| {
                        TarError::Invalid(format!("hard link {raw} → {target:?} climbs out of the root"))
                    })?);
                }
                _ => {}
            }
        }
        visit(out).map_err(TarError::Invalid)?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::REF_NAME;

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.insert("/usr/bin", Entry::dir(0o755));
        t.insert("/bin", Entry::symlink("usr/bin"));
        t.insert("/usr/bin/a", Entry::file(0o4755, b"bin".to_vec(), 7));
        t.insert("/usr/bin/b", Entry::file(0o755, b"bin".to_vec(), 7));
        t.insert("/etc/passwd", Entry::file(0o644, b"root:x:0:0::/root:/sbin/nologin\n".to_vec(), 8));
        t.insert(&format!("/usr/share/{}", "long/".repeat(30)), Entry::dir(0o700));
        t.insert("/usr/lib/x", Entry::symlink("../bin/a"));
        t
    }

    fn sha(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    /// Write a blob; returns its descriptor JSON.
    fn blob(dir: &Path, media_type: &str, data: &[u8]) -> Value {
        let d = sha(data);
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
        serde_json::json!({ "mediaType": media_type, "digest": d, "size": data.len() })
    }

    /// An OCI layout at `dir`: one image index tagged `tag` over one
    /// manifest per `(platform, layers)`; each layer is (media type, blob,
    /// diff_id).
    /// (media type, blob, diff_id).
    type TestLayer = (&'static str, Vec<u8>, String);

    fn write_layout(dir: &Path, tag: &str, images: &[(Value, Vec<TestLayer>)]) {
        let mut manifests = Vec::new();
        for (platform, layers) in images {
            let mut config = platform.clone();
            config["rootfs"] = serde_json::json!({ "type": "layers", "diff_ids": layers.iter().map(|l| l.2.clone()).collect::<Vec<_>>() });
            let cd = blob(dir, "application/vnd.oci.image.config.v1+json", &serde_json::to_vec(&config).unwrap());
            let lds: Vec<Value> = layers.iter().map(|(mt, data, _)| blob(dir, mt, data)).collect();
            let m =
                serde_json::json!({ "schemaVersion": 2, "mediaType": MANIFEST_TYPES[0], "config": cd, "layers": lds });
            let mut md = blob(dir, MANIFEST_TYPES[0], &serde_json::to_vec(&m).unwrap());
            md["platform"] = platform.clone();
            manifests.push(md);
        }
        let idx = serde_json::json!({ "schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": manifests });
        let mut id = blob(dir, INDEX_TYPES[0], &serde_json::to_vec(&idx).unwrap());
        id["annotations"] = serde_json::json!({ REF_NAME: tag });
        let top = serde_json::json!({ "schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": [id] });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    }

    fn gzip_layer(tree: &Tree) -> TestLayer {
        let (blob, diff_id) = crate::layer::gzip_tree(tree, 1).unwrap();
        ("application/vnd.oci.image.layer.v1.tar+gzip", blob, diff_id)
    }

    fn arm64() -> Value {
        serde_json::json!({ "os": "linux", "architecture": "arm64", "variant": "v8" })
    }

    /// Entries as comparable text (inode numbers differ).
    fn describe(t: &Tree) -> Vec<String> {
        t.iter()
            .map(|(p, e)| {
                let k = match &e.kind {
                    Kind::Dir => "dir".to_string(),
                    Kind::File { data, .. } => format!("file {}", String::from_utf8_lossy(&data.read_lossy())),
                    Kind::Symlink(s) => format!("link {s}"),
                };
                format!("{p} {:o} {}:{} {k}", e.mode, e.uid, e.gid)
            })
            .collect()
    }

    #[test]
    fn layout_reads_back_as_the_tree_written() {
        let tmp = tempfile::tempdir().unwrap();
        let t = sample();
        write_layout(tmp.path(), "latest", &[(arm64(), vec![gzip_layer(&t)])]);
        let got = read_layout(tmp.path(), "latest").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "linux/arm64/v8");
        assert_eq!(describe(&got[0].1), describe(&t));
        // Hard links share their inode.
        let inode = |p: &str| match &got[0].1.get(p).unwrap().kind {
            Kind::File { inode, .. } => *inode,
            _ => panic!(),
        };
        assert_eq!(inode("/usr/bin/a"), inode("/usr/bin/b"));
        match read_layout(tmp.path(), "other") {
            Err(ReadError::Invalid { reason, .. }) => {
                assert!(reason.contains("no image tagged \"other\" (tags: latest)"), "{reason}")
            }
            other => panic!("{:?}", other.map(|v| v.len())),
        }
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lower = Tree::new();
        lower.insert("/etc/keep", Entry::file(0o644, b"k".to_vec(), 1));
        lower.insert("/etc/gone/sub/file", Entry::file(0o644, b"g".to_vec(), 2));
        lower.insert("/opt/old", Entry::file(0o644, b"o".to_vec(), 3));
        let mut tar = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar);
            for (name, data) in
                [("etc/.wh.gone", &b""[..]), ("opt/.wh..wh..opq", b""), ("opt/new", b"n"), ("etc/keep", b"K")]
            {
                let mut h = tar::Header::new_gnu();
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, name, data).unwrap();
            }
            b.finish().unwrap();
        }
        let upper = ("application/vnd.oci.image.layer.v1.tar", tar.clone(), sha(&tar));
        let amd64 = serde_json::json!({ "os": "linux", "architecture": "amd64" });
        write_layout(tmp.path(), "latest", &[(amd64, vec![gzip_layer(&lower), upper])]);
        let got = read_layout(tmp.path(), "latest").unwrap();
        let t = &got[0].1;
        let paths: Vec<&str> = t.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/", "/etc", "/etc/keep", "/opt", "/opt/new"]);
        assert!(matches!(&t.get("/etc/keep").unwrap().kind, Kind::File { data, .. } if &*data.read().unwrap() == b"K"));
    }

    #[test]
    fn corrupt_layer_blob_is_a_digest_error() {
        let tmp = tempfile::tempdir().unwrap();
        let layer = gzip_layer(&sample());
        let good = layer.1.clone();
        write_layout(tmp.path(), "latest", &[(arm64(), vec![layer.clone()])]);
        let path = tmp.path().join("blobs/sha256").join(&sha(&good)[7..]);
        // A trailing byte: the gzip and tar streams are intact, the blob is not.
        std::fs::write(&path, [good.as_slice(), b"x"].concat()).unwrap();
        match read_layout(tmp.path(), "latest") {
            Err(ReadError::Digest { what, detail }) => {
                assert!(what.starts_with("layer sha256:"), "{what}");
                assert_eq!(detail, format!("layer blob is longer than its size {}", good.len()));
            }
            other => panic!("{:?}", other.map(|v| v.len())),
        }
        // A flipped byte: whatever the decoder makes of it, the read fails.
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        assert!(read_layout(tmp.path(), "latest").is_err());
    }

    #[test]
    fn same_size_other_content_is_a_digest_error() {
        // An uncompressed layer with one byte of file content changed: the
        // tar stays valid, only the digest tells.
        let tmp = tempfile::tempdir().unwrap();
        let mut tar = Vec::new();
        crate::layer::write_tree_tar(&sample(), 1, &mut tar).unwrap();
        let path = tmp.path().join("blobs/sha256").join(&sha(&tar)[7..]);
        let layer = ("application/vnd.oci.image.layer.v1.tar", tar.clone(), sha(&tar));
        write_layout(tmp.path(), "latest", &[(arm64(), vec![layer])]);
        let at = tar.windows(5).position(|w| w == b"root:").unwrap();
        tar[at] = b'R';
        std::fs::write(&path, &tar).unwrap();
        match read_layout(tmp.path(), "latest") {
            Err(ReadError::Digest { detail, .. }) => {
                assert!(detail.starts_with("layer blob digest mismatch: expected"), "{detail}")
            }
            other => panic!("{:?}", other.map(|v| v.len())),
        }
    }

    #[test]
    fn wrong_diff_id_is_a_digest_error() {
        let tmp = tempfile::tempdir().unwrap();
        let mut tar = Vec::new();
        crate::layer::write_tree_tar(&sample(), 1, &mut tar).unwrap();
        let layer = ("application/vnd.oci.image.layer.v1.tar", tar, format!("sha256:{}", "0".repeat(64)));
        write_layout(tmp.path(), "v1", &[(arm64(), vec![layer])]);
        match read_layout(tmp.path(), "v1") {
            Err(ReadError::Digest { detail, .. }) => {
                assert!(detail.starts_with("uncompressed layer (diff_id) digest mismatch"), "{detail}")
            }
            other => panic!("{:?}", other.map(|v| v.len())),
        }
    }

    #[test]
    fn tampered_manifest_is_a_digest_error() {
        let tmp = tempfile::tempdir().unwrap();
        write_layout(tmp.path(), "latest", &[(arm64(), vec![gzip_layer(&sample())])]);
        // Find the manifest blob and change one byte of it in place.
        for e in std::fs::read_dir(tmp.path().join("blobs/sha256")).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            if text.contains("\"layers\"") {
                std::fs::write(&p, text.replacen("\"schemaVersion\":2", "\"schemaVersion\":3", 1)).unwrap();
            }
        }
        assert!(matches!(read_layout(tmp.path(), "latest"), Err(ReadError::Digest { .. })));
    }

    #[test]
    fn layers_are_walked_one_by_one_with_sizes_and_verification() {
        let tmp = tempfile::tempdir().unwrap();
        let mut tar = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar);
            let mut add = |name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
                let mut h = tar::Header::new_gnu();
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                h.set_entry_type(kind);
                if let Some(l) = link {
                    h.set_link_name(l).unwrap();
                }
                b.append_data(&mut h, name, data).unwrap();
            };
            add("usr/", tar::EntryType::Directory, b"", None);
            add("usr/bin/tool", tar::EntryType::Regular, &[7; 3000], None);
            add("usr/bin/tool2", tar::EntryType::Link, b"", Some("./usr/bin/tool"));
            add("usr/bin/t", tar::EntryType::Symlink, b"", Some("tool"));
            add("var/lib/dpkg/status.d/tool", tar::EntryType::Regular, b"Package: tool\n", None);
            add("etc/.wh.gone", tar::EntryType::Regular, b"", None);
            add("opt/.wh..wh..opq", tar::EntryType::Regular, b"", None);
            b.finish().unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let blob_bytes = gz.finish().unwrap();
        let layer = ("application/vnd.oci.image.layer.v1.tar+gzip", blob_bytes.clone(), sha(&tar));
        write_layout(tmp.path(), "latest", &[(arm64(), vec![layer])]);

        let image = read_manifests(tmp.path(), "latest").unwrap();
        assert_eq!(image.media_type, INDEX_TYPES[0]);
        assert_eq!(image.platforms.len(), 1);
        let p = &image.platforms[0];
        assert_eq!(p.platform, "linux/arm64/v8");
        assert!(tmp.path().join("blobs/sha256").join(&p.digest[7..]).is_file());
        let l = &p.layers[0];
        assert_eq!(
            (l.digest.clone(), l.size, l.diff_id.clone()),
            (sha(&blob_bytes), blob_bytes.len() as u64, sha(&tar))
        );

        let mut seen = Vec::new();
        let stats = walk_layer(tmp.path(), l, &|p| p.contains("status.d"), &mut |e| {
            seen.push((e.path, e.kind, e.size, e.link, e.data.map(|d| String::from_utf8(d).unwrap())));
            Ok(())
        })
        .unwrap();
        assert_eq!(stats, LayerStats { uncompressed_size: tar.len() as u64, entries: 7 });
        use LayerEntryKind::*;
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            seen,
            [
                ("/usr".to_string(), Dir, 0, None, None),
                ("/usr/bin/tool".into(), File, 3000, None, None),
                ("/usr/bin/tool2".into(), HardLink, 0, s("/usr/bin/tool"), None),
                ("/usr/bin/t".into(), Symlink, 0, s("tool"), None),
                ("/var/lib/dpkg/status.d/tool".into(), File, 14, None, s("Package: tool\n")),
                ("/etc/gone".into(), Whiteout, 0, None, None),
                ("/opt".into(), OpaqueWhiteout, 0, None, None),
            ]
        );

        // A visitor's error names the blob; a wrong diff_id is a digest error.
        match walk_layer(tmp.path(), l, &|_| false, &mut |_| Err("stop".into())) {
            Err(ReadError::Invalid { path, reason }) => {
                assert_eq!((path.file_name().unwrap().to_str().unwrap(), reason.as_str()), (&l.digest[7..], "stop"))
            }
            other => panic!("{other:?}"),
        }
        let wrong = LayerRef { diff_id: format!("sha256:{}", "0".repeat(64)), ..l.clone() };
        match walk_layer(tmp.path(), &wrong, &|_| false, &mut |_| Ok(())) {
            Err(ReadError::Digest { detail, .. }) => {
                assert!(detail.starts_with("uncompressed layer (diff_id) digest mismatch"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
}
