//! The sandbox's filesystem side: write an image [`Tree`] to a private
//! directory, and read back what a program changed there.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::tree::{Entry, Kind, Tree};

/// Paths a run may change without it counting (run-time state, not image
/// content), and the sandbox's own directory.
pub const IGNORED: [&str; 7] = ["/tmp", "/proc", "/dev", "/sys", "/run", "/var/log", super::OWN_DIR];

/// Whether `path` is under one of [`IGNORED`].
pub fn ignored(path: &str) -> bool {
    IGNORED.iter().any(|d| path == *d || path.strip_prefix(d).is_some_and(|r| r.starts_with('/')))
}

/// One filesystem change a program made: a new or changed regular file or
/// symlink, ready for [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A regular file with its bytes and mode (`0o755` when the program
    /// made it executable by anyone, `0o644` otherwise; owner root).
    File {
        /// Absolute path in the image.
        path: String,
        /// Contents.
        data: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link with its target as written.
    Symlink {
        /// Absolute path in the image.
        path: String,
        /// Target.
        target: String,
    },
}

impl Change {
    /// The path changed.
    pub fn path(&self) -> &str {
        match self {
            Change::File { path, .. } | Change::Symlink { path, .. } => path,
        }
    }
}

/// Insert `changes` into `tree` as generated, root-owned entries (no
/// package); returns the paths written.
pub fn apply(tree: &mut Tree, changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        let written = match c {
            Change::File { path, data, mode } => {
                let inode = tree.new_inode();
                tree.insert(path, Entry::file(*mode, data.clone(), inode))
            }
            Change::Symlink { path, target } => tree.insert(path, Entry::symlink(target)),
        };
        out.push(written);
    }
    out
}

/// Write `tree` below `root` (an existing empty directory): directories,
/// regular files with their contents and permission bits (setuid, setgid
/// and sticky bits dropped; owner the caller), symlinks as written.
/// Hard links become copies. Also creates the empty files `/dev/null`,
/// `/dev/zero`, `/dev/urandom` that the runner binds the host's devices on.
pub fn materialize(tree: &Tree, root: &Path) -> io::Result<()> {
    for (path, e) in tree.iter() {
        if path == "/" {
            continue;
        }
        let dest = root.join(&path[1..]);
        match &e.kind {
            Kind::Dir => {
                std::fs::create_dir_all(&dest)?;
            }
            Kind::File { data, .. } => {
                let mut f = std::fs::File::create(&dest)?;
                io::copy(&mut data.reader(), &mut f)?;
                f.set_permissions(std::fs::Permissions::from_mode(e.mode & 0o777))?;
                // The epoch marks the file as the image's: a write moves it.
                f.set_modified(std::time::UNIX_EPOCH)?;
            }
            Kind::Symlink(target) => symlink(target, &dest)?,
        }
    }
    // Directories last: a read-only directory must not stop its children.
    for (path, e) in tree.iter() {
        if let (Kind::Dir, false) = (&e.kind, path == "/") {
            let mode = (e.mode & 0o777) | 0o700;
            std::fs::set_permissions(root.join(&path[1..]), std::fs::Permissions::from_mode(mode))?;
        }
    }
    let dev = root.join("dev");
    if std::fs::symlink_metadata(&dev).is_err() {
        std::fs::create_dir_all(&dev)?;
    }
    if dev.is_dir() && !dev.is_symlink() {
        for d in super::DEVICES {
            let p = dev.join(d);
            if std::fs::symlink_metadata(&p).is_err() {
                std::fs::File::create(&p)?;
            }
        }
    }
    Ok(())
}

/// The changes below `root` relative to `tree` (which was materialized
/// there): regular files and symlinks outside [`IGNORED`] that are new or
/// whose kind, bytes or link target differ, in path order. Only files
/// whose modification time moved from the epoch [`materialize`] set, or
/// that the tree does not have as a file, are read. A file's mode alone
/// does not count.
pub fn changes(tree: &Tree, root: &Path) -> io::Result<Vec<Change>> {
    let mut out = BTreeMap::new();
    walk(tree, root, root, &mut out)?;
    Ok(out.into_values().collect())
}

fn walk(tree: &Tree, root: &Path, dir: &Path, out: &mut BTreeMap<String, Change>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let rel = p.strip_prefix(root).map_err(io::Error::other)?;
        let path = format!("/{}", rel.to_string_lossy());
        if ignored(&path) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p)?;
        let ft = meta.file_type();
        let old = tree.get(&path).map(|e| &e.kind);
        if ft.is_dir() {
            walk(tree, root, &p, out)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&p)?.to_string_lossy().into_owned();
            if !matches!(old, Some(Kind::Symlink(t)) if *t == target) {
                out.insert(path.clone(), Change::Symlink { path, target });
            }
        } else if ft.is_file() {
            let untouched = meta.modified()? == std::time::UNIX_EPOCH;
            if let Some(Kind::File { data: old, .. }) = old {
                if untouched && old.len() == meta.len() {
                    continue;
                }
                let data = std::fs::read(&p)?;
                if old.read_lossy().as_ref() == data.as_slice() {
                    continue;
                }
                out.insert(path.clone(), Change::File { path, data, mode: mode_of(&meta) });
            } else {
                let data = std::fs::read(&p)?;
                out.insert(path.clone(), Change::File { path, data, mode: mode_of(&meta) });
            }
        }
    }
    Ok(())
}

/// `0o755` when anyone may execute the file, else `0o644`.
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}
