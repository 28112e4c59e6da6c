//! Conformance checks on an assembled [`Tree`]. Each check is a function
//! over the tree returning findings; [`check`] runs them all and a build
//! fails when any check finds something (with the full list).
//!
//! | check | function |
//! |---|---|
//! | ELF interpreter and `DT_NEEDED` libraries resolve inside the image | [`elf::elf_closure`] |
//! | no dangling symlinks | [`links::dangling`] |
//! | no shell (unless [`CheckOptions::allow_shell`]) | [`shells`] |
//! | no setuid/setgid regular file (unless [`CheckOptions::allow_setuid`]) | [`setuid`] |
//! | every package has its `status.d` entry and a copyright file | [`packages::packages`] |
//! | every path its md5sums and `Conffiles:` list is a regular file, listed by one package | [`packages::listed_files`] |
//! | `/etc/os-release` → `/usr/lib/os-release` with `ID=debian`, `VERSION_CODENAME` | [`os_release::os_release`] |
//!
//! [`classify`] splits the findings: a missing library of a dlopen plugin
//! and a dangling documentation link, or one into data of a package only
//! recommended, are warnings ([`optional`]); everything else fails.
//!
//! [`read::read_layout`] turns an OCI image layout back into trees, for
//! `distill check IMAGE`.

pub mod elf;
pub mod links;
pub mod optional;
pub mod os_release;
pub mod packages;
pub mod read;

use crate::tree::{Entry, Kind, Tree};

pub use links::dangling_links;

/// Names that make an image a shell image.
pub const SHELLS: [&str; 4] = ["sh", "bash", "dash", "busybox"];
/// Directories searched for shells.
pub const SHELL_DIRS: [&str; 4] = ["/bin", "/usr/bin", "/sbin", "/usr/sbin"];

/// One problem found in an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The path at fault.
    pub path: String,
    /// The package that shipped it, or `generated`.
    pub package: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (from {}): {}", self.path, self.package, self.problem)
    }
}

/// A failed check: every finding, sorted.
#[derive(Debug, thiserror::Error)]
#[error("image check failed:\n{}", .0.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
pub struct CheckError(pub Vec<Finding>);

