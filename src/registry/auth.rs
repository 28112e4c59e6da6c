//! Registry credentials and the token handshake.
//!
//! **Where credentials come from**, first match wins (the CLI fills
//! [`Environment`] from the process environment):
//!
//! 1. `--username` with `--password-stdin`, or `DISTILL_REGISTRY_USERNAME`
//!    with `DISTILL_REGISTRY_PASSWORD` (CI);
//! 2. the auth files, in order: `$REGISTRY_AUTH_FILE`,
//!    `$XDG_RUNTIME_DIR/containers/auth.json` (podman login),
//!    `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config`), and
//!    `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`). In
//!    each file: `credHelpers.<registry>` names a helper; else an
//!    `auths` entry whose key is the registry (with or without
//!    `https://`/`http://` and a path, or `registry/namespace` as podman
//!    writes: the longest match wins) with a base64 `auth`
//!    (`user:password`), `username`/`password`, or an `identitytoken`;
//!    else `credsStore` names a helper for every registry.
//!    A helper `docker-credential-<name> get` reads the registry host on
//!    stdin and prints `{"ServerURL","Username","Secret"}` (Docker's
//!    credential-helper protocol; `Username` `<token>` means `Secret` is an
//!    identity token); "credentials not found" falls through to the next
//!    source.
//! 3. none: anonymous.
//!
//! **How they are used** (distribution-spec "Authentication" defers to the
//! distribution project's token specification): the client first sends
//! `GET /v2/`. A `401` with `WWW-Authenticate: Basic` means every request
//! carries `Authorization: Basic`; with `WWW-Authenticate: Bearer
//! realm=…,service=…` each request needs a token for its scopes
//! (`repository:<name>:pull,push` for the target, `repository:<from>:pull`
//! for a mount source), fetched from `realm` with `service` and `scope`
//! (`GET` with Basic credentials, or the OAuth2 `POST` with
//! `grant_type=refresh_token` for an identity token) and cached per set of
//! scopes until it expires. A `401` naming more scopes in its challenge
//! gets a token for the union and one retry.
//!
//! Passwords, identity tokens and bearer tokens live in [`Secret`], whose
//! `Debug` and `Display` print `<redacted>`; no error message includes
//! one, nor the body of a token response.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use super::RegistryError;

