//! Downloads into a content-addressed cache that only ever holds verified
//! bytes.
//!
//! Layout: `<cache>/blobs/sha256/<hex>`. A blob is written to a temporary
//! file in the same directory and renamed into place only after its size
//! and SHA256 matched the expected values; a blob read back is hashed again
//! and, if it no longer matches (disk corruption, tampering), removed and
//! fetched anew. Blobs are .debs, index files, unpacked package data
//! ([`unpacked`]) and compressed layers.
//!
//! Records (`<cache>/<kind>/<key>`: `unpacked/`, `layers/`, `builds/`) are
//! small JSON documents mapping what went into a piece of work to the blobs
//! it produced; they are written by rename and every blob they name is
//! verified again when used, so a stale or damaged record costs a rebuild,
//! never a wrong image.

pub mod unpacked;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::repo::{RepoError, Transport};

/// A content-addressed blob cache.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    offline: bool,
}

/// What to fetch and how to check it.
#[derive(Debug, Clone)]
pub struct Wanted<'a> {
    /// Human description for messages, e.g. `package nodejs 18.19.0+dfsg-6~deb12u2 (amd64)`.
    pub what: &'a str,
    /// URL to download from on a cache miss.
    pub url: &'a str,
    /// Expected SHA256, lowercase hex.
    pub sha256: &'a str,
    /// Expected size in bytes.
    pub size: u64,
}

