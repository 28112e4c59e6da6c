//! Packages indices: `dists/<suite>/<component>/binary-<arch>/Packages.xz`,
//! one stanza per binary package (Debian Policy §5.3, "Binary package
//! control files", as written by the archive).

use std::borrow::Cow;
use std::io::{BufRead, Read};
use std::sync::Arc;

use crate::version::Version;

use super::release::{IndexEntry, VerifiedRelease};
use super::RepoError;

/// The fields of one Packages stanza that distill uses. Dependency fields
/// are kept as text and parsed when the resolver visits the package.
#[derive(Debug, Clone)]
pub struct BinaryPackage {
    /// `Package`.
    pub name: String,
    /// `Version`, parsed for ordering (Debian Policy §5.6.12).
    pub version: Version,
    /// `Architecture`: a Debian architecture or `all`.
    pub arch: String,
    /// `Multi-Arch`: `same`, `foreign`, `allowed`, or empty.
    pub multi_arch: String,
    /// `Priority`, e.g. `required`, `optional`.
    pub priority: String,
    /// `Source` name (without the version in parentheses); the package name when absent.
    pub source: String,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Pre-Depends`, raw.
    pub pre_depends: String,
    /// `Depends`, raw.
    pub depends: String,
    /// `Provides`, raw.
    pub provides: String,
    /// `Conflicts`, raw.
    pub conflicts: String,
    /// `Breaks`, raw.
    pub breaks: String,
    /// `Filename`: pool path relative to the archive base URL.
    pub filename: String,
    /// `Size` of the .deb in bytes.
    pub size: u64,
    /// `SHA256` of the .deb, lowercase hex.
    pub sha256: String,
    /// `Installed-Size` in KiB.
    pub installed_size: u64,
    /// The suite whose index listed it.
    pub suite: String,
    /// The component (e.g. `main`).
    pub component: String,
    /// The archive base URL.
    pub base_url: String,
}

/// All packages of one suite × component × architecture index.
#[derive(Debug, Clone)]
pub struct PackageIndex {
    /// The suite.
    pub suite: String,
    /// The component.
    pub component: String,
    /// The architecture of the index (`binary-<arch>`).
    pub arch: String,
    /// SHA256 of the compressed index as listed in InRelease.
    pub sha256: String,
    /// The packages, in index order.
    pub packages: Vec<Arc<BinaryPackage>>,
}

/// How the chosen index file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexCompression {
    /// `Packages.xz`.
    Xz,
    /// `Packages.gz`.
    Gz,
    /// `Packages`.
    None,
}

/// Pick the Packages index for `component`/`arch` from a verified release:
/// `.xz`, else `.gz`, else uncompressed. Returns (path under `dists/<suite>/`,
/// URL to fetch — by-hash when the release sets `Acquire-By-Hash: yes` —,
/// expected entry, compression).
pub fn locate(
    release: &VerifiedRelease,
    component: &str,
    arch: &str,
) -> Result<(String, String, IndexEntry, IndexCompression), RepoError> {
    let dir = format!("{component}/binary-{arch}");
    for (name, comp) in [
        ("Packages.xz", IndexCompression::Xz),
        ("Packages.gz", IndexCompression::Gz),
        ("Packages", IndexCompression::None),
    ] {
        let path = format!("{dir}/{name}");
        if let Some(entry) = release.files.get(&path) {
            let url = if release.acquire_by_hash {
                release.dists_url(&format!("{dir}/by-hash/SHA256/{}", entry.sha256))
            } else {
                release.dists_url(&path)
            };
            return Ok((path, url, entry.clone(), comp));
        }
    }
    Err(RepoError::NoIndex { suite: release.suite.clone(), component: component.into(), arch: arch.into() })
}

/// Decompress index bytes.
pub fn decompress(what: &str, compressed: &[u8], compression: IndexCompression) -> Result<Vec<u8>, RepoError> {
    let mut out = Vec::with_capacity(compressed.len() * 6);
    let r = match compression {
        IndexCompression::Xz => xz2::read::XzDecoder::new(compressed).read_to_end(&mut out),
        IndexCompression::Gz => flate2::read::GzDecoder::new(compressed).read_to_end(&mut out),
        IndexCompression::None => {
            out.extend_from_slice(compressed);
            Ok(out.len())
        }
    };
    r.map_err(|e| RepoError::BadIndex { what: what.into(), reason: format!("cannot decompress: {e}") })?;
    Ok(out)
}

/// Parse a verified, uncompressed index.
pub fn parse(
    release: &VerifiedRelease,
    component: &str,
    arch: &str,
    text: &[u8],
    sha256: &str,
) -> Result<PackageIndex, RepoError> {
    let what = format!("{} {component}/binary-{arch}", release.suite);
    let text =
        std::str::from_utf8(text).map_err(|e| RepoError::BadIndex { what: what.clone(), reason: e.to_string() })?;
    let packages = parse_text(text, &release.suite, component, &release.base_url)
        .map_err(|reason| RepoError::BadIndex { what, reason })?;
    Ok(PackageIndex {
        suite: release.suite.clone(),
        component: component.into(),
        arch: arch.into(),
        sha256: sha256.into(),
        packages,
    })
}

/// Parse Packages stanzas from `reader`.
pub fn parse_stanzas(
    mut reader: impl BufRead,
    suite: &str,
    component: &str,
    base_url: &str,
) -> Result<Vec<Arc<BinaryPackage>>, String> {
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(|e| e.to_string())?;
    parse_text(&text, suite, component, base_url)
}

/// Parse Packages stanzas from text, splitting the work across threads at
/// stanza boundaries.
///
/// This is a purpose-built scanner rather than debian-packaging's
/// `ControlParagraphReader`: it reads only the fields the resolver needs and
/// borrows the rest. With it and the cached uncompressed index, a warm
/// `distill resolve` of bookworm (50 MB of stanzas) went from 3.7 s to
/// 0.85 s (BENCHMARKS.md), inside the resolver's 1 s budget. Field syntax is Debian Policy
/// §5.1: `Name: value`, continuation lines start with a space or tab,
/// stanzas are separated by blank lines.
pub fn parse_text(text: &str, suite: &str, component: &str, base_url: &str) -> Result<Vec<Arc<BinaryPackage>>, String> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let mut chunks = Vec::new();
    let mut start = 0;
    for t in 1..threads {
        let mut target = text.len() * t / threads;
        // Slicing must start on a character boundary (a multi-byte
        // character can straddle the split point).
        while !text.is_char_boundary(target) {
            target += 1;
        }
        if target <= start {
            continue;
        }
        match text[target..].find("\n\n") {
            Some(off) => {
                let end = target + off + 2;
                chunks.push(&text[start..end]);
                start = end;
            }
            None => break,
        }
    }
    chunks.push(&text[start..]);
    let results: Vec<Result<Vec<Arc<BinaryPackage>>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            chunks.iter().map(|c| s.spawn(move || parse_chunk(c, suite, component, base_url))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("parser panicked".into()))).collect()
    });
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn parse_chunk(text: &str, suite: &str, component: &str, base_url: &str) -> Result<Vec<Arc<BinaryPackage>>, String> {
    let mut out = Vec::new();
    let mut fields: Vec<(&str, Cow<str>)> = Vec::with_capacity(32);
    let mut lines = text.split('\n').peekable();
    while lines.peek().is_some() {
        fields.clear();
        for line in lines.by_ref() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // Continuation: folded fields (Policy §5.1) are joined;
                // the multi-line Description is not needed.
                match fields.last_mut() {
                    Some((k, v)) if !k.eq_ignore_ascii_case("Description") => {
                        let joined = format!("{} {}", v, line.trim());
                        *v = Cow::Owned(joined);
                    }
                    Some(_) => {}
                    None => return Err(format!("continuation line before any field: {line:?}")),
                }
                continue;
            }
            let (k, v) = line.split_once(':').ok_or_else(|| format!("malformed line {line:?}"))?;
            fields.push((k, Cow::Borrowed(v.trim())));
        }
        if !fields.is_empty() {
            out.push(Arc::new(stanza(&fields, suite, component, base_url)?));
        }
    }
    Ok(out)
}

fn stanza(fields: &[(&str, Cow<str>)], suite: &str, component: &str, base_url: &str) -> Result<BinaryPackage, String> {
    let get = |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref());
    let name = get("Package").ok_or("stanza without Package")?.to_string();
    let required = |f: &str| get(f).ok_or_else(|| format!("package {name}: missing {f}"));
    let version_str = required("Version")?;
    let version =
        Version::parse(version_str).map_err(|e| format!("package {name}: bad Version {version_str:?}: {e}"))?;
    let number = |f: &str, v: &str| v.parse::<u64>().map_err(|_| format!("package {name}: bad {f} {v:?}"));
    let size = number("Size", required("Size")?)?;
    let installed_size = get("Installed-Size").map(|v| number("Installed-Size", v)).transpose()?.unwrap_or(0);
    let sha256 = required("SHA256")?.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("package {name}: bad SHA256"));
    }
    let filename = required("Filename")?.to_string();
    if filename.starts_with('/') || filename.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(format!("package {name}: unsafe Filename {filename:?}"));
    }
    let text = |f: &str| get(f).unwrap_or("").to_string();
    let source = get("Source").and_then(|s| s.split_whitespace().next()).unwrap_or(&name).to_string();
    Ok(BinaryPackage {
        version,
        arch: required("Architecture")?.to_string(),
        multi_arch: text("Multi-Arch"),
        priority: text("Priority"),
        source,
        essential: get("Essential") == Some("yes"),
        pre_depends: text("Pre-Depends"),
        depends: text("Depends"),
        provides: text("Provides"),
        conflicts: text("Conflicts"),
        breaks: text("Breaks"),
        filename,
        size,
        sha256,
        installed_size,
        suite: suite.into(),
        component: component.into(),
        base_url: base_url.into(),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: a\nVersion: 1.0-1\nArchitecture: amd64\nDepends: b (>= 1),\n c\nDescription: x\n more\nFilename: pool/main/a/a_1.0-1_amd64.deb\nSize: 10\nSHA256: 0123456789012345678901234567890123456789012345678901234567890123\nSource: asrc (1.0-1)\n\nPackage: b\nVersion: 2\nArchitecture: all\nFilename: pool/main/b/b_2_all.deb\nSize: 5\nSHA256: 0123456789012345678901234567890123456789012345678901234567890123\n";

    #[test]
    fn parses_fields_and_source_without_version() {
        let p = parse_text(TEXT, "s", "main", "u").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].name.as_str(), p[0].source.as_str()), ("a", "asrc"));
        assert_eq!(p[1].source, "b");
    }

    #[test]
    fn folded_depends_is_read_whole() {
        // Folded fields continue on lines starting with a space; the parser
        // must not silently truncate a dependency list.
        let p = parse_text(TEXT, "s", "main", "u").unwrap();
        assert_eq!(p[0].depends, "b (>= 1), c");
    }

    #[test]
    fn rejects_unsafe_filename_and_bad_digest() {
        let bad = TEXT.replace("pool/main/b/b_2_all.deb", "../../etc/passwd");
        assert!(parse_text(&bad, "s", "main", "u").unwrap_err().contains("unsafe Filename"));
        let bad = TEXT.replace("Size: 5\nSHA256: 0123", "Size: 5\nSHA256: x123");
        assert!(parse_text(&bad, "s", "main", "u").is_err());
    }

    #[test]
    fn split_points_do_not_change_the_result() {
        let many: String = (0..100).map(|i| TEXT.replace("Package: a\n", &format!("Package: a{i}\n")) + "\n").collect();
        let p = parse_text(&many, "s", "main", "u").unwrap();
        assert_eq!(p.len(), 200);
        assert_eq!(p[198].name, "a99");
    }
}
