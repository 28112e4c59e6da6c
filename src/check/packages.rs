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

/// Paths of the `Conffiles:` field of a dpkg status stanza (` /etc/x
/// <md5>[ obsolete]` continuation lines), as written, except those dpkg
/// flags `obsolete` or `remove-on-upgrade` (not installed).
pub fn conffiles_field(status: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in status.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [p, _sum] = words.as_slice() {
                if inside && p.starts_with('/') {
                    out.push(p.to_string());
                }
            }
        } else {
            inside = line.split_once(':').is_some_and(|(k, _)| k.eq_ignore_ascii_case("conffiles"));
        }
    }
    out
}

/// Findings for what `status.d` lists: every line of `<package>.md5sums`
/// is `<32 hex digits>  <path>` (scanners such as Trivy reject the whole
/// database on one malformed line), every path listed there or in the
/// `Conffiles:` field of `<package>` is a regular file of the image (also
/// through symlinked parents), and no file is listed by two packages.
pub fn listed_files(tree: &Tree) -> Vec<Finding> {
    let Some(dir) = tree.resolve(STATUS_D) else { return Vec::new() };
    let text = |path: &str| match tree.get(path).map(|e| &e.kind) {
        Some(Kind::File { data, .. }) => String::from_utf8_lossy(&data.read_lossy()).into_owned(),
        _ => String::new(),
    };
    let mut out = Vec::new();
    let mut owner: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for p in status_d_packages(tree) {
        let sums_path = format!("{dir}/{p}.md5sums");
        let mut listed: Vec<(String, String)> = Vec::new(); // (path, where listed)
        for (n, line) in text(&sums_path).lines().enumerate() {
            let parsed = line.split_once("  ").filter(|(sum, path)| {
                sum.len() == 32 && sum.bytes().all(|b| b.is_ascii_hexdigit()) && !path.is_empty()
            });
            match parsed {
                Some((_, path)) => listed.push((format!("/{path}"), sums_path.clone())),
                None => out.push(Finding {
                    path: sums_path.clone(),
                    package: p.clone(),
                    problem: format!("line {} is not `<md5>  <path>`: {line:?}", n + 1),
                }),
            }
        }
        let status_path = format!("{dir}/{p}");
        listed.extend(
            conffiles_field(&text(&status_path)).into_iter().map(|c| (c, format!("{status_path} (Conffiles)"))),
        );
        for (path, from) in listed {
            let real = crate::tree::normalize(&path).map(|n| tree.resolve_parents(&n));
            let is_file =
                real.as_ref().is_some_and(|r| matches!(tree.get(r).map(|e| &e.kind), Some(Kind::File { .. })));
            let Some(real) = real.filter(|_| is_file) else {
                out.push(Finding {
                    path: path.clone(),
                    package: p.clone(),
                    problem: format!("listed in {from} but not a regular file of the image"),
                });
                continue;
            };
            match owner.get(&real) {
                Some(other) if *other != p => out.push(Finding {
                    path: real.clone(),
                    package: p.clone(),
                    problem: format!("listed by both {other} and {p}: a file belongs to one package"),
                }),
                _ => {
                    owner.insert(real, p.clone());
                }
            }
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

    #[test]
    fn listed_files_must_be_regular_files_of_one_package() {
        let mut t = Tree::new();
        t.insert("/usr/lib/libx.so", Entry::file(0o644, b"x".to_vec(), 2));
        t.insert("/etc/x.conf", Entry::file(0o644, b"c".to_vec(), 3));
        t.insert("/lib", Entry::symlink("usr/lib"));
        let sum = "0123456789abcdef0123456789abcdef";
        let file = |t: &mut Tree, p: &str, text: String| {
            let inode = t.new_inode();
            t.insert(p, Entry::file(0o644, text.into_bytes(), inode));
        };
        file(&mut t, &format!("{STATUS_D}/libx1"), format!("Package: libx1\nConffiles:\n /etc/x.conf {sum}\n /etc/gone.conf {sum} obsolete\n /etc/none.conf {sum}\nDescription: x\n"));
        file(
            &mut t,
            &format!("{STATUS_D}/libx1.md5sums"),
            format!("{sum}  lib/libx.so\n{sum}  usr/share/doc/libx1/changelog.gz\n\n"),
        );
        file(&mut t, &format!("{STATUS_D}/other"), "Package: other\n".into());
        file(&mut t, &format!("{STATUS_D}/other.md5sums"), format!("{sum}  usr/lib/libx.so\n"));
        let got: Vec<(String, String)> = listed_files(&t).into_iter().map(|f| (f.path, f.problem)).collect();
        assert_eq!(
            got,
            [
                (format!("{STATUS_D}/libx1.md5sums"), "line 3 is not `<md5>  <path>`: \"\"".to_string()),
                (
                    "/usr/share/doc/libx1/changelog.gz".to_string(),
                    format!("listed in {STATUS_D}/libx1.md5sums but not a regular file of the image")
                ),
                (
                    "/etc/none.conf".to_string(),
                    format!("listed in {STATUS_D}/libx1 (Conffiles) but not a regular file of the image")
                ),
                (
                    "/usr/lib/libx.so".to_string(),
                    "listed by both libx1 and other: a file belongs to one package".to_string()
                ),
            ]
        );
    }
}
