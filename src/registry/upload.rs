//! One blob to a registry (OCI distribution-spec v1.1, "Pushing blobs"):
//!
//! 1. `HEAD /v2/<name>/blobs/<digest>` (end-2): a `200` means the
//!    registry has it: skipped.
//! 2. Cross-repository mount ("Mounting a blob from another repository",
//!    end-11): for each `--mount-from` repository that has the blob
//!    (`HEAD` there, with a `pull` scope on it),
//!    `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>`; `201`
//!    is a mount, `202` means the registry opened an upload session instead,
//!    which the upload below uses.
//! 3. Monolithic upload for a blob of at most the chunk size
//!    ("POST then PUT", end-4a then end-6): `POST /v2/<name>/blobs/uploads/`
//!    → `202` + `Location`; `PUT <location>?digest=<digest>` with the
//!    whole blob.
//! 4. Chunked upload above it ("Pushing a blob in chunks", end-5, end-6):
//!    `PATCH <location>` per chunk with `Content-Range: <start>-<end>`
//!    (inclusive) and `Content-Length`, each answer's `Location` used for
//!    the next request and its `Range: 0-<end>` giving where the next chunk
//!    starts; then `PUT <location>?digest=<digest>` with no body. A chunk
//!    is never smaller than the registry's `OCI-Chunk-Min-Length`. After a
//!    failed `PATCH` (dropped connection, 5xx, 429) or a `416`, `GET
//!    <location>` (end-13) reports the range the registry holds and the
//!    upload resumes from its end; a session the registry forgot (`404`)
//!    starts again. (The distribution registry cancels a session queried
//!    with the `Location` from before a chunk it did store, so after a lost
//!    answer that blob starts over; after a refused chunk, a `429` or a
//!    `416`, the query is current and the upload resumes.) A `413` halves
//!    the chunk size.
//!
//! `201 Created` must carry the digest sent (`Docker-Content-Digest`,
//! when present). Blob bodies are streamed from the file, one chunk's
//! range at a time: memory does not grow with the blob.

use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};

use super::auth::{merge_scopes, pull_scope, push_scope, shown_url};
use super::client::{error_detail, Client, ProgressFn, ReqBody, Request};
use super::layout::BlobFile;
use super::RegistryError;

/// The smallest chunk a `413` can shrink the chunk size to.
pub const MIN_CHUNK: u64 = 64 << 10;

/// What happened to a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The registry had it.
    Skipped,
    /// Mounted from another repository of the registry.
    Mounted {
        /// The source repository.
        from: String,
    },
    /// Uploaded.
    Uploaded {
        /// `PUT` and `PATCH` requests that carried data or committed.
        requests: u32,
        /// Whether the upload was chunked.
        chunked: bool,
    },
}

/// How to upload.
#[derive(Clone)]
pub struct UploadOptions {
    /// Blobs larger than this are uploaded in chunks of this size.
    pub chunk_size: u64,
    /// Repositories of the same registry to mount from, in order.
    pub mount_from: Vec<String>,
    /// Called with bytes sent.
    pub progress: Option<ProgressFn>,
}

/// Does `repository` hold `digest`? (`HEAD /v2/<name>/blobs/<digest>`.)
pub fn blob_exists(client: &Client, repository: &str, digest: &str, scopes: &[String]) -> Result<bool, RegistryError> {
    let url = client.url(&format!("/v2/{repository}/blobs/{digest}"));
    let resp = client.send(&Request::new(Method::HEAD, &url, scopes))?;
    match resp.status() {
        s if s.is_success() => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        s => Err(status_error("HEAD", &url, s, resp)),
    }
}

