//! Layers: a [`Tree`] written as a deterministic tar stream, compressed
//! with gzip (OCI image-spec layer.md, `application/vnd.oci.image.layer.v1.tar+gzip`).
//!
//! Determinism: entries in byte order of their paths; GNU tar headers
//! (long names through GNU long-name records) with numeric owners, empty
//! user/group names, zeroed atime/ctime and one fixed mtime; hard links
//! point to the first path of their group in that order; gzip by
//! miniz_oxide at a fixed level, header time 0, no file name.

use std::io::{self, Write};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use crate::tree::{Kind, Tree};

/// gzip level used for every layer (0–9).
pub const GZIP_LEVEL: u32 = 6;

/// A written layer blob.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Compressed bytes (the blob).
    pub blob: Vec<u8>,
    /// `sha256:<hex>` of the blob.
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar (the config's `diff_id`).
    pub diff_id: String,
    /// Uncompressed tar size in bytes.
    pub tar_size: u64,
    /// OCI media type.
    pub media_type: &'static str,
}

/// Media type of gzip layers.
pub const MEDIA_TYPE_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write `tree` as one gzip layer with every mtime set to `mtime` (seconds
/// since the Unix epoch).
pub fn write_layer(tree: &Tree, mtime: u64) -> io::Result<Layer> {
    let gz = GzBuilder::new().mtime(0).write(Vec::new(), Compression::new(GZIP_LEVEL));
    let mut hw = HashingWriter { inner: gz, hasher: Sha256::new(), count: 0 };
    write_tar(tree, mtime, &mut hw)?;
    let diff_id = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
    let tar_size = hw.count;
    let blob = hw.inner.finish()?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
    Ok(Layer { blob, digest, diff_id, tar_size, media_type: MEDIA_TYPE_GZIP })
}

/// Write the deterministic tar stream of `tree` into `out`.
pub fn write_tar(tree: &Tree, mtime: u64, out: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    let mut first_of_inode: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    for (path, entry) in tree.iter() {
        if path == "/" {
            continue;
        }
        let rel = &path[1..];
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        h.set_uid(entry.uid.into());
        h.set_gid(entry.gid.into());
        h.set_mode(entry.mode);
        match &entry.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                builder.append_data(&mut h, format!("{rel}/"), io::empty())?;
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                builder.append_link(&mut h, rel, target)?;
            }
            Kind::File { data, inode } => {
                if let Some(first) = first_of_inode.get(inode) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    builder.append_link(&mut h, rel, first)?;
                } else {
                    first_of_inode.insert(*inode, rel.to_string());
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    builder.append_data(&mut h, rel, data.as_slice())?;
                }
            }
        }
    }
    builder.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.insert("/usr/bin/b", Entry::file(0o755, b"bin".to_vec(), 7));
        t.insert("/usr/bin/a", Entry::file(0o755, b"bin".to_vec(), 7));
        t.insert("/usr/lib/x", Entry::symlink("../bin/a"));
        t.insert(&format!("/usr/share/{}", "long/".repeat(30)), Entry::dir(0o755));
        t
    }

    #[test]
    fn same_tree_gives_same_digests() {
        let a = write_layer(&sample(), 1_700_000_000).unwrap();
        let b = write_layer(&sample(), 1_700_000_000).unwrap();
        assert_eq!((a.digest.clone(), a.diff_id.clone()), (b.digest, b.diff_id));
        let c = write_layer(&sample(), 1_700_000_001).unwrap();
        assert_ne!(a.diff_id, c.diff_id, "mtime is part of the content");
    }

    #[test]
    fn hard_links_point_to_first_path_in_order() {
        let mut tar = Vec::new();
        write_tar(&sample(), 0, &mut tar).unwrap();
        let mut ar = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().to_string();
            if p == "usr/bin/b" {
                assert_eq!(e.header().entry_type(), tar::EntryType::Link);
                assert_eq!(e.link_name().unwrap().unwrap().to_string_lossy(), "usr/bin/a");
            }
            assert_eq!(e.header().mtime().unwrap(), 0);
            seen.push(p);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert!(seen.iter().any(|p| p.len() > 100), "long names survive");
    }
}