/// A secret string (password, identity token, bearer token). Formatting it
/// prints `<redacted>`; [`Secret::expose`] is the only way to the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret text, for building a request header or body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials for one registry.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// User name and password (or a personal access token used as one).
    Basic {
        /// User name (not secret; errors name it).
        username: String,
        /// Password.
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken` in a Docker config, or a
    /// helper's `<token>` user), exchanged at the token realm.
    IdentityToken(Secret),
}

/// Credentials and where they were found (for messages: "from
/// --username", "from /root/.docker/config.json", …).
#[derive(Debug, Clone)]
pub struct Found {
    /// The credentials.
    pub credentials: Credentials,
    /// Where they came from.
    pub source: String,
}

impl Found {
    /// `user "NAME" (from SOURCE)` or `an identity token (from SOURCE)`.
    pub fn describe(&self) -> String {
        match &self.credentials {
            Credentials::Basic { username, .. } => format!("user {username:?} (from {})", self.source),
            Credentials::IdentityToken(_) => format!("an identity token (from {})", self.source),
        }
    }
}

/// The environment credential lookup reads (filled by the CLI, so the
/// library reads no environment variable itself).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `DISTILL_REGISTRY_USERNAME`.
    pub username: Option<String>,
    /// `DISTILL_REGISTRY_PASSWORD`.
    pub password: Option<Secret>,
    /// `REGISTRY_AUTH_FILE`.
    pub registry_auth_file: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `DOCKER_CONFIG` (a directory holding `config.json`).
    pub docker_config: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
}

impl Environment {
    /// The auth files to search, in order (they need not exist).
    pub fn auth_files(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Some(f) = &self.registry_auth_file {
            v.push(f.clone());
        }
        if let Some(d) = &self.xdg_runtime_dir {
            v.push(d.join("containers/auth.json"));
        }
        match (&self.xdg_config_home, &self.home) {
            (Some(c), _) => v.push(c.join("containers/auth.json")),
            (None, Some(h)) => v.push(h.join(".config/containers/auth.json")),
            _ => {}
        }
        match (&self.docker_config, &self.home) {
            (Some(d), _) => v.push(d.join("config.json")),
            (None, Some(h)) => v.push(h.join(".docker/config.json")),
            _ => {}
        }
        v
    }
}

/// Find credentials for `registry` (`host[:port]`) and `repository`.
/// `explicit` (from `--username` and `--password-stdin`) wins, then the
/// environment's `DISTILL_REGISTRY_USERNAME`/`_PASSWORD`, then the auth
/// files; `Ok(None)` means anonymous.
pub fn lookup(
    registry: &str,
    repository: &str,
    explicit: Option<Found>,
    env: &Environment,
) -> Result<Option<Found>, RegistryError> {
    if explicit.is_some() {
        return Ok(explicit);
    }
    match (&env.username, &env.password) {
        (Some(u), Some(p)) => {
            return Ok(Some(Found {
                credentials: Credentials::Basic { username: u.clone(), password: p.clone() },
                source: "DISTILL_REGISTRY_USERNAME/DISTILL_REGISTRY_PASSWORD".into(),
            }))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(RegistryError::Auth(
                "set both DISTILL_REGISTRY_USERNAME and DISTILL_REGISTRY_PASSWORD, or neither".into(),
            ))
        }
        (None, None) => {}
    }
    for file in env.auth_files() {
        if let Some(found) = from_file(&file, registry, repository)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// `https://host:port/v1/` → `host:port`; `host/ns` stays.
fn normalize_key(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://"));
    match k {
        // With a scheme, the path is not a namespace (Docker writes `https://host/v1/`).
        Some(rest) => rest.split('/').next().unwrap_or(rest),
        None => key.trim_end_matches('/'),
    }
}

/// Credentials for `registry` in one auth file, if it has any.
pub fn from_file(file: &Path, registry: &str, repository: &str) -> Result<Option<Found>, RegistryError> {
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RegistryError::Auth(format!("cannot read credentials file {}: {e}", file.display()))),
    };
    // Never echo the file's content in an error: it holds secrets.
    let doc: Value = serde_json::from_slice(&text).map_err(|e| {
        RegistryError::Auth(format!(
            "credentials file {} is not valid JSON (line {}, column {})",
            file.display(),
            e.line(),
            e.column()
        ))
    })?;
    let shown = file.display().to_string();
    if let Some(helper) = doc.get("credHelpers").and_then(|h| h.get(registry)).and_then(Value::as_str) {
        return run_helper(helper, registry, &shown);
    }
    let full = format!("{registry}/{repository}");
    let mut best: Option<(usize, &Value)> = None;
    if let Some(auths) = doc.get("auths").and_then(Value::as_object) {
        for (key, entry) in auths {
            let k = normalize_key(key);
            let matches = k == registry || (full.starts_with(k) && full.as_bytes().get(k.len()) == Some(&b'/'));
            if matches && best.map_or(true, |(len, _)| k.len() > len) {
                best = Some((k.len(), entry));
            }
        }
    }
    if let Some((_, entry)) = best {
        if let Some(c) = entry_credentials(entry, &shown)? {
            return Ok(Some(Found { credentials: c, source: shown }));
        }
    }
    if let Some(store) = doc.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        return run_helper(store, registry, &shown);
    }
    Ok(None)
}

fn entry_credentials(entry: &Value, file: &str) -> Result<Option<Credentials>, RegistryError> {
    let s = |k: &str| entry.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    if let Some(tok) = s("identitytoken") {
        return Ok(Some(Credentials::IdentityToken(Secret::new(tok))));
    }
    if let Some(auth) = s("auth") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                RegistryError::Auth(format!(
                    "credentials file {file}: an \"auth\" value is not base64 of user:password"
                ))
            })?;
        let (u, p) = decoded.split_once(':').ok_or_else(|| {
            RegistryError::Auth(format!("credentials file {file}: an \"auth\" value is not base64 of user:password"))
        })?;
        return Ok(Some(Credentials::Basic { username: u.to_string(), password: Secret::new(p) }));
    }
    if let (Some(u), Some(p)) = (s("username"), s("password")) {
        return Ok(Some(Credentials::Basic { username: u.to_string(), password: Secret::new(p) }));
    }
    Ok(None)
}