/// Age after which a cache temporary file is a dead process's leftover
/// (a live download or unpack renames its file long before).
pub const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Delete `.tmp*` files in `dir` last modified more than `age` ago.
fn sweep_temps(dir: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let now = std::time::SystemTime::now();
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(".tmp") {
            continue;
        }
        let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > age));
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl Cache {
    /// Open (creating) a cache rooted at `root`. With `offline`, misses are
    /// errors instead of downloads.
    ///
    /// Temporary files that a killed process left in the cache (named
    /// `.tmp*`, older than [`STALE_TEMP`]) are deleted: they were never
    /// renamed to a digest, so nothing refers to them.
    pub fn open(root: &Path, offline: bool) -> Result<Self, RepoError> {
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(|source| RepoError::Cache { path: blobs.clone(), source })?;
        for dir in ["blobs/sha256", "unpacked", "layers", "builds", "named"] {
            sweep_temps(&root.join(dir), STALE_TEMP);
        }
        Ok(Cache { root: root.into(), offline })
    }

    /// The default cache directory: `$XDG_CACHE_HOME/distill`, else
    /// `$HOME/.cache/distill`, else `.distill-cache`.
    pub fn default_dir() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(x).join("distill");
        }
        if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(h).join(".cache/distill");
        }
        PathBuf::from(".distill-cache")
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `sha256` (lowercase hex) is or would be.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(sha256)
    }

    /// Read a blob, verifying it. A blob that fails verification is removed
    /// and reported as missing.
    pub fn get(&self, sha256: &str, size: u64) -> Option<Vec<u8>> {
        let path = self.blob_path(sha256);
        let data = std::fs::read(&path).ok()?;
        if data.len() as u64 == size && hex::encode(Sha256::digest(&data)) == sha256 {
            Some(data)
        } else {
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// Store bytes already verified by the caller against `sha256`.
    fn put_verified(&self, sha256: &str, data: &[u8]) -> Result<(), RepoError> {
        let dir = self.root.join("blobs/sha256");
        let io = |source| RepoError::Cache { path: dir.clone(), source };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        tmp.write_all(data).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(self.blob_path(sha256)).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Stream `reader` into the blob store, hashing as it is written; the
    /// blob is named by its SHA256 only after the stream ended. Returns
    /// (SHA256 lowercase hex, size in bytes). Blobs are mode 0644: layouts
    /// link to them.
    pub fn put_reader(&self, mut reader: impl Read) -> Result<(String, u64), RepoError> {
        let dir = self.root.join("blobs/sha256");
        let io = |source| RepoError::Cache { path: dir.clone(), source };
        let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        let mut out =
            HashWriter { inner: std::io::BufWriter::with_capacity(1 << 20, tmp), hasher: Sha256::new(), count: 0 };
        std::io::copy(&mut reader, &mut out).map_err(io)?;
        let sha = hex::encode(out.hasher.finalize());
        let size = out.count;
        let tmp = out.inner.into_inner().map_err(|e| io(e.into_error()))?;
        set_readable(tmp.path());
        tmp.persist(self.blob_path(&sha)).map_err(|e| io(e.error))?;
        Ok((sha, size))
    }

    /// A temporary file in the blob directory, for a writer that names the
    /// blob when done ([`Cache::commit_blob`]).
    pub fn temp_blob(&self) -> Result<tempfile::NamedTempFile, RepoError> {
        let dir = self.root.join("blobs/sha256");
        tempfile::NamedTempFile::new_in(&dir).map_err(|source| RepoError::Cache { path: dir, source })
    }

    /// Name a finished temporary blob by the SHA256 its writer computed.
    pub fn commit_blob(&self, tmp: tempfile::NamedTempFile, sha256: &str) -> Result<PathBuf, RepoError> {
        let path = self.blob_path(sha256);
        set_readable(tmp.path());
        tmp.persist(&path).map_err(|e| RepoError::Cache { path: path.clone(), source: e.error })?;
        Ok(path)
    }

    /// Open the blob `sha256` after hashing it again (and checking `size`
    /// when given); a blob that no longer matches is removed. `None` when
    /// missing or removed.
    pub fn open_verified(&self, sha256: &str, size: Option<u64>) -> Option<(PathBuf, File)> {
        let path = self.blob_path(sha256);
        let mut file = File::open(&path).ok()?;
        let mut out = HashWriter { inner: std::io::sink(), hasher: Sha256::new(), count: 0 };
        let ok = std::io::copy(&mut file, &mut out).is_ok()
            && size.is_none_or(|s| s == out.count)
            && hex::encode(out.hasher.finalize()) == sha256;
        if !ok {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some((path, file))
    }

    /// Read the record `<kind>/<key>`, if present.
    pub fn get_record(&self, kind: &str, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(kind).join(key)).ok()
    }

    /// Write the record `<kind>/<key>` (temporary file, then rename).
    pub fn put_record(&self, kind: &str, key: &str, data: &[u8]) -> Result<(), RepoError> {
        let dir = self.root.join(kind);
        let io = |source| RepoError::Cache { path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        tmp.write_all(data).map_err(io)?;
        tmp.persist(dir.join(key)).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Store a document that has no digest known in advance (InRelease)
    /// under `named/<sha256 of key>`, after the caller verified it. Readers
    /// must verify it again ([`Cache::get_named`] does not).
    pub fn put_named(&self, key: &str, data: &[u8]) -> Result<(), RepoError> {
        let dir = self.root.join("named");
        let io = |source| RepoError::Cache { path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        tmp.write_all(data).map_err(io)?;
        tmp.persist(dir.join(hex::encode(Sha256::digest(key.as_bytes())))).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Read a document stored by [`Cache::put_named`].
    pub fn get_named(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join("named").join(hex::encode(Sha256::digest(key.as_bytes())))).ok()
    }

    /// True when misses must not be downloaded.
    pub fn offline(&self) -> bool {
        self.offline
    }

    /// Check `data` against `want` and store it.
    pub fn put(&self, want: &Wanted, data: &[u8]) -> Result<(), RepoError> {
        check(want, data)?;
        self.put_verified(want.sha256, data)
    }

    /// Return the verified bytes of `want`, from the cache or downloaded.
    ///
    /// Errors: [`RepoError::Checksum`] when the download does not match
    /// (nothing is cached), [`RepoError::NotFound`]/[`RepoError::Fetch`]
    /// from the transport, or, offline, `Fetch` naming the missing blob.
    pub fn fetch(&self, transport: &Transport, want: &Wanted) -> Result<Vec<u8>, RepoError> {
        if let Some(data) = self.get(want.sha256, want.size) {
            return Ok(data);
        }
        if self.offline {
            return Err(RepoError::Fetch {
                url: want.url.into(),
                reason: format!(
                    "{} (sha256 {}) is not in the cache {} and --offline forbids downloading",
                    want.what,
                    want.sha256,
                    self.root.display()
                ),
            });
        }
        // Never more than the size the signed index gives (plus one byte,
        // to tell a longer body): an endless body cannot fill memory.
        let data = transport.get_limited(want.url, want.size)?;
        check(want, &data)?;
        self.put_verified(want.sha256, &data)?;
        Ok(data)
    }
}

/// A writer that hashes and counts what passes through.
pub struct HashWriter<W> {
    /// Where the bytes go.
    pub inner: W,
    /// SHA256 of the bytes so far.
    pub hasher: Sha256,
    /// Bytes so far.
    pub count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn set_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
}

/// Check `data` against the expected size and SHA256.
pub fn check(want: &Wanted, data: &[u8]) -> Result<(), RepoError> {
    let actual = if data.len() as u64 > want.size {
        // From Transport::get_limited: the body went on past the size.
        "(not computed: the body is longer than the index says; reading stopped)".to_string()
    } else {
        hex::encode(Sha256::digest(data))
    };
    if data.len() as u64 != want.size || actual != want.sha256 {
        return Err(RepoError::Checksum {
            what: want.what.into(),
            url: crate::repo::transport::redact(want.url),
            expected: want.sha256.into(),
            actual,
            expected_size: want.size,
            actual_size: data.len() as u64,
        });
    }
    Ok(())
}

/// Run `job` over `items` on up to `workers` threads, preserving order of
/// results. The first error is returned (others are dropped).
pub fn parallel<T: Sync, R: Send, E: Send>(
    items: &[T],
    workers: usize,
    job: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, E>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                let r = job(&items[i]);
                let failed = r.is_err();
                results.lock().unwrap()[i] = Some(r);
                if failed {
                    next.store(items.len(), Ordering::SeqCst);
                }
            });
        }
    });
    let mut out = Vec::with_capacity(items.len());
    let mut first_err = None;
    for r in results.into_inner().unwrap() {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) if first_err.is_none() => first_err = Some(e),
            Some(Err(_)) => {}
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupted_blob_is_dropped_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), false).unwrap();
        let data = b"hello";
        let sha = hex::encode(Sha256::digest(data));
        cache.put_verified(&sha, data).unwrap();
        assert_eq!(cache.get(&sha, 5).as_deref(), Some(&data[..]));
        std::fs::write(cache.blob_path(&sha), b"hellp").unwrap();
        assert!(cache.get(&sha, 5).is_none());
        assert!(!cache.blob_path(&sha).exists(), "bad blob must be removed");
    }

    #[test]
    fn parallel_keeps_order_and_reports_errors() {
        let items: Vec<u32> = (0..50).collect();
        let out = parallel(&items, 4, |i| Ok::<_, ()>(i * 2)).unwrap();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(parallel(&items, 4, |i| if *i == 7 { Err(*i) } else { Ok(()) }), Err(7));
    }
}
