//! Path filters from the spec's `paths:` (see [`crate::spec::Paths`]).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::spec::Paths;

/// Compiled exclude/keep globs.
#[derive(Debug, Clone)]
pub struct PathFilter {
    exclude: GlobSet,
    keep: GlobSet,
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
        Ok(PathFilter { exclude: build(&paths.exclude)?, keep: build(&paths.keep)? })
    }

    /// A filter that keeps everything.
    pub fn keep_all() -> Self {
        let empty = GlobSetBuilder::new().build().expect("empty glob set");
        PathFilter { exclude: empty.clone(), keep: empty }
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
    }
}
