//! The suite's `Contents-<arch>` index: which package ships a path
//! (Debian repository format, "Contents indices": one line per file,
//! `PATH  [[$AREA/]$SECTION/]$PACKAGE[,…]`). Verified like the Packages
//! indices (SHA256 and size from the signed InRelease, by-hash when the
//! release says so) and cached by digest; it is large (trixie's
//! `main/Contents-amd64` is 170 MB uncompressed), so it is read as a stream
//! and only the lines naming a wanted library in a loader directory are
//! kept.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use super::index::IndexCompression;
use super::release::{IndexEntry, VerifiedRelease};

/// Where the Contents index of `component`/`arch` is: (path under
/// `dists/<suite>/`, URL, signed entry, compression); `.xz`, else `.gz`,
/// else uncompressed. `None` when the release lists none.
pub fn locate(
    release: &VerifiedRelease,
    component: &str,
    arch: &str,
) -> Option<(String, String, IndexEntry, IndexCompression)> {
    for (suffix, comp) in [(".xz", IndexCompression::Xz), (".gz", IndexCompression::Gz), ("", IndexCompression::None)] {
        let path = format!("{component}/Contents-{arch}{suffix}");
        if let Some(entry) = release.files.get(&path) {
            let url = if release.acquire_by_hash {
                release.dists_url(&format!("{component}/by-hash/SHA256/{}", entry.sha256))
            } else {
                release.dists_url(&path)
            };
            return Some((path, url, entry.clone(), comp));
        }
    }
    None
}

/// Whether `dir` (relative, as Contents writes it) is one the dynamic
/// loader searches by default: `lib`, `usr/lib`, `lib64`, `usr/lib64`, or a
/// multiarch directory `lib/<tuple>`, `usr/lib/<tuple>` (tuples name the
/// system: `x86_64-linux-gnu`, `aarch64-linux-gnu` …).
pub fn loader_dir(dir: &str) -> bool {
    let rest = dir.strip_prefix("usr/").unwrap_or(dir);
    match rest.split_once('/') {
        None => matches!(rest, "lib" | "lib64" | "lib32" | "libx32"),
        Some(("lib", tuple)) => !tuple.contains('/') && tuple.contains("-linux-"),
        _ => false,
    }
}

/// Packages shipping each of `wanted` (library file names) under `lib/`,
/// `usr/lib/` or `lib64`/`usr/lib64` (the caller tells [`loader_dir`] ones
/// from private directories), read from an uncompressed Contents stream:
/// file name → (absolute path, package) pairs. Lines that name no wanted file cost one scan for
/// the last `/` each.
pub fn search(
    reader: impl BufRead,
    wanted: &BTreeSet<String>,
) -> std::io::Result<BTreeMap<String, BTreeSet<(String, String)>>> {
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for line in reader.split(b'\n') {
        let line = line?;
        let Ok(line) = std::str::from_utf8(&line) else { continue };
        let Some((path, location)) = line.trim_end().rsplit_once([' ', '\t']) else { continue };
        let path = path.trim_end();
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let rest = dir.strip_prefix("usr/").unwrap_or(dir);
        if !wanted.contains(name) || !(rest.starts_with("lib/") || rest.starts_with("lib64") || rest == "lib") {
            continue;
        }
        for loc in location.split(',') {
            let package = loc.rsplit('/').next().unwrap_or(loc).trim();
            if !package.is_empty() {
                out.entry(name.to_string()).or_default().insert((format!("/{path}"), package.to_string()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
usr/bin/freetype-config                                 libdevel/libfreetype-dev
usr/lib/x86_64-linux-gnu/libfreetype.so.6               libs/libfreetype6
usr/lib/x86_64-linux-gnu/libharfbuzz.so.0               libs/libharfbuzz0b
usr/lib/x86_64-linux-gnu/libharfbuzz.so.0.60000.0       libs/libharfbuzz0b
usr/lib/x86_64-linux-gnu/blas/libblas.so.3              libs/libblas3
usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3  libs/libopenblas0-pthread
usr/share/doc/libfreetype6/libfreetype.so.6             doc/not-a-lib
usr/lib/libasound.so.2                                  libs/libasound2,non-free/libs/libasound2-other
usr/lib/x86_64-linux-gnu/with space/libx.so.1           libs/x
";

    fn wanted(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_packages_shipping_a_library_in_loader_dirs_only() {
        let found = search(
            SAMPLE.as_bytes(),
            &wanted(&["libfreetype.so.6", "libharfbuzz.so.0", "libblas.so.3", "libasound.so.2"]),
        )
        .unwrap();
        let pkgs = |n: &str| found[n].iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>();
        assert_eq!(pkgs("libfreetype.so.6"), ["libfreetype6"], "the doc path is not a loader directory");
        assert_eq!(pkgs("libharfbuzz.so.0"), ["libharfbuzz0b"]);
        let blas: Vec<bool> =
            found["libblas.so.3"].iter().map(|(p, _)| loader_dir(&p[1..p.rfind('/').unwrap()])).collect();
        assert_eq!(blas, [false, false], "alternatives' private directories are found, and told apart");
        assert_eq!(pkgs("libasound.so.2"), ["libasound2", "libasound2-other"]);
        assert_eq!(found["libfreetype.so.6"].iter().next().unwrap().0, "/usr/lib/x86_64-linux-gnu/libfreetype.so.6");
    }

    #[test]
    fn loader_dirs_are_the_default_search_path() {
        for d in ["lib", "usr/lib", "usr/lib64", "lib/aarch64-linux-gnu", "usr/lib/x86_64-linux-gnu"] {
            assert!(loader_dir(d), "{d}");
        }
        for d in ["usr/lib/x86_64-linux-gnu/blas", "usr/share/doc", "usr/lib/jvm", "opt/lib"] {
            assert!(!loader_dir(d), "{d}");
        }
    }
}
