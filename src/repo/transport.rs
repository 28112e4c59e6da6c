//! Fetching bytes from `http://`, `https://` and `file://` URLs.
//!
//! HTTP goes through one blocking reqwest client (rustls). Each download:
//!
//! - is bounded in time: connecting, waiting for the response head and
//!   every read of the body must make progress within the idle timeout
//!   ([`Settings::idle_timeout`], `DISTILL_HTTP_TIMEOUT` seconds, default
//!   60; connecting at most 30 s), and one attempt may last at most
//!   [`Settings::attempt_timeout`] (600 s) however slowly bytes trickle in;
//! - is retried ([`Settings::retries`], `DISTILL_HTTP_RETRIES`, default 3
//!   retries after the first attempt) after connection errors, timeouts,
//!   bodies cut short (fewer bytes than `Content-Length`/`Content-Range`
//!   announced, a broken chunked body), HTTP 5xx and 429, waiting
//!   [`Settings::backoff`] (`DISTILL_HTTP_BACKOFF_MS`, default 500 ms)
//!   doubled after each failure, or the server's `Retry-After` (seconds or
//!   an HTTP date, at most [`Settings::max_retry_after`], 60 s) when longer;
//! - is resumed: when a body breaks after N bytes, the retry asks
//!   `Range: bytes=N-` (with `If-Range` when the first answer had a strong
//!   `ETag` or a `Last-Modified`) and appends a `206` whose `Content-Range`
//!   starts at N with the same total length. Any other answer (a `200`: no
//!   range support or a changed file, a `416`, a mismatched range) starts
//!   the body over, so a caller always receives exactly one whole body;
//! - fails for good on 404 and 410 ([`RepoError::NotFound`]) and on any
//!   other 4xx (401, 403, …: [`RepoError::Fetch`] naming the status), with
//!   no retry.
//!
//! The final error names the URL with any `user:password@`, query and
//! fragment removed ([`redact`]), the last cause and the number of attempts.
//! Credentials in a URL are sent as HTTP Basic authentication.
//!
//! [`Transport::new`] reads the three `DISTILL_HTTP_*` variables (the one
//! place outside `cli` that reads the environment: every build stage makes
//! its own transport); [`Transport::with_settings`] takes them explicitly.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE, RETRY_AFTER};
use reqwest::StatusCode;

use super::RepoError;

/// Network settings of a [`Transport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Longest wait for any progress: connecting (at most 30 s), the
    /// response head, each read of the body.
    pub idle_timeout: Duration,
    /// Longest duration of one attempt (request and whole body); a slower
    /// transfer is resumed by the next attempt.
    pub attempt_timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// Wait before the first retry; doubled for each later one.
    pub backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle_timeout: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(600),
            retries: 3,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Idle timeout in seconds (fractions allowed).
pub const ENV_TIMEOUT: &str = "DISTILL_HTTP_TIMEOUT";
/// Retries after the first attempt.
pub const ENV_RETRIES: &str = "DISTILL_HTTP_RETRIES";
/// First backoff in milliseconds.
pub const ENV_BACKOFF_MS: &str = "DISTILL_HTTP_BACKOFF_MS";

