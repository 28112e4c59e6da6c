//! Publishing image layouts to a registry, as the OCI distribution-spec
//! v1.1 ("Push" workflow) describes it, with no Docker daemon:
//!
//! - [`reference`](mod@reference) parses `REGISTRY/REPOSITORY[:TAG]`;
//! - [`auth`] finds credentials (flags, environment, Docker/podman config
//!   files and credential helpers) and does the token handshake of the
//!   distribution project's token authentication (`WWW-Authenticate:
//!   Bearer …`);
//! - [`client`] speaks HTTPS (plain HTTP only when allowed) with retries,
//!   backoff, `Retry-After`, and URLs and secrets redacted from errors;
//! - [`upload`] sends one blob: existence check, cross-repository mount,
//!   monolithic or chunked upload with the registry's `Range`;
//! - [`layout`] reads the image a tag of a local OCI image layout names;
//! - [`convert`] rewrites OCI → Docker image manifest v2 schema 2 media types;
//! - [`push`](mod@push) orders a push (blobs, then manifests, the index last) and
//!   reports it;
//! - [`referrers`] attaches the layout's SBOMs to the pushed manifests as
//!   OCI 1.1 artifacts (referrers API, else the referrers tag schema).
//!
//! [`crate::export`] writes the `docker load` archive format from the same
//! [`layout`] reader.

pub mod auth;
pub mod client;
pub mod convert;
pub mod layout;
pub mod push;
pub mod reference;
pub mod referrers;
pub mod upload;

use std::path::PathBuf;

pub use push::{push, PushOptions, PushReport};
pub use reference::Reference;

/// Media type of an OCI image index (image-spec image-index.md).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image manifest (image-spec manifest.md).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config (image-spec config.md).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker manifest list (image manifest v2, schema 2).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest (v2, schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker container image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// How an error should end the command (the CLI maps this to an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad reference, option or an image the chosen format cannot express.
    Usage,
    /// The local layout or file system.
    Local,
    /// The registry could not be reached, refused a request or answered
    /// something wrong.
    Network,
    /// Credentials missing, refused or unreadable.
    Auth,
}

/// Errors of pushing and exporting. Messages name the URL (without its
/// query, which may carry upload state or signatures), the blob or the
/// file; they never contain a password, token or `Authorization` value.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Bad reference or option.
    #[error("{0}")]
    Usage(String),
    /// The image cannot be expressed in the requested format.
    #[error("{0}")]
    Format(String),
    /// The layout is missing something or is not what the image spec says.
    #[error("{path}: {reason}")]
    Layout {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The registry could not be reached (after retries).
    #[error("{method} {url}: {reason}")]
    Network {
        /// HTTP method.
        method: String,
        /// The URL, without query.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: HTTP {status}{detail}")]
    Status {
        /// HTTP method.
        method: String,
        /// The URL, without query.
        url: String,
        /// HTTP status code.
        status: u16,
        /// `: CODE message` from the registry's error body, if any.
        detail: String,
    },
    /// The registry stored something other than what was sent.
    #[error("{0}")]
    Digest(String),
    /// Authentication failed or credentials could not be found or read.
    #[error("{0}")]
    Auth(String),
}

impl RegistryError {
    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Usage(_) | RegistryError::Format(_) => ErrorClass::Usage,
            RegistryError::Layout { .. } | RegistryError::Io { .. } => ErrorClass::Local,
            RegistryError::Network { .. } | RegistryError::Status { .. } | RegistryError::Digest(_) => {
                ErrorClass::Network
            }
            RegistryError::Auth(_) => ErrorClass::Auth,
        }
    }
}

/// `sha256:<64 lowercase hex>`?
pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// `sha256:` digest of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
