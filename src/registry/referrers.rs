//! SBOMs attached to a pushed image as OCI 1.1 artifacts.
//!
//! For each pushed platform manifest whose Debian architecture has a file
//! `<arch>.spdx.json` / `<arch>.cdx.json` in the layout's sibling
//! `<layout>.sbom/` (see [`crate::sbom::dir_for`]): the SBOM blob and the
//! empty config blob (`application/vnd.oci.empty.v1+json`, `{}`) are
//! uploaded, then an image manifest with `artifactType`, the empty config,
//! one layer (the SBOM) and `subject` (the platform manifest) is `PUT` by
//! its digest. Its only annotation, `org.opencontainers.image.created`, is
//! the image's own creation time, so the artifact's digest is the same on
//! every push. A registry with the referrers API answers the `PUT` with
//! `OCI-Subject`; otherwise the distribution-spec "Referrers Tag Schema" is
//! used: the image index at tag `sha256-<subject hex>` gets the artifact's
//! descriptor (once; entries it holds already, ours or others', are kept).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::auth::shown_url;
use super::client::{error_detail, Client, ReqBody, Request};
use super::layout::Platform;
use super::{sha256_digest, RegistryError, OCI_INDEX, OCI_MANIFEST};

/// Media type (and bytes) of the empty config blob (image-spec manifest.md).
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty JSON object.
pub const EMPTY_BYTES: &[u8] = b"{}";
/// `artifactType` of an SPDX JSON document.
pub const SPDX_TYPE: &str = "application/spdx+json";
/// `artifactType` of a CycloneDX JSON document.
pub const CYCLONEDX_TYPE: &str = "application/vnd.cyclonedx+json";
const CREATED: &str = "org.opencontainers.image.created";

/// An SBOM file of the layout's `.sbom` directory.
#[derive(Debug, Clone)]
pub struct SbomFile {
    /// Debian architecture (from the file name).
    pub arch: String,
    /// [`SPDX_TYPE`] or [`CYCLONEDX_TYPE`].
    pub media_type: &'static str,
    /// The file.
    pub path: PathBuf,
}

/// The SBOM files next to the layout at `dir` (none when there is no
/// `.sbom` directory), sorted by name.
pub fn sbom_files(dir: &Path) -> Result<Vec<SbomFile>, RegistryError> {
    let sdir = crate::sbom::dir_for(dir);
    let entries = match std::fs::read_dir(&sdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(RegistryError::Io { path: sdir, source }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RegistryError::Io { path: sdir.clone(), source })?;
        let name = entry.file_name().to_string_lossy().to_string();
        let (arch, media_type) = if let Some(a) = name.strip_suffix(".spdx.json") {
            (a, SPDX_TYPE)
        } else if let Some(a) = name.strip_suffix(".cdx.json") {
            (a, CYCLONEDX_TYPE)
        } else {
            continue;
        };
        if arch.is_empty() || !entry.path().is_file() {
            continue;
        }
        out.push(SbomFile { arch: arch.to_string(), media_type, path: entry.path() });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The SBOM files for a platform.
pub fn for_platform<'a>(files: &'a [SbomFile], platform: &Platform) -> Vec<&'a SbomFile> {
    if platform.os == "unknown" {
        return Vec::new();
    }
    files.iter().filter(|f| platform.matches(&f.arch)).collect()
}

/// A pushed manifest an artifact refers to.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Media type as pushed.
    pub media_type: String,
    /// Digest as pushed.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The image's `created` (from its config).
    pub created: Option<String>,
}

/// One attached artifact.
#[derive(Debug, Clone)]
pub struct ArtifactReport {
    /// The artifact manifest's digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// `artifactType`.
    pub artifact_type: String,
    /// The subject's digest.
    pub subject: String,
    /// The subject's platform.
    pub platform: String,
    /// The SBOM file.
    pub file: PathBuf,
    /// `"referrers-api"` or `"tag-schema"`.
    pub method: &'static str,
    /// The fallback tag (`sha256-<hex>`), when used.
    pub tag: Option<String>,
    /// Whether the fallback index had to be written (`false`: it listed
    /// the artifact already).
    pub index_updated: bool,
}

impl ArtifactReport {
    /// For `--json`.
    pub fn to_json(&self) -> Value {
        json!({
            "digest": self.digest, "size": self.size, "artifact_type": self.artifact_type,
            "subject": self.subject, "platform": self.platform,
            "file": self.file.display().to_string(), "method": self.method,
            "tag": self.tag, "index_updated": self.index_updated,
        })
    }
}

