//! Image variants written beside `latest` (distroless's tags): `nonroot`
//! runs as 65532:65532 in /home/nonroot with the same layers; `debug` adds
//! one layer holding a static busybox under `/busybox` (the only place an
//! image may have a shell) and makes `/busybox/sh` the entrypoint;
//! `debug-nonroot` is both.

use std::sync::Arc;

use crate::fetch::unpacked::Unpacked;
use crate::repo::BinaryPackage;
use crate::spec::Variant;
use crate::tree::filter::PathFilter;
use crate::tree::{extract, Entry, Kind, Tree};

use super::BuildError;

/// Where the debug variant's busybox lives.
pub const BUSYBOX_DIR: &str = "/busybox";

/// The package that provides the debug shell.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// Applet links made next to `/busybox/busybox`.
pub const APPLETS: &[&str] = &[
    "[", "ash", "awk", "basename", "cat", "chmod", "chown", "cp", "cut", "date", "df", "dirname", "du", "echo", "env",
    "false", "find", "grep", "gunzip", "gzip", "head", "hostname", "id", "kill", "less", "ln", "ls", "mkdir", "more",
    "mv", "nc", "printf", "ps", "pwd", "readlink", "realpath", "rm", "rmdir", "sed", "sh", "sleep", "sort", "stat",
    "tail", "tar", "tee", "test", "touch", "tr", "true", "uname", "uniq", "vi", "wc", "wget", "which", "whoami",
    "xargs",
];

/// One output tag and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// `latest`, `nonroot`, `debug` or `debug-nonroot`.
    pub name: String,
    /// Runs as nonroot.
    pub nonroot: bool,
    /// Has the busybox layer and shell entrypoint.
    pub debug: bool,
}

/// The tags a spec's variants give, `latest` first.
pub fn tags(variants: &[Variant]) -> Vec<Tag> {
    let nonroot = variants.contains(&Variant::Nonroot);
    let debug = variants.contains(&Variant::Debug);
    let mut out = vec![Tag { name: "latest".into(), nonroot: false, debug: false }];
    if nonroot {
        out.push(Tag { name: "nonroot".into(), nonroot: true, debug: false });
    }
    if debug {
        out.push(Tag { name: "debug".into(), nonroot: false, debug: true });
    }
    if nonroot && debug {
        out.push(Tag { name: "debug-nonroot".into(), nonroot: true, debug: true });
    }
    out
}

/// The debug layer's tree: `/busybox/busybox` from the busybox-static .deb
/// and one symlink per applet.
pub fn busybox_tree(pkg: &Arc<BinaryPackage>, unpacked: &Unpacked) -> Result<Tree, BuildError> {
    let mut scratch = Tree::new();
    extract::extract(&mut scratch, &pkg.name, &unpacked.data, &PathFilter::keep_all())?;
    let binary = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find_map(|p| match scratch.get(p) {
            Some(Entry { kind: Kind::File { data, .. }, .. }) => Some(data.clone()),
            _ => None,
        })
        .ok_or_else(|| BuildError::Other(format!("package {} has no busybox binary", pkg.name)))?;
    let mut tree = Tree::new();
    tree.insert(BUSYBOX_DIR, Entry::dir(0o755));
    let inode = tree.new_inode();
    let mut e = Entry {
        kind: Kind::File { data: binary, inode },
        mode: 0o755,
        uid: 0,
        gid: 0,
        package: Some(Arc::from(pkg.name.as_str())),
    };
    e.package = Some(Arc::from(pkg.name.as_str()));
    tree.insert(&format!("{BUSYBOX_DIR}/busybox"), e);
    for applet in APPLETS {
        tree.insert(&format!("{BUSYBOX_DIR}/{applet}"), Entry::symlink("busybox"));
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_cover_every_combination() {
        let names = |v: &[Variant]| tags(v).into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(names(&[]), ["latest"]);
        assert_eq!(names(&[Variant::Debug]), ["latest", "debug"]);
        assert_eq!(names(&[Variant::Debug, Variant::Nonroot]), ["latest", "nonroot", "debug", "debug-nonroot"]);
    }
}
