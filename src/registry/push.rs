//! A push: the image a layout tag names, to `REGISTRY/REPOSITORY:TAG`.
//!
//! Order (OCI distribution-spec v1.1, "Push"): every blob first (configs
//! and layers, each once, in parallel; see [`super::upload`]), then the
//! platform manifests by digest (`PUT /v2/<name>/manifests/<digest>`,
//! end-7), and last the tagged document (`PUT
//! /v2/<name>/manifests/<tag>`): the image index for a multi-platform tag,
//! or the one image manifest when the tag names a single manifest or
//! `--arch` picks one platform of the index. A manifest the registry
//! already has (`HEAD`, end-3, same `Docker-Content-Digest`) is skipped.
//! The registry's `Docker-Content-Digest` for the tag must equal the local
//! digest (which `--format docker` changes: see [`super::convert`]).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::auth::{self, push_scope, Environment, Found};
use super::client::{error_detail, Client, ClientOptions, ReqBody, Request};
use super::layout::{self, BlobFile, Image, LocalImage, Platform, Tagged};
use super::referrers::{self, ArtifactReport};
use super::upload::{self, Outcome, UploadOptions};
use super::{convert, sha256_digest, Reference, RegistryError};
use crate::report::Reporter;

/// Default chunk size: blobs up to this size go in one request.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 << 20;

/// Manifest media types a push accepts back (`Accept` of `HEAD`).
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Media types of the pushed manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// As in the layout (OCI).
    #[default]
    Oci,
    /// Docker image manifest v2 schema 2 (see [`super::convert`]).
    Docker,
}

impl Format {
    /// `oci` or `docker`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::Docker => "docker",
        }
    }
}

/// What to push and how.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Push only this platform of an index, as a plain image manifest.
    pub arch: Option<String>,
    /// Manifest media types.
    pub format: Format,
    /// Chunk size for uploads (and the monolithic threshold).
    pub chunk_size: u64,
    /// Repositories of the same registry to mount blobs from.
    pub mount_from: Vec<String>,
    /// Parallel blob uploads.
    pub jobs: usize,
    /// Transport settings.
    pub client: ClientOptions,
    /// Credentials given on the command line (they win over the rest).
    pub credentials: Option<Found>,
    /// Where else to look for credentials.
    pub env: Environment,
    /// Attach the SBOMs of `<layout>.sbom/` to the pushed platform
    /// manifests (see [`super::referrers`]).
    pub sbom: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            arch: None,
            format: Format::Oci,
            chunk_size: DEFAULT_CHUNK_SIZE,
            mount_from: Vec::new(),
            jobs: 4,
            client: ClientOptions::default(),
            credentials: None,
            env: Environment::default(),
            sbom: true,
        }
    }
}

