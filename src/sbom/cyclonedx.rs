//! CycloneDX 1.5 JSON.
//!
//! Shape: `metadata.component` is the image (type `container`, version =
//! the `latest` manifest digest of the architecture, purl `pkg:oci/…`);
//! `components` holds one `library` per Debian package (`bom-ref` = its
//! purl; version, `publisher` = `Maintainer`, license expression, the
//! `.deb`'s SHA-256, properties `distill:source`, `distill:suite`,
//! `distill:pool-path`) with its files as nested `file` components (SHA-1,
//! SHA-256), then the generated files as `file` components of their own.
//! `dependencies`: the image depends on every package. `serialNumber` is
//! derived from the SHA256 of the document's content.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{image_purl, uuid_from, FileInfo, ImageInfo, Inventory};

fn file_component(f: &FileInfo, generated: bool) -> Value {
    let mut v = json!({
        "type": "file",
        "bom-ref": format!("file:{}", f.path),
        "name": f.path,
        "hashes": [{"alg": "SHA-1", "content": f.sha1}, {"alg": "SHA-256", "content": f.sha256}],
    });
    if generated {
        v["properties"] = json!([{"name": "distill:generated", "value": "true"}]);
    }
    v
}

/// The CycloneDX document of `inv`.
pub fn render(inv: &Inventory, info: &ImageInfo) -> Vec<u8> {
    let mut components = Vec::new();
    for p in &inv.packages {
        let mut c = json!({
            "type": "library",
            "bom-ref": p.purl,
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
            "hashes": [{"alg": "SHA-256", "content": p.deb_sha256}],
            "properties": [
                {"name": "distill:architecture", "value": p.arch},
                {"name": "distill:pool-path", "value": p.pool_path},
                {"name": "distill:source", "value": format!("{} {}", p.source, p.source_version)},
                {"name": "distill:suite", "value": p.suite},
            ],
        });
        if let Some(m) = &p.maintainer {
            c["publisher"] = json!(m);
        }
        if let Some(s) = &p.summary {
            c["description"] = json!(s);
        }
        if let Some(e) = &p.license.expression {
            c["licenses"] = json!([{"expression": e}]);
        }
        if !p.files.is_empty() {
            c["components"] = p.files.iter().map(|f| file_component(f, false)).collect();
        }
        components.push(c);
    }
    components.extend(inv.generated.iter().map(|f| file_component(f, true)));
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "",
        "version": 1,
        "metadata": {
            "timestamp": info.created,
            "tools": {"components": [{"type": "application", "name": "distill", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": info.name,
                "version": info.manifest,
                "purl": image_purl(info),
                "properties": [{"name": "distill:architecture", "value": info.arch}],
            },
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": inv.packages.iter().map(|p| p.purl.clone()).collect::<Vec<_>>()}],
    });
    let digest = Sha256::digest(serde_json::to_vec(&doc).unwrap_or_default());
    doc["serialNumber"] = json!(format!("urn:uuid:{}", uuid_from(&digest)));
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}
