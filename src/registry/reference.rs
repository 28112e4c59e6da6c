//! Image references for pushing: `REGISTRY/REPOSITORY[:TAG]`.
//!
//! The grammar is the distribution project's reference grammar (the
//! `<name>` and `<reference>` of the OCI distribution-spec, "Pulling
//! manifests": `<name>` matches
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
//! a tag matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`). Unlike Docker,
//! distill has no default registry: the first component must name one (it
//! contains a `.` or a `:`, or is `localhost`).

use std::fmt;
use std::net::IpAddr;

use super::RegistryError;

/// A push target: registry host, repository and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (`registry.example`, `localhost:5000`,
    /// `[::1]:5000`).
    pub registry: String,
    /// Repository path inside the registry (`base/nodejs`): the
    /// distribution-spec `<name>`.
    pub repository: String,
    /// Tag (`latest` when the reference names none).
    pub tag: String,
}

impl Reference {
    /// Parse `REGISTRY/REPOSITORY[:TAG]`. A digest (`@sha256:…`) is
    /// refused: distill pushes by tag and prints the digest.
    pub fn parse(s: &str) -> Result<Reference, RegistryError> {
        let bad = |why: &str| {
            RegistryError::Usage(format!(
                "bad image reference {s:?}: {why} (expected REGISTRY/REPOSITORY[:TAG], e.g. registry.example/base/nodejs:latest or localhost:5000/nodejs)"
            ))
        };
        if s.contains('@') {
            return Err(bad("a digest cannot be pushed to; name a tag (the pushed digest is printed)"));
        }
        let (registry, rest) = s.split_once('/').ok_or_else(|| bad("no registry host"))?;
        if !looks_like_host(registry) {
            return Err(bad(&format!(
                "{registry:?} is not a registry host (a host contains a '.' or a ':port', or is localhost); distill has no default registry"
            )));
        }
        validate_host(registry).map_err(|e| bad(&e))?;
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (rest, "latest"),
        };
        validate_repository(repository).map_err(|e| bad(&e))?;
        validate_tag(tag).map_err(|e| bad(&e))?;
        Ok(Reference { registry: registry.to_string(), repository: repository.to_string(), tag: tag.to_string() })
    }

    /// The host without its port (brackets of an IPv6 literal removed).
    pub fn host(&self) -> &str {
        host_of(&self.registry)
    }

    /// Whether the registry is on a loopback address (`localhost`,
    /// `127.0.0.0/8`, `::1`): plain HTTP is allowed there without
    /// `--insecure`.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }

    /// The same registry and repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: tag.to_string(), ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// `host` of `host[:port]` (`[v6]:port` → `v6`).
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// `localhost`, `*.localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn looks_like_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

fn validate_host(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("unclosed '[' in the registry host")?;
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| format!("{v6:?} is not an IPv6 address"))?;
        (v6, after.strip_prefix(':'))
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    if host.is_empty() {
        return Err("empty registry host".into());
    }
    if !registry.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return Err(format!("{host:?} is not a host name"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |n| n == 0) {
            return Err(format!("{p:?} is not a port"));
        }
    }
    Ok(())
}

fn validate_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("empty repository".into());
    }
    if repo.len() > 255 {
        return Err("repository longer than 255 characters".into());
    }
    for comp in repo.split('/') {
        if !component_ok(comp) {
            return Err(format!(
                "repository component {comp:?} must be lowercase letters and digits, separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or "-"+, followed by an alnum.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !is_alnum(b[i]) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("tag {tag:?} must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"))
    }
}

/// Check a repository name given on its own (`--mount-from`).
pub fn validate_repository_name(repo: &str) -> Result<(), RegistryError> {
    validate_repository(repo).map_err(|e| RegistryError::Usage(format!("bad repository {repo:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_repository_and_tag() {
        let r = Reference::parse("registry.example/base/nodejs:18").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("registry.example", "base/nodejs", "18")
        );
        let r = Reference::parse("localhost:5000/nodejs").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000", "nodejs", "latest")
        );
        assert!(r.is_loopback());
        let r = Reference::parse("[::1]:5000/a/b:v1.2").unwrap();
        assert_eq!(r.host(), "::1");
        assert!(r.is_loopback());
        assert!(Reference::parse("127.1.2.3:5000/x").unwrap().is_loopback());
        assert!(!Reference::parse("registry.example/x").unwrap().is_loopback());
        assert_eq!(
            Reference::parse("registry.example:443/a_b/c--d:t").unwrap().to_string(),
            "registry.example:443/a_b/c--d:t"
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "nodejs",
            "nodejs:latest",
            "library/nodejs:latest",
            "registry.example/Node",
            "registry.example/a//b",
            "registry.example/a:",
            "registry.example/a:-x",
            "registry.example/a@sha256:0000",
            "registry.example:0/a",
            "registry.example:99999/a",
            "registry.example/a-/b",
            "registry.example/a___b",
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(matches!(e, RegistryError::Usage(_)), "{bad}: {e}");
        }
    }
}
