//! Mirror discovery: which base URL serves a suite.
//!
//! Order (first that answers wins):
//! 1. the source's `url:` in the spec;
//! 2. `--mirror` / `DISTILL_MIRROR`: `URL` (every suite) or `PATTERN=URL`
//!    where PATTERN is a suite glob such as `*-security`; several values are
//!    separated by whitespace or commas, the most specific match wins;
//! 3. the host's apt sources: deb822 `/etc/apt/sources.list.d/*.sources` and
//!    one-line `/etc/apt/sources.list{,.d/*.list}` (`deb` entries), matched by
//!    suite; a suite the host does not list takes the URL of a listed suite of
//!    the same kind (`-security` with `-security`, others with others).
//!
//! No mirror host is ever built in: a machine with none of the three fails
//! with [`RepoError::NoMirror`], which names all three ways.

use std::path::Path;

use super::RepoError;

/// One `[PATTERN=]URL` mirror override.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorOverride {
    /// Suite glob (`*` matches anything); `None` means every suite.
    pub pattern: Option<String>,
    /// Archive base URL, without trailing `/`.
    pub url: String,
}

/// Parse `--mirror`/`DISTILL_MIRROR` values (`URL` or `PATTERN=URL`,
/// separated by whitespace or commas).
pub fn parse_overrides<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<MirrorOverride>, RepoError> {
    let mut out = Vec::new();
    for value in values {
        for item in value.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()) {
            let (pattern, url) = match item.split_once('=') {
                Some((p, u)) if !p.contains("://") => (Some(p.to_string()), u),
                _ => (None, item),
            };
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://")) {
                return Err(RepoError::BadMirror {
                    value: item.into(),
                    reason: "expected an http://, https:// or file:// URL".into(),
                });
            }
            out.push(MirrorOverride { pattern, url: url.trim_end_matches('/').to_string() });
        }
    }
    Ok(out)
}

/// An apt source entry: a base URI and the suites it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct AptEntry {
    /// Base URI, without trailing `/`.
    pub uri: String,
    /// Suites listed for that URI.
    pub suites: Vec<String>,
}

/// Read the `deb` entries of the apt sources under `etc_apt` (normally
/// `/etc/apt`). Unreadable or malformed files are skipped: this is a hint,
/// not configuration distill owns.
pub fn read_apt_sources(etc_apt: &Path) -> Vec<AptEntry> {
    let mut files: Vec<_> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut entries = Vec::new();
    if let Ok(text) = std::fs::read_to_string(etc_apt.join("sources.list")) {
        entries.extend(parse_one_line(&text));
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        match f.extension().and_then(|e| e.to_str()) {
            Some("list") => entries.extend(parse_one_line(&text)),
            Some("sources") => entries.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    entries
}

/// Parse one-line style sources (`deb [options] URI SUITE COMPONENT...`).
pub fn parse_one_line(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut rest = match line.strip_prefix("deb ") {
            Some(r) => r.trim_start(),
            None => continue,
        };
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => continue,
            }
        }
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push(AptEntry { uri: uri.trim_end_matches('/').into(), suites: vec![suite.into()] });
        }
    }
    out
}

/// Parse deb822 style sources (`Types:`, `URIs:`, `Suites:` stanzas).
pub fn parse_deb822(text: &str) -> Vec<AptEntry> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        if !get("types").split_whitespace().any(|t| t == "deb") || get("enabled").eq_ignore_ascii_case("no") {
            continue;
        }
        let suites: Vec<String> = get("suites").split_whitespace().map(String::from).collect();
        for uri in get("uris").split_whitespace() {
            out.push(AptEntry { uri: uri.trim_end_matches('/').into(), suites: suites.clone() });
        }
    }
    out
}

fn glob_match(pattern: &str, text: &str) -> bool {
    globset::Glob::new(pattern).map(|g| g.compile_matcher().is_match(text)).unwrap_or(false)
}

fn is_security(suite: &str) -> bool {
    suite.ends_with("-security") || suite.ends_with("/updates")
}

/// Choose the base URL for `suite`; see the module docs for the order.
pub fn choose(
    suite: &str,
    spec_url: Option<&str>,
    overrides: &[MirrorOverride],
    apt: &[AptEntry],
) -> Result<String, RepoError> {
    if let Some(url) = spec_url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    // Most specific override first: an exact pattern, then a glob, then a bare URL.
    let exact = overrides.iter().find(|o| o.pattern.as_deref() == Some(suite));
    let glob = overrides.iter().find(|o| o.pattern.as_deref().is_some_and(|p| glob_match(p, suite)));
    let any = overrides.iter().find(|o| o.pattern.is_none());
    if let Some(o) = exact.or(glob).or(any) {
        return Ok(o.url.clone());
    }
    if let Some(e) = apt.iter().find(|e| e.suites.iter().any(|s| s == suite)) {
        return Ok(e.uri.clone());
    }
    let kind = is_security(suite);
    if let Some(e) = apt.iter().find(|e| e.suites.iter().any(|s| is_security(s) == kind)) {
        return Ok(e.uri.clone());
    }
    Err(RepoError::NoMirror { suite: suite.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "Types: deb\n# a comment inside\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb-src\nURIs: http://src.invalid/\nSuites: trixie\n";

    #[test]
    fn deb822_entries_match_by_suite_and_kind() {
        let apt = parse_deb822(DEB822);
        assert_eq!(apt.len(), 2, "deb-src is ignored");
        assert_eq!(choose("bookworm-updates", None, &[], &apt).unwrap(), "http://mirror.invalid/debian");
        assert_eq!(choose("bookworm-security", None, &[], &apt).unwrap(), "http://mirror.invalid/debian-security");
        // Not listed: same kind of suite.
        assert_eq!(choose("trixie", None, &[], &apt).unwrap(), "http://mirror.invalid/debian");
        assert_eq!(choose("trixie-security", None, &[], &apt).unwrap(), "http://mirror.invalid/debian-security");
    }

    #[test]
    fn one_line_sources_with_options() {
        let apt = parse_one_line("# x\ndeb [arch=amd64 signed-by=/k.gpg] http://a.invalid/debian/ bookworm main\ndeb-src http://b.invalid bookworm main\n");
        assert_eq!(apt, vec![AptEntry { uri: "http://a.invalid/debian".into(), suites: vec!["bookworm".into()] }]);
    }

    #[test]
    fn spec_url_beats_override_beats_apt() {
        let apt = parse_deb822(DEB822);
        let ov = parse_overrides(["http://o.invalid/debian *-security=http://o.invalid/sec"]).unwrap();
        assert_eq!(choose("bookworm", Some("http://s.invalid/"), &ov, &apt).unwrap(), "http://s.invalid");
        assert_eq!(choose("bookworm", None, &ov, &apt).unwrap(), "http://o.invalid/debian");
        assert_eq!(choose("bookworm-security", None, &ov, &apt).unwrap(), "http://o.invalid/sec");
    }

    #[test]
    fn nothing_configured_names_all_three_ways() {
        let err = choose("bookworm", None, &[], &[]).unwrap_err().to_string();
        assert!(
            err.contains("url:")
                && err.contains("--mirror")
                && err.contains("DISTILL_MIRROR")
                && err.contains("apt sources"),
            "{err}"
        );
    }

    #[test]
    fn malformed_override_is_rejected() {
        assert!(parse_overrides(["ftp.invalid/debian"]).is_err());
    }
}
