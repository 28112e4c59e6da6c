//! File contents without holding them in memory.
//!
//! A package's files are byte ranges of its unpacked `data.tar`, a file in
//! the cache ([`crate::fetch::Cache::unpacked`]); only generated files (CA
//! bundle, passwd, status.d …) are held as bytes. Layers stream contents
//! from their ranges, so a build's memory does not grow with the image.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// An open, verified file of the cache whose byte ranges are file contents
/// (an unpacked `data.tar`).
pub struct ContentFile {
    path: PathBuf,
    sha256: String,
    file: File,
}

impl ContentFile {
    /// Wrap an open file whose SHA256 (lowercase hex) the caller verified.
    pub fn new(path: &Path, sha256: &str, file: File) -> Self {
        ContentFile { path: path.into(), sha256: sha256.into(), file }
    }

    /// The file's SHA256, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl fmt::Debug for ContentFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentFile({})", self.path.display())
    }
}

/// The contents of a regular file.
#[derive(Clone)]
pub enum Content {
    /// Bytes in memory (generated files, tests, layers read back).
    Bytes(Arc<Vec<u8>>),
    /// `len` bytes at `offset` of a cache file.
    Range {
        /// The file holding the bytes.
        file: Arc<ContentFile>,
        /// Offset in bytes.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
}

impl Content {
    /// Contents held in memory.
    pub fn bytes(data: Vec<u8>) -> Self {
        Content::Bytes(Arc::new(data))
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Range { len, .. } => *len,
        }
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole contents (read from disk for a range).
    ///
    /// Errors: the cache file could not be read (I/O error, or it is
    /// shorter than the range).
    pub fn read(&self) -> io::Result<Cow<'_, [u8]>> {
        match self {
            Content::Bytes(b) => Ok(Cow::Borrowed(b.as_slice())),
            Content::Range { file, offset, len } => {
                let mut buf = vec![0u8; *len as usize];
                file.file
                    .read_exact_at(&mut buf, *offset)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.path.display())))?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    /// Read up to `buf.len()` bytes at `pos` (relative to the start of the
    /// contents); 0 at the end.
    pub fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.len();
        if pos >= len {
            return Ok(0);
        }
        let want = ((len - pos) as usize).min(buf.len());
        match self {
            Content::Bytes(b) => {
                buf[..want].copy_from_slice(&b[pos as usize..pos as usize + want]);
                Ok(want)
            }
            Content::Range { file, offset, .. } => file.file.read_at(&mut buf[..want], offset + pos),
        }
    }

    /// The contents, or empty when the cache file cannot be read (for
    /// checks and generators that treat unreadable as absent; layers use
    /// [`Content::reader`] and report errors).
    pub fn read_lossy(&self) -> Cow<'_, [u8]> {
        self.read().unwrap_or(Cow::Borrowed(&[]))
    }

    /// A streaming reader over the contents.
    pub fn reader(&self) -> ContentReader<'_> {
        ContentReader { content: self, pos: 0 }
    }

    /// A string identifying the contents, for cache keys: `r:<file
    /// sha256>:<offset>:<len>` for a range (the cache file is
    /// content-addressed, so the range names its bytes), `b:<sha256>` for
    /// bytes.
    pub fn id(&self) -> String {
        match self {
            Content::Bytes(b) => format!("b:{}", hex::encode(Sha256::digest(b.as_slice()))),
            Content::Range { file, offset, len } => format!("r:{}:{offset}:{len}", file.sha256),
        }
    }
}

impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Content::Bytes(a), Content::Bytes(b)) => a == b,
            (Content::Range { file: fa, offset: oa, len: la }, Content::Range { file: fb, offset: ob, len: lb })
                if fa.sha256 == fb.sha256 && oa == ob && la == lb =>
            {
                true
            }
            _ => self.len() == other.len() && same_bytes(self, other).unwrap_or(false),
        }
    }
}

/// Compare two contents of equal length in 64 KiB steps.
fn same_bytes(a: &Content, b: &Content) -> io::Result<bool> {
    let (mut x, mut y) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut pos = 0;
    while pos < a.len() {
        let n = a.read_at(pos, &mut x)?;
        if n == 0 {
            return Ok(false);
        }
        let mut got = 0;
        while got < n {
            let m = b.read_at(pos + got as u64, &mut y[got..n])?;
            if m == 0 {
                return Ok(false);
            }
            got += m;
        }
        if x[..n] != y[..n] {
            return Ok(false);
        }
        pos += n as u64;
    }
    Ok(true)
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Content::Range { file, offset, len } => write!(f, "Range({}@{offset}+{len})", file.sha256),
        }
    }
}

impl From<Vec<u8>> for Content {
    fn from(v: Vec<u8>) -> Self {
        Content::bytes(v)
    }
}

/// Reader returned by [`Content::reader`].
pub struct ContentReader<'a> {
    content: &'a Content,
    pos: u64,
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.content.len();
        if self.pos >= len {
            return Ok(0);
        }
        let want = ((len - self.pos) as usize).min(buf.len());
        let n = match self.content {
            Content::Bytes(b) => {
                let start = self.pos as usize;
                buf[..want].copy_from_slice(&b[start..start + want]);
                want
            }
            Content::Range { file, offset, .. } => {
                let n = file.file.read_at(&mut buf[..want], offset + self.pos)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} is shorter than expected", file.path.display()),
                    ));
                }
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn ranges_read_and_compare_by_identity_or_bytes() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"hello world").unwrap();
        let file = Arc::new(ContentFile::new(f.path(), "abc", File::open(f.path()).unwrap()));
        let r = Content::Range { file: file.clone(), offset: 6, len: 5 };
        assert_eq!(&*r.read().unwrap(), b"world");
        let mut s = Vec::new();
        r.reader().read_to_end(&mut s).unwrap();
        assert_eq!(s, b"world");
        assert_eq!(r, Content::bytes(b"world".to_vec()));
        assert_ne!(r, Content::Range { file, offset: 0, len: 5 });
        let short = Content::Range {
            file: Arc::new(ContentFile::new(f.path(), "abc", File::open(f.path()).unwrap())),
            offset: 8,
            len: 10,
        };
        assert!(short.read().is_err());
        assert!(short.reader().read_to_end(&mut Vec::new()).is_err());
    }
}
