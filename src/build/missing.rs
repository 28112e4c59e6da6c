//! Missing libraries found: when the image check reports `DT_NEEDED`
//! libraries that are not in the image, the suite's signed
//! `Contents-<arch>` indices ([`super::sources::library_packages`]) name
//! the packages that ship them, and each finding says which to add.

use std::collections::BTreeSet;

use super::{sources, BuildOptions};
use crate::check::Finding;
use crate::fetch::Cache;
use crate::repo::Transport;
use crate::report::Reporter;
use crate::spec::LoadedSpec;

/// Where to look: a spec's sources for one architecture.
pub struct Archive<'a> {
    /// The spec whose sources are searched.
    pub spec: &'a LoadedSpec,
    /// Mirrors, cache mode, clock.
    pub opts: &'a BuildOptions,
    /// Debian architecture.
    pub arch: &'a str,
    /// HTTP transport.
    pub transport: &'a Transport,
    /// The package cache (Contents indices are kept by digest).
    pub cache: &'a Cache,
}

/// Append to each missing-library finding the packages of the archive's
/// sources that ship the library (or that none does); `installed` names
/// the image's packages. A Contents index that cannot be read is a
/// warning; the findings stay as they were.
pub fn name_packages(archive: &Archive, report: &Reporter, installed: &BTreeSet<&str>, findings: &mut [Finding]) {
    let Archive { spec, opts, arch, transport, cache } = *archive;
    let libs: BTreeSet<String> =
        findings.iter().filter_map(|f| crate::check::elf::missing_library(&f.problem)).map(str::to_string).collect();
    if libs.is_empty() {
        return;
    }
    let found = match sources::library_packages(spec, opts, arch, &libs, transport, cache, report) {
        Ok(found) => found,
        Err(e) => {
            report.warn(&format!(
                "cannot tell which packages ship {}: {e}",
                libs.into_iter().collect::<Vec<_>>().join(", ")
            ));
            return;
        }
    };
    let suites: Vec<&str> = spec.spec.sources.iter().map(|s| s.suite.as_str()).collect();
    for f in findings.iter_mut() {
        let Some(lib) = crate::check::elf::missing_library(&f.problem) else { continue };
        f.problem.push_str(&hint(lib, found.get(lib), &suites, arch, installed));
    }
}

/// The text appended to a finding about `lib`: the packages shipping it
/// in a directory the loader searches, else those shipping it in a private
/// directory (an update-alternatives target, a plugin directory), else none.
/// (path, package) pairs from Contents.
type Shipped<'a> = Vec<&'a (String, String)>;

fn hint(
    lib: &str,
    shipped: Option<&BTreeSet<(String, String)>>,
    suites: &[&str],
    arch: &str,
    installed: &BTreeSet<&str>,
) -> String {
    let all: Shipped = shipped.map(|s| s.iter().collect()).unwrap_or_default();
    let in_loader_dir =
        |p: &str| crate::repo::contents::loader_dir(p.trim_start_matches('/').rsplit_once('/').map_or("", |(d, _)| d));
    let (public, private): (Shipped, Shipped) = all.into_iter().partition(|(p, _)| in_loader_dir(p));
    let describe = |set: &[&(String, String)]| {
        let packages: BTreeSet<&str> = set.iter().map(|(_, p)| p.as_str()).collect();
        let paths: BTreeSet<&str> = set.iter().map(|(p, _)| p.as_str()).collect();
        let list = packages.iter().copied().collect::<Vec<_>>().join(", ");
        let add = if packages.len() == 1 { list.clone() } else { format!("one of {list}") };
        (list, paths.into_iter().collect::<Vec<_>>().join(", "), add)
    };
    if !public.is_empty() {
        let (list, paths, add) = describe(&public);
        return format!("; shipped by {list} ({paths}, Contents-{arch}); hint: add {add} to `packages`");
    }
    let suites = suites.join(", ");
    if !private.is_empty() {
        // The installed packages first: their file is in the image, only
        // the link a maintainer script makes is missing.
        let mine: Shipped = private.iter().copied().filter(|(_, p)| installed.contains(p.as_str())).collect();
        let shown = if mine.is_empty() { &private[..private.len().min(3)] } else { &mine[..] };
        let (list, paths, _) = describe(shown);
        let more = if mine.is_empty() && private.len() > 3 {
            format!(" and {} more", private.len() - 3)
        } else {
            String::new()
        };
        let state = if mine.is_empty() { "" } else { " (installed)" };
        return format!(
            "; no package of {suites} ships {lib} where the loader searches (Contents-{arch}); {list}{state} ship it \
             at {paths}{more}; hint: a maintainer script (update-alternatives) links it into place"
        );
    }
    format!("; no package of {suites} ships {lib} (Contents-{arch}); hint: add a source that has it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_names_the_package_and_path_or_says_none() {
        let mut set = BTreeSet::new();
        set.insert(("/usr/lib/x86_64-linux-gnu/libfreetype.so.6".to_string(), "libfreetype6".to_string()));
        let h = hint("libfreetype.so.6", Some(&set), &["trixie"], "amd64", &BTreeSet::new());
        assert_eq!(
            h,
            "; shipped by libfreetype6 (/usr/lib/x86_64-linux-gnu/libfreetype.so.6, Contents-amd64); hint: add libfreetype6 to `packages`"
        );
        set.insert(("/usr/lib/libfreetype.so.6".to_string(), "other".to_string()));
        assert!(hint("libfreetype.so.6", Some(&set), &["trixie"], "amd64", &BTreeSet::new())
            .contains("add one of libfreetype6, other"));
        assert!(hint("libblas.so.3", None, &["bookworm", "bookworm-updates"], "amd64", &BTreeSet::new())
            .starts_with("; no package of bookworm, bookworm-updates ships libblas.so.3 (Contents-amd64)"));
        let mut blas = BTreeSet::new();
        blas.insert(("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3".to_string(), "libblas3".to_string()));
        blas.insert(("/usr/lib/x86_64-linux-gnu/atlas/libblas.so.3".to_string(), "libatlas3-base".to_string()));
        let h = hint("libblas.so.3", Some(&blas), &["bookworm"], "amd64", &BTreeSet::from(["libblas3"]));
        assert!(h.contains("libblas3 (installed) ship it at /usr/lib/x86_64-linux-gnu/blas/libblas.so.3;"), "{h}");
        let h = hint("libblas.so.3", Some(&blas), &["bookworm"], "amd64", &BTreeSet::new());
        assert!(h.contains("libatlas3-base, libblas3 ship it at"), "{h}");
    }

    #[test]
    fn missing_library_reads_closure_findings_only() {
        use crate::check::elf::missing_library;
        assert_eq!(
            missing_library("needs libGLU.so.1, which is not in the image (searched /lib)"),
            Some("libGLU.so.1")
        );
        assert_eq!(missing_library("needs /opt/x.so, which is not in the image"), None);
        assert_eq!(missing_library("dangling symlink to x"), None);
    }
}