/// Shells on the standard command directories (as files or links, also
/// when reached through a symlinked directory such as merged-/usr `/bin`).
pub fn shells(tree: &Tree) -> Vec<Finding> {
    let mut out = Vec::new();
    for dir in SHELL_DIRS {
        for sh in SHELLS {
            let path = format!("{dir}/{sh}");
            let real = tree.resolve_parents(&path);
            if let Some(e) = tree.get(&real) {
                let what = match &e.kind {
                    Kind::Symlink(t) => format!("shell symlink to {t}"),
                    _ => "shell".to_string(),
                };
                out.push(Finding {
                    path: real.clone(),
                    package: e.package.as_deref().unwrap_or("generated").to_string(),
                    problem: format!(
                        "{what} in a shell-less image (remove the package that ships it, or add it to `exclude`)"
                    ),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Which checks apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Allow shells (debug variants of an image).
    pub allow_shell: bool,
    /// Allow setuid/setgid files (a spec with `paths.setuid: keep`).
    pub allow_setuid: bool,
}

/// The package label of an entry in findings.
pub(crate) fn package_of(e: &Entry) -> String {
    e.package.as_deref().unwrap_or("generated").to_string()
}

/// Regular files with the setuid or setgid bit (directories are not
/// reported: setgid on a directory only sets the group of new files).
pub fn setuid(tree: &Tree) -> Vec<Finding> {
    tree.iter()
        .filter(|(_, e)| matches!(e.kind, Kind::File { .. }) && e.mode & 0o6000 != 0)
        .map(|(p, e)| {
            let what = match (e.mode & 0o4000 != 0, e.mode & 0o2000 != 0) {
                (true, true) => "setuid and setgid",
                (true, false) => "setuid",
                _ => "setgid",
            };
            Finding {
                path: p.clone(),
                package: package_of(e),
                problem: format!("{what} file (mode {:04o})", e.mode & 0o7777),
            }
        })
        .collect()
}

/// Every finding of every check that `opts` enables, sorted: the errors
/// and the warnings of [`classify`] together.
pub fn findings(tree: &Tree, opts: &CheckOptions) -> Vec<Finding> {
    let Checked { mut errors, warnings } = classify(tree, opts);
    errors.extend(warnings);
    errors.sort();
    errors
}

/// Findings split by whether the image can run with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Faults: the image, or something it runs, is broken. Sorted.
    pub errors: Vec<Finding>,
    /// Optional pieces that do not work (see [`optional`]); the problem
    /// says why it is only a warning. Sorted.
    pub warnings: Vec<Finding>,
}

/// Every check that `opts` enables, split into errors and warnings.
pub fn classify(tree: &Tree, opts: &CheckOptions) -> Checked {
    let mut all = Vec::new();
    let mut warnings = Vec::new();
    if !opts.allow_shell {
        all.extend(shells(tree));
    }
    let elves = elf::elf_files(tree);
    let required = optional::required(tree, &elves);
    for mut f in elf::elf_closure_in(tree, &elves) {
        if required.contains(&f.path) {
            all.push(f);
        } else {
            f.problem.push_str(
                "; optional: a plugin (a shared object off the library search path that nothing links), \
                 so only its dlopen fails; hint: add the package that ships the library to use it",
            );
            warnings.push(f);
        }
    }
    for mut f in links::dangling(tree) {
        let e = tree.get(&f.path).expect("path from the tree");
        let Kind::Symlink(target) = &e.kind else { unreachable!("dangling yields symlinks") };
        match optional::optional_link(tree, &f.path, target, e.package.as_deref()) {
            Some(why) => {
                f.problem.push_str(&format!("; optional: {why}"));
                warnings.push(f);
            }
            None => all.push(f),
        }
    }
    if !opts.allow_setuid {
        all.extend(setuid(tree));
    }
    all.extend(packages::packages(tree));
    all.extend(packages::listed_files(tree));
    all.extend(os_release::os_release(tree));
    all.sort();
    all.dedup();
    warnings.sort();
    warnings.dedup();
    Checked { errors: all, warnings }
}

/// Run every check; `Ok` carries the warnings, `Err` lists all errors.
pub fn check(tree: &Tree, opts: &CheckOptions) -> Result<Vec<Finding>, CheckError> {
    let Checked { errors, warnings } = classify(tree, opts);
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(CheckError(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;
    use std::sync::Arc;

    #[test]
    fn shell_is_found_with_its_package() {
        let mut t = Tree::new();
        let mut e = Entry::file(0o755, b"ELF".to_vec(), 1);
        e.package = Some(Arc::from("dash"));
        t.insert("/usr/bin/dash", e);
        let f = shells(&t);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].path.as_str(), f[0].package.as_str()), ("/usr/bin/dash", "dash"));
        assert!(check(&t, &CheckOptions::default()).unwrap_err().to_string().contains("/usr/bin/dash (from dash)"));
    }

    #[test]
    fn clean_tree_passes() {
        let mut t = Tree::new();
        t.insert("/usr/bin/node", Entry::file(0o755, b"ELF".to_vec(), 1));
        assert!(check(&t, &CheckOptions::default()).is_ok());
    }

    #[test]
    fn shell_is_allowed_with_allow_shell() {
        let mut t = Tree::new();
        t.insert("/usr/bin", Entry::dir(0o755));
        t.insert("/bin", Entry::symlink("usr/bin"));
        t.insert("/usr/bin/busybox", Entry::file(0o755, b"bb".to_vec(), 1));
        t.insert("/usr/bin/sh", Entry::symlink("busybox"));
        let err = check(&t, &CheckOptions::default()).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(check(&t, &CheckOptions { allow_shell: true, ..Default::default() }).is_ok());
    }

    #[test]
    fn setuid_and_setgid_files_are_reported() {
        let mut t = Tree::new();
        let mut e = Entry::file(0o4755, b"su".to_vec(), 1);
        e.package = Some(Arc::from("login"));
        t.insert("/usr/bin/su", e);
        t.insert("/usr/bin/wall", Entry::file(0o2755, b"w".to_vec(), 2));
        t.insert("/var/mail", Entry::dir(0o2775));
        let f = setuid(&t);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            (f[0].path.as_str(), f[0].package.as_str(), f[0].problem.as_str()),
            ("/usr/bin/su", "login", "setuid file (mode 4755)")
        );
        assert_eq!(f[1].problem, "setgid file (mode 2755)");
    }

    #[test]
    fn all_findings_are_listed_in_the_error() {
        let mut t = Tree::new();
        t.insert("/usr/bin/sh", Entry::file(0o4755, b"sh".to_vec(), 1));
        t.insert("/etc/x", Entry::symlink("/nowhere"));
        let err = check(&t, &CheckOptions::default()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 3, "{text}");
        for p in [
            "/usr/bin/sh (from generated): shell",
            "/usr/bin/sh (from generated): setuid",
            "/etc/x (from generated): dangling symlink",
        ] {
            assert!(text.contains(p), "{text}");
        }
    }
}
