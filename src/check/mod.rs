//! Conformance checks on an assembled [`Tree`]. Each check returns findings;
//! a build fails when any check finds something.

use crate::tree::{Kind, Tree};

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
                    problem: format!("{what} in a shell-less image (remove the package that ships it, or add it to `exclude`)"),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Run every check; `Err` lists all findings.
pub fn check(tree: &Tree) -> Result<(), CheckError> {
    let findings = shells(tree);
    if findings.is_empty() {
        Ok(())
    } else {
        Err(CheckError(findings))
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
        assert!(check(&t).unwrap_err().to_string().contains("/usr/bin/dash (from dash)"));
    }

    #[test]
    fn clean_tree_passes() {
        let mut t = Tree::new();
        t.insert("/usr/bin/node", Entry::file(0o755, b"ELF".to_vec(), 1));
        assert!(check(&t).is_ok());
    }
}
