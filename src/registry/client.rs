//! HTTP for one registry: scheme choice, authentication, retries.
//!
//! - **Scheme**: HTTPS. Plain HTTP only with `--insecure` or when the
//!   registry is on a loopback address (`localhost`, `127.0.0.0/8`,
//!   `::1`): a loopback registry is asked over HTTP first, then HTTPS;
//!   with `--insecure`, HTTPS first, then HTTP. The scheme whose `/v2/`
//!   answers like a registry (`200` or `401`) is used. `--insecure` also
//!   accepts a certificate that does not verify (as `skopeo
//!   --tls-verify=false`).
//! - **Ping**: `GET /v2/` (distribution-spec "Determining support", end-1)
//!   learns whether and how to authenticate (see [`super::auth`]).
//! - **Retries**: connection failures, HTTP 5xx and 429 are retried with
//!   exponential backoff (0.5 s, 1 s, 2 s, 4 s by default); a
//!   `Retry-After` (seconds or an HTTP date) is honoured, capped at 60 s.
//!   Requests whose partial effect matters (`PATCH` of a chunk) are sent
//!   once; [`super::upload`] asks the registry where the upload stands and
//!   resumes instead.
//! - **Redaction**: messages show URLs without user info or query (upload
//!   `Location`s carry state and may carry signatures);
//!   `Authorization` is attached only to the registry's own origin
//!   (reqwest drops it on a redirect elsewhere) and never logged.

use crate::repo::transport::strip_url;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use reqwest::blocking::{Body, Response};
use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::auth::{self, Challenge, Credentials, Found, TokenAuth};
use super::reference::is_loopback_host;
use super::RegistryError;

/// Transport settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Allow plain HTTP and certificates that do not verify, for any host.
    pub insecure: bool,
    /// Retries after the first attempt of a request.
    pub retries: u32,
    /// First backoff; doubled per retry.
    pub backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: false,
            retries: 4,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Called with the number of body bytes read for sending.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// A request body that can be produced again for a retry.
#[derive(Clone)]
pub enum ReqBody {
    /// No body (`Content-Length: 0` for PUT/PATCH/POST).
    Empty,
    /// Bytes in memory (manifests).
    Bytes(Arc<Vec<u8>>),
    /// `len` bytes of a file from `offset`, streamed (never read whole).
    File {
        /// The file.
        path: PathBuf,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// Progress callback.
        progress: Option<ProgressFn>,
    },
}

/// One request to the registry.
#[derive(Clone)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Token scopes this request needs (`repository:<name>:pull,push`, …).
    pub scopes: Vec<String>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: ReqBody,
    /// Retry on connection failures, 5xx and 429 (false: one attempt;
    /// the caller recovers).
    pub retry: bool,
}

impl Request {
    /// A request with no body and no extra headers, retried.
    pub fn new(method: Method, url: impl Into<String>, scopes: &[String]) -> Self {
        Request {
            method,
            url: url.into(),
            scopes: scopes.to_vec(),
            headers: Vec::new(),
            body: ReqBody::Empty,
            retry: true,
        }
    }
    /// Add a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// Set the body.
    pub fn body(mut self, body: ReqBody) -> Self {
        self.body = body;
        self
    }
    /// Send once; the caller handles failures.
    pub fn once(mut self) -> Self {
        self.retry = false;
        self
    }
}

enum AuthState {
    /// The registry asked for nothing (so far).
    Anonymous,
    /// `Authorization: Basic` on every request.
    Basic(auth::Secret),
    /// Bearer tokens per scope set.
    Bearer(Arc<TokenAuth>),
}

/// A connection to one registry (cheap to share between threads).
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    registry: String,
    allow_http: bool,
    credentials: Option<Found>,
    auth: RwLock<AuthState>,
    opts: ClientOptions,
}

/// Why one attempt failed, for the retry loop.
enum Failure {
    /// Worth retrying: connection error or 5xx/429 (with any Retry-After).
    Transient { reason: String, status: Option<u16>, detail: String, retry_after: Option<Duration> },
    /// Final.
    Fatal(RegistryError),
}