fn status_error(method: &str, url: &str, status: StatusCode, resp: Response) -> RegistryError {
    RegistryError::Status {
        method: method.into(),
        url: shown_url(url),
        status: status.as_u16(),
        detail: error_detail(resp),
    }
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The end of a `Range: 0-<end>` (or `bytes=0-<end>`) header.
pub fn range_end(v: &str) -> Option<u64> {
    let v = v.trim().trim_start_matches("bytes=");
    let (_, end) = v.split_once('-')?;
    end.trim().parse().ok()
}

/// Where the next chunk starts after the registry reported `Range: 0-<end>`.
/// Registries write `0-0` for an empty session (distribution 2.x) as well
/// as for one byte; it is taken as empty unless exactly one byte was sent.
fn next_offset(end: u64, sent_one_byte: bool) -> u64 {
    if end == 0 && !sent_one_byte {
        0
    } else {
        end + 1
    }
}

fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

fn check_created(resp: &Response, digest: &str, url: &str) -> Result<(), RegistryError> {
    if let Some(got) = header(resp, "Docker-Content-Digest") {
        if got != digest {
            return Err(RegistryError::Digest(format!(
                "{} stored blob {got} for {digest} ({})",
                shown_url(url),
                "Docker-Content-Digest differs from the digest sent"
            )));
        }
    }
    Ok(())
}

/// Upload one blob into `repository` unless the registry has it.
pub fn push_blob(
    client: &Client,
    repository: &str,
    blob: &BlobFile,
    opts: &UploadOptions,
) -> Result<Outcome, RegistryError> {
    let scopes = vec![push_scope(repository)];
    if blob_exists(client, repository, &blob.digest, &scopes)? {
        return Ok(Outcome::Skipped);
    }
    let mut session = None;
    for from in opts.mount_from.iter().filter(|f| f.as_str() != repository) {
        let scopes = merge_scopes([push_scope(repository), pull_scope(from)].iter().map(String::as_str));
        match blob_exists(client, from, &blob.digest, &scopes) {
            Ok(true) => {}
            Ok(false) => continue,
            // No pull access to the source: upload instead.
            Err(RegistryError::Auth(_)) => continue,
            Err(e) => return Err(e),
        }
        let url = client.url(&format!("/v2/{repository}/blobs/uploads/?mount={}&from={from}", blob.digest));
        let resp = client.send(&Request::new(Method::POST, &url, &scopes))?;
        match resp.status() {
            StatusCode::CREATED => {
                check_created(&resp, &blob.digest, &url)?;
                return Ok(Outcome::Mounted { from: from.clone() });
            }
            StatusCode::ACCEPTED => {
                // The registry did not mount; it opened an upload session.
                let loc = header(&resp, "Location").ok_or_else(|| no_location("POST", &url))?;
                session = Some((client.resolve(&loc, &url)?, min_chunk(&resp)));
                break;
            }
            s => return Err(status_error("POST", &url, s, resp)),
        }
    }
    upload(client, repository, blob, opts, session, &scopes)
}

fn no_location(method: &str, url: &str) -> RegistryError {
    RegistryError::Network {
        method: method.into(),
        url: shown_url(url),
        reason: "the registry's answer has no Location header".into(),
    }
}

fn min_chunk(resp: &Response) -> u64 {
    header(resp, "OCI-Chunk-Min-Length").and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// `POST /v2/<name>/blobs/uploads/`: a new session's location and minimum chunk.
fn start(client: &Client, repository: &str, scopes: &[String]) -> Result<(String, u64), RegistryError> {
    let url = client.url(&format!("/v2/{repository}/blobs/uploads/"));
    let resp = client.send(&Request::new(Method::POST, &url, scopes))?;
    if resp.status() != StatusCode::ACCEPTED {
        let s = resp.status();
        return Err(status_error("POST", &url, s, resp));
    }
    let loc = header(&resp, "Location").ok_or_else(|| no_location("POST", &url))?;
    Ok((client.resolve(&loc, &url)?, min_chunk(&resp)))
}

/// Where an upload session stands (`GET <location>`): its next location and
/// the offset to continue from; `None` when the registry forgot it.
fn status(
    client: &Client,
    location: &str,
    scopes: &[String],
    sent_one: bool,
) -> Result<Option<(String, u64)>, RegistryError> {
    let resp = client.send(&Request::new(Method::GET, location, scopes))?;
    match resp.status() {
        StatusCode::NO_CONTENT | StatusCode::OK => {
            let next = match header(&resp, "Location") {
                Some(l) => client.resolve(&l, location)?,
                None => location.to_string(),
            };
            let offset =
                header(&resp, "Range").and_then(|r| range_end(&r)).map(|e| next_offset(e, sent_one)).unwrap_or(0);
            Ok(Some((next, offset)))
        }
        StatusCode::NOT_FOUND => Ok(None),
        s => Err(status_error("GET", location, s, resp)),
    }
}

/// Is this error worth resuming after (connection, 5xx, 429)?
fn transient(e: &RegistryError) -> bool {
    match e {
        RegistryError::Network { .. } => true,
        RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}

fn upload(
    client: &Client,
    repository: &str,
    blob: &BlobFile,
    opts: &UploadOptions,
    mut session: Option<(String, u64)>,
    scopes: &[String],
) -> Result<Outcome, RegistryError> {
    let mut chunk = opts.chunk_size.max(1);
    let mut failures = 0u32;
    let mut requests = 0u32;
    // A failed one-shot request: wait (a 429's Retry-After is honoured by
    // the retried status query that follows) and resume, a bounded number of times.
    let mut fail = |e: RegistryError| -> Result<(), RegistryError> {
        if !transient(&e) || failures >= client.retries() {
            return Err(e);
        }
        client.backoff(failures, None);
        failures += 1;
        Ok(())
    };
    let mut sessions = 0u32;
    'session: loop {
        sessions += 1;
        if sessions > client.retries() + 2 {
            return Err(RegistryError::Network {
                method: "PATCH".into(),
                url: client.url(&format!("/v2/{repository}/blobs/uploads/")),
                reason: format!("blob {}: the registry lost the upload session {} times", blob.digest, sessions - 1),
            });
        }
        let (mut location, min) = match session.take() {
            Some(s) => s,
            None => start(client, repository, scopes)?,
        };
        let body = |offset: u64, len: u64| ReqBody::File {
            path: blob.path.clone(),
            offset,
            len,
            progress: opts.progress.clone(),
        };
        if blob.size <= chunk {
            // Monolithic: the whole blob in the closing PUT.
            let url = with_digest(&location, &blob.digest);
            let req = Request::new(Method::PUT, &url, scopes)
                .header("Content-Type", "application/octet-stream")
                .body(body(0, blob.size))
                .once();
            requests += 1;
            match client.send(&req) {
                Ok(resp) if resp.status() == StatusCode::CREATED => {
                    check_created(&resp, &blob.digest, &url)?;
                    return Ok(Outcome::Uploaded { requests, chunked: false });
                }
                Ok(resp) if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && blob.size > MIN_CHUNK => {
                    chunk = (blob.size / 2).max(MIN_CHUNK);
                    continue 'session;
                }
                Ok(resp) => return Err(put_error(&url, blob, resp)),
                Err(e) => {
                    fail(e)?;
                    // The session may be half-written: start a new one.
                    continue 'session;
                }
            }
        }
        // Chunked.
        let chunk_len = chunk.max(min).max(1);
        let mut offset = 0u64;
        let mut cur = chunk_len;
        while offset < blob.size {
            let n = cur.min(blob.size - offset);
            let req = Request::new(Method::PATCH, &location, scopes)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{offset}-{}", offset + n - 1))
                .body(body(offset, n))
                .once();
            requests += 1;
            let sent_one = offset == 0 && n == 1;
            let outcome = client.send(&req);
            let resync = match outcome {
                Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                    if let Some(l) = header(&resp, "Location") {
                        location = client.resolve(&l, &location)?;
                    }
                    offset = match header(&resp, "Range").and_then(|r| range_end(&r)) {
                        Some(end) => next_offset(end, sent_one),
                        None => offset + n,
                    };
                    if offset > blob.size {
                        return Err(RegistryError::Network {
                            method: "PATCH".into(),
                            url: shown_url(&location),
                            reason: format!("the registry reports {offset} bytes of a {}-byte blob", blob.size),
                        });
                    }
                    false
                }
                Ok(resp) if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE => true,
                Ok(resp) if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && cur > MIN_CHUNK.max(min) => {
                    cur = (cur / 2).max(MIN_CHUNK).max(min);
                    true
                }
                Ok(resp) if resp.status() == StatusCode::NOT_FOUND => continue 'session,
                Ok(resp) => {
                    let s = resp.status();
                    return Err(status_error("PATCH", &location, s, resp));
                }
                Err(e) => {
                    fail(e)?;
                    true
                }
            };
            if resync {
                match status(client, &location, scopes, sent_one)? {
                    Some((l, o)) => {
                        location = l;
                        offset = o;
                    }
                    None => continue 'session,
                }
            }
        }
        let url = with_digest(&location, &blob.digest);
        let req = Request::new(Method::PUT, &url, scopes).header("Content-Type", "application/octet-stream").once();
        requests += 1;
        match client.send(&req) {
            Ok(resp) if resp.status() == StatusCode::CREATED => {
                check_created(&resp, &blob.digest, &url)?;
                return Ok(Outcome::Uploaded { requests, chunked: true });
            }
            Ok(resp) => return Err(put_error(&url, blob, resp)),
            Err(e) => {
                fail(e)?;
                // The commit may have landed before the connection dropped;
                // if not, upload the blob again in a new session.
                if blob_exists(client, repository, &blob.digest, scopes)? {
                    return Ok(Outcome::Uploaded { requests, chunked: true });
                }
                continue 'session;
            }
        }
    }
}

fn put_error(url: &str, blob: &BlobFile, resp: Response) -> RegistryError {
    let status = resp.status();
    let detail = error_detail(resp);
    if status == StatusCode::BAD_REQUEST && (detail.contains("DIGEST_INVALID") || detail.contains("SIZE_INVALID")) {
        return RegistryError::Digest(format!(
            "the registry refused blob {} ({}): its content does not match its digest or size{detail}",
            blob.digest,
            blob.path.display()
        ));
    }
    RegistryError::Status { method: "PUT".into(), url: shown_url(url), status: status.as_u16(), detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_give_the_next_offset() {
        assert_eq!(range_end("0-1023"), Some(1023));
        assert_eq!(range_end("bytes=0-9"), Some(9));
        assert_eq!(range_end("nonsense"), None);
        assert_eq!(next_offset(1023, false), 1024);
        assert_eq!(next_offset(0, false), 0);
        assert_eq!(next_offset(0, true), 1);
        assert_eq!(
            with_digest("http://h/v2/a/blobs/uploads/u?_state=x", "sha256:1"),
            "http://h/v2/a/blobs/uploads/u?_state=x&digest=sha256:1"
        );
        assert_eq!(with_digest("http://h/u", "sha256:1"), "http://h/u?digest=sha256:1");
    }
}
