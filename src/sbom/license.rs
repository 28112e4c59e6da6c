//! Licenses from Debian's machine-readable copyright files (DEP-5,
//! `copyright-format/1.0`) as SPDX license expressions.
//!
//! The declared license of a package is the conjunction (`AND`) of the
//! distinct `License:` short names of its `Files:` paragraphs (the header's
//! `License:` when no `Files:` paragraph has one). Each DEP-5 expression is
//! translated term by term:
//!
//! - a name that is an SPDX License List identifier, compared without case
//!   (`BSD-3-clause` → `BSD-3-Clause`), also before a `~variant` suffix
//!   (`BSD-3-clause~Google` → `BSD-3-Clause`);
//! - DEP-5's GNU names: `GPL-2` → `GPL-2.0-only`, `GPL-2+` →
//!   `GPL-2.0-or-later`, likewise `LGPL`, `AGPL`, `GFDL` (also `GPLv3+`);
//! - DEP-5 aliases: `Expat` → `MIT`, `Artistic` → `Artistic-1.0`, `Perl` →
//!   `GPL-1.0-or-later OR Artistic-1.0-Perl`, `CC0` → `CC0-1.0`, `Apache-2`
//!   → `Apache-2.0`;
//! - `X with Y exception` → `X WITH <SPDX exception>` when both are known
//!   (`GPL-2 with Classpath exception` → `GPL-2.0-only WITH
//!   Classpath-exception-2.0`);
//! - anything else → `LicenseRef-<name>`, listed with its text (the
//!   stand-alone `License:` paragraph of that name, else a note pointing
//!   at the copyright file) as extracted licensing info.
//!
//! `or`/`and` become `OR`/`AND`; a comma groups what precedes it
//! (`A or B, and C` → `(A OR B) AND C`). A copyright file that is not
//! machine-readable, or names no license, gives no expression
//! (NOASSERTION).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

/// SPDX license identifiers, lowercase → canonical.
fn license_ids() -> &'static HashMap<String, &'static str> {
    static IDS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    IDS.get_or_init(|| id_map(include_str!("spdx-licenses.txt")))
}

/// SPDX license exception identifiers, lowercase → canonical.
fn exception_ids() -> &'static HashMap<String, &'static str> {
    static IDS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    IDS.get_or_init(|| id_map(include_str!("spdx-exceptions.txt")))
}

fn id_map(text: &'static str) -> HashMap<String, &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| (l.to_lowercase(), l))
        .collect()
}

/// Whether `id` is an SPDX License List identifier (exact case).
pub fn is_spdx_id(id: &str) -> bool {
    license_ids().get(&id.to_lowercase()).is_some_and(|c| *c == id)
}

/// A license that is not on the SPDX License List, as SPDX extracted
/// licensing info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The DEP-5 name it was given.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// A package's declared license.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// The SPDX expression; `None` for NOASSERTION.
    pub expression: Option<String>,
    /// The `LicenseRef-…` identifiers the expression uses, with their text.
    pub refs: BTreeMap<String, Extracted>,
}

/// One deb822 paragraph: fields in order, values with continuation lines
/// joined by `\n` (a ` .` line is an empty line).
type Paragraph = Vec<(String, String)>;