impl Client {
    /// Connect to `registry` (`host[:port]`): choose the scheme and learn
    /// how to authenticate from `GET /v2/`. Basic credentials are checked
    /// here; bearer credentials at the first token request.
    pub fn connect(registry: &str, credentials: Option<Found>, opts: ClientOptions) -> Result<Client, RegistryError> {
        let allow_http = opts.insecure || is_loopback_host(super::reference::host_of(registry));
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("distill/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(600))
            .danger_accept_invalid_certs(opts.insecure)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| RegistryError::Network {
                method: "GET".into(),
                url: registry.into(),
                reason: error_text(&e),
            })?;
        let mut client = Client {
            http,
            base: format!("https://{registry}"),
            registry: registry.to_string(),
            allow_http,
            credentials,
            auth: RwLock::new(AuthState::Anonymous),
            opts,
        };
        // Which schemes to try, in order. A loopback registry is asked over
        // plain HTTP first (the traffic never leaves the machine, and a
        // TLS-only server answers plain HTTP at once, while some plain-HTTP
        // servers never answer a TLS handshake); `--insecure` tries HTTPS
        // first; anything else is HTTPS only.
        let loopback = is_loopback_host(super::reference::host_of(registry));
        let schemes: &[&str] = if loopback {
            &["http", "https"]
        } else if client.opts.insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut failures: Vec<String> = Vec::new();
        let mut found = None;
        for (i, scheme) in schemes.iter().enumerate() {
            client.base = format!("{scheme}://{registry}");
            let ping = client.url("/v2/");
            let last = i + 1 == schemes.len();
            let mut attempt = if last {
                client.ping_with_retries(&ping)
            } else {
                // A probe: one quick try.
                client.http.get(&ping).timeout(Duration::from_secs(5)).send().map_err(|e| error_text(&e))
            };
            if let Ok(r) = &attempt {
                if !last && (r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS) {
                    // It speaks this scheme but is busy: retry it, as any request.
                    attempt = client.ping_with_retries(&ping);
                }
            }
            match attempt {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED => {
                    found = Some(r);
                    break;
                }
                Ok(r) if !last => failures.push(format!("{ping}: HTTP {}", r.status().as_u16())),
                Ok(r) if !failures.is_empty() => {
                    failures.push(format!("{ping}: HTTP {}{}", r.status().as_u16(), error_detail(r)));
                }
                Ok(r) => {
                    let s = r.status();
                    return Err(RegistryError::Status {
                        method: "GET".into(),
                        url: ping,
                        status: s.as_u16(),
                        detail: format!("{} (is this a registry implementing the distribution API?)", error_detail(r)),
                    });
                }
                Err(reason) => failures.push(format!("{ping}: {reason}")),
            }
        }
        let Some(resp) = found else {
            let all = failures.join("; ");
            let single = failures.len() == 1;
            let hint = if all.contains("certificate") || all.contains("UnknownIssuer") {
                " (pass --insecure to accept a certificate that does not verify)"
            } else if !loopback && !client.opts.insecure {
                " (plain HTTP is used only for a loopback registry or with --insecure)"
            } else {
                ""
            };
            // One scheme tried: "GET https://host/v2/: why"; several: each named.
            let (url, reason) = match (single, all.split_once("/v2/: ")) {
                (true, Some((u, why))) => (format!("{u}/v2/"), why.to_string()),
                _ => (format!("{registry}/v2/"), format!("no registry answered: {all}")),
            };
            return Err(RegistryError::Network { method: "GET".into(), url, reason: format!("{reason}{hint}") });
        };
        let ping = client.url("/v2/");
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                let challenges = challenges(resp.headers());
                client.adopt_challenge(&challenges, &ping)?;
                if let AuthState::Basic(header) = &*client.auth.read().expect("auth") {
                    // Check the password now, for a clear error before any upload.
                    let r = client.http.get(&ping).header(AUTHORIZATION, header.expose()).send().map_err(|e| {
                        RegistryError::Network { method: "GET".into(), url: ping.clone(), reason: error_text(&e) }
                    })?;
                    if r.status() == StatusCode::UNAUTHORIZED || r.status() == StatusCode::FORBIDDEN {
                        return Err(client.refused("GET", &ping, r.status()));
                    }
                }
            }
            s => {
                return Err(RegistryError::Status {
                    method: "GET".into(),
                    url: ping,
                    status: s.as_u16(),
                    detail: format!("{} (is this a registry implementing the distribution API?)", error_detail(resp)),
                })
            }
        }
        Ok(client)
    }

    fn ping_with_retries(&self, url: &str) -> Result<Response, String> {
        let mut attempt = 0;
        loop {
            match self.http.get(url).send() {
                Ok(r) if !(r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS) => {
                    return Ok(r)
                }
                Ok(r) if attempt >= self.opts.retries => return Ok(r),
                Ok(r) => {
                    let wait = retry_after(r.headers());
                    self.sleep(attempt, wait);
                }
                Err(e) if attempt >= self.opts.retries => {
                    return Err(format!("{} (after {} attempts)", error_text(&e), attempt + 1))
                }
                Err(_) => self.sleep(attempt, None),
            }
            attempt += 1;
        }
    }

    fn sleep(&self, attempt: u32, retry_after: Option<Duration>) {
        let backoff = self.opts.backoff * 2u32.saturating_pow(attempt.min(10));
        let wait = match retry_after {
            Some(ra) => ra.min(self.opts.max_retry_after),
            None => backoff,
        };
        std::thread::sleep(wait);
    }

    /// `https://host:port` or `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The registry (`host[:port]`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `base + path` (path starts with `/v2/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The scope sets tokens were requested for (bearer auth only).
    pub fn token_requests(&self) -> Vec<String> {
        match &*self.auth.read().expect("auth") {
            AuthState::Bearer(t) => t.requested.lock().expect("scopes").clone(),
            _ => Vec::new(),
        }
    }

    /// Resolve a `Location` header against the URL of the request that
    /// returned it (distribution-spec: it may be absolute or relative).
    pub fn resolve(&self, location: &str, request_url: &str) -> Result<String, RegistryError> {
        let base = reqwest::Url::parse(request_url).map_err(|_| RegistryError::Network {
            method: "-".into(),
            url: auth::shown_url(request_url),
            reason: "not a URL".into(),
        })?;
        base.join(location).map(|u| u.to_string()).map_err(|_| RegistryError::Network {
            method: "-".into(),
            url: auth::shown_url(request_url),
            reason: format!("the registry returned a Location that is not a URL: {:?}", auth::shown_url(location)),
        })
    }

    fn adopt_challenge(&self, challenges: &[Challenge], url: &str) -> Result<(), RegistryError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let t = TokenAuth::new(bearer, self.credentials.clone())?;
            *self.auth.write().expect("auth") = AuthState::Bearer(Arc::new(t));
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match self.credentials.as_ref().map(|f| &f.credentials) {
                Some(Credentials::Basic { username, password }) => {
                    let raw = format!("{username}:{}", password.expose());
                    let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
                    *self.auth.write().expect("auth") = AuthState::Basic(auth::Secret::new(header));
                    Ok(())
                }
                Some(Credentials::IdentityToken(_)) => Err(RegistryError::Auth(format!(
                    "registry {} asks for Basic authentication, but the credentials found are an identity token (from {})",
                    self.registry,
                    self.credentials.as_ref().map(|f| f.source.as_str()).unwrap_or("")
                ))),
                None => Err(self.no_credentials()),
            };
        }
        Err(RegistryError::Auth(format!(
            "{}: HTTP 401 without a Basic or Bearer challenge (WWW-Authenticate) at {}",
            self.registry,
            auth::shown_url(url)
        )))
    }

    fn no_credentials(&self) -> RegistryError {
        RegistryError::Auth(format!(
            "registry {} requires credentials: pass --username with --password-stdin, set DISTILL_REGISTRY_USERNAME and DISTILL_REGISTRY_PASSWORD, or log in with `docker login`/`podman login` (distill reads their config)",
            self.registry
        ))
    }

    fn refused(&self, method: &str, url: &str, status: StatusCode) -> RegistryError {
        let who = self.credentials.as_ref().map(Found::describe).unwrap_or_else(|| "anonymous access".into());
        let what = if status == StatusCode::FORBIDDEN { "denied" } else { "authentication failed" };
        RegistryError::Auth(format!(
            "registry {} refused {who}: {method} {}: HTTP {} {what}",
            self.registry,
            auth::shown_url(url),
            status.as_u16()
        ))
    }

    fn same_origin(&self, url: &str) -> bool {
        url.starts_with(&self.base) && matches!(url.as_bytes().get(self.base.len()), None | Some(b'/'))
    }

    fn attempt(&self, req: &Request, scopes: &[String]) -> Result<Result<Response, reqwest::Error>, RegistryError> {
        let mut rb = self.http.request(req.method.clone(), &req.url);
        for (k, v) in &req.headers {
            rb = rb.header(*k, v);
        }
        if self.same_origin(&req.url) {
            match &*self.auth.read().expect("auth") {
                AuthState::Anonymous => {}
                AuthState::Basic(h) => rb = rb.header(AUTHORIZATION, h.expose()),
                AuthState::Bearer(t) => {
                    let tok = t.token(&self.http, scopes, self.allow_http)?;
                    rb = rb.bearer_auth(tok.expose());
                }
            }
        }
        rb = match &req.body {
            ReqBody::Empty => {
                if matches!(req.method, Method::PUT | Method::PATCH | Method::POST) {
                    rb.header(reqwest::header::CONTENT_LENGTH, "0").body(Vec::new())
                } else {
                    rb
                }
            }
            ReqBody::Bytes(b) => rb.body(b.as_ref().clone()),
            ReqBody::File { path, offset, len, progress } => {
                use std::io::Seek;
                let mut f =
                    std::fs::File::open(path).map_err(|source| RegistryError::Io { path: path.clone(), source })?;
                f.seek(std::io::SeekFrom::Start(*offset))
                    .map_err(|source| RegistryError::Io { path: path.clone(), source })?;
                let reader = Counting { inner: f.take(*len), progress: progress.clone() };
                rb.body(Body::sized(reader, *len))
            }
        };
        Ok(rb.send())
    }

    fn once(&self, req: &Request) -> Failure2 {
        let mut scopes = req.scopes.clone();
        let mut authed_again = false;
        loop {
            let resp = match self.attempt(req, &scopes) {
                Err(e) => return Failure2::Fail(Failure::Fatal(e)),
                Ok(Err(e)) => {
                    return Failure2::Fail(Failure::Transient {
                        reason: error_text(&e),
                        status: None,
                        detail: String::new(),
                        retry_after: None,
                    })
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && self.same_origin(&req.url) {
                if authed_again {
                    return Failure2::Fail(Failure::Fatal(self.refused(req.method.as_str(), &req.url, status)));
                }
                authed_again = true;
                let ch = challenges(resp.headers());
                let bearer = ch.iter().find(|c| c.scheme == "bearer");
                let current_bearer = matches!(&*self.auth.read().expect("auth"), AuthState::Bearer(_));
                match (bearer, current_bearer) {
                    (Some(c), true) => {
                        // Expired token or more scopes needed: ask for the union.
                        if let AuthState::Bearer(t) = &*self.auth.read().expect("auth") {
                            t.invalidate(&scopes);
                        }
                        let extra = c.params.get("scope").map(String::as_str).unwrap_or("");
                        scopes = auth::merge_scopes(scopes.iter().map(String::as_str).chain([extra]));
                    }
                    _ => {
                        if matches!(&*self.auth.read().expect("auth"), AuthState::Basic(_)) {
                            return Failure2::Fail(Failure::Fatal(self.refused(req.method.as_str(), &req.url, status)));
                        }
                        if let Err(e) = self.adopt_challenge(&ch, &req.url) {
                            return Failure2::Fail(Failure::Fatal(e));
                        }
                    }
                }
                // The body is produced again from its source for the new attempt.
                continue;
            }
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = retry_after(resp.headers());
                return Failure2::Fail(Failure::Transient {
                    reason: format!("HTTP {}", status.as_u16()),
                    status: Some(status.as_u16()),
                    detail: error_detail(resp),
                    retry_after,
                });
            }
            if status == StatusCode::FORBIDDEN {
                let detail = error_detail(resp);
                let mut e = self.refused(req.method.as_str(), &req.url, status);
                if let RegistryError::Auth(m) = &mut e {
                    m.push_str(&detail);
                }
                return Failure2::Fail(Failure::Fatal(e));
            }
            return Failure2::Ok(resp);
        }
    }

    /// Send `req`: with authentication, and (when `req.retry`) retries on
    /// connection failures, 5xx and 429. Returns the response for any
    /// other status, for the caller to judge; 401 after a fresh token and
    /// 403 are [`RegistryError::Auth`].
    pub fn send(&self, req: &Request) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            match self.once(req) {
                Failure2::Ok(r) => return Ok(r),
                Failure2::Fail(Failure::Fatal(e)) => return Err(e),
                Failure2::Fail(Failure::Transient { reason, status, detail, retry_after }) => {
                    if !req.retry || attempt >= self.opts.retries {
                        let tries =
                            if req.retry { format!(" (after {} attempts)", attempt + 1) } else { String::new() };
                        return Err(match status {
                            Some(s) => RegistryError::Status {
                                method: req.method.to_string(),
                                url: auth::shown_url(&req.url),
                                status: s,
                                detail: format!("{detail}{tries}"),
                            },
                            None => RegistryError::Network {
                                method: req.method.to_string(),
                                url: auth::shown_url(&req.url),
                                reason: format!("{reason}{tries}"),
                            },
                        });
                    }
                    self.sleep(attempt, retry_after);
                    attempt += 1;
                }
            }
        }
    }

    /// Wait before recovering from a failed one-shot request (`attempt` from 0).
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) {
        self.sleep(attempt, retry_after);
    }

    /// Retries configured.
    pub fn retries(&self) -> u32 {
        self.opts.retries
    }
}