/// The artifact manifest (bytes) for an SBOM blob of `sbom_type`.
pub fn artifact_manifest(sbom_type: &str, sbom_digest: &str, sbom_size: u64, subject: &Subject) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": sbom_type,
        "config": {"mediaType": EMPTY_TYPE, "digest": sha256_digest(EMPTY_BYTES), "size": EMPTY_BYTES.len(), "data": "e30="},
        "layers": [{"mediaType": sbom_type, "digest": sbom_digest, "size": sbom_size}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    });
    if let Some(c) = &subject.created {
        m["annotations"] = json!({ CREATED: c });
    }
    serde_json::to_vec(&m).expect("json")
}

/// The referrers tag of a subject digest: `sha256-<hex>`.
pub fn fallback_tag(subject_digest: &str) -> String {
    subject_digest.replacen(':', "-", 1)
}

/// Add `desc` to the fallback index `index` (`None`: a new, empty one)
/// unless an entry with its digest is there. Returns the index and whether
/// it changed. Other entries are kept as they are.
pub fn merge_index(index: Option<Value>, desc: &Value) -> (Value, bool) {
    let mut index = index.unwrap_or_else(|| json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}));
    if !index.get("manifests").is_some_and(Value::is_array) {
        index["manifests"] = json!([]);
    }
    let list = index["manifests"].as_array_mut().expect("array");
    if list.iter().any(|m| m.get("digest") == desc.get("digest")) {
        return (index, false);
    }
    list.push(desc.clone());
    (index, true)
}

/// Upload `bytes` as a blob unless the registry has it (monolithic).
fn put_small_blob(client: &Client, repository: &str, bytes: &[u8], scopes: &[String]) -> Result<String, RegistryError> {
    let digest = sha256_digest(bytes);
    if super::upload::blob_exists(client, repository, &digest, scopes)? {
        return Ok(digest);
    }
    let url = client.url(&format!("/v2/{repository}/blobs/uploads/"));
    let resp = client.send(&Request::new(Method::POST, &url, scopes))?;
    if resp.status() != StatusCode::ACCEPTED {
        let s = resp.status();
        return Err(status("POST", &url, s, error_detail(resp)));
    }
    let loc = resp.headers().get("Location").and_then(|v| v.to_str().ok()).map(String::from).ok_or_else(|| {
        RegistryError::Network {
            method: "POST".into(),
            url: shown_url(&url),
            reason: "the registry's answer has no Location header".into(),
        }
    })?;
    let loc = client.resolve(&loc, &url)?;
    let mut put = reqwest::Url::parse(&loc).map_err(|_| RegistryError::Network {
        method: "PUT".into(),
        url: shown_url(&loc),
        reason: "not a URL".into(),
    })?;
    put.query_pairs_mut().append_pair("digest", &digest);
    let put = put.to_string();
    let req = Request::new(Method::PUT, &put, scopes)
        .header("Content-Type", "application/octet-stream")
        .body(ReqBody::Bytes(Arc::new(bytes.to_vec())))
        .once();
    let resp = client.send(&req)?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        let s = resp.status();
        return Err(status("PUT", &put, s, error_detail(resp)));
    }
    Ok(digest)
}

fn status(method: &str, url: &str, s: StatusCode, detail: String) -> RegistryError {
    RegistryError::Status { method: method.into(), url: shown_url(url), status: s.as_u16(), detail }
}

/// `PUT` a manifest; returns whether the answer carries `OCI-Subject`.
fn put(client: &Client, url: &str, media_type: &str, bytes: &[u8], scopes: &[String]) -> Result<bool, RegistryError> {
    let req = Request::new(Method::PUT, url, scopes)
        .header("Content-Type", media_type)
        .body(ReqBody::Bytes(Arc::new(bytes.to_vec())));
    let resp = client.send(&req)?;
    let s = resp.status();
    if s != StatusCode::CREATED && !s.is_success() {
        return Err(status("PUT", url, s, error_detail(resp)));
    }
    Ok(resp.headers().contains_key("OCI-Subject"))
}