impl Settings {
    /// The defaults, overridden by `DISTILL_HTTP_TIMEOUT` (seconds, > 0,
    /// ≤ 3600), `DISTILL_HTTP_RETRIES` (0–100) and `DISTILL_HTTP_BACKOFF_MS`
    /// (0–600000). Empty values are ignored.
    pub fn from_env() -> Result<Self, RepoError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`Settings::from_env`], reading variables through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, RepoError> {
        let mut s = Settings::default();
        let bad = |variable: &str, value: &str, reason: &str| RepoError::Settings {
            variable: variable.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let var = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if let Some(v) = var(ENV_TIMEOUT) {
            let secs: f64 = v.parse().map_err(|_| bad(ENV_TIMEOUT, &v, "not a number of seconds"))?;
            if !(secs > 0.0 && secs <= 3600.0) {
                return Err(bad(ENV_TIMEOUT, &v, "must be more than 0 and at most 3600 seconds"));
            }
            s.idle_timeout = Duration::from_secs_f64(secs);
        }
        if let Some(v) = var(ENV_RETRIES) {
            s.retries = v
                .parse()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or_else(|| bad(ENV_RETRIES, &v, "not a whole number from 0 to 100"))?;
        }
        if let Some(v) = var(ENV_BACKOFF_MS) {
            let ms: u64 = v
                .parse()
                .ok()
                .filter(|n| *n <= 600_000)
                .ok_or_else(|| bad(ENV_BACKOFF_MS, &v, "not a whole number of milliseconds from 0 to 600000"))?;
            s.backoff = Duration::from_millis(ms);
        }
        Ok(s)
    }
}

/// A URL fetcher. Cheap to clone; share one per build.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::blocking::Client,
    settings: Settings,
}

impl Transport {
    /// A transport with [`Settings::from_env`].
    pub fn new() -> Result<Self, RepoError> {
        Self::with_settings(Settings::from_env()?)
    }

    /// A transport with `settings`.
    pub fn with_settings(settings: Settings) -> Result<Self, RepoError> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("distill/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.idle_timeout.min(Duration::from_secs(30)))
            // The blocking client applies this to sending the request and
            // waiting for the head, and again to each read of the body: an
            // idle timeout. The attempt timeout is checked while reading.
            .timeout(settings.idle_timeout)
            .build()
            .map_err(|e| RepoError::Fetch { url: String::new(), reason: error_text(&e) })?;
        Ok(Transport { client, settings })
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Fetch `url` whole into memory.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, RepoError> {
        self.get_limited(url, u64::MAX)
    }

    /// Fetch `url` into memory, reading at most `max + 1` bytes: a body
    /// longer than `max` comes back with `max + 1` bytes (so the caller's
    /// size check fails) instead of filling memory. A mirror that streams
    /// without end costs one buffer of the size the signed index gives.
    pub fn get_limited(&self, url: &str, max: u64) -> Result<Vec<u8>, RepoError> {
        let mut buf = Vec::new();
        self.get_with(url, |r| {
            buf.clear();
            r.take(max.saturating_add(1)).read_to_end(&mut buf).map(|_| ())
        })?;
        Ok(buf)
    }

    /// Fetch `url` and hand a reader of its body to `consume`.
    ///
    /// The reader resumes broken transfers itself (see the module
    /// documentation), so `consume` reads each byte of the body once, in
    /// order. When a transfer cannot be resumed and starts over, the
    /// reader fails and `consume` is called again with a reader from the
    /// first byte: it must drop what it read before. An error `consume`
    /// returns of its own is final (`Fetch`, "reading body").
    pub fn get_with(
        &self,
        url: &str,
        mut consume: impl FnMut(&mut dyn Read) -> std::io::Result<()>,
    ) -> Result<(), RepoError> {
        if let Some(path) = url.strip_prefix("file://") {
            return match std::fs::File::open(path) {
                Ok(mut f) => consume(&mut f).map_err(|e| RepoError::Fetch { url: redact(url), reason: e.to_string() }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RepoError::NotFound { url: redact(url) }),
                Err(e) => Err(RepoError::Fetch { url: redact(url), reason: e.to_string() }),
            };
        }
        let mut attempts = Attempts { t: self, url, made: 0 };
        let mut resp = attempts.open(&Resume::none())?;
        loop {
            let mut body = Body::new(&mut attempts, resp);
            let result = consume(&mut body);
            let Body { failure, restart, .. } = body;
            if let Some(e) = failure {
                return Err(e);
            }
            if let Some(r) = restart {
                resp = Opened::Full(r);
                continue;
            }
            return result.map_err(|e| RepoError::Fetch { url: redact(url), reason: format!("reading body: {e}") });
        }
    }
}

/// Where a retry continues: the bytes already received and how to check
/// the server still has the same file.
struct Resume {
    from: u64,
    total: Option<u64>,
    validator: Option<HeaderValue>,
}

impl Resume {
    fn none() -> Self {
        Resume { from: 0, total: None, validator: None }
    }
}

/// What a request brought back.
enum Opened {
    /// The whole body (200).
    Full(reqwest::blocking::Response),
    /// The rest of the body from the requested offset (206, checked).
    Rest(reqwest::blocking::Response),
}

/// The attempts of one download.
struct Attempts<'a> {
    t: &'a Transport,
    url: &'a str,
    /// Requests sent so far.
    made: u32,
}

