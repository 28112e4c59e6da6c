//! Dangling symlinks: every symlink in the image resolves (through its
//! parents and any chain of links, [`Tree::resolve`]) to an existing entry.
//!
//! Links into paths the spec's path filters removed (`/usr/share/doc/…`,
//! `/usr/share/man/…`) dangle in the image too and are reported like any
//! other; [`dangling_links`] lists them so the assembler can drop them.

use super::{package_of, Finding};
use crate::tree::{normalize, Kind, Tree};

/// Paths of the symlinks that do not resolve to an existing entry, in path
/// order.
pub fn dangling_links(tree: &Tree) -> Vec<String> {
    tree.iter()
        .filter(|(p, e)| matches!(e.kind, Kind::Symlink(_)) && tree.resolve(p).is_none())
        .map(|(p, _)| p.clone())
        .collect()
}

/// Why the link at `path` (to `target`) does not resolve.
fn explain(tree: &Tree, path: &str, target: &str) -> String {
    let parent = path.rsplit_once('/').map(|(a, _)| a).unwrap_or("");
    let joined = if target.starts_with('/') { target.to_string() } else { format!("{parent}/{target}") };
    match normalize(&joined) {
        None => format!("dangling symlink to {target} (climbs above /)"),
        Some(abs) => {
            let real = tree.resolve_parents(&abs);
            match tree.get(&real).map(|e| &e.kind) {
                None if real == abs => format!("dangling symlink to {target}: {abs} is not in the image"),
                None => format!("dangling symlink to {target}: {abs} (= {real}) is not in the image"),
                Some(_) => {
                    format!("dangling symlink to {target}: the chain of links through {real} loops or ends nowhere")
                }
            }
        }
    }
}

/// One finding per dangling symlink.
pub fn dangling(tree: &Tree) -> Vec<Finding> {
    dangling_links(tree)
        .into_iter()
        .map(|p| {
            let e = tree.get(&p).expect("path from the tree");
            let Kind::Symlink(target) = &e.kind else { unreachable!("dangling_links yields symlinks") };
            Finding { problem: explain(tree, &p, target), package: package_of(e), path: p }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;

    #[test]
    fn dangling_links_are_reported_and_good_ones_are_not() {
        let mut t = Tree::new();
        t.insert("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", Entry::file(0o644, vec![1], 2));
        t.insert("/usr/lib/x86_64-linux-gnu/libz.so.1", Entry::symlink("libz.so.1.2.13"));
        t.insert("/lib", Entry::symlink("usr/lib"));
        t.insert("/etc/alt", Entry::symlink("/lib/x86_64-linux-gnu/libz.so.1"));
        t.insert("/etc/dir", Entry::symlink("../usr/lib"));
        // Into a directory the path filters removed.
        t.insert("/usr/share/doc/libfoo1", Entry::symlink("libfoo-common"));
        t.insert("/usr/bin/loop-a", Entry::symlink("loop-b"));
        t.insert("/usr/bin/loop-b", Entry::symlink("loop-a"));
        assert_eq!(dangling_links(&t), ["/usr/bin/loop-a", "/usr/bin/loop-b", "/usr/share/doc/libfoo1"]);
        let f = dangling(&t);
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].problem, "dangling symlink to libfoo-common: /usr/share/doc/libfoo-common is not in the image");
        assert!(f[0].problem.contains("loops"), "{}", f[0].problem);
    }

    #[test]
    fn link_through_a_symlinked_parent_names_the_real_path() {
        let mut t = Tree::new();
        t.insert("/usr/lib", Entry::dir(0o755));
        t.insert("/lib", Entry::symlink("usr/lib"));
        t.insert("/etc/x", Entry::symlink("/lib/missing"));
        assert_eq!(
            dangling(&t)[0].problem,
            "dangling symlink to /lib/missing: /lib/missing (= /usr/lib/missing) is not in the image"
        );
    }
}
