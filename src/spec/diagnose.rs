//! Spec mistakes as [`Diagnostic`]s: serde_yaml's schema and syntax
//! errors reworded with the dotted field, a close allowed name and an
//! example; and the value checks shared with the command line
//! (architecture and package names).

use std::path::Path;

use super::locate::{closest, did_you_mean, Diagnostic, Place};

/// Debian architecture names (release architectures and ports).
pub const DEBIAN_ARCHS: &[&str] = &[
    "amd64",
    "arm64",
    "armel",
    "armhf",
    "i386",
    "loong64",
    "mips64el",
    "mipsel",
    "ppc64el",
    "riscv64",
    "s390x",
    "alpha",
    "hppa",
    "hurd-amd64",
    "hurd-i386",
    "ia64",
    "m68k",
    "powerpc",
    "ppc64",
    "sh4",
    "sparc64",
    "x32",
];

/// The Debian name for a common non-Debian architecture name.
pub fn debian_arch_alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" | "x64" | "amd-64" => "amd64",
        "aarch64" | "arm64v8" | "armv8" => "arm64",
        "x86" | "i686" | "i586" | "i486" | "386" => "i386",
        "armv7" | "armv7l" | "armv7hl" | "arm" | "arm32v7" | "armv6" | "armv6l" => "armhf",
        "armv5" | "armv5tel" | "arm32v5" => "armel",
        "ppc64le" => "ppc64el",
        "riscv" => "riscv64",
        _ => return None,
    })
}

/// The error for an `--arch` value that is not among `allowed` (the
/// spec's architectures, or an image's platforms), worded the same by
/// build, push, inspect and export (two lines: what, and the allowed
/// values).
pub fn unknown_arch(arch: &str, of: &str, allowed: &[String]) -> String {
    let alias = debian_arch_alias(arch)
        .filter(|d| allowed.iter().any(|a| a == d || a.contains(&format!("/{d}"))))
        .map(|d| format!(" (Debian calls it {d})"))
        .unwrap_or_default();
    format!("--arch {arch}: not an architecture of {of}{alias}\n  allowed: {}", allowed.join(", "))
}

/// Whether `a` is a Debian architecture name: `Err((message, hint))` if not.
pub fn check_arch(a: &str) -> Result<(), (String, String)> {
    if DEBIAN_ARCHS.contains(&a) {
        return Ok(());
    }
    let message = format!("{a:?} is not a Debian architecture");
    let hint = match debian_arch_alias(a) {
        Some(d) => format!("Debian calls it `{d}`"),
        None => {
            let close = closest(a, DEBIAN_ARCHS.iter().copied(), 2);
            let mean = did_you_mean(&close);
            format!("{mean}{}Debian architectures: {}", if mean.is_empty() { "" } else { " " }, DEBIAN_ARCHS.join(", "))
        }
    };
    Err((message, hint))
}

/// Whether `p` is a package name (Debian Policy §5.6.1, but one character is accepted:
/// `[a-z0-9+.-]`, starting with a letter or digit, optionally `:arch`);
/// with `pins`, also `name=version` and `name/suite`.
pub fn check_package(p: &str, pins: bool) -> Result<(), (String, String)> {
    let (name, pin) = match p.find(['=', '/']) {
        Some(i) if pins => (&p[..i], Some(&p[i..])),
        _ => (p, None),
    };
    let name = name.split_once(':').map(|(n, _)| n).unwrap_or(name);
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
        && !matches!(pin, Some(v) if v.len() < 2 || v.contains(char::is_whitespace));
    if ok {
        return Ok(());
    }
    let message = format!("{p:?} is not a package name");
    let lower = name.to_ascii_lowercase();
    let hint =
        if lower != name && lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c)) {
            format!("Debian package names are lowercase: `{lower}`")
        } else if pins {
            "write `name`, `name=version` or `name/suite`; names are lowercase letters, digits, `+`, `-` and `.`".into()
        } else {
            "write a package name: lowercase letters, digits, `+`, `-` and `.`".into()
        };
    Err((message, hint))
}

/// `a.b` + `c` → `a.b.c`; `` + `c` → `c`.
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.into()
    } else {
        format!("{parent}.{key}")
    }
}