fn paragraphs(text: &str) -> Vec<Paragraph> {
    let mut out: Vec<Paragraph> = Vec::new();
    let mut cur: Paragraph = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = cur.last_mut() {
                let l = line.trim();
                v.push('\n');
                v.push_str(if l == "." { "" } else { l });
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn field<'a>(p: &'a Paragraph, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Whether the copyright file is machine-readable (its first paragraph
/// has a `Format:` naming copyright-format 1.0 or its DEP-5 drafts).
pub fn is_machine_readable(copyright: &str) -> bool {
    paragraphs(copyright).first().and_then(|p| field(p, "Format")).is_some_and(|f| {
        let f = f.to_lowercase();
        f.contains("copyright-format/1.0") || f.contains("dep5") || f.contains("dep-5")
    })
}

/// The declared license of a package from its copyright file; `doc` is
/// where the file is (named in the text of licenses it does not give).
pub fn declared(copyright: &str, doc: &str) -> Declared {
    if !is_machine_readable(copyright) {
        return Declared::default();
    }
    let paras = paragraphs(copyright);
    // Stand-alone license paragraphs: name → text.
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    for p in &paras[1..] {
        if field(p, "Files").is_none() {
            if let Some(l) = field(p, "License") {
                let (name, body) = l.split_once('\n').unwrap_or((l, ""));
                if !body.trim().is_empty() {
                    texts.entry(name.trim().to_lowercase()).or_insert_with(|| body.trim().to_string());
                }
            }
        }
    }
    let mut names: Vec<(String, String)> = Vec::new(); // (short name, text in the paragraph)
    for p in paras.iter().filter(|p| field(p, "Files").is_some()) {
        if let Some(l) = field(p, "License") {
            let (name, body) = l.split_once('\n').unwrap_or((l, ""));
            if !name.trim().is_empty() {
                names.push((name.trim().to_string(), body.trim().to_string()));
            }
        }
    }
    if names.is_empty() {
        if let Some(l) = paras.first().and_then(|p| field(p, "License")) {
            let (name, body) = l.split_once('\n').unwrap_or((l, ""));
            if !name.trim().is_empty() {
                names.push((name.trim().to_string(), body.trim().to_string()));
            }
        }
    }
    let mut refs: BTreeMap<String, Extracted> = BTreeMap::new();
    let mut terms: Vec<String> = Vec::new();
    for (name, body) in &names {
        let mut make_ref = |n: &str| -> String {
            let id = license_ref(n);
            refs.entry(id.clone()).or_insert_with(|| Extracted {
                name: n.to_string(),
                text: texts
                    .get(&n.to_lowercase())
                    .cloned()
                    .or_else(|| (!body.is_empty() && n.eq_ignore_ascii_case(name)).then(|| body.clone()))
                    .unwrap_or_else(|| {
                        format!("The license named \"{n}\" in the Debian copyright file {doc}, which does not give its text.")
                    }),
            });
            id
        };
        let expr = expression(name, &mut make_ref);
        // `A AND B` adds A and B (no nesting, no repeats).
        let parts: Vec<String> = if expr.contains(" OR ") || expr.contains('(') {
            vec![expr]
        } else {
            expr.split(" AND ").map(String::from).collect()
        };
        for part in parts {
            if !terms.contains(&part) {
                terms.push(part);
            }
        }
    }
    let expression = match terms.len() {
        0 => None,
        1 => terms.pop(),
        _ => Some(terms.iter().map(|t| group(t)).collect::<Vec<_>>().join(" AND ")),
    };
    let used: BTreeSet<&str> = expression
        .as_deref()
        .unwrap_or("")
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|t| t.starts_with("LicenseRef-"))
        .collect();
    refs.retain(|id, _| used.contains(id.as_str()));
    Declared { expression, refs }
}

/// `(e)` when `e` is a compound expression.
fn group(e: &str) -> String {
    if e.contains(" OR ") || e.contains(" AND ") {
        format!("({e})")
    } else {
        e.to_string()
    }
}

/// `LicenseRef-` and `name` with every character outside `[A-Za-z0-9.-]`
/// replaced (`+` by `-plus`, the rest by `-`).
pub fn license_ref(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' => s.push(c),
            '+' => s.push_str("-plus"),
            _ => s.push('-'),
        }
    }
    let mut out = String::new();
    for part in s.split('-').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(part);
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    format!("LicenseRef-{out}")
}

