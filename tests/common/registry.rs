//! Helpers of the registry and export tests: a real registry (Debian's
//! `docker-registry`, the CNCF distribution registry) started on a free
//! loopback port with its own storage, optionally behind htpasswd basic
//! auth or token auth; OCI image layouts written by the test (random,
//! incompressible layers, so sizes are what they say); an HTTP proxy in
//! front of the registry that can fail, delay or hold requests; and
//! running the `distill` binary.
//!
//! Nothing here talks to anything but 127.0.0.1.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Why the registry tests cannot run here, if they cannot: only
/// `DISTILL_SKIP_E2E=1` or a missing `docker-registry` (scripts/test
/// installs it). Any other missing tool is a failure.
pub fn skip_reason() -> Option<String> {
    if std::env::var("DISTILL_SKIP_E2E").is_ok_and(|v| v == "1") {
        return Some("DISTILL_SKIP_E2E=1".into());
    }
    if !Path::new(REGISTRY_BIN).exists() {
        return Some(format!("{REGISTRY_BIN} is missing (scripts/test installs the docker-registry package)"));
    }
    None
}

/// True (after printing why) when the calling test should not run.
pub fn skip() -> bool {
    match skip_reason() {
        Some(why) => {
            eprintln!("skipping: {why}");
            true
        }
        None => false,
    }
}

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

pub fn need_tool(tool: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false);
    assert!(found, "{tool} is required by this test (scripts/test installs it)");
}

/// A self-signed RSA certificate for `subject` (CN) and its key, valid for
/// 127.0.0.1 and localhost.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    need_tool("openssl");
    let (key, cert) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pem")));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How the registry authenticates.
pub enum Auth {
    None,
    /// htpasswd (bcrypt) with one user.
    Basic {
        user: String,
        password: String,
    },
    /// Token auth: realm, service, issuer, the certificate that signs tokens.
    Token {
        realm: String,
        service: String,
        issuer: String,
        cert: PathBuf,
    },
}

/// A running `docker-registry`; killed (by its pid) when dropped.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        Registry::start_with(auth, None)
    }

    /// With `tls` (certificate, key): HTTPS only.
    pub fn start_with(auth: Auth, tls: Option<(&Path, &Path)>) -> Registry {
        let tls_yaml = match tls {
            Some((cert, key)) => format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display()),
            None => String::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Basic { user, password } => {
                need_tool("htpasswd");
                let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().unwrap();
                assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).unwrap();
                format!("auth:\n  htpasswd:\n    realm: distill-test\n    path: {}\n", file.display())
            }
            Auth::Token { realm, service, issuer, cert } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert.display()
            ),
        };
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_yaml}{auth_yaml}",
                    storage.display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken, or bad config: retry / report below
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Registry { child, port, storage, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start; log:\n{}",
            std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Layouts
// ---------------------------------------------------------------------------

/// A layer blob: compressed bytes and the digest of its tar (diff_id).
#[derive(Clone)]
pub struct Layer {
    pub media_type: &'static str,
    pub blob: Vec<u8>,
    pub diff_id: String,
}

impl Layer {
    pub fn digest(&self) -> String {
        sha256(&self.blob)
    }
}

/// A tar with one file of `size` random bytes (seeded), gzip- or
/// zstd-compressed.
pub fn layer(seed: u64, size: usize, media_type: &'static str) -> Layer {
    let mut data = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    b.append_data(&mut h, format!("data/{seed}.bin"), data.as_slice()).unwrap();
    let tar = b.into_inner().unwrap();
    let blob = if media_type == ZSTD {
        zstd::encode_all(tar.as_slice(), 1).unwrap()
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    };
    Layer { media_type, blob, diff_id: sha256(&tar) }
}

/// Writes blobs into `dir/blobs/sha256` and returns descriptors.
pub struct LayoutWriter {
    pub dir: PathBuf,
}

impl LayoutWriter {
    pub fn new(dir: &Path) -> LayoutWriter {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        LayoutWriter { dir: dir.to_path_buf() }
    }

    pub fn blob(&self, media_type: &str, data: &[u8]) -> Value {
        let d = sha256(data);
        std::fs::write(self.dir.join("blobs/sha256").join(d.trim_start_matches("sha256:")), data).unwrap();
        json!({"mediaType": media_type, "digest": d, "size": data.len()})
    }

    /// A platform image: config + manifest; returns the manifest descriptor
    /// with its platform.
    pub fn image(&self, arch: &str, variant: Option<&str>, layers: &[&Layer]) -> Value {
        let mut config = json!({
            "architecture": arch, "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin"], "User": "0"},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let cd = self.blob(OCI_CONFIG, &serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cd,
            "layers": layers.iter().map(|l| self.blob(l.media_type, &l.blob)).collect::<Vec<_>>(),
        });
        let mut md = self.blob(OCI_MANIFEST, &serde_json::to_vec(&manifest).unwrap());
        let mut platform = json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        md["platform"] = platform;
        md
    }

    pub fn index(&self, manifests: &[Value]) -> Value {
        let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.blob(OCI_INDEX, &serde_json::to_vec(&idx).unwrap())
    }

    /// index.json with one descriptor per tag.
    pub fn tags(&self, tags: &[(&str, &Value)]) {
        let manifests: Vec<Value> = tags
            .iter()
            .map(|(t, d)| {
                let mut d = (*d).clone();
                d.as_object_mut().unwrap().remove("platform");
                d["annotations"] = json!({"org.opencontainers.image.ref.name": t});
                d
            })
            .collect();
        let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    }
}

