//! The image's root filesystem as a sorted map from absolute path to
//! [`Entry`]; file contents stay on disk ([`content`]). Packages are extracted into it ([`extract`]), path
//! filters prune it, and generators ([`generate`]) add what maintainer
//! scripts would have made. Nothing here touches the host filesystem.

pub mod alternatives;
pub mod certs;
pub mod content;
pub mod extract;
pub mod filter;
pub mod generate;
pub mod java;
pub mod ldcache;
pub mod usrmerge;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use content::{Content, ContentFile};

/// What a path is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file. Entries sharing `inode` are hard links of one file.
    File {
        /// File contents (in memory or a range of a cache file).
        data: Content,
        /// Hard-link group id (unique per extracted file).
        inode: u64,
    },
    /// A symbolic link with its target, as written.
    Symlink(String),
}

/// One filesystem entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Type and content.
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask).
    pub mode: u32,
    /// Owner user ID.
    pub uid: u32,
    /// Owner group ID.
    pub gid: u32,
    /// The package that shipped it; `None` for generated entries.
    pub package: Option<Arc<str>>,
}

impl Entry {
    /// A root-owned directory.
    pub fn dir(mode: u32) -> Self {
        Entry { kind: Kind::Dir, mode, uid: 0, gid: 0, package: None }
    }
    /// A root-owned generated file.
    pub fn file(mode: u32, data: Vec<u8>, inode: u64) -> Self {
        Entry { kind: Kind::File { data: Content::bytes(data), inode }, mode, uid: 0, gid: 0, package: None }
    }
    /// A generated symlink.
    pub fn symlink(target: &str) -> Self {
        Entry { kind: Kind::Symlink(target.into()), mode: 0o777, uid: 0, gid: 0, package: None }
    }
    /// File size in bytes (0 for others).
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File { data, .. } => data.len(),
            _ => 0,
        }
    }
}

/// The image filesystem. Keys are absolute, normalised paths (`/`, `/usr`,
/// `/usr/bin/node`); there is always a `/` entry.
#[derive(Debug, Clone)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
    next_inode: u64,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// An empty tree holding only `/` (0755, root).
    pub fn new() -> Self {
        let mut entries = BTreeMap::new();
        entries.insert("/".to_string(), Entry::dir(0o755));
        Tree { entries, next_inode: 1 }
    }

    /// A fresh hard-link group id.
    pub fn new_inode(&mut self) -> u64 {
        self.next_inode += 1;
        self.next_inode
    }

    /// Look up a path exactly (no symlink resolution).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Mutable lookup.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut Entry> {
        self.entries.get_mut(path)
    }

    /// Iterate entries in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when only `/` exists.
    pub fn is_empty(&self) -> bool {
        self.entries.len() <= 1
    }

    /// Remove a path (not its children).
    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        self.entries.remove(path)
    }

    /// Whether any entry lies below `dir`.
    pub fn has_children(&self, dir: &str) -> bool {
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        self.entries.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix) && *k != prefix)
    }

    /// Direct and indirect children of `dir`, in order.
    pub fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| k.as_str() != "/")
    }

    /// Insert or replace an entry, creating missing parent directories
    /// (0755, root). Parents that are symlinks are followed (see
    /// [`Tree::resolve_parents`]); returns the path actually written.
    pub fn insert(&mut self, path: &str, entry: Entry) -> String {
        let path = self.resolve_parents(path);
        self.ensure_parents(&path);
        self.entries.insert(path.clone(), entry);
        path
    }

    /// Put a symlink where a directory with contents is, moving the
    /// contents through the link (as if the link had been there first: the
    /// merged-/usr case of `/bin` → `usr/bin`). Directories already at the
    /// destination are kept; other entries are replaced.
    pub fn replace_dir_with_symlink(&mut self, path: &str, link: Entry) {
        let prefix = format!("{path}/");
        let moved: Vec<(String, Entry)> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        for (k, _) in &moved {
            self.entries.remove(k);
        }
        self.entries.insert(path.to_string(), link);
        for (k, e) in moved {
            let dest = self.resolve_parents(&k);
            if dest == k {
                continue; // the link leads nowhere new (loop or clamp); drop
            }
            match (self.entries.get(&dest).map(|x| &x.kind), &e.kind) {
                (Some(Kind::Dir), Kind::Dir) | (Some(Kind::Symlink(_)), Kind::Dir) => {}
                _ => {
                    self.insert(&dest, e);
                }
            }
        }
    }

    /// The nearest ancestor of `path` that exists and is not a directory
    /// (after [`Tree::resolve_parents`]), if any.
    pub fn non_dir_ancestor(&self, path: &str) -> Option<(&str, &Entry)> {
        let mut cur = path;
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            if cur.is_empty() {
                return None;
            }
            if let Some((k, e)) = self.entries.get_key_value(cur) {
                if !matches!(e.kind, Kind::Dir) {
                    return Some((k.as_str(), e));
                }
            }
        }
        None
    }

    /// Create every missing ancestor of `path` as a root 0755 directory.
    pub fn ensure_parents(&mut self, path: &str) {
        let mut cur = String::new();
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push('/');
            cur.push_str(c);
            self.entries.entry(cur.clone()).or_insert_with(|| Entry::dir(0o755));
        }
    }

    /// Rewrite `path` so that no ancestor is a symlink in the tree: an
    /// ancestor `/lib` → `usr/lib` turns `/lib/x` into `/usr/lib/x`
    /// (what the kernel would do on the unpacked image). Links are followed
    /// at most 40 times; a link leaving the root is clamped to it.
    pub fn resolve_parents(&self, path: &str) -> String {
        self.walk_parents(path).0
    }

    /// [`Tree::resolve_parents`] for a write: `Err((link, target))` names
    /// the first ancestor symlink whose target climbs above the image root
    /// (`../../..` past `/`), or that loops; writing through such a link
    /// would land outside the image on a real filesystem.
    pub fn resolve_parents_for_write(&self, path: &str) -> Result<String, (String, String)> {
        match self.walk_parents(path) {
            (p, None) => Ok(p),
            (_, Some(bad)) => Err(bad),
        }
    }

    fn walk_parents(&self, path: &str) -> (String, Option<(String, String)>) {
        let mut comps: Vec<String> = path.split('/').filter(|c| !c.is_empty()).map(String::from).collect();
        let mut hops = 0;
        let mut i = 0;
        let mut escaped = None;
        while i + 1 < comps.len() {
            let prefix = format!("/{}", comps[..=i].join("/"));
            if let Some(Entry { kind: Kind::Symlink(target), .. }) = self.entries.get(&prefix) {
                hops += 1;
                if hops > 40 {
                    escaped.get_or_insert((prefix, target.clone()));
                    break;
                }
                let base: Vec<String> = if target.starts_with('/') { Vec::new() } else { comps[..i].to_vec() };
                let mut joined = base;
                for t in target.split('/').filter(|c| !c.is_empty() && *c != ".") {
                    if t == ".." {
                        if joined.pop().is_none() {
                            escaped.get_or_insert((prefix.clone(), target.clone()));
                        }
                    } else {
                        joined.push(t.to_string());
                    }
                }
                let rest = comps[i + 1..].to_vec();
                joined.extend(rest);
                comps = joined;
                i = 0;
                continue;
            }
            i += 1;
        }
        (format!("/{}", comps.join("/")), escaped)
    }

    /// Follow symlinks on `path` itself and its parents; `None` when the
    /// result does not exist or links loop.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut p = self.resolve_parents(path);
        for _ in 0..40 {
            match self.entries.get(&p)?.kind {
                Kind::Symlink(ref target) => {
                    let parent = p.rsplit_once('/').map(|(a, _)| a).unwrap_or("");
                    let joined = if target.starts_with('/') { target.clone() } else { format!("{parent}/{target}") };
                    p = self.resolve_parents(&normalize(&joined)?);
                }
                _ => return Some(p),
            }
        }
        None
    }
}

