//! Layering: which entries go into which layer.
//!
//! An image built with `extends:` carries its parent's layers unchanged
//! (same digests), so a family of images shares them. Its own layers hold
//! only the difference between its filesystem and the parent's: entries
//! added or changed, and whiteouts for entries the parent has and it does
//! not (OCI image-spec layer.md "Representing Changes").
//!
//! That difference is grouped by Debian source package (the `Source:` of
//! each entry's package, Debian Policy §5.6.1), like apko's `origin`
//! strategy: every group of at least [`MIN_GROUP_BYTES`] of files gets a
//! layer of its own, largest first, until `budget - 1` such layers; the
//! rest (small packages, generated files, whiteouts) share a last layer.
//! A change to one package touches its group's layer and the last layer
//! (its `status.d` entry and the generated files), not the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::LayerContent;
use crate::tree::{Entry, Kind, Tree};

/// Smallest group (bytes of file contents) that gets a layer of its own.
pub const MIN_GROUP_BYTES: u64 = 1 << 20;
/// Default layers per spec (`layering.budget`).
pub const DEFAULT_BUDGET: usize = 10;
/// Most layers an image may have (what overlay-based runtimes accept).
pub const MAX_LAYERS: usize = 127;
/// Name of the last layer (for messages; its group key cannot collide
/// with a source package name, see [`REST_KEY`]).
pub const REST: &str = "rest";
/// Group key of the last layer: empty, which no Debian package name is.
const REST_KEY: &str = "";

/// Same filesystem state (kind, contents, mode, owner), ignoring the owning
/// package and hard-link group numbers.
pub fn same(a: &Entry, b: &Entry) -> bool {
    let kind = match (&a.kind, &b.kind) {
        (Kind::Dir, Kind::Dir) => true,
        (Kind::Symlink(x), Kind::Symlink(y)) => x == y,
        (Kind::File { data: x, .. }, Kind::File { data: y, .. }) => x == y,
        _ => false,
    };
    kind && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid
}

/// Split the difference between `tree` and `base` (the parent image's
/// filesystem, or none) into at most `budget` layers. `source_of` maps a
/// binary package name to its source package name. Returns no layer when
/// nothing differs.
pub fn plan(tree: &Tree, base: Option<&Tree>, source_of: &dyn Fn(&str) -> String, budget: usize) -> Vec<LayerContent> {
    let budget = budget.max(1);
    // Changed or added entries, grouped.
    let mut groups: BTreeMap<String, Vec<(String, Entry)>> = BTreeMap::new();
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut whiteouts = Vec::new();
    for (path, e) in tree.iter() {
        if path == "/" {
            continue;
        }
        let old = base.and_then(|b| b.get(path));
        if old.is_some_and(|o| same(o, e)) {
            continue;
        }
        if old.is_some_and(|o| matches!(o.kind, Kind::Dir) && !matches!(e.kind, Kind::Dir)) {
            whiteouts.push(path.clone()); // the directory's contents go too
        }
        let group = match &e.package {
            Some(p) => source_of(p),
            None => REST_KEY.to_string(),
        };
        if let Some(p) = &e.package {
            packages.entry(group.clone()).or_default().insert(p.to_string());
        }
        groups.entry(group).or_default().push((path.clone(), e.clone()));
    }
    if let Some(base) = base {
        // Entries of the parent that are gone.
        whiteouts.extend(base.iter().filter(|(p, _)| *p != "/" && tree.get(p).is_none()).map(|(p, _)| p.clone()));
    }
    // One whiteout per topmost removed path: nothing under a path that is
    // whited out (a whiteout behind a directory that became a symlink would
    // delete the file the link now leads to).
    let removed: BTreeSet<String> = whiteouts.iter().cloned().collect();
    whiteouts = removed.iter().filter(|w| !has_ancestor_in(w, &removed)).cloned().collect();
    // Own layers for the largest groups.
    let mut sized: Vec<(u64, String)> = groups
        .iter()
        .filter(|(name, _)| name.as_str() != REST_KEY)
        .map(|(name, es)| (es.iter().map(|(_, e)| e.size()).sum(), name.clone()))
        .filter(|(size, _)| *size >= MIN_GROUP_BYTES)
        .collect();
    sized.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let own: BTreeSet<String> = sized.into_iter().take(budget - 1).map(|(_, n)| n).collect();
    let mut layers: Vec<LayerContent> = Vec::new();
    let mut rest = LayerContent { name: REST.into(), whiteouts, ..Default::default() };
    for (name, entries) in groups {
        let pk: Vec<String> = packages.remove(&name).unwrap_or_default().into_iter().collect();
        if own.contains(&name) && name != REST_KEY {
            layers.push(LayerContent { name, entries, whiteouts: Vec::new(), packages: pk });
        } else {
            rest.entries.extend(entries);
            rest.packages.extend(pk);
        }
    }
    if !rest.entries.is_empty() || !rest.whiteouts.is_empty() {
        rest.packages.sort();
        layers.push(rest);
    }
    for l in &mut layers {
        add_parents(tree, l);
    }
    layers
}