/// A DEP-5 license expression as an SPDX expression; `make_ref` turns a
/// name that has no SPDX identifier into a `LicenseRef-…`.
pub fn expression(dep5: &str, make_ref: &mut dyn FnMut(&str) -> String) -> String {
    let mut acc: Option<String> = None;
    for (i, segment) in dep5.split(',').enumerate() {
        let words: Vec<&str> = segment.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let (op, rest) = match words[0].to_lowercase().as_str() {
            "and" if i > 0 => (" AND ", &words[1..]),
            "or" if i > 0 => (" OR ", &words[1..]),
            _ => (" AND ", &words[..]),
        };
        let seg = segment_expression(rest, make_ref);
        if seg.is_empty() {
            continue;
        }
        acc = Some(match acc {
            None => seg,
            Some(a) => format!("{}{op}{}", group(&a), group(&seg)),
        });
    }
    acc.unwrap_or_else(|| make_ref(dep5.trim()))
}

/// Terms joined by `and`/`or` (no commas); a compound term (Perl) is
/// grouped when it is not alone.
fn segment_expression(words: &[&str], make_ref: &mut dyn FnMut(&str) -> String) -> String {
    let mut terms: Vec<String> = Vec::new();
    let mut ops: Vec<&str> = Vec::new();
    let mut pending_op: Option<&str> = None;
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        match w.to_lowercase().as_str() {
            "and" => {
                pending_op = Some(" AND ");
                i += 1;
                continue;
            }
            "or" => {
                pending_op = Some(" OR ");
                i += 1;
                continue;
            }
            _ => {}
        }
        // A term, with an optional `with … exception` clause.
        let mut j = i + 1;
        let mut exception: Option<String> = None;
        if j < words.len() && words[j].eq_ignore_ascii_case("with") {
            let start = j + 1;
            let mut end = start;
            while end < words.len()
                && !words[end].eq_ignore_ascii_case("exception")
                && !matches!(words[end].to_lowercase().as_str(), "and" | "or")
            {
                end += 1;
            }
            exception = Some(words[start..end].join(" "));
            j = if end < words.len() && words[end].eq_ignore_ascii_case("exception") { end + 1 } else { end };
        }
        if !terms.is_empty() {
            ops.push(pending_op.unwrap_or(" AND "));
        }
        terms.push(term_expression(w, exception.as_deref(), make_ref));
        pending_op = None;
        i = j;
    }
    if terms.len() == 1 {
        return terms.pop().unwrap_or_default();
    }
    let mut out = String::new();
    for (k, t) in terms.iter().enumerate() {
        if k > 0 {
            out.push_str(ops[k - 1]);
        }
        out.push_str(&group(t));
    }
    out
}

/// One license name, with its exception, as SPDX.
fn term_expression(name: &str, exception: Option<&str>, make_ref: &mut dyn FnMut(&str) -> String) -> String {
    let whole = match exception {
        Some(e) => format!("{name} with {e} exception"),
        None => name.to_string(),
    };
    let Some(id) = spdx_license(name) else { return make_ref(&whole) };
    match exception {
        None => id,
        Some(e) => match spdx_exception(&id, e) {
            Some(x) if !id.contains(' ') => format!("{id} WITH {x}"),
            _ => make_ref(&whole),
        },
    }
}

/// The SPDX identifier (or, for `Perl`, expression) of a DEP-5 name.
pub fn spdx_license(name: &str) -> Option<String> {
    let lower = name.trim().to_lowercase();
    let alias = |l: &str| -> Option<String> {
        Some(
            match l {
                "expat" => "MIT",
                "artistic" | "artistic-1" => "Artistic-1.0",
                "artistic-2" => "Artistic-2.0",
                "perl" => "GPL-1.0-or-later OR Artistic-1.0-Perl",
                "cc0" => "CC0-1.0",
                "apache-2" => "Apache-2.0",
                "psf-2" => "PSF-2.0",
                "zope" => "ZPL-2.1",
                _ => return None,
            }
            .to_string(),
        )
    };
    let lookup = |l: &str| -> Option<String> {
        alias(l).or_else(|| gnu(l)).or_else(|| license_ids().get(l).map(|s| s.to_string()))
    };
    lookup(&lower).or_else(|| lower.split_once('~').and_then(|(base, _)| lookup(base)))
}

