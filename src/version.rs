//! Debian version ordering (Debian Policy §5.6.12, dpkg's `verrevcmp`).
//!
//! debian-packaging parses versions, but its ordering (0.18) puts a
//! non-letter before `~` (`1.2.2+dfsg` < `1.2.2~`), which dpkg does not.
//! [`Version`] wraps the parsed value with dpkg's order; every comparison
//! in distill goes through it, and a test checks it against
//! `dpkg --compare-versions`.

use std::cmp::Ordering;
use std::fmt;

use debian_packaging::package_version::PackageVersion;

/// A parsed Debian version with dpkg's total order.
#[derive(Debug, Clone)]
pub struct Version(pub PackageVersion);

impl Version {
    /// Parse `[epoch:]upstream[-revision]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        PackageVersion::parse(s).map(Version).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

/// dpkg's order of two parsed versions: epoch numerically, then upstream,
/// then revision (absent revision compares as `0`... as an empty string,
/// which `verrevcmp` treats like `0`).
pub fn compare(a: &PackageVersion, b: &PackageVersion) -> Ordering {
    a.epoch_assumed()
        .cmp(&b.epoch_assumed())
        .then_with(|| verrevcmp(a.upstream_version(), b.upstream_version()))
        .then_with(|| verrevcmp(a.debian_revision().unwrap_or(""), b.debian_revision().unwrap_or("")))
}

/// Weight of a character in a non-digit run: `~` lowest (below the end of
/// the string), then end/digits (0), then letters, then everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp` on one version part.
pub fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, compared with `order`.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        // Digit run, compared numerically (leading zeros ignored).
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().cmp(&Version::parse(b).unwrap())
    }

    #[test]
    fn plus_sorts_after_tilde_as_in_dpkg() {
        // Real case: libnode108 Depends node-cjs-module-lexer (>= 1.2.2~),
        // and bookworm has 1.2.2+dfsg-5.
        assert_eq!(cmp("1.2.2+dfsg-5", "1.2.2~"), Ordering::Greater);
    }

    #[test]
    fn policy_examples() {
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0", "1.0-0"), Ordering::Equal);
        assert_eq!(cmp("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(cmp("1.0a", "1.0+"), Ordering::Less);
        assert_eq!(cmp("1.0~~", "1.0~"), Ordering::Less);
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(cmp("1.010", "1.10"), Ordering::Equal);
        assert_eq!(cmp("2.36-9+deb12u4", "2.36-9+deb12u10"), Ordering::Less);
        assert_eq!(cmp("1.0-1", "1.0-1~bpo1"), Ordering::Greater);
    }

    /// Check against dpkg itself when it is installed (it is on Debian).
    #[test]
    fn agrees_with_dpkg_compare_versions() {
        let pairs = [
            ("1.2.2+dfsg-5", "1.2.2~"),
            ("1.0~rc1", "1.0"),
            ("1:1.0", "2.0"),
            ("1.0a", "1.0+"),
            ("0.9.8", "0.9.10"),
            ("1.0-1", "1.0-1~bpo1"),
            ("2.36-9+deb12u4", "2.36-9+deb12u10"),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),
            ("1.0.0~alpha", "1.0.0~beta"),
            ("3.0.11-1~deb12u2", "3.0.15-1~deb12u1"),
            ("a", "+"),
            ("1.0", "1.0."),
        ];
        if std::process::Command::new("dpkg").arg("--version").output().is_err() {
            eprintln!("dpkg not installed; skipping");
            return;
        }
        for (a, b) in pairs {
            for (x, y) in [(a, b), (b, a)] {
                let lt = std::process::Command::new("dpkg")
                    .args(["--compare-versions", x, "lt", y])
                    .status()
                    .unwrap()
                    .success();
                let eq = std::process::Command::new("dpkg")
                    .args(["--compare-versions", x, "eq", y])
                    .status()
                    .unwrap()
                    .success();
                let want = if lt {
                    Ordering::Less
                } else if eq {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                };
                assert_eq!(cmp(x, y), want, "{x} vs {y}");
            }
        }
    }
}