pub fn digest_of(desc: &Value) -> String {
    desc["digest"].as_str().unwrap().to_string()
}

/// A two-platform layout: `base` layers shared by both platforms' bottom,
/// then `own` layers per platform. Tags: `latest` (index), `amd64` (the
/// amd64 manifest alone).
pub struct TestImage {
    pub dir: PathBuf,
    pub index: String,
    pub amd64: String,
    pub arm64: String,
    pub blobs: Vec<String>,
}

pub fn test_image(dir: &Path, base: &[&Layer], amd64_own: &[&Layer], arm64_own: &[&Layer]) -> TestImage {
    let w = LayoutWriter::new(dir);
    let a: Vec<&Layer> = base.iter().chain(amd64_own).copied().collect();
    let b: Vec<&Layer> = base.iter().chain(arm64_own).copied().collect();
    let ma = w.image("amd64", None, &a);
    let mb = w.image("arm64", Some("v8"), &b);
    let idx = w.index(&[ma.clone(), mb.clone()]);
    w.tags(&[("latest", &idx), ("amd64", &ma)]);
    let blobs = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    TestImage { dir: dir.to_path_buf(), index: digest_of(&idx), amd64: digest_of(&ma), arm64: digest_of(&mb), blobs }
}

// ---------------------------------------------------------------------------
// Running distill and skopeo
// ---------------------------------------------------------------------------

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "distill failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
}

