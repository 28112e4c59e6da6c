//! The image a tag of a local OCI image layout names (image-spec
//! image-layout.md), as push and export need it: the JSON documents
//! (image index, manifests, configs) read and verified against their
//! descriptors' digests and sizes, and the layer blobs as files (checked
//! to exist with their size; their content is hashed while it is sent or
//! written).
//!
//! `index.json` → the descriptor whose `org.opencontainers.image.ref.name`
//! is the tag (an untagged single-entry index counts as `latest`) → an
//! image index (image-index.md) of platform manifests, or one image
//! manifest (manifest.md) → config and layers.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{sha256_digest, RegistryError};

/// Annotation holding a tag in `index.json`.
pub use crate::oci::REF_NAME;

/// A blob stored as a file of the layout.
#[derive(Debug, Clone)]
pub struct BlobFile {
    /// Media type from its descriptor.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// `blobs/sha256/<hex>` in the layout.
    pub path: PathBuf,
}

/// A JSON document (image index, manifest or config), verified.
#[derive(Debug, Clone)]
pub struct Document {
    /// Media type (the document's `mediaType`, else its descriptor's).
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: String,
    /// The exact bytes (their digest is the document's identity).
    pub bytes: Vec<u8>,
    /// Parsed.
    pub json: Value,
}

/// `os/architecture[/variant]` (image-index.md `platform`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// GOARCH name: `amd64`, `arm64`, `arm` …
    pub architecture: String,
    /// `v8`, `v7` …
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.variant {
            Some(v) => write!(f, "{}/{}/{v}", self.os, self.architecture),
            None => write!(f, "{}/{}", self.os, self.architecture),
        }
    }
}

impl Platform {
    fn from_json(v: &Value) -> Option<Platform> {
        Some(Platform {
            os: v.get("os")?.as_str()?.to_string(),
            architecture: v.get("architecture")?.as_str()?.to_string(),
            variant: v.get("variant").and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from),
        })
    }

    /// Whether `want` names this platform: a Debian architecture
    /// (`amd64`, `arm64`, `armhf` …), a GOARCH name, or
    /// `os/arch[/variant]` (a missing variant matches any).
    pub fn matches(&self, want: &str) -> bool {
        let parts: Vec<&str> = want.split('/').collect();
        match parts.as_slice() {
            [os, arch] => *os == self.os && *arch == self.architecture,
            [os, arch, var] => *os == self.os && *arch == self.architecture && self.variant.as_deref() == Some(*var),
            [name] => {
                let p = crate::oci::Platform::from_debian(name);
                p.architecture == self.architecture
                    && match (&p.variant, &self.variant) {
                        (Some(a), Some(b)) => a == b,
                        _ => true,
                    }
            }
            _ => false,
        }
    }
}

/// One platform's image: its manifest, config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image manifest.
    pub manifest: Document,
    /// From the index entry, else from the config.
    pub platform: Platform,
    /// The config blob.
    pub config: BlobFile,
    /// The config document (read and verified).
    pub config_json: Value,
    /// Layers, bottom first.
    pub layers: Vec<BlobFile>,
}

/// What a tag names.
#[derive(Debug, Clone)]
pub enum Tagged {
    /// An image index and its platform images, in index order.
    Index {
        /// The index document.
        index: Document,
        /// Its manifests.
        images: Vec<Image>,
    },
    /// A single image manifest.
    Image(Image),
}

/// A tag of a layout, read.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// The layout directory.
    pub dir: PathBuf,
    /// The tag.
    pub tag: String,
    /// What it names.
    pub tagged: Tagged,
}

impl LocalImage {
    /// Every platform image (one for a single manifest).
    pub fn images(&self) -> Vec<&Image> {
        match &self.tagged {
            Tagged::Index { images, .. } => images.iter().collect(),
            Tagged::Image(i) => vec![i],
        }
    }

    /// The digest the tag points at.
    pub fn digest(&self) -> &str {
        match &self.tagged {
            Tagged::Index { index, .. } => &index.digest,
            Tagged::Image(i) => &i.manifest.digest,
        }
    }

    /// The platforms, as `os/arch[/variant]`.
    pub fn platforms(&self) -> Vec<String> {
        self.images().iter().map(|i| i.platform.to_string()).collect()
    }