/// Run `docker-credential-<helper> get` for `registry`.
fn run_helper(helper: &str, registry: &str, file: &str) -> Result<Option<Found>, RegistryError> {
    if helper.is_empty() || !helper.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err(RegistryError::Auth(format!("credentials file {file}: bad credential helper name {helper:?}")));
    }
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            RegistryError::Auth(format!("credential helper {program} (configured in {file}) cannot be run: {e}"))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_end(&mut err);
    }
    let status = child.wait().map_err(|e| RegistryError::Auth(format!("credential helper {program}: {e}")))?;
    if !status.success() {
        let text = String::from_utf8_lossy(&out).to_string() + &String::from_utf8_lossy(&err);
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // A failing helper prints a message, not credentials; show its first line, shortened.
        let first = text.lines().next().unwrap_or("").chars().take(200).collect::<String>();
        return Err(RegistryError::Auth(format!(
            "credential helper {program} (configured in {file}) failed for {registry} ({status}): {first}"
        )));
    }
    let doc: Value = serde_json::from_slice(&out).map_err(|_| {
        RegistryError::Auth(format!("credential helper {program} printed something other than its JSON answer"))
    })?;
    let user = doc.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = doc.get("Secret").and_then(Value::as_str).unwrap_or("");
    if secret.is_empty() {
        return Ok(None);
    }
    let source = format!("credential helper {program} (configured in {file})");
    let credentials = if user == "<token>" {
        Credentials::IdentityToken(Secret::new(secret))
    } else {
        Credentials::Basic { username: user.to_string(), password: Secret::new(secret) }
    };
    Ok(Some(Found { credentials, source }))
}

/// One challenge of a `WWW-Authenticate` header (RFC 7235 section 4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Auth scheme, lowercase (`basic`, `bearer`).
    pub scheme: String,
    /// Parameters, keys lowercase (`realm`, `service`, `scope`, `error`).
    pub params: BTreeMap<String, String>,
}

/// Parse `WWW-Authenticate` values into challenges:
/// `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull,push"`.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let b = header.as_bytes();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let is_tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c);
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',' || b[i] == b'\t') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            i += 1; // stray character
            continue;
        }
        let token = &header[start..i];
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            // key=value (a token68 ending in '=' is not a parameter we need).
            j += 1;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let value = if j < b.len() && b[j] == b'"' {
                j += 1;
                let mut v = String::new();
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' && j + 1 < b.len() {
                        j += 1;
                    }
                    // Push whole UTF-8 characters.
                    let ch = header[j..].chars().next().unwrap_or('\u{fffd}');
                    v.push(ch);
                    j += ch.len_utf8();
                }
                j += 1;
                v
            } else {
                let vs = j;
                while j < b.len() && b[j] != b',' && b[j] != b' ' {
                    j += 1;
                }
                header[vs..j].to_string()
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
            i = j;
        } else {
            out.push(Challenge { scheme: token.to_ascii_lowercase(), params: BTreeMap::new() });
            i = j;
        }
    }
    out
}

/// `repository:<name>:pull,push`.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// `repository:<name>:pull`.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// Union of scope lists, merging actions per resource
/// (`repository:a:pull` + `repository:a:push` → `repository:a:pull,push`),
/// sorted.
pub fn merge_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut by_resource: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in scopes {
        for one in s.split(' ').filter(|x| !x.is_empty()) {
            match one.rsplit_once(':') {
                Some((resource, actions)) => {
                    by_resource
                        .entry(resource.to_string())
                        .or_default()
                        .extend(actions.split(',').filter(|a| !a.is_empty()).map(String::from));
                }
                None => {
                    by_resource.entry(one.to_string()).or_default();
                }
            }
        }
    }
    by_resource
        .into_iter()
        .map(|(r, a)| if a.is_empty() { r } else { format!("{r}:{}", a.into_iter().collect::<Vec<_>>().join(",")) })
        .collect()
}

/// The bearer-token state for one registry: realm, service, the
/// credentials to present, and tokens cached per scope set.
pub struct TokenAuth {
    /// Token endpoint.
    pub realm: String,
    /// `service` parameter.
    pub service: Option<String>,
    credentials: Option<Found>,
    cache: Mutex<HashMap<String, (Secret, Instant)>>,
    fetching: Mutex<()>,
    /// Scope sets requested so far (for tests and `-v`).
    pub requested: Mutex<Vec<String>>,
}

