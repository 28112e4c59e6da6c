//! `--format docker`: OCI image manifests and indexes rewritten with the
//! Docker image manifest v2, schema 2 media types, for registries that
//! refuse OCI ones.
//!
//! | OCI | Docker schema 2 |
//! |---|---|
//! | `application/vnd.oci.image.index.v1+json` | `application/vnd.docker.distribution.manifest.list.v2+json` |
//! | `application/vnd.oci.image.manifest.v1+json` | `application/vnd.docker.distribution.manifest.v2+json` |
//! | `application/vnd.oci.image.config.v1+json` (descriptor only) | `application/vnd.docker.container.image.v1+json` |
//! | `application/vnd.oci.image.layer.v1.tar+gzip` | `application/vnd.docker.image.rootfs.diff.tar.gzip` |
//! | `application/vnd.oci.image.layer.v1.tar` | `application/vnd.docker.image.rootfs.diff.tar` |
//! | `application/vnd.oci.image.layer.v1.tar+zstd` | none: an error |
//!
//! Blobs (config and layers) keep their bytes and digests; the manifests
//! and the index get new bytes, so new digests. Annotations, which schema
//! 2 does not have, are dropped.

use serde_json::{json, Map, Value};

use super::layout::Image;
use super::{RegistryError, DOCKER_CONFIG, DOCKER_LIST, DOCKER_MANIFEST};

/// The Docker media type for a layer media type.
pub fn docker_layer_type(media_type: &str, digest: &str) -> Result<&'static str, RegistryError> {
    Ok(match media_type {
        "application/vnd.oci.image.layer.v1.tar+gzip" | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        }
        "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => {
            "application/vnd.docker.image.rootfs.diff.tar"
        }
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        }
        m if m.ends_with("+zstd") || m.ends_with(".zstd") => {
            return Err(RegistryError::Format(format!(
                "layer {digest} is zstd-compressed ({m}): Docker image manifest v2 schema 2 has no media type for zstd layers; push with --format oci, or build with --compression gzip"
            )))
        }
        m => {
            return Err(RegistryError::Format(format!(
                "layer {digest} has media type {m:?}, which Docker image manifest v2 schema 2 cannot express; push with --format oci"
            )))
        }
    })
}

fn descriptor(media_type: &str, digest: &str, size: u64, extra: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert("mediaType".into(), json!(media_type));
    m.insert("digest".into(), json!(digest));
    m.insert("size".into(), json!(size));
    // `urls` (foreign layers) exists in both formats.
    if let Some(urls) = extra.and_then(|d| d.get("urls")) {
        m.insert("urls".into(), urls.clone());
    }
    Value::Object(m)
}

/// The schema 2 manifest bytes for one platform image.
pub fn docker_manifest(image: &Image) -> Result<Vec<u8>, RegistryError> {
    let layer_descs = image.manifest.json.get("layers").and_then(Value::as_array);
    let layers = image
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(descriptor(
                docker_layer_type(&l.media_type, &l.digest)?,
                &l.digest,
                l.size,
                layer_descs.and_then(|d| d.get(i)),
            ))
        })
        .collect::<Result<Vec<_>, RegistryError>>()?;
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, &image.config.digest, image.config.size, None),
        "layers": layers,
    });
    Ok(crate::oci::canonical_json(&doc))
}

/// The schema 2 manifest list bytes for an index whose manifests were
/// converted to `manifests` (digest, size), in the index's order; each
/// entry keeps the index's `platform`.
pub fn docker_list(index: &Value, manifests: &[(String, u64)]) -> Result<Vec<u8>, RegistryError> {
    let entries = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    let list = entries
        .iter()
        .zip(manifests)
        .map(|(e, (digest, size))| {
            let mut d = descriptor(DOCKER_MANIFEST, digest, *size, None);
            if let Some(p) = e.get("platform") {
                d["platform"] = p.clone();
            }
            d
        })
        .collect::<Vec<_>>();
    let doc = json!({ "schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": list });
    Ok(crate::oci::canonical_json(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_layers_cannot_be_docker() {
        let e = docker_layer_type("application/vnd.oci.image.layer.v1.tar+zstd", "sha256:ab").unwrap_err();
        assert!(e.to_string().contains("sha256:ab") && e.to_string().contains("zstd"), "{e}");
        assert_eq!(
            docker_layer_type("application/vnd.oci.image.layer.v1.tar+gzip", "x").unwrap(),
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }
}