/// One blob of the push.
#[derive(Debug, Clone)]
pub struct BlobReport {
    /// Digest.
    pub digest: String,
    /// Media type (as in the pushed manifest).
    pub media_type: String,
    /// Bytes.
    pub size: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// One manifest (or index) of the push.
#[derive(Debug, Clone)]
pub struct ManifestReport {
    /// Digest of the bytes pushed.
    pub digest: String,
    /// Media type pushed.
    pub media_type: String,
    /// Bytes.
    pub size: u64,
    /// The platform (platform manifests).
    pub platform: Option<String>,
    /// The reference it was pushed under (digest, or the tag).
    pub reference: String,
    /// `true`: the registry already had it under that reference.
    pub skipped: bool,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushReport {
    /// The target.
    pub reference: Reference,
    /// `scheme://host[:port]` used.
    pub registry_url: String,
    /// The digest the registry stores under the tag (equal to the local one).
    pub digest: String,
    /// The layout's digest for what was pushed, before any format change.
    pub layout_digest: String,
    /// Media type of the tagged document.
    pub media_type: String,
    /// Format pushed.
    pub format: Format,
    /// Platforms pushed.
    pub platforms: Vec<String>,
    /// Blobs, configs and layers, each once.
    pub blobs: Vec<BlobReport>,
    /// Platform manifests, then the tagged document.
    pub manifests: Vec<ManifestReport>,
    /// Scope sets tokens were requested for (bearer auth).
    pub token_scopes: Vec<String>,
    /// SBOMs attached to the platform manifests.
    pub artifacts: Vec<ArtifactReport>,
    /// Wall time.
    pub seconds: f64,
}

impl PushReport {
    /// (count, bytes) of blobs by outcome: `"uploaded"`, `"skipped"`, `"mounted"`.
    pub fn totals(&self, which: &str) -> (usize, u64) {
        let hits: Vec<&BlobReport> = self.blobs.iter().filter(|b| outcome_name(&b.outcome) == which).collect();
        (hits.len(), hits.iter().map(|b| b.size).sum())
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        let total = |w: &str| {
            let (count, bytes) = self.totals(w);
            json!({"count": count, "bytes": bytes})
        };
        json!({
            "reference": self.reference.to_string(),
            "registry": self.registry_url,
            "repository": self.reference.repository,
            "tag": self.reference.tag,
            "digest": self.digest,
            "layout_digest": self.layout_digest,
            "media_type": self.media_type,
            "format": self.format.name(),
            "platforms": self.platforms,
            "blobs": self.blobs.iter().map(|b| {
                let mut v = json!({
                    "digest": b.digest, "media_type": b.media_type, "size": b.size,
                    "status": outcome_name(&b.outcome),
                });
                match &b.outcome {
                    Outcome::Mounted { from } => v["from"] = json!(from),
                    Outcome::Uploaded { requests, chunked } => {
                        v["requests"] = json!(requests);
                        v["chunked"] = json!(chunked);
                    }
                    Outcome::Skipped => {}
                }
                v
            }).collect::<Vec<_>>(),
            "manifests": self.manifests.iter().map(|m| json!({
                "digest": m.digest, "media_type": m.media_type, "size": m.size,
                "platform": m.platform, "reference": m.reference,
                "status": if m.skipped { "skipped" } else { "pushed" },
            })).collect::<Vec<_>>(),
            "uploaded": total("uploaded"),
            "skipped": total("skipped"),
            "mounted": total("mounted"),
            "token_scopes": self.token_scopes,
            "artifacts": self.artifacts.iter().map(ArtifactReport::to_json).collect::<Vec<_>>(),
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
        })
    }
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Skipped => "skipped",
        Outcome::Mounted { .. } => "mounted",
        Outcome::Uploaded { .. } => "uploaded",
    }
}

/// A manifest to push: bytes, media type, platform and blobs.
struct PlannedManifest {
    bytes: Vec<u8>,
    media_type: String,
    digest: String,
    platform: String,
    plat: Platform,
    created: Option<String>,
    blobs: Vec<BlobFile>,
}

/// The documents and blobs of a push, before any request.
struct Plan {
    manifests: Vec<PlannedManifest>,
    /// The tagged index (multi-platform push).
    index: Option<(Vec<u8>, String, String)>,
    layout_digest: String,
}

fn plan_image(image: &Image, format: Format) -> Result<PlannedManifest, RegistryError> {
    let mut blobs = vec![image.config.clone()];
    blobs.extend(image.layers.iter().cloned());
    let (bytes, media_type) = match format {
        Format::Oci => (image.manifest.bytes.clone(), image.manifest.media_type.clone()),
        Format::Docker => {
            for b in blobs.iter_mut().skip(1) {
                b.media_type = convert::docker_layer_type(&b.media_type, &b.digest)?.to_string();
            }
            blobs[0].media_type = super::DOCKER_CONFIG.to_string();
            (convert::docker_manifest(image)?, super::DOCKER_MANIFEST.to_string())
        }
    };
    let media_type = if media_type.is_empty() { super::OCI_MANIFEST.to_string() } else { media_type };
    Ok(PlannedManifest {
        digest: sha256_digest(&bytes),
        bytes,
        media_type,
        platform: image.platform.to_string(),
        plat: image.platform.clone(),
        created: image.config_json.get("created").and_then(Value::as_str).map(String::from),
        blobs,
    })
}

fn plan(local: &LocalImage, opts: &PushOptions) -> Result<Plan, RegistryError> {
    if let Some(arch) = &opts.arch {
        let image = local.select(arch)?;
        return Ok(Plan {
            manifests: vec![plan_image(image, opts.format)?],
            index: None,
            layout_digest: image.manifest.digest.clone(),
        });
    }
    match &local.tagged {
        Tagged::Image(image) => Ok(Plan {
            manifests: vec![plan_image(image, opts.format)?],
            index: None,
            layout_digest: image.manifest.digest.clone(),
        }),
        Tagged::Index { index, images } => {
            let manifests = images.iter().map(|i| plan_image(i, opts.format)).collect::<Result<Vec<_>, _>>()?;
            let (bytes, media_type) = match opts.format {
                Format::Oci => (
                    index.bytes.clone(),
                    if index.media_type.is_empty() { super::OCI_INDEX.to_string() } else { index.media_type.clone() },
                ),
                Format::Docker => {
                    let list: Vec<(String, u64)> =
                        manifests.iter().map(|m| (m.digest.clone(), m.bytes.len() as u64)).collect();
                    (convert::docker_list(&index.json, &list)?, super::DOCKER_LIST.to_string())
                }
            };
            let digest = sha256_digest(&bytes);
            Ok(Plan { manifests, index: Some((bytes, media_type, digest)), layout_digest: index.digest.clone() })
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Push the image tagged `tag` in the layout at `dir` to `target`.
pub fn push(
    dir: &Path,
    tag: &str,
    target: &Reference,
    opts: &PushOptions,
    report: &Reporter,
) -> Result<PushReport, RegistryError> {
    let started = Instant::now();
    for m in &opts.mount_from {
        super::reference::validate_repository_name(m)?;
    }
    let local = layout::open(dir, tag)?;
    let plan = plan(&local, opts)?;
    let mut seen = HashSet::new();
    let blobs: Vec<BlobFile> =
        plan.manifests.iter().flat_map(|m| m.blobs.iter()).filter(|b| seen.insert(b.digest.clone())).cloned().collect();
    let total: u64 = blobs.iter().map(|b| b.size).sum();
    let platforms: Vec<String> = plan.manifests.iter().map(|m| m.platform.clone()).collect();
    report.step(&format!(
        "pushing {}:{tag} ({}, {} blobs, {}) to {target}",
        dir.display(),
        platforms.join(", "),
        blobs.len(),
        mb(total)
    ));

    let creds = auth::lookup(&target.registry, &target.repository, opts.credentials.clone(), &opts.env)?;
    if let Some(c) = &creds {
        report.detail(&format!("credentials: {}", c.describe()));
    }
    let client = Client::connect(&target.registry, creds, opts.client.clone())?;
    report.detail(&format!("registry {}", client.base()));
    let scopes = vec![push_scope(&target.repository)];

    // Blobs, in parallel.
    let bar = Arc::new(report.bar("pushing", total, true));
    let upload_opts = UploadOptions {
        chunk_size: opts.chunk_size.max(1),
        mount_from: opts.mount_from.clone(),
        progress: {
            let bar = bar.clone();
            Some(Arc::new(move |n| bar.inc(n)))
        },
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<Outcome, RegistryError>>>> =
        Mutex::new((0..blobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, 16).min(blobs.len().max(1)) {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = blobs.get(i) else { break };
                let r = upload::push_blob(&client, &target.repository, b, &upload_opts);
                match &r {
                    Ok(Outcome::Uploaded { requests, chunked }) => report.detail(&format!(
                        "uploaded {} ({}, {requests} request(s){})",
                        b.digest,
                        mb(b.size),
                        if *chunked { ", chunked" } else { "" }
                    )),
                    Ok(Outcome::Skipped) => {
                        bar.inc(b.size);
                        report.detail(&format!("exists   {} ({})", b.digest, mb(b.size)));
                    }
                    Ok(Outcome::Mounted { from }) => {
                        bar.inc(b.size);
                        report.detail(&format!("mounted  {} ({}) from {from}", b.digest, mb(b.size)));
                    }
                    Err(_) => stop.store(true, Ordering::Relaxed),
                }
                results.lock().expect("results")[i] = Some(r);
            });
        }
    });
    bar.finish();
    let mut blob_reports = Vec::new();
    for (b, r) in blobs.iter().zip(results.into_inner().expect("results")) {
        match r {
            Some(Ok(outcome)) => blob_reports.push(BlobReport {
                digest: b.digest.clone(),
                media_type: b.media_type.clone(),
                size: b.size,
                outcome,
            }),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if blob_reports.len() != blobs.len() {
        return Err(RegistryError::Usage("push stopped before every blob was sent".into()));
    }

    // Manifests, then the tagged document.
    let mut manifests = Vec::new();
    let multi = plan.index.is_some();
    for m in &plan.manifests {
        let reference = if multi { m.digest.clone() } else { target.tag.clone() };
        let skipped =
            put_manifest(&client, &target.repository, &reference, &m.bytes, &m.media_type, &m.digest, &scopes)?;
        manifests.push(ManifestReport {
            digest: m.digest.clone(),
            media_type: m.media_type.clone(),
            size: m.bytes.len() as u64,
            platform: Some(m.platform.clone()),
            reference,
            skipped,
        });
    }
    let (digest, media_type) = match &plan.index {
        Some((bytes, media_type, digest)) => {
            let skipped = put_manifest(&client, &target.repository, &target.tag, bytes, media_type, digest, &scopes)?;
            manifests.push(ManifestReport {
                digest: digest.clone(),
                media_type: media_type.clone(),
                size: bytes.len() as u64,
                platform: None,
                reference: target.tag.clone(),
                skipped,
            });
            (digest.clone(), media_type.clone())
        }
        None => (plan.manifests[0].digest.clone(), plan.manifests[0].media_type.clone()),
    };
    let mut artifacts = Vec::new();
    if opts.sbom {
        let files = referrers::sbom_files(dir)?;
        for m in &plan.manifests {
            for f in referrers::for_platform(&files, &m.plat) {
                let subject = referrers::Subject {
                    media_type: m.media_type.clone(),
                    digest: m.digest.clone(),
                    size: m.bytes.len() as u64,
                    platform: m.platform.clone(),
                    created: m.created.clone(),
                };
                let a = referrers::attach(&client, &target.repository, f, &subject, &scopes)?;
                report.step(&format!(
                    "attached {} {} to {} {} ({}{})",
                    a.artifact_type,
                    a.digest,
                    a.platform,
                    a.subject,
                    a.method,
                    a.tag.as_deref().map(|t| format!(" {t}")).unwrap_or_default()
                ));
                artifacts.push(a);
            }
        }
    }
    let out = PushReport {
        reference: target.clone(),
        registry_url: client.base().to_string(),
        digest,
        layout_digest: plan.layout_digest,
        media_type,
        format: opts.format,
        platforms,
        blobs: blob_reports,
        manifests,
        token_scopes: client.token_requests(),
        artifacts,
        seconds: started.elapsed().as_secs_f64(),
    };
    let (up_n, up_b) = out.totals("uploaded");
    let (sk_n, sk_b) = out.totals("skipped");
    let (mo_n, mo_b) = out.totals("mounted");
    report.step(&format!(
        "pushed {target} in {:.1} s: {up_n} blob(s) uploaded ({}), {sk_n} already there ({}), {mo_n} mounted ({})",
        out.seconds,
        mb(up_b),
        mb(sk_b),
        mb(mo_b)
    ));
    Ok(out)
}

/// `PUT /v2/<name>/manifests/<reference>` unless the registry already has
/// these bytes under it; checks the registry's digest. Returns whether it
/// was skipped.
fn put_manifest(
    client: &Client,
    repository: &str,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
    digest: &str,
    scopes: &[String],
) -> Result<bool, RegistryError> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    let head = client.send(&Request::new(Method::HEAD, &url, scopes).header("Accept", ACCEPT))?;
    if head.status().is_success() {
        let theirs = head.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()).unwrap_or("");
        if theirs == digest {
            return Ok(true);
        }
    }
    let req = Request::new(Method::PUT, &url, scopes)
        .header("Content-Type", media_type)
        .body(ReqBody::Bytes(Arc::new(bytes.to_vec())));
    let resp = client.send(&req)?;
    let status = resp.status();
    if status != StatusCode::CREATED && !status.is_success() {
        let mut detail = error_detail(resp);
        if status == StatusCode::BAD_REQUEST && media_type.starts_with("application/vnd.oci.") {
            detail.push_str(" (if the registry does not accept OCI media types, push with --format docker)");
        }
        return Err(RegistryError::Status {
            method: "PUT".into(),
            url: auth::shown_url(&url),
            status: status.as_u16(),
            detail,
        });
    }
    let theirs = match resp.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()) {
        Some(d) => d.to_string(),
        None => {
            // No header on the PUT: ask.
            let head = client.send(&Request::new(Method::HEAD, &url, scopes).header("Accept", ACCEPT))?;
            head.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()).unwrap_or(digest).to_string()
        }
    };
    if theirs != digest {
        return Err(RegistryError::Digest(format!(
            "{} stores {theirs} for the manifest distill pushed as {digest} (the registry rewrote it)",
            auth::shown_url(&url)
        )));
    }
    Ok(false)
}
