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

impl Cache {
    /// The unpacked members of the .deb `deb_sha256`: from the cache when
    /// recorded and still intact, else unpacked from the bytes `deb()`
    /// returns (which the caller verified) and recorded.
    pub fn unpacked(
        &self,
        package: &str,
        deb_sha256: &str,
        deb: impl FnOnce() -> Result<Vec<u8>, BuildError>,
    ) -> Result<Unpacked, BuildError> {
        if let Some(u) = self.recorded_unpacked(deb_sha256) {
            return Ok(u);
        }
        let bytes = deb()?;
        let members = deb::members(package, &bytes)?;
        let (data_sha, data_size) = self
            .put_reader(deb::decompress(package, &members.data_name, &members.data)?)
            .map_err(|e| BuildError::Other(format!("package {package}: cannot unpack {}: {e}", members.data_name)))?;
        let mut control = Vec::new();
        deb::decompress(package, &members.control_name, &members.control)?.read_to_end(&mut control).map_err(|e| {
            deb::DebError::Malformed { package: package.into(), reason: format!("{}: {e}", members.control_name) }
        })?;
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
