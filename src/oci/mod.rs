//! OCI image config, manifest, image index and image layout
//! (OCI image-spec v1.1: config.md, manifest.md, image-index.md,
//! image-layout.md). Knows nothing of Debian.
//!
//! Every JSON blob goes through [`canonical_json`]: a `serde_json::Value`
//! round trip (object keys sorted), compact, so equal content gives equal
//! bytes whatever order oci-spec's HashMaps iterate in.

pub mod layout;

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder,
    ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder, Sha256Digest,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use layout::write_layout;

/// Annotation naming a tag in an image layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Errors building OCI documents.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// oci-spec rejected a value.
    #[error("cannot build OCI {what}: {reason}")]
    Build {
        /// Which document.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Writing the layout failed.
    #[error("cannot write image layout {path}: {source}")]
    Io {
        /// Path being written.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A content-addressed blob with its descriptor fields.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Media type.
    pub media_type: String,
    /// Bytes.
    pub data: Vec<u8>,
    /// `sha256:<hex>`.
    pub digest: String,
}

impl Blob {
    /// Wrap bytes, computing the digest.
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        Blob { media_type: media_type.into(), data, digest }
    }

    /// A descriptor for this blob, with optional platform and annotations.
    pub fn descriptor(
        &self,
        platform: Option<&Platform>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Descriptor, OciError> {
        descriptor(&self.media_type, &self.digest, self.data.len() as u64, platform, annotations)
    }
}

/// The platform of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// GOARCH-style architecture (`amd64`, `arm64`, `arm`, `386`, …).
    pub architecture: String,
    /// Variant (`v8` for arm64, `v7` for armhf), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// Map a Debian architecture name to an OCI platform.
    pub fn from_debian(arch: &str) -> Self {
        let (a, v) = match arch {
            "amd64" => ("amd64", None),
            "arm64" => ("arm64", Some("v8")),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v5")),
            "i386" => ("386", None),
            "ppc64el" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "mips64el" => ("mips64le", None),
            other => (other, None),
        };
        Platform { architecture: a.into(), variant: v.map(String::from) }
    }
}