/// The names between backquotes in `text`.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The last key of a dotted path (`sources[0].keys` → `keys`).
fn leaf(field: &str) -> &str {
    let last = field.rsplit('.').next().unwrap_or(field);
    last.split('[').next().unwrap_or(last)
}

/// What to write for a required field that is missing.
fn required_hint(field: &str) -> String {
    match leaf(field) {
        "name" if !field.contains('.') => "add `name: <image name>`, e.g. `name: nodejs`".into(),
        "name" => "add `name:` to this entry".into(),
        "suite" => "add `suite:`, e.g. `suite: bookworm`".into(),
        "keys" => "add `keys:`, e.g. `keys: [keys/debian-12-archive.asc]` (see keys/README.md)".into(),
        "uid" => "add `uid:`, a numeric user ID, e.g. `uid: 1000`".into(),
        "gid" => "add `gid:`, a numeric group ID, e.g. `gid: 1000`".into(),
        other => format!("add `{other}:` (see README.md \"Spec reference\")"),
    }
}

/// serde's "expected …" in words a spec writer uses.
fn expected_words(e: &str) -> &'static str {
    if e.contains("sequence") {
        "a list"
    } else if e.starts_with("struct") || e.contains("map") {
        "a mapping (`key: value` lines)"
    } else if e.contains("string") {
        "a string"
    } else if e.contains("bool") {
        "true or false"
    } else if ["u8", "u16", "u32", "u64", "usize", "i32", "i64", "integer"].iter().any(|t| e.contains(t)) {
        "a whole number"
    } else {
        "another type"
    }
}