impl Attempts<'_> {
    /// Record a failed attempt: the final error when none are left, else
    /// wait before the next one.
    fn failed(&mut self, cause: String, retry_after: Option<Duration>) -> Result<(), RepoError> {
        let s = &self.t.settings;
        if self.made > s.retries {
            let n = self.made;
            return Err(RepoError::Fetch {
                url: redact(self.url),
                reason: format!("{cause} (after {n} attempt{})", if n == 1 { "" } else { "s" }),
            });
        }
        let backoff = s.backoff.saturating_mul(2u32.saturating_pow((self.made - 1).min(16)));
        let wait = match retry_after {
            Some(ra) => ra.min(s.max_retry_after).max(backoff),
            None => backoff,
        };
        std::thread::sleep(wait);
        Ok(())
    }

    /// Send requests until one answers 200, or 206 continuing `resume`;
    /// other answers are retried or final as the module says.
    fn open(&mut self, resume: &Resume) -> Result<Opened, RepoError> {
        let mut resume_from = resume.from;
        loop {
            self.made += 1;
            let mut req = self.t.client.get(self.url);
            if resume_from > 0 {
                req = req.header(RANGE, format!("bytes={resume_from}-"));
                if let Some(v) = &resume.validator {
                    req = req.header(IF_RANGE, v.clone());
                }
            }
            let (cause, retry_after) = match req.send() {
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::OK {
                        return Ok(Opened::Full(resp));
                    } else if status == StatusCode::PARTIAL_CONTENT && resume_from > 0 {
                        match content_range(resp.headers()) {
                            Some((start, total))
                                if start == resume_from && resume.total.map_or(true, |t| t == total) =>
                            {
                                return Ok(Opened::Rest(resp));
                            }
                            got => {
                                // Not the rest we asked for: start over.
                                resume_from = 0;
                                (format!("resuming at byte {} got Content-Range {got:?}", resume.from), None)
                            }
                        }
                    } else if status == StatusCode::RANGE_NOT_SATISFIABLE && resume_from > 0 {
                        resume_from = 0;
                        (format!("HTTP {status} when resuming at byte {}", resume.from), None)
                    } else if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                        return Err(RepoError::NotFound { url: redact(self.url) });
                    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                        (format!("HTTP {status}"), retry_after(resp.headers()))
                    } else {
                        let n = self.made;
                        return Err(RepoError::Fetch {
                            url: redact(self.url),
                            reason: format!(
                                "HTTP {status}, not retried (after {n} attempt{})",
                                if n == 1 { "" } else { "s" }
                            ),
                        });
                    }
                }
                Err(e) if e.is_timeout() => {
                    (format!("no response within {} (DISTILL_HTTP_TIMEOUT)", secs(self.t.settings.idle_timeout)), None)
                }
                Err(e) => (error_text(&e), None),
            };
            self.failed(cause, retry_after)?;
        }
    }
}

/// The body reader handed to the consumer: resumes broken transfers.
struct Body<'a, 'b> {
    attempts: &'a mut Attempts<'b>,
    resp: Option<reqwest::blocking::Response>,
    /// Bytes handed to the consumer.
    delivered: u64,
    /// Length of the whole body, when the server said.
    total: Option<u64>,
    validator: Option<HeaderValue>,
    ranges: bool,
    started: Instant,
    /// The final error, once reading failed for good.
    failure: Option<RepoError>,
    /// A fresh whole body: the consumer must start over with it.
    restart: Option<reqwest::blocking::Response>,
}

