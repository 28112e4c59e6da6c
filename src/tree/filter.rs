//! Path filters from the spec's `paths:` (see [`crate::spec::Paths`]).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::spec::Paths;

/// Compiled exclude/keep globs.
#[derive(Debug, Clone)]
pub struct PathFilter {
    exclude: GlobSet,
    keep: GlobSet,
    /// Patterns of the directories that hold kept paths (each keep glob
    /// with trailing components removed): a symlink matching one is kept,
    /// e.g. `/usr/share/doc/libgcc-s1` → `gcc-12-base`, through which
    /// `/usr/share/doc/libgcc-s1/copyright` resolves.
    keep_parents: GlobSet,
}

fn build(globs: &[String]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        // `*` stays within one path component; `**` crosses them.
        b.add(GlobBuilder::new(g).literal_separator(true).build()?);
    }
    b.build()
}

impl PathFilter {
    /// Compile the spec's globs. Errors name the offending glob.
    pub fn new(paths: &Paths) -> Result<Self, globset::Error> {
        let mut parents = Vec::new();
        for g in &paths.keep {
            let mut cur = g.as_str();
            while let Some(i) = cur.rfind('/') {
                cur = &cur[..i];
                if cur.is_empty() {
                    break;
                }
                parents.push(cur.to_string());
            }
        }
        Ok(PathFilter { exclude: build(&paths.exclude)?, keep: build(&paths.keep)?, keep_parents: build(&parents)? })
    }

    /// A filter that keeps everything.
    pub fn keep_all() -> Self {
        let empty = GlobSetBuilder::new().build().expect("empty glob set");
        PathFilter { exclude: empty.clone(), keep: empty.clone(), keep_parents: empty }
    }

    /// Like [`PathFilter::keeps`], for a symlink: also kept when it stands
    /// where kept paths live (it may lead to them).
    pub fn keeps_link(&self, path: &str) -> bool {
        self.keeps(path) || self.keep_parents.is_match(path)
    }

    /// True when `path` (absolute, normalised) is kept: it matches `keep`,
    /// or neither it nor any ancestor matches `exclude`.
    pub fn keeps(&self, path: &str) -> bool {
        if self.keep.is_match(path) {
            return true;
        }
        let mut cur = path;
        loop {
            if self.exclude.is_match(cur) {
                return false;
            }
            match cur.rfind('/') {
                Some(0) | None => return true,
                Some(i) => cur = &cur[..i],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filters_drop_docs_but_keep_copyright() {
        let f = PathFilter::new(&Paths::default()).unwrap();
        assert!(!f.keeps("/usr/share/doc/libc6/changelog.Debian.gz"));
        assert!(!f.keeps("/usr/share/man/man1/node.1.gz"));
        assert!(!f.keeps("/usr/share/locale/de/LC_MESSAGES/x.mo"));
        assert!(f.keeps("/usr/share/doc/libc6/copyright"));
        assert!(f.keeps("/usr/share/docs-not-really/x"));
        assert!(f.keeps("/usr/bin/node"));
        assert!(!f.keeps("/usr/share/doc/libc6/examples/copyright"), "* must not cross /");
        assert!(f.keeps_link("/usr/share/doc/libgcc-s1"), "a doc-directory link may lead to a copyright");
        assert!(!f.keeps_link("/usr/share/man/man1/x.1.gz"));
    }
}