impl TokenAuth {
    /// New state from a `Bearer` challenge.
    pub fn new(challenge: &Challenge, credentials: Option<Found>) -> Result<Self, RegistryError> {
        let realm = challenge
            .params
            .get("realm")
            .cloned()
            .ok_or_else(|| RegistryError::Auth("the registry's Bearer challenge has no realm".into()))?;
        Ok(TokenAuth {
            realm,
            service: challenge.params.get("service").cloned(),
            credentials,
            cache: Mutex::new(HashMap::new()),
            fetching: Mutex::new(()),
            requested: Mutex::new(Vec::new()),
        })
    }

    /// Forget the cached token for `scopes` (after the registry refused it).
    pub fn invalidate(&self, scopes: &[String]) {
        self.cache.lock().expect("token cache").remove(&scopes.join(" "));
    }

    /// A token for `scopes`, from the cache or the realm. `allow_http`:
    /// whether a plain-HTTP realm may be used (loopback or `--insecure`).
    pub fn token(
        &self,
        http: &reqwest::blocking::Client,
        scopes: &[String],
        allow_http: bool,
    ) -> Result<Secret, RegistryError> {
        let key = scopes.join(" ");
        let cached = || {
            self.cache
                .lock()
                .expect("token cache")
                .get(&key)
                .filter(|(_, until)| Instant::now() < *until)
                .map(|(t, _)| t.clone())
        };
        if let Some(tok) = cached() {
            return Ok(tok);
        }
        // One fetch at a time, so parallel uploads share the first token.
        let _one = self.fetching.lock().expect("token fetch");
        if let Some(tok) = cached() {
            return Ok(tok);
        }
        let realm = reqwest::Url::parse(&self.realm)
            .map_err(|_| RegistryError::Auth(format!("the registry's token realm {:?} is not a URL", self.realm)))?;
        let realm_host = realm.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_string();
        match realm.scheme() {
            "https" => {}
            "http" if allow_http || super::reference::is_loopback_host(&realm_host) => {}
            s => {
                return Err(RegistryError::Auth(format!(
                    "refusing to send credentials to token realm {} over {s} (use an https realm, or --insecure)",
                    shown_url(&self.realm)
                )))
            }
        }
        self.requested.lock().expect("scopes").push(key.clone());
        let shown = shown_url(&self.realm);
        let resp = match self.credentials.as_ref().map(|f| &f.credentials) {
            Some(Credentials::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", refresh.expose().to_string()),
                    ("client_id", "distill".to_string()),
                    ("scope", scopes.join(" ")),
                ];
                if let Some(s) = &self.service {
                    form.push(("service", s.clone()));
                }
                http.post(realm.clone()).form(&form).send()
            }
            other => {
                let mut url = realm.clone();
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = &self.service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                    if let Some(Credentials::Basic { username, .. }) = other {
                        q.append_pair("account", username);
                    }
                }
                let mut req = http.get(url);
                if let Some(Credentials::Basic { username, password }) = other {
                    req = req.basic_auth(username, Some(password.expose()));
                }
                req.send()
            }
        };
        let resp = resp.map_err(|e| RegistryError::Network {
            method: "GET".into(),
            url: shown.clone(),
            reason: format!("token request failed: {}", super::client::error_text(&e)),
        })?;
        let status = resp.status();
        if !status.is_success() {
            let who = self.credentials.as_ref().map(Found::describe).unwrap_or_else(|| "anonymous".into());
            return Err(RegistryError::Auth(format!(
                "token server {shown} refused {who} for scope {key:?}: HTTP {}{}",
                status.as_u16(),
                if status.as_u16() == 401 || status.as_u16() == 403 {
                    " (check the credentials; `docker login`/`podman login` or --username/--password-stdin)"
                } else {
                    ""
                }
            )));
        }
        let mut body = Vec::new();
        resp.take(1 << 20).read_to_end(&mut body).map_err(|e| RegistryError::Network {
            method: "GET".into(),
            url: shown.clone(),
            reason: format!("reading the token: {e}"),
        })?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|_| RegistryError::Auth(format!("token server {shown} answered something other than JSON")))?;
        let token = doc
            .get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Auth(format!("token server {shown} answered without a token")))?;
        // The token specification's default lifetime is 60 s; renew 10 s early.
        let lifetime = doc.get("expires_in").and_then(Value::as_u64).unwrap_or(60).max(20);
        let tok = Secret::new(token);
        self.cache
            .lock()
            .expect("token cache")
            .insert(key, (tok.clone(), Instant::now() + Duration::from_secs(lifetime - 10)));
        Ok(tok)
    }
}