/// Attach the SBOM `file` to `subject` in `repository`.
pub fn attach(
    client: &Client,
    repository: &str,
    file: &SbomFile,
    subject: &Subject,
    scopes: &[String],
) -> Result<ArtifactReport, RegistryError> {
    let sbom = std::fs::read(&file.path).map_err(|source| RegistryError::Io { path: file.path.clone(), source })?;
    let sbom_digest = put_small_blob(client, repository, &sbom, scopes)?;
    put_small_blob(client, repository, EMPTY_BYTES, scopes)?;
    let manifest = artifact_manifest(file.media_type, &sbom_digest, sbom.len() as u64, subject);
    let digest = sha256_digest(&manifest);
    let url = client.url(&format!("/v2/{repository}/manifests/{digest}"));
    let api = put(client, &url, OCI_MANIFEST, &manifest, scopes)?;
    let mut out = ArtifactReport {
        digest: digest.clone(),
        size: manifest.len() as u64,
        artifact_type: file.media_type.to_string(),
        subject: subject.digest.clone(),
        platform: subject.platform.clone(),
        file: file.path.clone(),
        method: "referrers-api",
        tag: None,
        index_updated: false,
    };
    if api {
        return Ok(out);
    }
    // Referrers Tag Schema.
    let tag = fallback_tag(&subject.digest);
    let url = client.url(&format!("/v2/{repository}/manifests/{tag}"));
    let resp = client.send(&Request::new(Method::GET, &url, scopes).header("Accept", OCI_INDEX))?;
    let existing = match resp.status() {
        StatusCode::NOT_FOUND => None,
        s if s.is_success() => {
            let body = resp.bytes().map_err(|e| RegistryError::Network {
                method: "GET".into(),
                url: shown_url(&url),
                reason: super::client::error_text(&e),
            })?;
            let v: Value = serde_json::from_slice(&body).map_err(|e| RegistryError::Network {
                method: "GET".into(),
                url: shown_url(&url),
                reason: format!("the referrers tag does not hold JSON: {e}"),
            })?;
            Some(v)
        }
        s => return Err(status("GET", &url, s, error_detail(resp))),
    };
    let mut desc = json!({
        "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(), "artifactType": file.media_type,
    });
    if let Some(c) = &subject.created {
        desc["annotations"] = json!({ CREATED: c });
    }
    let (index, changed) = merge_index(existing, &desc);
    if changed {
        let bytes = serde_json::to_vec(&index).expect("json");
        put(client, &url, OCI_INDEX, &bytes, scopes)?;
    }
    out.method = "tag-schema";
    out.tag = Some(tag);
    out.index_updated = changed;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(d: &str) -> Value {
        json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 10, "artifactType": SPDX_TYPE})
    }

    #[test]
    fn fallback_index_merge_adds_once_and_keeps_foreign_entries() {
        let a = desc(&format!("sha256:{}", "a".repeat(64)));
        let (idx, changed) = merge_index(None, &a);
        assert!(changed);
        assert_eq!(idx["mediaType"], json!(OCI_INDEX));
        assert_eq!(idx["manifests"], json!([a.clone()]));
        // Again: unchanged.
        let (idx, changed) = merge_index(Some(idx), &a);
        assert!(!changed);
        assert_eq!(idx["manifests"].as_array().unwrap().len(), 1);
        // A foreign entry (a signature) stays, ours is added after it.
        let sig = json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "b".repeat(64)), "size": 5,
                         "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"});
        let foreign = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [sig.clone()]});
        let (idx, changed) = merge_index(Some(foreign), &a);
        assert!(changed);
        assert_eq!(idx["manifests"], json!([sig, a.clone()]));
        let (idx2, changed) = merge_index(Some(idx.clone()), &a);
        assert!(!changed);
        assert_eq!(idx2, idx);
    }

    #[test]
    fn artifact_manifest_is_deterministic_and_refers_to_its_subject() {
        let subject = Subject {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "c".repeat(64)),
            size: 123,
            platform: "linux/amd64".into(),
            created: Some("2024-01-01T00:00:00Z".into()),
        };
        let d = format!("sha256:{}", "d".repeat(64));
        let m1 = artifact_manifest(SPDX_TYPE, &d, 42, &subject);
        assert_eq!(m1, artifact_manifest(SPDX_TYPE, &d, 42, &subject));
        let v: Value = serde_json::from_slice(&m1).unwrap();
        assert_eq!(v["artifactType"], json!(SPDX_TYPE));
        assert_eq!(v["config"]["mediaType"], json!(EMPTY_TYPE));
        assert_eq!(v["config"]["digest"], json!(sha256_digest(b"{}")));
        assert_eq!(v["layers"][0]["digest"], json!(d));
        assert_eq!(v["subject"]["digest"], json!(subject.digest));
        assert_eq!(v["subject"]["size"], json!(123));
        assert_eq!(v["annotations"][CREATED], json!("2024-01-01T00:00:00Z"));
        assert_eq!(fallback_tag(&subject.digest), format!("sha256-{}", "c".repeat(64)));
    }
}