/// True when a proper ancestor of `path` is in `set`.
fn has_ancestor_in(path: &str, set: &BTreeSet<String>) -> bool {
    let mut cur = path;
    while let Some(i) = cur.rfind('/') {
        cur = &cur[..i];
        if cur.is_empty() {
            return false;
        }
        if set.contains(cur) {
            return true;
        }
    }
    false
}

/// Add every ancestor directory of the layer's entries (as the tree has
/// it), so each layer states the modes and owners of its directories.
fn add_parents(tree: &Tree, layer: &mut LayerContent) {
    let mut have: HashMap<String, ()> = layer.entries.iter().map(|(p, _)| (p.clone(), ())).collect();
    let mut extra = Vec::new();
    let paths: Vec<String> =
        layer.entries.iter().map(|(p, _)| p.clone()).chain(layer.whiteouts.iter().cloned()).collect();
    for p in paths {
        let mut cur = p.as_str();
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            if cur.is_empty() || have.contains_key(cur) {
                break;
            }
            if let Some(e) = tree.get(cur) {
                extra.push((cur.to_string(), e.clone()));
            }
            have.insert(cur.to_string(), ());
        }
    }
    layer.entries.extend(extra);
    layer.entries.sort_by(|a, b| a.0.cmp(&b.0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn owned(pkg: &str, size: usize) -> Entry {
        static INODE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100);
        let inode = INODE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut e = Entry::file(0o644, vec![b'x'; size], inode);
        e.package = Some(Arc::from(pkg));
        e
    }

    fn src(p: &str) -> String {
        match p {
            "libc6" | "libc-bin" => "glibc".into(),
            p => p.into(),
        }
    }

    fn names(ls: &[LayerContent]) -> Vec<&str> {
        ls.iter().map(|l| l.name.as_str()).collect()
    }

    #[test]
    fn groups_by_source_package_with_small_ones_in_the_last_layer() {
        let mut t = Tree::new();
        t.insert("/usr/lib/libc.so.6", owned("libc6", 2 << 20));
        t.insert("/usr/bin/ldd", owned("libc-bin", 10));
        t.insert("/usr/lib/libz.so", owned("zlib1g", 100));
        t.insert("/etc/passwd", Entry::file(0o644, b"root".to_vec(), 2));
        let ls = plan(&t, None, &src, 10);
        assert_eq!(names(&ls), ["glibc", REST]);
        let glibc: Vec<&str> = ls[0].entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(glibc, ["/usr", "/usr/bin", "/usr/bin/ldd", "/usr/lib", "/usr/lib/libc.so.6"]);
        assert_eq!(ls[0].packages, ["libc-bin", "libc6"]);
        assert!(ls[1].entries.iter().any(|(p, _)| p == "/etc/passwd"));
        assert_eq!(ls[1].packages, ["zlib1g"]);
        // Budget 1: everything in one layer.
        assert_eq!(names(&plan(&t, None, &src, 1)), [REST]);
    }

    #[test]
    fn a_child_layers_only_its_difference_with_whiteouts() {
        let mut parent = Tree::new();
        parent.insert("/usr/lib/libc.so.6", owned("libc6", 2 << 20));
        parent.insert("/etc/passwd", Entry::file(0o644, b"root".to_vec(), 2));
        parent.insert("/opt/old/file", Entry::file(0o644, b"o".to_vec(), 3));
        let mut child = parent.clone();
        child.insert("/usr/lib/libnode.so", owned("libnode108", 3 << 20));
        child.insert("/etc/passwd", Entry::file(0o644, b"root\napp".to_vec(), 9));
        child.remove("/opt/old/file");
        child.remove("/opt/old");
        let ls = plan(&child, Some(&parent), &src, 10);
        assert_eq!(names(&ls), ["libnode108", REST]);
        assert!(!ls.iter().flat_map(|l| &l.entries).any(|(p, _)| p == "/usr/lib/libc.so.6"));
        assert_eq!(ls[1].whiteouts, ["/opt/old"], "one whiteout for the removed subtree");
        assert!(ls[1].entries.iter().any(|(p, _)| p == "/etc/passwd"));
        // Nothing changed: no layer.
        assert!(plan(&parent, Some(&parent.clone()), &src, 10).is_empty());
    }

    #[test]
    fn whiteouts_only_for_topmost_removed_paths_whatever_the_sort_order() {
        let mut parent = Tree::new();
        for p in ["/usr/lib/python3/a.py", "/usr/lib/python3/dist-packages/b.py", "/usr/lib/python3.11/c.py"] {
            parent.insert(p, Entry::file(0o644, b"x".to_vec(), 1));
        }
        parent.insert("/opt/d/f", Entry::file(0o644, b"f".to_vec(), 2));
        let mut child = Tree::new();
        child.insert("/usr/lib/keep", Entry::file(0o644, b"k".to_vec(), 3));
        child.insert("/opt/a/f", Entry::file(0o644, b"f".to_vec(), 2));
        child.insert("/opt/d", Entry::symlink("a"));
        let ls = plan(&child, Some(&parent), &src, 10);
        let wh: Vec<&str> = ls.iter().flat_map(|l| l.whiteouts.iter().map(String::as_str)).collect();
        assert_eq!(wh, ["/opt/d", "/usr/lib/python3", "/usr/lib/python3.11"]);
    }

    #[test]
    fn a_source_package_named_rest_gets_its_own_layer() {
        let mut t = Tree::new();
        t.insert("/usr/lib/big", owned("rest", 2 << 20));
        t.insert("/etc/passwd", Entry::file(0o644, b"root".to_vec(), 2));
        let ls = plan(&t, None, &src, 10);
        assert_eq!(ls.len(), 2);
        assert_eq!(ls[0].packages, ["rest"]);
        assert!(ls[0].entries.iter().any(|(p, _)| p == "/usr/lib/big"));
        assert!(ls[1].entries.iter().any(|(p, _)| p == "/etc/passwd"));
    }

    #[test]
    fn an_unrelated_change_leaves_other_groups_alone() {
        let mut a = Tree::new();
        a.insert("/usr/lib/big1", owned("libicu72", 3 << 20));
        a.insert("/usr/lib/big2", owned("libnode108", 4 << 20));
        a.insert("/usr/lib/small", owned("zlib1g", 10));
        let mut b = a.clone();
        b.insert("/usr/lib/small", owned("zlib1g", 11));
        let (la, lb) = (plan(&a, None, &src, 10), plan(&b, None, &src, 10));
        assert_eq!(names(&la), names(&lb));
        let k = |l: &LayerContent| super::super::key(l, 0, super::super::Compression::Gzip);
        assert_eq!(k(&la[0]), k(&lb[0]));
        assert_eq!(k(&la[1]), k(&lb[1]));
        assert_ne!(k(&la[2]), k(&lb[2]));
    }
}