/// A URL without its query and fragment (they may carry state or
/// signatures), for messages.
pub fn shown_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    crate::repo::transport::redact(&url[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.example/token");
        assert_eq!(c[0].params["service"], "registry.example");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
        let c = parse_challenges(
            r#"Basic realm="Registry Realm", Bearer realm=https://t.example/x,error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
        assert_eq!(c[1].params["realm"], "https://t.example/x");
        assert_eq!(c[1].params["error"], "insufficient_scope");
        assert_eq!(parse_challenges(r#"Bearer realm="a\"b""#)[0].params["realm"], "a\"b");
    }

    #[test]
    fn merges_scopes_per_resource() {
        assert_eq!(
            merge_scopes(["repository:a:pull", "repository:a:push repository:b:pull", "repository:a:pull"]),
            vec!["repository:a:pull,push".to_string(), "repository:b:pull".to_string()]
        );
    }

    #[test]
    fn secrets_are_redacted_when_formatted() {
        let c = Credentials::Basic { username: "u".into(), password: Secret::new("hunter2") };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Secret::new("x").to_string(), "<redacted>");
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_docker_and_podman_auth_files() {
        let d = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let f = write(
            d.path(),
            "a.json",
            &format!(
                r#"{{"auths": {{"https://registry.example/v1/": {{"auth": "{auth}"}},
                    "registry.example/team": {{"username": "bob", "password": "pw"}},
                    "localhost:5000": {{"identitytoken": "refresh"}}}}}}"#
            ),
        );
        let found = from_file(&f, "registry.example", "base/nodejs").unwrap().unwrap();
        match found.credentials {
            Credentials::Basic { username, password } => {
                assert_eq!(username, "alice");
                assert_eq!(password.expose(), "s3cret");
            }
            _ => panic!(),
        }
        // The namespace entry is more specific.
        match from_file(&f, "registry.example", "team/app").unwrap().unwrap().credentials {
            Credentials::Basic { username, .. } => assert_eq!(username, "bob"),
            _ => panic!(),
        }
        assert!(matches!(
            from_file(&f, "localhost:5000", "x").unwrap().unwrap().credentials,
            Credentials::IdentityToken(_)
        ));
        assert!(from_file(&f, "other.example", "x").unwrap().is_none());
        assert!(from_file(&d.path().join("missing.json"), "registry.example", "x").unwrap().is_none());
        // A broken file is an error that does not quote it.
        let bad = write(d.path(), "bad.json", r#"{"auths": {"registry.example": {"auth": "c2VjcmV0"#);
        let e = from_file(&bad, "registry.example", "x").unwrap_err().to_string();
        assert!(e.contains("bad.json") && !e.contains("c2VjcmV0"), "{e}");
        // A missing helper is named.
        let h = write(d.path(), "h.json", r#"{"credHelpers": {"registry.example": "distill-test-none"}}"#);
        let e = from_file(&h, "registry.example", "x").unwrap_err().to_string();
        assert!(e.contains("docker-credential-distill-test-none"), "{e}");
    }

    #[test]
    fn environment_orders_auth_files() {
        let env = Environment {
            registry_auth_file: Some("/a/auth.json".into()),
            xdg_runtime_dir: Some("/run/user/0".into()),
            home: Some("/home/u".into()),
            ..Default::default()
        };
        assert_eq!(
            env.auth_files(),
            vec![
                PathBuf::from("/a/auth.json"),
                PathBuf::from("/run/user/0/containers/auth.json"),
                PathBuf::from("/home/u/.config/containers/auth.json"),
                PathBuf::from("/home/u/.docker/config.json"),
            ]
        );
    }
}
