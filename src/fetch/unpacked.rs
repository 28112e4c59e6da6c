//! Unpacked packages: a .deb's `data.tar` and `control.tar`, decompressed
//! once and kept in the blob store, so a warm build reads tar headers and
//! byte ranges instead of running xz again (deb(5)).
//!
//! Record `unpacked/<sha256 of the .deb>`: JSON
//! `{"data": {"sha256", "size"}, "control": {"sha256", "size"}}`. Both
//! blobs are derived from a .deb that was verified, are named by their own
//! SHA256, and are hashed again whenever they are opened.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Cache;
use crate::build::BuildError;
use crate::deb;
use crate::tree::ContentFile;

/// A package's unpacked members, verified.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The uncompressed `data.tar`.
    pub data: Arc<ContentFile>,
    /// The uncompressed `control.tar` bytes (small).
    pub control: Arc<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct BlobRef {
    sha256: String,
    size: u64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    data: BlobRef,
    control: BlobRef,
}

impl Unpacked {
    /// The `control` file (Debian Policy §5.3).
    pub fn control_file(&self, package: &str) -> Result<String, deb::DebError> {
        self.member(package, "control")?.map(|b| String::from_utf8_lossy(&b).into_owned()).ok_or_else(|| {
            deb::DebError::Malformed { package: package.into(), reason: "control.tar has no control file".into() }
        })
    }

    /// The `md5sums` file (dpkg: `<md5 hex>  <path without leading />`), if
    /// the package has one.
    pub fn md5sums(&self, package: &str) -> Result<Option<String>, deb::DebError> {
        Ok(self.member(package, "md5sums")?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The `conffiles` file (deb-conffiles(5): one absolute path per line),
    /// if the package has one.
    pub fn conffiles(&self, package: &str) -> Result<Option<String>, deb::DebError> {
        Ok(self.member(package, "conffiles")?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// A maintainer script or other control member (`preinst`,
    /// `postinst`, `templates`, `triggers`; Debian Policy §6), as text.
    pub fn control_text(&self, package: &str, name: &str) -> Result<Option<String>, deb::DebError> {
        Ok(self.member(package, name)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn member(&self, package: &str, name: &str) -> Result<Option<Vec<u8>>, deb::DebError> {
        let bad = |e: std::io::Error| deb::DebError::Malformed {
            package: package.into(),
            reason: format!("control.tar: {e}"),
        };
        let mut tar = tar::Archive::new(self.control.as_slice());
        for entry in tar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = entry.path().map_err(bad)?.to_string_lossy().to_string();
            if path.trim_start_matches("./") == name {
                let mut b = Vec::new();
                entry.read_to_end(&mut b).map_err(bad)?;
                return Ok(Some(b));
            }
        }
        Ok(None)
    }
}

/// Most a `control.tar` may decompress to, bytes (the largest in Debian,
/// md5sums of packages with tens of thousands of files, are a few MiB).
pub const CONTROL_LIMIT: u64 = 64 << 20;

/// Most a `data.tar` of a package with `Installed-Size` `kib` may
/// decompress to, bytes: twice the installed size plus 64 MiB for tar
/// headers and padding, never more than [`crate::tree::extract::MAX_UNPACKED`];
/// 1 GiB when the size is unknown (0).
pub fn data_limit(kib: u64) -> u64 {
    let max = crate::tree::extract::MAX_UNPACKED;
    if kib == 0 {
        return max.min(1 << 30);
    }
    kib.saturating_mul(2048).saturating_add(64 << 20).min(max)
}

/// A reader that fails once more than `limit` bytes would be read (the
/// error satisfies [`is_cap`]); errors of the inner reader come out as
/// [`MemberError`].
struct Capped<R> {
    inner: R,
    left: u64,
}

#[derive(Debug)]
struct CapReached;

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("size limit reached")
    }
}

impl std::error::Error for CapReached {}

/// A read error of the decompressed member itself (corrupt data), as
/// opposed to an error writing the cache.
#[derive(Debug)]
struct MemberError(String);

impl std::fmt::Display for MemberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MemberError {}

/// The member's own read error inside `e`, if that is what it is.
fn member_error(e: &std::io::Error) -> Option<String> {
    e.get_ref().and_then(|i| i.downcast_ref::<MemberError>()).map(|m| m.0.clone())
}

impl<R: Read> Capped<R> {
    fn new(inner: R, limit: u64) -> Self {
        Capped { inner, left: limit }
    }
}

/// Whether `e` is a [`Capped`] reader's limit.
fn is_cap(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<CapReached>())
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One more byte tells a member of exactly `limit` bytes from a larger one.
            let mut probe = [0u8; 1];
            let read = self.inner.read(&mut probe).map_err(|e| std::io::Error::other(MemberError(e.to_string())))?;
            return match read {
                0 => Ok(0),
                _ => Err(std::io::Error::other(CapReached)),
            };
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want]).map_err(|e| std::io::Error::other(MemberError(e.to_string())))?;
        self.left -= n as u64;
        Ok(n)
    }
}