/// The spec mistake behind a serde_yaml error on the text of `path`.
pub fn serde_error(path: &Path, raw: &[u8], e: &serde_yaml::Error) -> Diagnostic {
    let mut place = Place {
        path: path.into(),
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        field: None,
    };
    let full = e.to_string();
    let text = match (full.rfind(" at line "), e.location()) {
        (Some(i), Some(_)) => &full[..i],
        _ => full.as_str(),
    };
    // serde_yaml prefixes the dotted path of the value at fault: `sources[0]: …`.
    let (parent, msg) = match text.split_once(": ") {
        Some((p, m)) if !p.is_empty() && !p.contains([' ', '`', '"']) => (p, m),
        _ => ("", text),
    };
    let shown = if parent.is_empty() { "the top level".to_string() } else { format!("`{parent}`") };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (name, allowed) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = quoted(allowed);
        let field = join(parent, name);
        place.field = Some(field.clone());
        let mean = did_you_mean(&closest(name, allowed.iter().copied(), 1));
        let list = if allowed.is_empty() {
            format!("{shown} takes no fields")
        } else {
            format!("fields allowed in {shown}: {}", allowed.join(", "))
        };
        let hint = if mean.is_empty() { format!("remove it; {list}") } else { format!("{mean} ({list})") };
        return place.diagnostic(format!("unknown field `{name}`"), hint);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (name, allowed) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = quoted(allowed);
        place.field = Some(parent.into());
        let mean = did_you_mean(&closest(name, allowed.iter().copied(), 1));
        let list = format!("allowed: {}", allowed.join(", "));
        let hint = if mean.is_empty() { list } else { format!("{mean} ({list})") };
        return place.diagnostic(format!("unknown value `{name}` for {shown}"), hint);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let field = join(parent, name);
        place.field = Some(field.clone());
        let within = if parent.is_empty() { String::new() } else { format!(" in {shown}") };
        return place.diagnostic(format!("missing required field `{name}`{within}"), required_hint(&field));
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let want = expected_words(expected);
        place.field = Some(parent.into());
        let key = leaf(parent);
        let hint = match want {
            "a list" => {
                let item = got.strip_prefix("string ").map(|s| s.trim_matches('"')).unwrap_or("…");
                format!("write a list: `{key}: [{item}]`, or one `- item` line per entry under `{key}:`")
            }
            "a mapping (`key: value` lines)" => {
                format!("write the fields of `{key}` as indented `key: value` lines under it (see README.md \"Spec reference\")")
            }
            "a whole number" => format!("write a number without quotes, e.g. `{key}: 10`"),
            "a string" => "write one value; quote it if it contains `:`, `#`, `[` or `{`".into(),
            _ => "see README.md \"Spec reference\" for the field's type".into(),
        };
        return place.diagnostic(format!("wrong type for {shown}: got {got}, expected {want}"), hint);
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        place.field = Some(parent.into());
        return place.diagnostic(
            format!("invalid value for {shown}: {got}"),
            format!("write {expected} (see README.md \"Spec reference\")"),
        );
    }
    if !parent.is_empty() {
        place.field = Some(parent.into());
        return place.diagnostic(msg.to_string(), "see README.md \"Spec reference\"");
    }
    // A YAML syntax error: no field, only where the parser stopped.
    let _ = raw;
    place.diagnostic(
        format!("YAML syntax error: {msg}"),
        "check the indentation (spaces, not tabs) and quoting around that line",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> Diagnostic {
        let e = serde_yaml::from_str::<crate::spec::Spec>(yaml).unwrap_err();
        serde_error(Path::new("s.yaml"), yaml.as_bytes(), &e)
    }

    const OK: &str = "name: t\nsources:\n  - suite: bookworm\n    keys: [k.asc]\npackages: [libc6]\n";

    #[test]
    fn unknown_field_suggests_the_closest_allowed_name() {
        let d = err(&OK.replace("packages:", "pakages:"));
        assert_eq!(d.message, "unknown field `pakages`");
        assert_eq!((d.place.line, d.place.column, d.place.field.as_deref()), (Some(5), Some(1), Some("pakages")));
        assert!(
            d.hint.starts_with("did you mean `packages`? (fields allowed in the top level: version, name"),
            "{}",
            d.hint
        );
        let d = err(&OK.replace("    keys:", "    kyes:"));
        assert_eq!(d.place.field.as_deref(), Some("sources[0].kyes"));
        assert!(d.hint.starts_with("did you mean `keys`?"), "{}", d.hint);
        let d = err(&format!("{OK}zzzzzzzz: 1\n"));
        assert!(d.hint.starts_with("remove it; fields allowed"), "{}", d.hint);
    }

    #[test]
    fn wrong_type_missing_field_and_variant() {
        let d = err(&OK.replace("[libc6]", "libc6"));
        assert_eq!(d.place.field.as_deref(), Some("packages"));
        assert!(d.message.contains("expected a list"), "{}", d.message);
        assert!(d.hint.contains("`packages: [libc6]`"), "{}", d.hint);
        let d = err(&format!("{OK}archs: amd64\n"));
        assert!(d.hint.contains("`archs: [amd64]`"), "{}", d.hint);
        let d = err(&format!("{OK}layering: {{budget: many}}\n"));
        assert_eq!(d.place.field.as_deref(), Some("layering.budget"));
        assert!(d.message.contains("a whole number"), "{}", d.message);
        let d = err(&OK.replace("    keys: [k.asc]\n", ""));
        assert_eq!(d.place.field.as_deref(), Some("sources[0].keys"));
        assert!(d.message.contains("missing required field `keys`") && d.hint.contains("keys/README.md"));
        let d = err(&format!("{OK}variants: [nonrot]\n"));
        assert_eq!(d.place.field.as_deref(), Some("variants[0]"));
        assert!(d.hint.starts_with("did you mean `nonroot`?"), "{}", d.hint);
        let d = err("name: t\npackages: [a\n");
        assert!(d.message.starts_with("YAML syntax error"), "{}", d.message);
        assert!(d.place.line.is_some());
    }

    #[test]
    fn arch_and_package_names() {
        assert!(check_arch("amd64").is_ok());
        assert_eq!(check_arch("x86_64").unwrap_err().1, "Debian calls it `amd64`");
        assert!(check_arch("amd46").unwrap_err().1.starts_with("did you mean `amd64`?"));
        assert!(check_package("libstdc++6", true).is_ok());
        assert!(check_package("python3.11", false).is_ok());
        assert!(check_package("nodejs=18.19.0+dfsg-6~deb12u2", true).is_ok());
        assert!(check_package("nodejs/bookworm-updates", true).is_ok());
        assert!(check_package("libc6:amd64", true).is_ok());
        assert_eq!(check_package("NodeJS", true).unwrap_err().1, "Debian package names are lowercase: `nodejs`");
        assert!(check_package("a b", true).is_err());
        assert!(check_package("-x", true).is_err());
        assert!(check_package("nodejs=1", false).is_err());
    }
}