    /// The image of one platform (`--arch`); an error lists the platforms.
    pub fn select(&self, want: &str) -> Result<&Image, RegistryError> {
        let found: Vec<&Image> =
            self.images().into_iter().filter(|i| i.platform.os != "unknown" && i.platform.matches(want)).collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(RegistryError::Usage(crate::spec::unknown_arch(
                want,
                &format!("{}:{}", self.dir.display(), self.tag),
                &self.platforms(),
            ))),
            _ => Err(RegistryError::Usage(format!(
                "--arch {want}: {}:{} has more than one such platform ({}); name the variant (os/arch/variant)",
                self.dir.display(),
                self.tag,
                found.iter().map(|i| i.platform.to_string()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// The Debian name of the machine's architecture (`amd64`, `arm64` …).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "x86" => "i386",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

const INDEX_TYPES: [&str; 2] = [super::OCI_INDEX, super::DOCKER_LIST];
const MANIFEST_TYPES: [&str; 2] = [super::OCI_MANIFEST, super::DOCKER_MANIFEST];

fn invalid(path: &Path, reason: impl Into<String>) -> RegistryError {
    RegistryError::Layout { path: path.into(), reason: reason.into() }
}

/// A descriptor's fields.
struct Desc {
    media_type: String,
    digest: String,
    size: u64,
    platform: Option<Platform>,
}

fn desc(v: &Value, at: &Path) -> Result<Desc, RegistryError> {
    let digest = v.get("digest").and_then(Value::as_str).ok_or_else(|| invalid(at, "descriptor without digest"))?;
    if !super::is_sha256_digest(digest) {
        return Err(invalid(at, format!("unsupported digest {digest:?} (only sha256)")));
    }
    let size = v
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(at, format!("descriptor {digest} without size")))?;
    Ok(Desc {
        media_type: v.get("mediaType").and_then(Value::as_str).unwrap_or("").to_string(),
        digest: digest.to_string(),
        size,
        platform: v.get("platform").and_then(Platform::from_json),
    })
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

fn read_document(dir: &Path, d: &Desc, role: &str) -> Result<Document, RegistryError> {
    let path = blob_path(dir, &d.digest);
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|f| f.take(d.size.saturating_add(1).min(64 << 20)).read_to_end(&mut bytes))
        .map_err(|source| RegistryError::Io { path: path.clone(), source })?;
    if bytes.len() as u64 != d.size {
        return Err(invalid(
            &path,
            format!("{role} {} has {} bytes, its descriptor says {}", d.digest, bytes.len(), d.size),
        ));
    }
    let actual = sha256_digest(&bytes);
    if actual != d.digest {
        return Err(invalid(&path, format!("{role} digest mismatch: expected {}, got {actual}", d.digest)));
    }
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(&path, format!("{role} is not JSON: {e}")))?;
    let media_type = json.get("mediaType").and_then(Value::as_str).unwrap_or(&d.media_type).to_string();
    Ok(Document { media_type, digest: d.digest.clone(), bytes, json })
}

fn blob_file(dir: &Path, d: &Desc, role: &str) -> Result<BlobFile, RegistryError> {
    let path = blob_path(dir, &d.digest);
    let meta = std::fs::metadata(&path).map_err(|source| RegistryError::Io { path: path.clone(), source })?;
    if meta.len() != d.size {
        return Err(invalid(
            &path,
            format!("{role} {} has {} bytes, its descriptor says {}", d.digest, meta.len(), d.size),
        ));
    }
    Ok(BlobFile { media_type: d.media_type.clone(), digest: d.digest.clone(), size: d.size, path })
}

/// The descriptor in `index.json` tagged `tag`.
fn tagged(dir: &Path, tag: &str) -> Result<Desc, RegistryError> {
    let index_path = dir.join("index.json");
    let text = crate::oci::read_index_json(&index_path)
        .map_err(|source| RegistryError::Io { path: index_path.clone(), source })?;
    let index: Value = serde_json::from_slice(&text).map_err(|e| invalid(&index_path, format!("not JSON: {e}")))?;
    let manifests =
        index.get("manifests").and_then(Value::as_array).ok_or_else(|| invalid(&index_path, "no manifests"))?;
    let top = crate::oci::find_tagged(manifests, tag).map_err(|m| invalid(&index_path, m))?;
    desc(top, &index_path)
}

fn read_image(dir: &Path, d: &Desc, manifest: Document, platform: Option<Platform>) -> Result<Image, RegistryError> {
    let at = blob_path(dir, &d.digest);
    let cd = desc(manifest.json.get("config").ok_or_else(|| invalid(&at, "manifest without config"))?, &at)?;
    let config_doc = read_document(dir, &cd, "config")?;
    let config = BlobFile {
        media_type: cd.media_type.clone(),
        digest: cd.digest.clone(),
        size: cd.size,
        path: blob_path(dir, &cd.digest),
    };
    let layers = manifest
        .json
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(&at, "manifest without layers"))?
        .iter()
        .map(|l| desc(l, &at).and_then(|ld| blob_file(dir, &ld, "layer")))
        .collect::<Result<Vec<_>, _>>()?;
    let platform = match platform.or_else(|| Platform::from_json(&config_doc.json)) {
        Some(p) => p,
        None => Platform { os: "unknown".into(), architecture: "unknown".into(), variant: None },
    };
    Ok(Image { manifest, platform, config, config_json: config_doc.json, layers })
}

/// Read the image tagged `tag` of the layout at `dir`.
pub fn open(dir: &Path, tag: &str) -> Result<LocalImage, RegistryError> {
    if !dir.join("oci-layout").is_file() {
        return Err(invalid(dir, "not an OCI image layout (no oci-layout file)"));
    }
    let top = tagged(dir, tag)?;
    let doc = read_document(dir, &top, "image index or manifest")?;
    let at = blob_path(dir, &top.digest);
    let is_index = INDEX_TYPES.contains(&doc.media_type.as_str())
        || (doc.media_type.is_empty() && doc.json.get("manifests").is_some());
    let is_manifest = MANIFEST_TYPES.contains(&doc.media_type.as_str())
        || (doc.media_type.is_empty() && doc.json.get("layers").is_some());
    let tagged = if is_index {
        let list = doc
            .json
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(&at, "image index without manifests"))?;
        let mut images = Vec::new();
        for m in list {
            let md = desc(m, &at)?;
            let child = read_document(dir, &md, "manifest")?;
            if INDEX_TYPES.contains(&child.media_type.as_str()) || child.json.get("manifests").is_some() {
                return Err(invalid(&at, format!("nested image index {} is not supported", md.digest)));
            }
            images.push(read_image(dir, &md, child, md.platform.clone())?);
        }
        if images.is_empty() {
            return Err(invalid(&at, "image index lists no manifest"));
        }
        Tagged::Index { index: doc, images }
    } else if is_manifest {
        Tagged::Image(read_image(dir, &top, doc, None)?)
    } else {
        return Err(invalid(&at, format!("unsupported media type {:?}", doc.media_type)));
    };
    Ok(LocalImage { dir: dir.to_path_buf(), tag: tag.to_string(), tagged })
}

/// The tags of a layout's `index.json`, in order.
pub fn tags(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let index_path = dir.join("index.json");
    let text = crate::oci::read_index_json(&index_path)
        .map_err(|source| RegistryError::Io { path: index_path.clone(), source })?;
    let index: Value = serde_json::from_slice(&text).map_err(|e| invalid(&index_path, format!("not JSON: {e}")))?;
    Ok(index
        .get("manifests")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(|m| {
                    m.get("annotations").and_then(|a| a.get(REF_NAME)).and_then(Value::as_str).map(String::from)
                })
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names_match() {
        let arm = Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()) };
        assert!(arm.matches("arm64"));
        assert!(arm.matches("linux/arm64"));
        assert!(arm.matches("linux/arm64/v8"));
        assert!(!arm.matches("linux/arm64/v7"));
        assert!(!arm.matches("amd64"));
        let armhf = Platform { os: "linux".into(), architecture: "arm".into(), variant: Some("v7".into()) };
        assert!(armhf.matches("armhf"));
        assert!(!armhf.matches("armel"));
        assert_eq!(arm.to_string(), "linux/arm64/v8");
    }
}