enum Failure2 {
    Ok(Response),
    Fail(Failure),
}

struct Counting<R> {
    inner: R,
    progress: Option<ProgressFn>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p(n as u64);
        }
        Ok(n)
    }
}

fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers.get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).flat_map(auth::parse_challenges).collect()
}

/// `Retry-After` as a duration: delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(delta.max(0) as u64))
}

/// `: CODE message; …` from a distribution-spec error body
/// (`{"errors":[{"code","message","detail"}]}`), or the start of a text
/// body; empty when there is none.
pub fn error_detail(resp: Response) -> String {
    let mut body = Vec::new();
    let _ = resp.take(64 << 10).read_to_end(&mut body);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
        if let Some(errs) = v.get("errors").and_then(|e| e.as_array()) {
            let parts: Vec<String> = errs
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    format!("{code} {msg}").trim().to_string()
                })
                .filter(|s| !s.is_empty())
                .collect();
            if !parts.is_empty() {
                return format!(": {}", truncate(&parts.join("; "), 300));
            }
        }
    }
    let text = String::from_utf8_lossy(&body);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if first.is_empty() {
        String::new()
    } else {
        format!(": {}", truncate(first, 200))
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// A reqwest error's message with its causes, without the URL reqwest
/// embeds (callers print their own redacted one).
pub fn error_text(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let top = strip_url(&e.to_string());
    parts.push(top);
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = strip_url(&s.to_string());
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn shown_urls_lose_query_and_user_info() {
        assert_eq!(
            auth::shown_url("https://u:p@registry.example/v2/a/blobs/uploads/x?_state=abc&digest=sha256:1"),
            "https://registry.example/v2/a/blobs/uploads/x"
        );
    }
}
