//! Unpacking a package's `data.tar` into a [`Tree`], applying the path
//! filter. Only regular files, directories, symlinks and hard links are
//! accepted; device nodes, FIFOs, paths that climb out of the root, writes
//! through a symlink that leads out of the root, hard links to unknown
//! targets and paths that appear twice are errors naming the package and
//! path. Setuid/setgid bits on files are handled by [`SetuidPolicy`].
//! Nothing is written to the host: the tree lives in memory and file
//! contents stay byte ranges of the cached `data.tar`.

use std::collections::HashMap;
use std::sync::Arc;

use super::filter::PathFilter;
use super::{normalize, Content, ContentFile, Entry, Kind, Tree};

/// Errors extracting a package.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The tar stream is malformed or truncated.
    #[error("package {package}: cannot read data.tar: {reason}")]
    Tar {
        /// The package.
        package: String,
        /// What went wrong.
        reason: String,
    },
    /// An entry is unsafe or of an unsupported type.
    #[error("package {package}: refusing entry {path}: {reason}")]
    Refused {
        /// The package.
        package: String,
        /// The entry path as in the archive.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Upper bound on the unpacked size of one package (decompression bomb guard), bytes.
pub const MAX_UNPACKED: u64 = 4 << 30;

pub use crate::spec::SetuidPolicy;

/// What [`extract_with`] did.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Paths written (kept by the filter), in archive order.
    pub written: Vec<String>,
    /// Files whose setuid/setgid bits were cleared, with the packaged mode.
    pub stripped: Vec<(String, u32)>,
}

/// [`extract_with`] with the default [`SetuidPolicy::Strip`], returning
/// the paths written.
pub fn extract(
    tree: &mut Tree,
    package: &str,
    data: &Arc<ContentFile>,
    filter: &PathFilter,
) -> Result<Vec<String>, ExtractError> {
    extract_with(tree, package, data, filter, SetuidPolicy::default()).map(|e| e.written)
}

