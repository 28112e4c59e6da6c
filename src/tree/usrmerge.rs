//! The merged-/usr layout when no package shipped it.
//!
//! On a merged-/usr Debian system (DEP 17; every suite from trixie on) the
//! aliased directories `/bin`, `/sbin`, `/lib` and the per-architecture
//! `/lib32`, `/lib64`, `/libo32`, `/libx32` are symbolic links to their
//! `/usr` counterparts. From trixie on base-files (Essential, so on every
//! Debian system) ships them; before that debootstrap's `merged-usr` setup
//! or the usrmerge package made them. Packages built for that layout ship
//! nothing under the aliased directories (debhelper's `dh_movetousr`), yet
//! their ELF program interpreters are ABI paths such as
//! `/lib64/ld-linux-x86-64.so.2` that only resolve through the links.
//!
//! [`write_merged_usr_links`] makes the links a package set needs when no
//! package shipped them: for each aliased directory `d` whose `/usr/d`
//! exists in the image, `/d -> usr/d`, exactly as base-files ships them
//! (its preinst lists the same seven names and requires each link to
//! point at `usr/d`). The per-architecture set therefore follows the
//! packages: `/lib64` on amd64 (libc6 ships `/usr/lib64/ld-linux-x86-64.so.2`),
//! none on arm64, whose loader lives in `/usr/lib`.
//!
//! A package set that ships any aliased directory as a real directory was
//! built for the unmerged layout (bookworm's libc6 ships `/lib/<triplet>`,
//! its base-files `/bin`, `/lib`, `/sbin`): the tree is left as the
//! packages made it.

use super::{Entry, Kind, Tree};

/// The aliased top-level directories of merged /usr, as base-files' preinst
/// lists them (DEP 17).
pub const ALIASED_DIRS: [&str; 7] = ["bin", "lib", "lib32", "lib64", "libo32", "libx32", "sbin"];

/// Add `/d -> usr/d` for each of [`ALIASED_DIRS`] that is absent from the
/// tree while `/usr/d` is a directory, unless some aliased directory is a
/// real directory (an unmerged package set). Returns the links made, as
/// `/d`, in [`ALIASED_DIRS`] order.
pub fn write_merged_usr_links(tree: &mut Tree) -> Vec<String> {
    let unmerged = ALIASED_DIRS.iter().any(|d| matches!(tree.get(&format!("/{d}")).map(|e| &e.kind), Some(Kind::Dir)));
    if unmerged {
        return Vec::new();
    }
    let mut made = Vec::new();
    for d in ALIASED_DIRS {
        let link = format!("/{d}");
        let usr_is_dir = matches!(tree.get(&format!("/usr/{d}")).map(|e| &e.kind), Some(Kind::Dir));
        if tree.get(&link).is_none() && usr_is_dir {
            tree.insert(&link, Entry::symlink(&format!("usr/{d}")));
            made.push(link);
        }
    }
    made
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_with(paths: &[&str]) -> Tree {
        let mut t = Tree::new();
        for (i, p) in paths.iter().enumerate() {
            t.insert(p, Entry::file(0o755, Vec::new(), i as u64));
        }
        t
    }

    #[test]
    fn merged_usr_set_gets_links_for_the_usr_dirs_it_has() {
        // trixie amd64: the loader is in /usr/lib64, nothing under /lib*.
        let mut t =
            tree_with(&["/usr/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/java"]);
        let made = write_merged_usr_links(&mut t);
        assert_eq!(made, ["/bin", "/lib", "/lib64"]);
        assert_eq!(t.resolve("/lib64/ld-linux-x86-64.so.2").as_deref(), Some("/usr/lib64/ld-linux-x86-64.so.2"));
        assert!(matches!(&t.get("/lib").unwrap().kind, Kind::Symlink(s) if s == "usr/lib"));
    }

    #[test]
    fn arm64_layout_has_no_lib64_link() {
        let mut t = tree_with(&["/usr/lib/ld-linux-aarch64.so.1", "/usr/sbin/x"]);
        assert_eq!(write_merged_usr_links(&mut t), ["/lib", "/sbin"]);
        assert!(t.get("/lib64").is_none());
    }

    #[test]
    fn links_a_package_shipped_are_kept_and_the_rest_completed() {
        let mut t = tree_with(&["/usr/lib64/ld.so", "/usr/bin/x"]);
        t.insert("/bin", Entry::symlink("usr/bin"));
        assert_eq!(write_merged_usr_links(&mut t), ["/lib64"]);
    }

    #[test]
    fn unmerged_package_set_is_left_alone() {
        // bookworm: libc6 ships /lib/<triplet>, so the set is unmerged.
        let mut t = tree_with(&["/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/x", "/usr/lib64/y"]);
        assert!(write_merged_usr_links(&mut t).is_empty());
        assert!(t.get("/bin").is_none() && t.get("/lib64").is_none());
    }
}