/// DEP-5's GNU license names: `GPL-2`, `GPL-2+`, `GPLv3+`, `LGPL-2.1+`,
/// `GFDL-1.3`, `GPL-2.0+` …
fn gnu(lower: &str) -> Option<String> {
    let (family, rest) = ["agpl", "lgpl", "gpl", "gfdl"].iter().find_map(|f| lower.strip_prefix(f).map(|r| (*f, r)))?;
    let rest = rest.strip_prefix('-').or_else(|| rest.strip_prefix('v')).unwrap_or(rest);
    let (ver, plus) = match rest.strip_suffix('+') {
        Some(v) => (v, true),
        None => (rest, false),
    };
    let mut parts = ver.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = match parts.next() {
        Some(m) => m.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let id = format!("{}-{major}.{minor}-{}", family.to_uppercase(), if plus { "or-later" } else { "only" });
    license_ids().get(&id.to_lowercase()).map(|s| s.to_string())
}

/// The SPDX exception for DEP-5's `with <e> exception` on license `id`.
fn spdx_exception(id: &str, e: &str) -> Option<String> {
    let l = e.trim().to_lowercase();
    let gpl3 = id.starts_with("GPL-3");
    let known = match l.as_str() {
        "autoconf" if gpl3 => Some("Autoconf-exception-3.0"),
        "autoconf" if id.starts_with("GPL-2") => Some("Autoconf-exception-2.0"),
        "bison" => Some("Bison-exception-2.2"),
        "classpath" => Some("Classpath-exception-2.0"),
        "font" => Some("Font-exception-2.0"),
        "libtool" => Some("Libtool-exception"),
        "llvm" => Some("LLVM-exception"),
        "linux-syscall-note" => Some("Linux-syscall-note"),
        "gcc-runtime-library" | "gcc-runtime-library-3.1" | "gcc" if gpl3 => Some("GCC-exception-3.1"),
        "gcc" if id.starts_with("GPL-2") => Some("GCC-exception-2.0"),
        _ => None,
    };
    known
        .map(String::from)
        .or_else(|| exception_ids().get(&l).map(|s| s.to_string()))
        .or_else(|| exception_ids().get(&format!("{l}-exception")).map(|s| s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Format: https://example.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n";

    fn expr(dep5: &str) -> String {
        expression(dep5, &mut |n| license_ref(n))
    }

    #[test]
    fn dep5_names_become_spdx_identifiers() {
        assert_eq!(expr("GPL-2+"), "GPL-2.0-or-later");
        assert_eq!(expr("GPL-2"), "GPL-2.0-only");
        assert_eq!(expr("LGPL-2.1+"), "LGPL-2.1-or-later");
        assert_eq!(expr("LGPL-2"), "LGPL-2.0-only");
        assert_eq!(expr("GPLv3+"), "GPL-3.0-or-later");
        assert_eq!(expr("GFDL-1.3+"), "GFDL-1.3-or-later");
        assert_eq!(expr("Expat"), "MIT");
        assert_eq!(expr("BSD-3-clause"), "BSD-3-Clause");
        assert_eq!(expr("BSD-3-clause~Google"), "BSD-3-Clause");
        assert_eq!(expr("zlib"), "Zlib");
        assert_eq!(expr("Unicode-DFS-2016"), "Unicode-DFS-2016");
        assert_eq!(expr("CC0"), "CC0-1.0");
    }

    #[test]
    fn dep5_operators_commas_and_exceptions_translate() {
        assert_eq!(expr("GPL-2+ or Artistic"), "GPL-2.0-or-later OR Artistic-1.0");
        assert_eq!(expr("LGPL-3+ or GPL-2+"), "LGPL-3.0-or-later OR GPL-2.0-or-later");
        assert_eq!(
            expr("GPL-2+ or Artistic-2.0, and BSD-3-clause"),
            "(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause"
        );
        assert_eq!(expr("GPL-2 with Classpath exception"), "GPL-2.0-only WITH Classpath-exception-2.0");
        assert_eq!(expr("GPL-3+ with GCC-Runtime-Library exception"), "GPL-3.0-or-later WITH GCC-exception-3.1");
        assert_eq!(expr("Perl"), "GPL-1.0-or-later OR Artistic-1.0-Perl");
        assert_eq!(expr("Perl and MIT"), "(GPL-1.0-or-later OR Artistic-1.0-Perl) AND MIT");
        assert_eq!(expr("GPL-2+ with OpenSSL exception"), "LicenseRef-GPL-2-plus-with-OpenSSL-exception");
        assert_eq!(expr("public-domain and MIT"), "LicenseRef-public-domain AND MIT");
    }

    #[test]
    fn license_refs_are_valid_spdx_idstrings() {
        assert_eq!(license_ref("BSD-like-with-advertising-clause"), "LicenseRef-BSD-like-with-advertising-clause");
        assert_eq!(license_ref("LGPLv3+_or_GPLv2+"), "LicenseRef-LGPLv3-plus-or-GPLv2-plus");
        assert_eq!(license_ref("ISC+IBM"), "LicenseRef-ISC-plusIBM");
        assert_eq!(license_ref("  "), "LicenseRef-unnamed");
    }

    #[test]
    fn machine_readable_copyright_gives_the_conjunction_of_its_files_licenses() {
        let text = format!(
            "{HEADER}Files: *\nCopyright: 2000 A\nLicense: GPL-2+\n\nFiles: lib/*\nCopyright: B\nLicense: Expat or Apache-2.0\n\nFiles: extra/*\nCopyright: C\nLicense: GPL-2+ and ISC\n\nFiles: pd/*\nCopyright: none\nLicense: public-domain\n\nLicense: public-domain\n The author disclaims copyright.\n .\n Use freely.\n\nLicense: GPL-2+\n On Debian systems, see /usr/share/common-licenses/GPL-2.\n"
        );
        let d = declared(&text, "/usr/share/doc/x/copyright");
        assert_eq!(
            d.expression.as_deref(),
            Some("GPL-2.0-or-later AND (MIT OR Apache-2.0) AND ISC AND LicenseRef-public-domain")
        );
        assert_eq!(d.refs.len(), 1);
        let r = &d.refs["LicenseRef-public-domain"];
        assert_eq!(
            (r.name.as_str(), r.text.as_str()),
            ("public-domain", "The author disclaims copyright.\n\nUse freely.")
        );
    }

    #[test]
    fn a_license_without_text_names_the_copyright_file() {
        let text = format!("{HEADER}Files: *\nCopyright: A\nLicense: custom-permissive\n");
        let d = declared(&text, "/usr/share/doc/x/copyright");
        assert_eq!(d.expression.as_deref(), Some("LicenseRef-custom-permissive"));
        assert!(d.refs["LicenseRef-custom-permissive"].text.contains("/usr/share/doc/x/copyright"));
    }

    #[test]
    fn free_form_copyright_is_noassertion() {
        let d = declared("This package was debianized by A.\n\nLicense: GPL-2\n", "/x");
        assert_eq!(d, Declared::default());
        // The header's License counts when no Files paragraph has one.
        let d = declared("Format: DEP-5 draft (dep5)\nLicense: ISC\n\nFiles: *\nCopyright: x\n", "/x");
        assert_eq!(d.expression.as_deref(), Some("ISC"));
    }

    #[test]
    fn bundled_identifier_lists_are_sane() {
        assert!(is_spdx_id("MIT") && is_spdx_id("GPL-2.0-only") && is_spdx_id("BSD-3-Clause"));
        assert!(!is_spdx_id("GPL-2.0") && !is_spdx_id("mit") && !is_spdx_id("Expat"));
        assert_eq!(exception_ids().get("classpath-exception-2.0"), Some(&"Classpath-exception-2.0"));
    }
}