/// Extract `data` (an unpacked, uncompressed `data.tar` in the cache) of
/// `package` into `tree`. File contents are not read: each file becomes a
/// [`Content::Range`] of `data`.
///
/// Errors: [`ExtractError::Tar`] for a malformed or truncated stream;
/// [`ExtractError::Refused`] naming the entry for a path outside the root,
/// a write through a symlink leading outside the root, a duplicate path,
/// a special file, a hard link to a file not earlier in the package, a
/// setuid/setgid file under [`SetuidPolicy::Refuse`], or a package larger
/// than [`MAX_UNPACKED`].
pub fn extract_with(
    tree: &mut Tree,
    package: &str,
    data: &Arc<ContentFile>,
    filter: &PathFilter,
    setuid: SetuidPolicy,
) -> Result<Extracted, ExtractError> {
    let owner: Arc<str> = Arc::from(package);
    let tar_err = |e: std::io::Error| ExtractError::Tar { package: package.into(), reason: e.to_string() };
    // A handle of its own: the tar reader seeks, ranges are read with pread.
    let scan = std::fs::File::open(data.path()).map_err(tar_err)?;
    let file_len = scan.metadata().map_err(tar_err)?.len();
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(64 << 10, scan));
    // Files of this package by archive path, including filtered ones, for hard links.
    let mut files: HashMap<String, (Content, u64)> = HashMap::new();
    let mut written = Vec::new();
    let mut stripped = Vec::new();
    // Paths of this package's entries: a second entry for one path would
    // make the result depend on archive order (dpkg-deb never writes one).
    let mut seen: HashMap<String, bool> = HashMap::new();
    let mut total: u64 = 0;
    for entry in archive.entries_with_seek().map_err(tar_err)? {
        let entry = entry.map_err(tar_err)?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        let refuse = |reason: &str| ExtractError::Refused {
            package: package.into(),
            path: raw_path.clone(),
            reason: reason.into(),
        };
        let path = normalize(&raw_path).ok_or_else(|| refuse("path climbs out of the image root"))?;
        let header = entry.header();
        let mut mode = header.mode().map_err(tar_err)? & 0o7777;
        let uid = header.uid().map_err(tar_err)? as u32;
        let gid = header.gid().map_err(tar_err)? as u32;
        let etype = header.entry_type();
        let kind = if etype.is_dir() {
            Kind::Dir
        } else if etype.is_file() {
            total += header.size().map_err(tar_err)?;
            if total > MAX_UNPACKED {
                return Err(refuse("package unpacks beyond the size limit (decompression bomb?)"));
            }
            let len = entry.size();
            let offset = entry.raw_file_position();
            if offset.checked_add(len).is_none_or(|end| end > file_len) {
                return Err(refuse("the archive ends inside this file (truncated data.tar)"));
            }
            let data = Content::Range { file: data.clone(), offset, len };
            let inode = tree.new_inode();
            files.insert(path.clone(), (data.clone(), inode));
            Kind::File { data, inode }
        } else if etype.is_symlink() {
            let target = entry.link_name_bytes().ok_or_else(|| refuse("symlink without target"))?;
            Kind::Symlink(String::from_utf8_lossy(&target).to_string())
        } else if etype.is_hard_link() {
            let target = entry.link_name_bytes().ok_or_else(|| refuse("hard link without target"))?;
            let target = normalize(&String::from_utf8_lossy(&target))
                .ok_or_else(|| refuse("hard link target climbs out of the image root"))?;
            let (data, inode) =
                files.get(&target).cloned().ok_or_else(|| refuse("hard link to a file not earlier in this package"))?;
            files.insert(path.clone(), (data.clone(), inode));
            Kind::File { data, inode }
        } else {
            return Err(refuse("device nodes, FIFOs and other special files are not allowed in an image"));
        };
        let is_dir = matches!(kind, Kind::Dir);
        // A directory listed twice is harmless; anything else twice is not.
        if seen.insert(path.clone(), is_dir).is_some_and(|was_dir| !(was_dir && is_dir)) {
            return Err(refuse("the path appears twice in data.tar"));
        }
        let kept = match kind {
            Kind::Symlink(_) => filter.keeps_link(&path),
            _ => filter.keeps(&path),
        };
        if path == "/" || !kept {
            continue;
        }
        if matches!(kind, Kind::File { .. }) && mode & 0o6000 != 0 {
            match setuid {
                SetuidPolicy::Keep => {}
                SetuidPolicy::Refuse => {
                    return Err(refuse(&format!(
                        "setuid/setgid file (mode {mode:04o}) and the spec sets paths.setuid: refuse"
                    )))
                }
                SetuidPolicy::Strip => {
                    stripped.push((path.clone(), mode));
                    mode &= !0o6000;
                }
            }
        }
        let new = Entry { kind, mode, uid, gid, package: Some(owner.clone()) };
        let target = tree.resolve_parents_for_write(&path).map_err(|(link, to)| {
            refuse(&format!(
                "it would be written through the symlink {link} -> {to}, which leads outside the image root or loops"
            ))
        })?;
        if let Some((anc, e)) = tree.non_dir_ancestor(&target) {
            let owner = e.package.as_deref().unwrap_or("generated").to_string();
            return Err(refuse(&format!("its parent {anc} is a file from package {owner}, not a directory")));
        }
        let existing_dir_with_children =
            matches!(tree.get(&target).map(|e| &e.kind), Some(Kind::Dir)) && tree.has_children(&target);
        match (tree.get(&target).map(|e| &e.kind), &new.kind) {
            // A directory over an existing directory or a symlink (to a
            // directory, e.g. merged-/usr `/lib`) keeps what is there, as dpkg does.
            (Some(Kind::Dir), Kind::Dir) | (Some(Kind::Symlink(_)), Kind::Dir) => {}
            (Some(Kind::Dir), Kind::Symlink(_)) if existing_dir_with_children => {
                tree.replace_dir_with_symlink(&target, new);
                written.push(target);
            }
            (Some(Kind::Dir), Kind::File { .. }) if existing_dir_with_children => {
                return Err(refuse(&format!(
                    "a file would replace the directory {target}, which holds other packages' files"
                )));
            }
            _ => {
                written.push(tree.insert(&target, new));
            }
        }
    }
    Ok(Extracted { written, stripped })
}