fn run_output(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// A `distill` command with a clean credential environment (HOME and the
/// auth files point into `home`).
pub fn distill_cmd(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_distill"));
    c.env("HOME", home)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("DISTILL_REGISTRY_USERNAME")
        .env_remove("DISTILL_REGISTRY_PASSWORD")
        .stdin(Stdio::null());
    c
}

pub fn distill(home: &Path, args: &[&str]) -> Run {
    run_output(distill_cmd(home).args(args).output().unwrap())
}

/// Run distill with `input` on stdin.
pub fn distill_stdin(home: &Path, args: &[&str], input: &str) -> Run {
    let mut child = distill_cmd(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    run_output(child.wait_with_output().unwrap())
}

pub fn skopeo(args: &[&str]) -> Run {
    need_tool("skopeo");
    let r = run_output(Command::new("skopeo").args(args).stdin(Stdio::null()).output().unwrap());
    assert_eq!(r.code, 0, "skopeo {args:?} failed: {}", r.stderr);
    r
}

/// `skopeo inspect --raw` of a reference: the bytes and their digest.
pub fn raw_manifest(reference: &str, creds: Option<&str>) -> (Value, String) {
    let mut args = vec!["inspect", "--tls-verify=false", "--raw"];
    if let Some(c) = creds {
        args.extend(["--creds", c]);
    }
    let target = format!("docker://{reference}");
    args.push(&target);
    let r = skopeo(&args);
    (serde_json::from_str(&r.stdout).unwrap(), sha256(r.stdout.as_bytes()))
}

/// `skopeo copy --all` of a reference into a fresh OCI layout; returns the
/// layout's tag digest and its blob digests.
pub fn copy_back(reference: &str, creds: Option<&str>, dest: &Path) -> (String, Vec<String>) {
    let mut args = vec!["copy", "-q", "--all", "--src-tls-verify=false"];
    if let Some(c) = creds {
        args.extend(["--src-creds", c]);
    }
    let src = format!("docker://{reference}");
    let dst = format!("oci:{}:t", dest.display());
    args.extend([src.as_str(), dst.as_str()]);
    skopeo(&args);
    let index: Value = serde_json::from_slice(&std::fs::read(dest.join("index.json")).unwrap()).unwrap();
    let top = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut blobs: Vec<String> = std::fs::read_dir(dest.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    blobs.sort();
    (top, blobs)
}

// ---------------------------------------------------------------------------
// A proxy in front of the registry
// ---------------------------------------------------------------------------

/// What the proxy does with a request.
pub enum Action {
    /// Pass it on.
    Forward,
    /// Answer this status without forwarding (headers given).
    Respond(u16, Vec<(String, String)>),
    /// Forward, then answer this status instead of the registry's answer.
    ForwardThenFail(u16),
    /// Hold the request (never answer); the hook's caller is told.
    Hold,
}

/// A request as the hook sees it.
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body_len: usize,
}

pub type Hook = Arc<dyn Fn(&Seen, usize) -> Action + Send + Sync>;

/// An HTTP proxy on a loopback port forwarding to `upstream`
/// (`127.0.0.1:PORT`); `hook(request, n)` (n: index of the request) decides
/// each request's fate. Every request seen is recorded.
pub struct Proxy {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
}

impl Proxy {
    pub fn start(upstream: &str, hook: Hook) -> Proxy {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(Vec::new()));
        let upstream = upstream.to_string();
        let (srv, seen2) = (server.clone(), seen.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap();
            for mut req in srv.incoming_requests() {
                let client = client.clone();
                let hook = hook.clone();
                let seen = seen2.clone();
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let mut body = Vec::new();
                    let _ = req.as_reader().read_to_end(&mut body);
                    let headers: BTreeMap<String, String> = req
                        .headers()
                        .iter()
                        .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.as_str().to_string()))
                        .collect();
                    let s = Seen {
                        method: req.method().as_str().to_string(),
                        url: req.url().to_string(),
                        headers,
                        body_len: body.len(),
                    };
                    let n = {
                        let v = seen.lock().unwrap();
                        v.len()
                    };
                    let action = hook(&s, n);
                    let (method, url, headers) = (s.method.clone(), s.url.clone(), s.headers.clone());
                    seen.lock().unwrap().push(s);
                    let forward = || {
                        let mut rb = client.request(method.parse().unwrap(), format!("http://{upstream}{url}"));
                        for (k, v) in &headers {
                            if k != "host" && k != "content-length" && k != "transfer-encoding" && k != "connection" {
                                rb = rb.header(k, v);
                            }
                        }
                        rb = rb
                            .header("X-Forwarded-Host", format!("127.0.0.1:{port}"))
                            .header("X-Forwarded-Proto", "http");
                        rb.body(body.clone()).send()
                    };
                    match action {
                        Action::Hold => {
                            std::thread::sleep(Duration::from_secs(120));
                        }
                        Action::Respond(code, hs) => {
                            let mut r = tiny_http::Response::empty(code);
                            for (k, v) in hs {
                                r.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
                            }
                            let _ = req.respond(r);
                        }
                        Action::ForwardThenFail(code) => {
                            let _ = forward();
                            let _ = req.respond(tiny_http::Response::empty(code));
                        }
                        Action::Forward => match forward() {
                            Ok(resp) => {
                                let status = resp.status().as_u16();
                                let hs: Vec<(String, String)> = resp
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                                    .collect();
                                let bytes = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
                                let mut r = tiny_http::Response::from_data(bytes).with_status_code(status);
                                for (k, v) in hs {
                                    if k == "content-length" || k == "transfer-encoding" || k == "connection" {
                                        continue;
                                    }
                                    r.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
                                }
                                let _ = req.respond(r);
                            }
                            Err(_) => {
                                let _ = req.respond(tiny_http::Response::empty(502));
                            }
                        },
                    }
                });
            }
        });
        Proxy { port, seen, server }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn count(&self, method: &str) -> usize {
        self.seen.lock().unwrap().iter().filter(|s| s.method == method).count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.unblock();
    }
}
