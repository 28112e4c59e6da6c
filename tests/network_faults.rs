//! Network faults against a loopback server made for them: connections
//! dropped before the answer, servers that stall before the head or in the
//! middle of the body, bodies cut short of their `Content-Length`, 404,
//! 410, 401, 403, 5xx, 429 with `Retry-After`, range support on and off.
//!
//! Two levels: [`Transport`] through its public API (exact bytes, request
//! counts, `Range`/`If-Range` headers, timings), and `distill build` of the
//! signed test archive (tests/common) served by the faulty server, with the
//! `DISTILL_HTTP_*` variables shortening timeouts and backoff. Nothing
//! leaves 127.0.0.1.

mod common;

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use distill::repo::transport::Settings;
use distill::repo::{RepoError, Transport};

// ---------------------------------------------------------------------------
// The faulty server
// ---------------------------------------------------------------------------

/// What the server does with one request.
#[derive(Debug, Clone)]
enum Fault {
    /// Read the request, close the connection without a byte.
    Drop,
    /// Read the request, send nothing, hold the connection open.
    Stall,
    /// Send the head (whole length) and this many body bytes, then hold.
    StallAfter(usize),
    /// Send the head (whole length) and this many body bytes, then close.
    CutAfter(usize),
    /// Send the head and body bytes 100 at a time, 40 ms apart.
    Trickle,
    /// Answer with a head that says this many bytes, and send them: a
    /// body shorter than the file that looks complete.
    Short(usize),
    /// Answer a range request with `206` for the whole file from byte 0.
    WrongRange,
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer 429 with this `Retry-After`.
    RetryAfter(&'static str),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    range: Option<String>,
    if_range: Option<String>,
    authorization: Option<String>,
}

#[derive(Default)]
struct State {
    /// Faults for the next requests of a path, in order.
    next: Mutex<HashMap<String, VecDeque<Fault>>>,
    /// A fault for every request of a path (after `next` ran out).
    always: Mutex<HashMap<String, Fault>>,
    /// Refuse ranges (answer 200 with the whole file).
    no_ranges: AtomicBool,
    log: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

/// Serves a directory on `http://127.0.0.1:<port>/`, one thread per
/// connection, one request per connection, with [`Fault`]s per path.
struct FaultServer {
    port: u16,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl FaultServer {
    fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<State> = Arc::default();
        let (st, root) = (state.clone(), root.to_path_buf());
        let thread = std::thread::spawn(move || {
            while !st.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (st, root) = (st.clone(), root.clone());
                        std::thread::spawn(move || serve(conn, &root, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultServer { port, state, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Apply `faults` to the next requests of `path`, one each.
    fn next(&self, path: &str, faults: &[Fault]) {
        self.state.next.lock().unwrap().entry(path.into()).or_default().extend(faults.iter().cloned());
    }

    /// Apply `fault` to every request of `path`.
    fn always(&self, path: &str, fault: Fault) {
        self.state.always.lock().unwrap().insert(path.into(), fault);
    }

    fn no_ranges(&self) {
        self.state.no_ranges.store(true, Ordering::SeqCst);
    }

    /// Requests for `path` so far.
    fn seen(&self, path: &str) -> Vec<Seen> {
        self.state.log.lock().unwrap().iter().filter(|s| s.path == path).cloned().collect()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Hold a connection open without writing until the server stops (at most 30 s).
fn hold(st: &State) {
    let end = Instant::now() + Duration::from_secs(30);
    while !st.stop.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn etag(data: &[u8]) -> String {
    format!("\"{}\"", &sha256_hex(data)[..16])
}

fn serve(mut conn: TcpStream, root: &Path, st: &State) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let target = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("/").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let path = target.split('?').next().unwrap_or("").trim_start_matches('/').to_string();
    st.log.lock().unwrap().push(Seen {
        path: path.clone(),
        range: header("range"),
        if_range: header("if-range"),
        authorization: header("authorization"),
    });
    let fault = st
        .next
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .or_else(|| st.always.lock().unwrap().get(&path).cloned());

    let respond = |conn: &mut TcpStream, status: &str, extra: &str, body: &[u8]| {
        let _ = write!(conn, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n", body.len());
        let _ = conn.write_all(body);
    };
    match &fault {
        Some(Fault::Drop) => return,
        Some(Fault::Stall) => return hold(st),
        Some(Fault::Status(code)) => return respond(&mut conn, &format!("{code} Fault"), "", b""),
        Some(Fault::RetryAfter(v)) => {
            return respond(&mut conn, "429 Too Many Requests", &format!("Retry-After: {v}\r\n"), b"")
        }
        _ => {}
    }
    if path.split('/').any(|c| c == ".." || c == ".") {
        return respond(&mut conn, "400 Bad Request", "", b"");
    }
    let Ok(data) = std::fs::read(root.join(&path)) else {
        return respond(&mut conn, "404 Not Found", "", b"not found");
    };
    let tag = etag(&data);
    let ranges = !st.no_ranges.load(Ordering::SeqCst);
    // `Range: bytes=N-`, honoured when ranges are on and If-Range (if any) matches.
    let from = header("range")
        .and_then(|r| r.strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).and_then(|n| n.parse::<usize>().ok()))
        .filter(|n| ranges && *n < data.len())
        .filter(|_| header("if-range").map_or(true, |v| v == tag));
    let accept = if ranges { "bytes" } else { "none" };
    let (status, extra, body) = match (from, &fault) {
        (Some(_), Some(Fault::WrongRange)) => {
            ("206 Partial Content", format!("Content-Range: bytes 0-{}/{}\r\n", data.len() - 1, data.len()), &data[..])
        }
        (Some(n), _) => (
            "206 Partial Content",
            format!("Content-Range: bytes {n}-{}/{}\r\n", data.len() - 1, data.len()),
            &data[n..],
        ),
        (None, _) => ("200 OK", String::new(), &data[..]),
    };
    let extra = format!("{extra}ETag: {tag}\r\nAccept-Ranges: {accept}\r\n");
    let head = |conn: &mut TcpStream, len: usize| {
        let _ = write!(conn, "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n");
    };
    match fault {
        Some(Fault::StallAfter(n)) => {
            head(&mut conn, body.len());
            let _ = conn.write_all(&body[..n.min(body.len())]);
            let _ = conn.flush();
            hold(st);
        }
        Some(Fault::CutAfter(n)) => {
            head(&mut conn, body.len());
            let _ = conn.write_all(&body[..n.min(body.len())]);
        }
        Some(Fault::Short(n)) => {
            head(&mut conn, n.min(body.len()));
            let _ = conn.write_all(&body[..n.min(body.len())]);
        }
        Some(Fault::Trickle) => {
            head(&mut conn, body.len());
            for chunk in body.chunks(100) {
                if conn.write_all(chunk).and_then(|_| conn.flush()).is_err() || st.stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        _ => {
            head(&mut conn, body.len());
            let _ = conn.write_all(body);
        }
    }
}

/// `n` bytes that do not compress.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------

const BLOB: usize = 100_000;

/// A directory with `blob` (100 000 bytes of noise) served by a fault server.
struct Site {
    dir: tempfile::TempDir,
    data: Vec<u8>,
    server: FaultServer,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("distill-faults-").tempdir().unwrap();
        let data = noise(BLOB, 7);
        std::fs::write(dir.path().join("blob"), &data).unwrap();
        let server = FaultServer::start(dir.path());
        Site { dir, data, server }
    }

    fn blob_url(&self) -> String {
        format!("{}/blob", self.server.url())
    }

    fn ranges(&self) -> Vec<Option<String>> {
        self.server.seen("blob").into_iter().map(|s| s.range).collect()
    }
}

/// Fast settings: 0.5 s idle, 3 retries, 10 ms backoff, Retry-After ≤ 2 s.
fn fast() -> Settings {
    Settings {
        idle_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_secs(20),
        retries: 3,
        backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(2),
    }
}

fn transport(s: Settings) -> Transport {
    Transport::with_settings(s).expect("transport")
}

#[track_caller]
fn fetch_err(t: &Transport, url: &str) -> (RepoError, String) {
    let e = t.get(url).expect_err("the download must fail");
    let text = e.to_string();
    (e, text)
}

#[test]
fn dropped_connections_are_retried() {
    let site = Site::new();
    site.server.next("blob", &[Fault::Drop, Fault::Drop]);
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
    assert_eq!(site.ranges(), vec![None, None, None]);
}

#[test]
fn a_server_that_stalls_before_answering_is_timed_out_and_retried() {
    let site = Site::new();
    site.server.next("blob", &[Fault::Stall]);
    let started = Instant::now();
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "{took:?}");
    assert_eq!(site.server.seen("blob").len(), 2);
}

#[test]
fn a_body_that_stalls_midway_is_resumed_with_a_range_request() {
    let site = Site::new();
    site.server.next("blob", &[Fault::StallAfter(30_000)]);
    let started = Instant::now();
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
    assert!(started.elapsed() < Duration::from_secs(3));
    let seen = site.server.seen("blob");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=30000-"));
    assert_eq!(seen[1].if_range.as_deref(), Some(etag(&site.data).as_str()), "If-Range carries the ETag");
}

#[test]
fn a_body_cut_short_is_resumed_where_it_broke_each_time() {
    let site = Site::new();
    site.server.next("blob", &[Fault::CutAfter(40_000), Fault::CutAfter(10_000), Fault::CutAfter(0)]);
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
    assert_eq!(
        site.ranges(),
        vec![None, Some("bytes=40000-".into()), Some("bytes=50000-".into()), Some("bytes=50000-".into())]
    );
}

#[test]
fn without_range_support_a_broken_body_starts_over() {
    let site = Site::new();
    site.server.no_ranges();
    site.server.next("blob", &[Fault::CutAfter(40_000)]);
    let t = transport(fast());
    assert!(t.get(&site.blob_url()).unwrap() == site.data);
    // `Accept-Ranges: none`: the retry does not even ask for a range.
    assert_eq!(site.ranges(), vec![None, None]);
    // The streaming API: the consumer is called again from the first byte.
    site.server.next("blob", &[Fault::CutAfter(25_000)]);
    let mut calls = 0;
    let mut got = Vec::new();
    t.get_with(&site.blob_url(), |r| {
        calls += 1;
        got.clear();
        r.read_to_end(&mut got).map(|_| ())
    })
    .unwrap();
    assert_eq!(calls, 2);
    assert!(got == site.data);
}

#[test]
fn a_range_request_answered_with_200_starts_over() {
    // Ranges advertised but the If-Range/ETag does not match (the file
    // changed, as far as the server knows): 200 with the whole file.
    let site = Site::new();
    site.server.next("blob", &[Fault::CutAfter(40_000)]);
    let t = transport(fast());
    let mut calls = 0;
    let mut got = Vec::new();
    t.get_with(&site.blob_url(), |r| {
        calls += 1;
        got.clear();
        if calls == 1 {
            // Change the file before the retry: its ETag changes.
            let mut changed = site.data.clone();
            changed[0] ^= 0xff;
            std::fs::write(site.dir.path().join("blob"), &changed).unwrap();
        }
        r.read_to_end(&mut got).map(|_| ())
    })
    .unwrap();
    assert_eq!(calls, 2, "started over");
    assert_eq!(got.len(), BLOB);
    assert_ne!(got[0], site.data[0], "the whole new file, not a splice");
    assert!(got[1..] == site.data[1..]);
    assert_eq!(site.server.seen("blob")[1].range.as_deref(), Some("bytes=40000-"));
}

#[test]
fn a_206_for_the_wrong_range_starts_over_without_range() {
    let site = Site::new();
    site.server.next("blob", &[Fault::CutAfter(40_000), Fault::WrongRange]);
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
    assert_eq!(site.ranges(), vec![None, Some("bytes=40000-".into()), None]);
}

#[test]
fn a_trickling_body_is_cut_at_the_attempt_timeout_and_resumed() {
    let site = Site::new();
    site.server.next("blob", &[Fault::Trickle]);
    let s = Settings { attempt_timeout: Duration::from_millis(300), ..fast() };
    let started = Instant::now();
    assert!(transport(s).get(&site.blob_url()).unwrap() == site.data);
    assert!(started.elapsed() < Duration::from_secs(3));
    let ranges = site.ranges();
    assert_eq!(ranges.len(), 2);
    let from: usize = ranges[1].as_deref().unwrap().trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
    assert!(from > 0 && from < BLOB, "{from}");
}

#[test]
fn server_errors_are_retried() {
    let site = Site::new();
    site.server.next("blob", &[Fault::Status(500), Fault::Status(502), Fault::Status(503)]);
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
    assert_eq!(site.server.seen("blob").len(), 4);
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let site = Site::new();
    site.server.next("blob", &[Fault::RetryAfter("1")]);
    let started = Instant::now();
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(3), "waited {took:?}, not Retry-After: 1");

    site.server.next("blob", &[Fault::RetryAfter("3600")]);
    let s = Settings { max_retry_after: Duration::from_millis(200), ..fast() };
    let started = Instant::now();
    assert!(transport(s).get(&site.blob_url()).unwrap() == site.data);
    assert!(started.elapsed() < Duration::from_secs(2), "Retry-After: 3600 is capped");

    // A 429 without Retry-After: the backoff.
    site.server.next("blob", &[Fault::Status(429), Fault::Status(429)]);
    assert!(transport(fast()).get(&site.blob_url()).unwrap() == site.data);
}

#[test]
fn not_found_and_gone_are_final() {
    for code in [404, 410] {
        let site = Site::new();
        site.server.always("blob", Fault::Status(code));
        let (e, text) = fetch_err(&transport(fast()), &site.blob_url());
        assert!(matches!(e, RepoError::NotFound { .. }), "{code}: {e:?}");
        assert!(text.contains(&site.blob_url()), "{text}");
        assert_eq!(site.server.seen("blob").len(), 1, "{code} is not retried");
    }
    let site = Site::new();
    let (e, _) = fetch_err(&transport(fast()), &format!("{}/nothing-here", site.server.url()));
    assert!(matches!(e, RepoError::NotFound { .. }), "{e:?}");
}

#[test]
fn client_errors_are_final_and_named() {
    for code in [401, 403, 400] {
        let site = Site::new();
        site.server.always("blob", Fault::Status(code));
        let (e, text) = fetch_err(&transport(fast()), &site.blob_url());
        assert!(matches!(e, RepoError::Fetch { .. }), "{e:?}");
        assert!(text.contains(&site.blob_url()) && text.contains(&format!("HTTP {code}")), "{text}");
        assert!(text.contains("not retried") && text.contains("after 1 attempt"), "{text}");
        assert_eq!(site.server.seen("blob").len(), 1, "{code} is not retried");
    }
}

#[test]
fn a_permanent_server_error_names_url_cause_and_attempts() {
    let site = Site::new();
    site.server.always("blob", Fault::Status(500));
    let started = Instant::now();
    let (e, text) = fetch_err(&transport(fast()), &site.blob_url());
    assert!(matches!(e, RepoError::Fetch { .. }), "{e:?}");
    assert_eq!(text, format!("cannot fetch {}: HTTP 500 Internal Server Error (after 4 attempts)", site.blob_url()));
    assert_eq!(site.server.seen("blob").len(), 4);
    // Backoff 10, 20, 40 ms.
    assert!(started.elapsed() >= Duration::from_millis(70));
}

#[test]
fn a_server_that_never_answers_fails_within_the_timeouts() {
    let site = Site::new();
    site.server.always("blob", Fault::Stall);
    let s = Settings { retries: 1, ..fast() };
    let started = Instant::now();
    let (_, text) = fetch_err(&transport(s), &site.blob_url());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(950) && took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        text,
        format!("cannot fetch {}: no response within 0.5 s (DISTILL_HTTP_TIMEOUT) (after 2 attempts)", site.blob_url())
    );
}

#[test]
fn a_body_that_always_stalls_fails_within_the_timeouts() {
    let site = Site::new();
    site.server.always("blob", Fault::StallAfter(1000));
    let s = Settings { retries: 2, ..fast() };
    let started = Instant::now();
    let (_, text) = fetch_err(&transport(s), &site.blob_url());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(
        text.starts_with(&format!("cannot fetch {}: body stalled after 3000 of 100000 bytes", site.blob_url())),
        "{text}"
    );
    assert!(text.ends_with("(after 3 attempts)"), "{text}");
    assert_eq!(site.ranges(), vec![None, Some("bytes=1000-".into()), Some("bytes=2000-".into())]);
}

#[test]
fn a_body_always_cut_short_fails_naming_the_bytes() {
    let site = Site::new();
    site.server.always("blob", Fault::CutAfter(1000));
    let (_, text) = fetch_err(&transport(fast()), &site.blob_url());
    assert!(
        text.starts_with(&format!("cannot fetch {}: ", site.blob_url())) && text.contains(" 4000 of 100000 bytes"),
        "{text}"
    );
    assert!(text.ends_with("(after 4 attempts)"), "{text}");
}

#[test]
fn a_refused_connection_is_retried_then_named() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/blob");
    let (e, text) = fetch_err(&transport(fast()), &url);
    assert!(matches!(e, RepoError::Fetch { .. }));
    assert!(text.starts_with(&format!("cannot fetch {url}: ")) && text.ends_with("(after 4 attempts)"), "{text}");
    assert!(text.to_lowercase().contains("connect"), "the cause is named: {text}");
}

#[test]
fn credentials_and_query_stay_out_of_errors_but_reach_the_server() {
    let site = Site::new();
    site.server.always("blob", Fault::Status(503));
    let secret_url = format!("http://user:s3cret@127.0.0.1:{}/blob?token=hunter2", site.server.port);
    let (_, text) = fetch_err(&transport(Settings { retries: 1, ..fast() }), &secret_url);
    assert!(!text.contains("s3cret") && !text.contains("hunter2") && !text.contains("user"), "{text}");
    assert!(text.contains(&site.blob_url()), "{text}");
    let auth = base64::engine::general_purpose::STANDARD.encode("user:s3cret");
    for s in site.server.seen("blob") {
        assert_eq!(s.authorization, Some(format!("Basic {auth}")), "credentials become Basic auth");
    }
    // Not found: the same.
    let (_, text) = fetch_err(&transport(fast()), &secret_url.replace("/blob", "/none"));
    assert!(!text.contains("s3cret") && !text.contains("hunter2"), "{text}");
}

// ---------------------------------------------------------------------------
// distill build
// ---------------------------------------------------------------------------

const SUITE: &str = "testing";
const IN_RELEASE: &str = "dists/testing/InRelease";
const PACKAGES_XZ: &str = "dists/testing/main/binary-amd64/Packages.xz";

/// A signed archive with `payload` (a .deb of about 120 kB that does not
/// compress) served by a fault server.
struct World {
    dir: tempfile::TempDir,
    repo: Repo,
    key_file: PathBuf,
    server: FaultServer,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("distill-faults-").tempdir().unwrap();
        let key_file = dir.path().join("test-only-archive-key.asc");
        test_key().write_public(&key_file);
        let repo = RepoBuilder::new()
            .add(
                SUITE,
                DebBuilder::new("payload", "1.0-1")
                    .depends("payload-data")
                    .file("./usr/share/payload/blob", 0o644, &noise(120_000, 11))
                    .build(),
            )
            .add(
                SUITE,
                DebBuilder::new("payload-data", "1.0-1")
                    .arch("all")
                    .file("./usr/share/payload/words", 0o644, b"hello\n")
                    .build(),
            )
            .write(&dir.path().join("archive"), test_key());
        let server = FaultServer::start(&repo.root);
        World { dir, repo, key_file, server }
    }

    fn deb_path(&self) -> String {
        self.repo.deb("payload").pool_path()
    }

    fn deb_url(&self) -> String {
        format!("{}/{}", self.server.url(), self.deb_path())
    }

    /// The spec, its source at `url` (none: from `--mirror`).
    fn spec(&self, url: Option<&str>) -> PathBuf {
        let url = url.map(|u| format!("    url: \"{u}\"\n")).unwrap_or_default();
        let yaml = format!(
            "name: payload\nsources:\n  - suite: {SUITE}\n{url}    keys: [\"{}\"]\narchs: [amd64]\npackages: [payload]\n",
            self.key_file.display()
        );
        let path = self.dir.path().join("payload.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// `distill build` with fast network settings and `extra` arguments
    /// and variables; not quiet, so progress lines are checked too.
    fn build(&self, spec: &Path, args: &[&str], env: &[(&str, &str)]) -> (Outcome, Duration) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_distill"));
        cmd.arg("build").arg(spec).arg("--output").arg(self.dir.path().join("out"));
        cmd.arg("--cache-dir").arg(self.dir.path().join("cache")).args(args);
        for v in ["SOURCE_DATE_EPOCH", "DISTILL_MIRROR", "DISTILL_CACHE_DIR", "http_proxy", "HTTP_PROXY", "all_proxy"] {
            cmd.env_remove(v);
        }
        cmd.env("DISTILL_HTTP_TIMEOUT", "0.5").env("DISTILL_HTTP_RETRIES", "3").env("DISTILL_HTTP_BACKOFF_MS", "10");
        cmd.envs(env.iter().copied());
        cmd.stdin(std::process::Stdio::null());
        let started = Instant::now();
        let out = cmd.output().expect("run distill");
        let took = started.elapsed();
        let o = Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        (o, took)
    }

    fn build_default(&self, env: &[(&str, &str)]) -> (Outcome, Duration) {
        self.build(&self.spec(Some(&self.server.url())), &[], env)
    }

    #[track_caller]
    fn image_has_payload(&self) {
        let image = read_image(&self.dir.path().join("out"));
        assert_eq!(image.entries["/usr/share/payload/blob"].data, noise(120_000, 11));
    }
}

#[test]
fn build_recovers_from_dropped_connections_for_a_deb() {
    let w = World::new();
    w.server.next(&w.deb_path(), &[Fault::Drop, Fault::Drop]);
    let (o, _) = w.build_default(&[]);
    o.expect_code(0);
    assert_eq!(w.server.seen(&w.deb_path()).len(), 3);
    w.image_has_payload();
}

#[test]
fn build_resumes_a_deb_cut_midway_with_a_range_request() {
    let w = World::new();
    w.server.next(&w.deb_path(), &[Fault::CutAfter(50_000), Fault::StallAfter(20_000)]);
    let (o, _) = w.build_default(&[]);
    o.expect_code(0);
    let ranges: Vec<Option<String>> = w.server.seen(&w.deb_path()).into_iter().map(|s| s.range).collect();
    assert_eq!(ranges, vec![None, Some("bytes=50000-".into()), Some("bytes=70000-".into())]);
    w.image_has_payload();
}

#[test]
fn build_recovers_from_5xx_429_and_stalls_on_the_indices() {
    let w = World::new();
    w.server.next(IN_RELEASE, &[Fault::Status(500), Fault::RetryAfter("0"), Fault::Stall]);
    w.server.next(PACKAGES_XZ, &[Fault::Status(503), Fault::CutAfter(10)]);
    let (o, took) = w.build_default(&[]);
    o.expect_code(0);
    assert_eq!(w.server.seen(IN_RELEASE).len(), 4);
    assert!(w.server.seen(PACKAGES_XZ).len() >= 3);
    assert!(took < Duration::from_secs(5), "{took:?}");
    w.image_has_payload();
}

#[test]
fn build_fails_on_a_missing_deb_naming_the_url() {
    let w = World::new();
    w.server.always(&w.deb_path(), Fault::Status(404));
    let (o, _) = w.build_default(&[]);
    o.expect_code(7).stderr_has(&["package payload 1.0-1 (amd64) is no longer on the mirror", &w.deb_url()]);
    assert_eq!(w.server.seen(&w.deb_path()).len(), 1, "404 is not retried");
    assert!(!w.dir.path().join("out").exists());
}

#[test]
fn build_fails_on_a_permanent_server_error_naming_url_and_attempts() {
    let w = World::new();
    w.server.always(&w.deb_path(), Fault::Status(500));
    let (o, _) = w.build_default(&[("DISTILL_HTTP_RETRIES", "2")]);
    o.expect_code(7)
        .stderr_has(&[&format!("cannot fetch {}: HTTP 500 Internal Server Error (after 3 attempts)", w.deb_url())]);
    assert_eq!(w.server.seen(&w.deb_path()).len(), 3);
}

#[test]
fn build_against_a_stalled_server_ends_within_the_timeout() {
    let w = World::new();
    w.server.always(IN_RELEASE, Fault::Stall);
    let (o, took) = w.build_default(&[("DISTILL_HTTP_RETRIES", "1")]);
    o.expect_code(7).stderr_has(&[&format!(
        "cannot fetch {}/{IN_RELEASE}: no response within 0.5 s (DISTILL_HTTP_TIMEOUT) (after 2 attempts)",
        w.server.url()
    )]);
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Stalled in the middle of the .deb, every time.
    let w = World::new();
    w.server.always(&w.deb_path(), Fault::StallAfter(5000));
    let (o, took) = w.build_default(&[("DISTILL_HTTP_RETRIES", "1")]);
    o.expect_code(7).stderr_has(&[
        &format!(
            "cannot fetch {}: body stalled after 10000 of {} bytes",
            w.deb_url(),
            w.repo.deb("payload").bytes.len()
        ),
        "(after 2 attempts)",
    ]);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn build_rejects_a_body_shorter_than_the_file() {
    // A Content-Length shorter than the file: the transfer looks complete,
    // the size and SHA256 from the Packages index reject it.
    let w = World::new();
    w.server.always(&w.deb_path(), Fault::Short(60_000));
    let (o, _) = w.build_default(&[]);
    o.expect_code(4).stderr_has(&["checksum mismatch for package payload 1.0-1 (amd64)", &w.deb_url(), "size 60000"]);
}

#[test]
fn build_rejects_bad_network_settings() {
    let w = World::new();
    let (o, _) = w.build_default(&[("DISTILL_HTTP_TIMEOUT", "forever")]);
    o.expect_code(2).stderr_has(&["DISTILL_HTTP_TIMEOUT=\"forever\""]);
    assert!(w.server.seen(IN_RELEASE).is_empty());
}

#[test]
fn credentials_in_the_mirror_url_never_reach_the_output() {
    let w = World::new();
    let port = w.server.port;
    let secret = format!("http://mirror-user:s3cret-pw@127.0.0.1:{port}");
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("mirror-user:s3cret-pw"));
    let clean = |o: &Outcome| {
        for s in [&o.stdout, &o.stderr] {
            assert!(!s.contains("s3cret-pw") && !s.contains("mirror-user"), "credentials printed:\n{s}");
        }
    };
    // Spec url, verbose, a build that recovers from faults.
    w.server.next(&w.deb_path(), &[Fault::CutAfter(1000)]);
    let (o, _) = w.build(&w.spec(Some(&secret)), &["-v"], &[]);
    o.expect_code(0);
    clean(&o);
    assert!(o.stderr.contains(&format!("verifying http://127.0.0.1:{port}/{IN_RELEASE}")), "{}", o.stderr);
    assert!(w.server.seen(IN_RELEASE).iter().all(|s| s.authorization.as_deref() == Some(auth.as_str())));
    assert!(w.server.seen(&w.deb_path()).iter().all(|s| s.authorization.as_deref() == Some(auth.as_str())));

    // --mirror, failing: 5xx on the .deb (fresh cache), then 403 on InRelease.
    std::fs::remove_dir_all(w.dir.path().join("cache")).unwrap();
    w.server.always(&w.deb_path(), Fault::Status(502));
    let mirror = format!("--mirror={secret}");
    let (o, _) = w.build(&w.spec(None), &[mirror.as_str(), "-v"], &[("DISTILL_HTTP_RETRIES", "1")]);
    o.expect_code(7).stderr_has(&[&w.deb_url()]);
    clean(&o);
    w.server.always(IN_RELEASE, Fault::Status(403));
    let (o, _) = w.build(&w.spec(None), &[mirror.as_str()], &[]);
    o.expect_code(7).stderr_has(&[&format!("cannot fetch http://127.0.0.1:{port}/{IN_RELEASE}: HTTP 403")]);
    clean(&o);
    // Through DISTILL_MIRROR.
    let (o, _) = w.build(&w.spec(None), &[], &[("DISTILL_MIRROR", secret.as_str())]);
    o.expect_code(7);
    clean(&o);
}
