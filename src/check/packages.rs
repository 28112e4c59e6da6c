//! Package records: every installed package has its
//! `/var/lib/dpkg/status.d/<package>` entry (what scanners read) and a
//! copyright file `/usr/share/doc/<package>/copyright` that resolves to a
//! regular file (`/usr/share/doc/<package>` may be a link to another
//! package's documentation directory, as Debian allows).
//!
//! Installed packages are those with a `status.d` entry plus those named as
//! [`Entry::package`](crate::tree::Entry::package) in the tree. A tree read
//! back from an image layer has no package ownership, so there the check
//! is "each `status.d` entry has its copyright file".

use std::collections::BTreeSet;

use super::Finding;
use crate::tree::{Kind, Tree};

/// Directory of the per-package dpkg status files (distroless layout).
pub const STATUS_D: &str = "/var/lib/dpkg/status.d";

/// Package names with an entry in `status.d` (regular files directly in it;
/// `<package>.md5sums` companions are not packages).
pub fn status_d_packages(tree: &Tree) -> BTreeSet<String> {
    let Some(dir) = tree.resolve(STATUS_D) else { return BTreeSet::new() };
    let prefix = format!("{dir}/");
    tree.children(&dir)
        .filter_map(|(p, _)| {
            let name = p.strip_prefix(&prefix)?;
            if name.contains('/') || name.ends_with(".md5sums") || name.starts_with('.') {
                return None;
            }
            let real = tree.resolve(p)?;
            matches!(tree.get(&real)?.kind, Kind::File { .. }).then(|| name.to_string())
        })
        .collect()
}

/// The path of a package's copyright file.
pub fn copyright_path(package: &str) -> String {
    // dpkg names multi-arch instances `pkg:arch`; the doc directory does not.
    let base = package.split(':').next().unwrap_or(package);
    format!("/usr/share/doc/{base}/copyright")
}

/// Findings for packages without a `status.d` entry or copyright file.
pub fn packages(tree: &Tree) -> Vec<Finding> {
    let recorded = status_d_packages(tree);
    let owners: BTreeSet<String> = tree.iter().filter_map(|(_, e)| e.package.as_deref().map(String::from)).collect();
    let mut out = Vec::new();
    for p in owners.difference(&recorded) {
        out.push(Finding {
            path: format!("{STATUS_D}/{p}"),
            package: p.clone(),
            problem: format!("package {p} is installed but has no status.d entry (scanners will not see it)"),
        });
    }
    for p in recorded.union(&owners) {
        let path = copyright_path(p);
        let ok =
            tree.resolve(&path).and_then(|real| tree.get(&real)).is_some_and(|e| matches!(e.kind, Kind::File { .. }));
        if !ok {
            let how = match tree.get(&tree.resolve_parents(&path)).map(|e| &e.kind) {
                Some(Kind::Symlink(t)) => format!("it is a dangling link to {t}"),
                Some(Kind::Dir) => "it is a directory".to_string(),
                _ => match tree.get(&format!("/usr/share/doc/{}", p.split(':').next().unwrap_or(p))).map(|e| &e.kind) {
                    Some(Kind::Symlink(t)) => format!("/usr/share/doc/{p} links to {t}, which has no copyright file"),
                    _ => "it is not in the image".to_string(),
                },
            };
            out.push(Finding {
                path,
                package: p.clone(),
                problem: format!("package {p} has no copyright file: {how}"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;
    use std::sync::Arc;

    fn owned(t: &mut Tree, path: &str, pkg: &str) {
        let inode = t.new_inode();
        let mut e = Entry::file(0o644, b"x".to_vec(), inode);
        e.package = Some(Arc::from(pkg));
        t.insert(path, e);
    }

    fn status(t: &mut Tree, pkg: &str) {
        let inode = t.new_inode();
        t.insert(&format!("{STATUS_D}/{pkg}"), Entry::file(0o644, format!("Package: {pkg}\n").into_bytes(), inode));
    }

    #[test]
    fn complete_packages_pass_including_doc_dir_links() {
        let mut t = Tree::new();
        owned(&mut t, "/usr/lib/libgcc_s.so.1", "libgcc-s1");
        owned(&mut t, "/usr/share/doc/gcc-12-base/copyright", "gcc-12-base");
        let mut link = Entry::symlink("gcc-12-base");
        link.package = Some(Arc::from("libgcc-s1"));
        t.insert("/usr/share/doc/libgcc-s1", link);
        status(&mut t, "libgcc-s1");
        status(&mut t, "gcc-12-base");
        t.insert(&format!("{STATUS_D}/gcc-12-base.md5sums"), Entry::file(0o644, vec![], 99));
        assert_eq!(packages(&t), vec![]);
    }

    #[test]
    fn missing_copyright_and_status_are_reported() {
        let mut t = Tree::new();
        owned(&mut t, "/usr/bin/hello", "hello");
        owned(&mut t, "/usr/lib/libx.so", "libx1");
        owned(&mut t, "/usr/share/doc/libx1/copyright", "libx1");
        status(&mut t, "hello");
        status(&mut t, "ghost");
        let f = packages(&t);
        let got: Vec<(&str, &str)> = f.iter().map(|f| (f.path.as_str(), f.package.as_str())).collect();
        assert_eq!(
            got,
            [
                ("/var/lib/dpkg/status.d/libx1", "libx1"),
                ("/usr/share/doc/ghost/copyright", "ghost"),
                ("/usr/share/doc/hello/copyright", "hello"),
            ]
        );
        assert_eq!(f[2].problem, "package hello has no copyright file: it is not in the image");
    }

    #[test]
    fn copyright_through_a_dangling_doc_link_is_reported() {
        let mut t = Tree::new();
        status(&mut t, "libfoo1");
        t.insert("/usr/share/doc/libfoo1", Entry::symlink("libfoo-common"));
        let f = packages(&t);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].problem, "package libfoo1 has no copyright file: /usr/share/doc/libfoo1 links to libfoo-common, which has no copyright file");
    }
}