/// The image configuration (OCI image-spec config.md `config`).
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env` as `KEY=value`, in order.
    pub env: Vec<String>,
    /// `User`, e.g. `0` or `65532:65532`.
    pub user: String,
    /// `WorkingDir`.
    pub workdir: String,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
}

/// Most bytes an `index.json` may have when read back (a layout with
/// thousands of tags stays far below it).
pub const INDEX_JSON_MAX: u64 = 16 << 20;

/// Read a layout's `index.json` (OCI image-spec, image-layout.md),
/// refusing one larger than [`INDEX_JSON_MAX`] or that is not a regular
/// file (a link to `/dev/zero` must not fill memory).
pub fn read_index_json(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a regular file"));
    }
    let mut buf = Vec::new();
    file.take(INDEX_JSON_MAX + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > INDEX_JSON_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB; refusing to read it", INDEX_JSON_MAX >> 20),
        ));
    }
    Ok(buf)
}

/// The entry of an `index.json` `manifests` list tagged `tag`
/// (`org.opencontainers.image.ref.name`, image-spec image-layout.md); an
/// index whose only entry is untagged counts as `latest`. The error text
/// names the tags there are.
pub fn find_tagged<'a>(manifests: &'a [serde_json::Value], tag: &str) -> Result<&'a serde_json::Value, String> {
    fn name(m: &serde_json::Value) -> Option<&str> {
        m.get("annotations").and_then(|a| a.get(REF_NAME)).and_then(|v| v.as_str())
    }
    let hits: Vec<&serde_json::Value> = manifests.iter().filter(|m| name(m) == Some(tag)).collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] if manifests.len() == 1 && tag == "latest" && name(&manifests[0]).is_none() => Ok(&manifests[0]),
        [] => {
            let tags: Vec<&str> = manifests.iter().filter_map(name).collect();
            Err(format!(
                "no image tagged {tag:?} (tags: {})",
                if tags.is_empty() { "none".into() } else { tags.join(", ") }
            ))
        }
        _ => Err(format!("more than one image tagged {tag:?}")),
    }
}

/// Serialize `value` canonically: keys sorted, compact, no trailing newline.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    let v = serde_json::to_value(value).expect("OCI types serialize");
    serde_json::to_vec(&v).expect("Value serializes")
}

fn build_err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> OciError {
    move |e| OciError::Build { what, reason: e.to_string() }
}

fn descriptor(
    media_type: &str,
    digest: &str,
    size: u64,
    platform: Option<&Platform>,
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, OciError> {
    let d: Sha256Digest = digest.trim_start_matches("sha256:").parse().map_err(build_err("descriptor"))?;
    let mut b = DescriptorBuilder::default().media_type(MediaType::from(media_type)).digest(d).size(size);
    if let Some(p) = platform {
        let mut pb = PlatformBuilder::default().architecture(Arch::from(p.architecture.as_str())).os(Os::Linux);
        if let Some(v) = &p.variant {
            pb = pb.variant(v.clone());
        }
        b = b.platform(pb.build().map_err(build_err("platform"))?);
    }
    if !annotations.is_empty() {
        b = b.annotations(annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>());
    }
    b.build().map_err(build_err("descriptor"))
}

/// One layer as the config and manifest need it.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// Media type.
    pub media_type: String,
    /// `sha256:` of the blob.
    pub digest: String,
    /// Blob size, bytes.
    pub size: u64,
    /// Uncompressed tar size, bytes (not part of any descriptor).
    pub size_uncompressed: u64,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
}

/// Build the config blob.
pub fn config_blob(platform: &Platform, run: &RunConfig, layers: &[LayerRef], created: &str) -> Result<Blob, OciError> {
    let mut cb = ConfigBuilder::default().env(run.env.clone()).user(run.user.clone()).working_dir(run.workdir.clone());
    if !run.entrypoint.is_empty() {
        cb = cb.entrypoint(run.entrypoint.clone());
    }
    if !run.cmd.is_empty() {
        cb = cb.cmd(run.cmd.clone());
    }
    if !run.labels.is_empty() {
        cb = cb.labels(run.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>());
    }
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>())
        .build()
        .map_err(build_err("rootfs"))?;
    let history = layers
        .iter()
        .map(|_| HistoryBuilder::default().created(created).created_by("distill").build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_err("history"))?;
    let mut ib = ImageConfigurationBuilder::default()
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::Linux)
        .created(created)
        .config(cb.build().map_err(build_err("config"))?)
        .rootfs(rootfs)
        .history(history);
    if let Some(v) = &platform.variant {
        ib = ib.variant(v.clone());
    }
    let cfg = ib.build().map_err(build_err("image configuration"))?;
    Ok(Blob::new("application/vnd.oci.image.config.v1+json", canonical_json(&cfg)))
}

/// Build the manifest blob for a config and its layers.
pub fn manifest_blob(config: &Blob, layers: &[LayerRef]) -> Result<Blob, OciError> {
    let none = BTreeMap::new();
    let layer_descs = layers
        .iter()
        .map(|l| descriptor(&l.media_type, &l.digest, l.size, None, &none))
        .collect::<Result<Vec<_>, _>>()?;
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.descriptor(None, &none)?)
        .layers(layer_descs)
        .build()
        .map_err(build_err("manifest"))?;
    Ok(Blob::new("application/vnd.oci.image.manifest.v1+json", canonical_json(&m)))
}

/// Build an image index over `manifests`, each with its platform.
pub fn index_blob(manifests: &[(Blob, Platform)]) -> Result<Blob, OciError> {
    let none = BTreeMap::new();
    let descs = manifests.iter().map(|(m, p)| m.descriptor(Some(p), &none)).collect::<Result<Vec<_>, _>>()?;
    let idx = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(descs)
        .build()
        .map_err(build_err("image index"))?;
    Ok(Blob::new("application/vnd.oci.image.index.v1+json", canonical_json(&idx)))
}

/// RFC 3339 UTC time for `epoch` seconds.
pub fn rfc3339(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {

    #[test]
    fn index_json_that_never_ends_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let link = t.path().join("index.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_index_json(&link).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let big = t.path().join("big.json");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(INDEX_JSON_MAX + 10).unwrap();
        assert!(read_index_json(&big).unwrap_err().to_string().contains("larger than 16 MiB"));
        std::fs::write(&big, b"{}").unwrap();
        assert_eq!(read_index_json(&big).unwrap(), b"{}");
    }

    use super::*;

    #[test]
    fn canonical_json_sorts_keys_stably() {
        let mut labels = BTreeMap::new();
        for i in 0..20 {
            labels.insert(format!("k{i}"), "v".to_string());
        }
        let run = RunConfig { labels, user: "0".into(), workdir: "/".into(), ..Default::default() };
        let p = Platform::from_debian("amd64");
        let a = config_blob(&p, &run, &[], "2024-01-01T00:00:00Z").unwrap();
        for _ in 0..5 {
            assert_eq!(config_blob(&p, &run, &[], "2024-01-01T00:00:00Z").unwrap().digest, a.digest);
        }
        let text = String::from_utf8(a.data).unwrap();
        assert!(text.find("\"architecture\"").unwrap() < text.find("\"config\"").unwrap());
        assert!(text.find("\"k0\"").unwrap() < text.find("\"k1\"").unwrap());
    }
}