impl Cache {
    /// The unpacked members of the .deb `deb_sha256`: from the cache when
    /// recorded and still intact, else unpacked from the bytes `deb()`
    /// returns (which the caller verified) and recorded.
    ///
    /// `installed_size_kib` is the package's `Installed-Size` (Debian
    /// Policy §5.6.20; 0 when unknown): `data.tar` may not decompress to
    /// more than [`data_limit`] of it, `control.tar` not to more than
    /// [`CONTROL_LIMIT`]; a member that does is refused as a decompression
    /// bomb before it fills the disk, and nothing is recorded.
    pub fn unpacked(
        &self,
        package: &str,
        deb_sha256: &str,
        installed_size_kib: u64,
        deb: impl FnOnce() -> Result<Vec<u8>, BuildError>,
    ) -> Result<Unpacked, BuildError> {
        if let Some(u) = self.recorded_unpacked(deb_sha256) {
            return Ok(u);
        }
        let bytes = deb()?;
        let members = deb::members(package, &bytes)?;
        let limit = data_limit(installed_size_kib);
        let bomb = |member: &str, limit: u64| {
            BuildError::Deb(deb::DebError::Malformed {
                package: package.into(),
                reason: format!(
                    "{member} decompresses to more than {} MiB ({}); refusing a decompression bomb",
                    limit >> 20,
                    if installed_size_kib == 0 {
                        "no Installed-Size: the limit is 1 GiB".to_string()
                    } else {
                        format!("Installed-Size {installed_size_kib} KiB")
                    }
                ),
            })
        };
        let data_reader = Capped::new(deb::decompress(package, &members.data_name, &members.data)?, limit);
        let (data_sha, data_size) = match self.put_reader(data_reader) {
            Ok(x) => x,
            Err(crate::repo::RepoError::Cache { source, .. }) if is_cap(&source) => {
                return Err(bomb(&members.data_name, limit))
            }
            Err(crate::repo::RepoError::Cache { source, .. }) if member_error(&source).is_some() => {
                let reason = format!("{}: {}", members.data_name, member_error(&source).unwrap_or_default());
                return Err(deb::DebError::Malformed { package: package.into(), reason }.into());
            }
            Err(e) => {
                return Err(BuildError::Other(format!("package {package}: cannot unpack {}: {e}", members.data_name)))
            }
        };
        let mut control = Vec::new();
        let control_reader =
            Capped::new(deb::decompress(package, &members.control_name, &members.control)?, CONTROL_LIMIT);
        if let Err(e) = { control_reader }.read_to_end(&mut control) {
            if is_cap(&e) {
                return Err(bomb(&members.control_name, CONTROL_LIMIT));
            }
            let reason = format!("{}: {}", members.control_name, member_error(&e).unwrap_or_else(|| e.to_string()));
            return Err(deb::DebError::Malformed { package: package.into(), reason }.into());
        }
        let (control_sha, control_size) = self.put_reader(control.as_slice())?;
        let record = Record {
            data: BlobRef { sha256: data_sha.clone(), size: data_size },
            control: BlobRef { sha256: control_sha, size: control_size },
        };
        self.put_record("unpacked", deb_sha256, &serde_json::to_vec(&record).unwrap_or_default())?;
        let path = self.blob_path(&data_sha);
        let file = File::open(&path).map_err(|source| crate::repo::RepoError::Cache { path: path.clone(), source })?;
        Ok(Unpacked { data: Arc::new(ContentFile::new(&path, &data_sha, file)), control: Arc::new(control) })
    }

    fn recorded_unpacked(&self, deb_sha256: &str) -> Option<Unpacked> {
        let record: Record = serde_json::from_slice(&self.get_record("unpacked", deb_sha256)?).ok()?;
        let (path, file) = self.open_verified(&record.data.sha256, Some(record.data.size))?;
        let (_, mut cfile) = self.open_verified(&record.control.sha256, Some(record.control.size))?;
        use std::io::Seek;
        cfile.rewind().ok()?;
        let mut control = Vec::new();
        cfile.read_to_end(&mut control).ok()?;
        Some(Unpacked {
            data: Arc::new(ContentFile::new(&path, &record.data.sha256, file)),
            control: Arc::new(control),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reader_passes_exactly_the_limit_and_fails_beyond_it() {
        let mut out = Vec::new();
        Capped::new(&[1u8; 100][..], 100).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 100);
        let err = Capped::new(&[1u8; 101][..], 100).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(is_cap(&err));
    }

    #[test]
    fn data_limit_follows_installed_size_within_bounds() {
        assert_eq!(data_limit(1), 2048 + (64 << 20));
        assert_eq!(data_limit(0), 1 << 30);
        assert_eq!(data_limit(u64::MAX), crate::tree::extract::MAX_UNPACKED);
    }
}
