//! Fetching bytes from `http://`, `https://` and `file://` URLs.
//!
//! HTTP goes through one blocking reqwest client (rustls) with connect and
//! read timeouts and bounded retries with exponential backoff on connection
//! errors, HTTP 5xx and 429. A 404 is final ([`RepoError::NotFound`]).
//! URLs in errors have any `user:password@` removed.

use std::io::Read;
use std::time::Duration;

use super::RepoError;

/// Retries after the first attempt.
const RETRIES: u32 = 3;

/// A URL fetcher. Cheap to clone; share one per build.
#[derive(Clone)]
pub struct Transport {
    client: reqwest::blocking::Client,
    backoff: Duration,
}

impl Transport {
    /// A transport with 30 s connect and 120 s read timeouts.
    pub fn new() -> Result<Self, RepoError> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("distill/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| RepoError::Fetch { url: String::new(), reason: e.to_string() })?;
        Ok(Transport { client, backoff: Duration::from_millis(500) })
    }

    /// Fetch `url` whole into memory.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, RepoError> {
        let mut buf = Vec::new();
        self.get_into(url, &mut buf)?;
        Ok(buf)
    }

    /// Fetch `url`, streaming the body into `sink`. On a retry after a
    /// partial body, `reset` semantics are the caller's: the sink receives
    /// the whole body again, so callers pass a fresh sink per attempt by
    /// using [`Transport::get_with`].
    fn get_into(&self, url: &str, sink: &mut Vec<u8>) -> Result<(), RepoError> {
        self.get_with(url, |r| {
            sink.clear();
            r.read_to_end(sink).map(|_| ())
        })
    }

    /// Fetch `url` and hand the body reader to `consume`, retrying the whole
    /// request (calling `consume` again) on transient failures.
    pub fn get_with(
        &self,
        url: &str,
        mut consume: impl FnMut(&mut dyn Read) -> std::io::Result<()>,
    ) -> Result<(), RepoError> {
        if let Some(path) = url.strip_prefix("file://") {
            return match std::fs::File::open(path) {
                Ok(mut f) => consume(&mut f).map_err(|e| RepoError::Fetch { url: url.into(), reason: e.to_string() }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RepoError::NotFound { url: url.into() }),
                Err(e) => Err(RepoError::Fetch { url: url.into(), reason: e.to_string() }),
            };
        }
        let shown = redact(url);
        let mut attempt = 0;
        loop {
            let result = self.client.get(url).send();
            let transient = match result {
                Ok(mut resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        match consume(&mut resp) {
                            Ok(()) => return Ok(()),
                            Err(e) => format!("reading body: {e}"),
                        }
                    } else if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                        return Err(RepoError::NotFound { url: shown });
                    } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        format!("HTTP {status}")
                    } else {
                        return Err(RepoError::Fetch { url: shown, reason: format!("HTTP {status}") });
                    }
                }
                Err(e) => strip_url(&e.to_string()),
            };
            if attempt >= RETRIES {
                return Err(RepoError::Fetch {
                    url: shown,
                    reason: format!("{transient} (after {} attempts)", attempt + 1),
                });
            }
            std::thread::sleep(self.backoff * 2u32.pow(attempt));
            attempt += 1;
        }
    }
}

/// Remove `user:password@` from a URL for display.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
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
    }
}