impl<'a, 'b> Body<'a, 'b> {
    fn new(attempts: &'a mut Attempts<'b>, opened: Opened) -> Self {
        let resp = match opened {
            Opened::Full(r) | Opened::Rest(r) => r,
        };
        let h = resp.headers();
        let validator = match h.get(ETAG) {
            Some(e) if !e.as_bytes().starts_with(b"W/") => Some(e.clone()),
            _ => h.get(LAST_MODIFIED).cloned(),
        };
        let ranges = h.get("accept-ranges").map_or(true, |v| !v.as_bytes().eq_ignore_ascii_case(b"none"));
        Body {
            total: resp.content_length(),
            validator,
            ranges,
            attempts,
            resp: Some(resp),
            delivered: 0,
            started: Instant::now(),
            failure: None,
            restart: None,
        }
    }

    /// After `cause`: wait, then continue from `delivered` (or start over).
    fn recover(&mut self, cause: String) -> std::io::Result<()> {
        self.resp = None;
        let fail = |this: &mut Self, e: RepoError| {
            let msg = e.to_string();
            this.failure = Some(e);
            Err(std::io::Error::other(msg))
        };
        if let Err(e) = self.attempts.failed(cause, None) {
            return fail(self, e);
        }
        let resume = Resume {
            from: if self.ranges { self.delivered } else { 0 },
            total: self.total,
            validator: self.validator.clone(),
        };
        match self.attempts.open(&resume) {
            Ok(Opened::Rest(r)) => {
                self.resp = Some(r);
                self.started = Instant::now();
                Ok(())
            }
            Ok(Opened::Full(r)) if self.delivered == 0 => {
                self.total = r.content_length();
                self.resp = Some(r);
                self.started = Instant::now();
                Ok(())
            }
            Ok(Opened::Full(r)) => {
                self.restart = Some(r);
                Err(std::io::Error::other("the server sent the whole file again: starting over"))
            }
            Err(e) => fail(self, e),
        }
    }
}

impl Body<'_, '_> {
    /// `N of M bytes` (or `N bytes` when the length is unknown).
    fn progress(&self) -> String {
        match self.total {
            Some(t) => format!("{} of {t} bytes", self.delivered),
            None => format!("{} bytes", self.delivered),
        }
    }
}

impl Read for Body<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.failure.is_some() || self.restart.is_some() {
                return Err(std::io::Error::other("download failed"));
            }
            let Some(resp) = self.resp.as_mut() else { return Ok(0) };
            let limit = self.attempts.t.settings.attempt_timeout;
            let cause = if self.started.elapsed() > limit {
                format!("transfer too slow: {} in {}", self.progress(), secs(limit))
            } else {
                match resp.read(buf) {
                    Ok(0) => match self.total {
                        Some(t) if self.delivered < t => format!("connection closed after {}", self.progress()),
                        _ => return Ok(0),
                    },
                    Ok(n) => {
                        self.delivered += n as u64;
                        return Ok(n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if is_timeout(&e) => format!(
                        "body stalled after {}: nothing received for {} (DISTILL_HTTP_TIMEOUT)",
                        self.progress(),
                        secs(self.attempts.t.settings.idle_timeout)
                    ),
                    Err(e) => format!("body broken after {}: {}", self.progress(), error_text(&e)),
                }
            };
            self.recover(cause)?;
        }
    }
}

/// `start` and `total` of a `Content-Range: bytes start-end/total` whose
/// end is the last byte.
fn content_range(headers: &reqwest::header::HeaderMap) -> Option<(u64, u64)> {
    let v = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = v.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end, total): (u64, u64, u64) = (start.parse().ok()?, end.parse().ok()?, total.parse().ok()?);
    (start <= end && end + 1 == total).then_some((start, total))
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(Duration::from_secs((when.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64))
}

fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(s) = src {
        if s.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_timeout) {
            return true;
        }
        src = s.source();
    }
    false
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// An error and its causes, `a: b: c`, without URLs (we print our own,
/// redacted) or repeated messages.
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src = Some(e);
    while let Some(s) = src {
        let text = strip_url(&s.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    parts.join(": ")
}

/// A URL for display: no `user:password@`, query or fragment (they may
/// carry secrets).
pub fn redact(url: &str) -> String {
    let Some(s) = url.find("://") else { return url.to_string() };
    let rest = &url[s + 3..];
    // The authority ends at the first `/`: a raw `?`, `#` or `@` in a
    // password stays inside it.
    let auth_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..auth_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    format!("{}{rest}", &url[..s + 3])
}

/// A reqwest error message without the URL it embeds.
pub(crate) fn strip_url(msg: &str) -> String {
    // reqwest errors embed the URL ("error sending request for url (...)"); we
    // print our own redacted URL instead.
    match msg.find(" for url (") {
        Some(i) => {
            let rest = &msg[i..];
            let end = rest.find(')').map(|e| i + e + 1).unwrap_or(msg.len());
            format!("{}{}", &msg[..i], &msg[end..])
        }
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_from_urls() {
        assert_eq!(redact("https://u:secret@h.invalid/x"), "https://h.invalid/x");
        assert_eq!(redact("https://h.invalid/a@b"), "https://h.invalid/a@b");
        assert_eq!(redact("https://u:p@ss@h.invalid/x"), "https://h.invalid/x");
        assert_eq!(redact("https://u:p?s#s@h.invalid/x"), "https://h.invalid/x");
        assert_eq!(redact("https://h.invalid/x?token=secret#frag"), "https://h.invalid/x");
        assert_eq!(redact("http://u:secret@127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(redact("file:///srv/mirror/x"), "file:///srv/mirror/x");
    }

    #[test]
    fn settings_come_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(Settings::from_lookup(env(&[])).unwrap(), Settings::default());
        let s = Settings::from_lookup(env(&[
            ("DISTILL_HTTP_TIMEOUT", "0.5"),
            ("DISTILL_HTTP_RETRIES", "0"),
            ("DISTILL_HTTP_BACKOFF_MS", " 20 "),
        ]))
        .unwrap();
        assert_eq!(s.idle_timeout, Duration::from_millis(500));
        assert_eq!(s.retries, 0);
        assert_eq!(s.backoff, Duration::from_millis(20));
        assert_eq!(Settings::from_lookup(env(&[("DISTILL_HTTP_RETRIES", "")])).unwrap().retries, 3);
        for bad in [
            &[("DISTILL_HTTP_TIMEOUT", "0")][..],
            &[("DISTILL_HTTP_TIMEOUT", "soon")],
            &[("DISTILL_HTTP_TIMEOUT", "NaN")],
            &[("DISTILL_HTTP_RETRIES", "-1")],
            &[("DISTILL_HTTP_RETRIES", "1000")],
            &[("DISTILL_HTTP_BACKOFF_MS", "1.5")],
        ] {
            let e = Settings::from_lookup(env(bad)).unwrap_err().to_string();
            assert!(e.contains(bad[0].0) && e.contains(bad[0].1), "{e}");
        }
    }

    #[test]
    fn content_range_and_retry_after_are_parsed() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(content_range(&h), None);
        h.insert(CONTENT_RANGE, "bytes 100-999/1000".parse().unwrap());
        assert_eq!(content_range(&h), Some((100, 1000)));
        h.insert(CONTENT_RANGE, "bytes 100-199/1000".parse().unwrap());
        assert_eq!(content_range(&h), None, "not through to the end");
        h.insert(CONTENT_RANGE, "bytes 100-999/*".parse().unwrap());
        assert_eq!(content_range(&h), None);
    }
}