/// Normalise an absolute or `./`-relative archive path to `/a/b` form.
/// Returns `None` for paths that climb out of the root with `..`.
pub fn normalize(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(format!("/{}", out.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_escape() {
        assert_eq!(normalize("./usr/bin/").as_deref(), Some("/usr/bin"));
        assert_eq!(normalize("./").as_deref(), Some("/"));
        assert_eq!(normalize("./../etc/passwd"), None);
    }

    #[test]
    fn writes_go_through_parent_symlinks() {
        let mut t = Tree::new();
        t.insert("/usr/lib", Entry::dir(0o755));
        t.insert("/lib", Entry::symlink("usr/lib"));
        let written = t.insert("/lib/x86_64-linux-gnu/libc.so.6", Entry::file(0o644, vec![1], 2));
        assert_eq!(written, "/usr/lib/x86_64-linux-gnu/libc.so.6");
        assert!(matches!(t.get("/lib").unwrap().kind, Kind::Symlink(_)));
        assert_eq!(
            t.resolve("/lib/x86_64-linux-gnu/libc.so.6").as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
    }

    #[test]
    fn writes_through_links_that_climb_out_of_the_root_are_reported() {
        let mut t = Tree::new();
        t.insert("/usr/lib/out", Entry::symlink("../../../tmp"));
        t.insert("/usr/lib/abs", Entry::symlink("/etc"));
        t.insert("/usr/lib/loop", Entry::symlink("loop"));
        t.insert("/lib", Entry::symlink("usr/lib"));
        assert_eq!(t.resolve_parents("/usr/lib/out/x"), "/tmp/x", "clamped for reads");
        assert_eq!(
            t.resolve_parents_for_write("/usr/lib/out/x"),
            Err(("/usr/lib/out".to_string(), "../../../tmp".to_string()))
        );
        assert_eq!(t.resolve_parents_for_write("/lib/abs/x").as_deref(), Ok("/etc/x"));
        assert!(t.resolve_parents_for_write("/usr/lib/loop/x").is_err(), "a loop is not written through");
        assert_eq!(
            t.resolve_parents_for_write("/lib/x86_64-linux-gnu/a").as_deref(),
            Ok("/usr/lib/x86_64-linux-gnu/a")
        );
    }

    #[test]
    fn symlink_over_directory_moves_its_contents_through_the_link() {
        let mut t = Tree::new();
        t.insert("/bin/sh", Entry::file(0o755, b"sh".to_vec(), 2));
        t.insert("/usr/bin/ls", Entry::file(0o755, b"ls".to_vec(), 3));
        t.replace_dir_with_symlink("/bin", Entry::symlink("usr/bin"));
        assert!(t.get("/bin/sh").is_none());
        assert!(matches!(t.get("/usr/bin/sh").unwrap().kind, Kind::File { .. }));
        assert!(t.get("/usr/bin/ls").is_some());
    }

    #[test]
    fn has_children_is_not_fooled_by_sibling_prefixes() {
        let mut t = Tree::new();
        t.insert("/a", Entry::dir(0o755));
        t.insert("/a-b", Entry::dir(0o755));
        assert!(!t.has_children("/a"));
        t.insert("/a/c", Entry::dir(0o755));
        assert!(t.has_children("/a"));
    }
}
