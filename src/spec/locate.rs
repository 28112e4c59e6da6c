//! Where things are in spec files, for error messages: the line and column
//! of a field (`sources[0].suite`, `paths.exclude[2]`), which spec of an
//! `extends:` chain wrote it, close-name suggestions, and [`Diagnostic`],
//! the located error with a hint that every spec mistake ends in.
//!
//! Lines come from the YAML parser itself: [`locate`] walks the document
//! with a serde visitor that fails on purpose at the wanted node, and
//! serde_yaml stamps that failure with the node's position (the key of a
//! mapping entry, the item of a list). Flow and block style both work.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use super::LoadedSpec;

/// Widest line of a hint before it wraps.
pub const WIDTH: usize = 100;

/// A located spec mistake: what is wrong, where (file, line, column,
/// field) and how to fix it. Displayed as
///
/// ```text
/// <message first line>
///   at <file> line <L> column <C>, field `<field>`
///   <further message lines>
/// hint: <hint, wrapped at 100 columns>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong; lines after the first are details (indented).
    pub message: String,
    /// Where.
    pub place: Place,
    /// How to fix it.
    pub hint: String,
}

/// A place in a spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The spec file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted field path (`sources[0].suite`), when the mistake has one.
    pub field: Option<String>,
}

impl Place {
    /// This place with `message` and `hint`.
    pub fn diagnostic(self, message: impl Into<String>, hint: impl Into<String>) -> Diagnostic {
        Diagnostic { message: message.into(), place: self, hint: hint.into() }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " line {l} column {c}")?,
            (Some(l), None) => write!(f, " line {l}")?,
            _ => {}
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        Ok(())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = self.message.lines();
        writeln!(f, "{}", lines.next().unwrap_or_default())?;
        write!(f, "  at {}", self.place)?;
        for l in lines {
            write!(f, "\n{l}")?;
        }
        if !self.hint.is_empty() {
            write!(f, "\n{}", wrap(&format!("hint: {}", self.hint), WIDTH, "  "))?;
        }
        Ok(())
    }
}

/// `text` wrapped at `width` columns on spaces, continuation lines
/// starting with `indent` (a word longer than a line stays whole).
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for (n, para) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let mut line = String::new();
        for word in para.split(' ') {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                out.push_str(&line);
                out.push('\n');
                line = indent.to_string();
            } else if !line.is_empty() && line != indent {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(&line);
    }
    out
}

/// Levenshtein distance (insertions, deletions, substitutions) of two
/// short strings, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Up to `max` of `candidates` close to `word` (a typo away: distance at
/// most 2, or a third of the word's length for long words), closest first,
/// then the longest common prefix, then name order; never `word` itself.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>, max: usize) -> Vec<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let lower = word.to_ascii_lowercase();
    let prefix = |c: &str| lower.chars().zip(c.to_ascii_lowercase().chars()).take_while(|(a, b)| a == b).count();
    let mut scored: Vec<(usize, std::cmp::Reverse<usize>, &str)> = candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), std::cmp::Reverse(prefix(c)), c))
        .filter(|(d, _, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(max).map(|(_, _, c)| c).collect()
}

/// `did you mean `a`?` / `did you mean `a` or `b`?`, or empty.
pub fn did_you_mean(close: &[&str]) -> String {
    match close {
        [] => String::new(),
        [one] => format!("did you mean `{one}`?"),
        more => {
            let quoted: Vec<String> = more.iter().map(|c| format!("`{c}`")).collect();
            let (last, rest) = quoted.split_last().expect("two or more");
            format!("did you mean {} or {last}?", rest.join(", "))
        }
    }
}

/// One step of a dotted field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// `sources[0].keys[1]` → `[Key(sources), Index(0), Key(keys), Index(1)]`.
pub fn segments(field: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// Line and column (1-based) of `field` in the YAML `text`: of the key for
/// a mapping entry (`sources[0].suite`), of the item for a list entry
/// (`packages[3]`). `None` when the document does not have it or does not
/// parse.
pub fn locate(text: &[u8], field: &str) -> Option<(usize, usize)> {
    let path = segments(field);
    let de = serde_yaml::Deserializer::from_slice(text);
    match (Find { path: &path }).deserialize(de) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The message of the deliberate failure at the wanted node.
const FOUND: &str = "\u{1}distill: found";

struct Find<'p> {
    path: &'p [Segment],
}

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn here<E: serde::de::Error>(path: &[Segment]) -> Result<(), E> {
    if path.is_empty() {
        Err(E::custom(FOUND))
    } else {
        Ok(())
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        here(self.path)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        here(self.path)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        here(self.path)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        here(self.path)
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        here(self.path)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        here(self.path)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        here(self.path)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        here(self.path)?;
        let mut n = 0;
        loop {
            let done = match self.path.split_first() {
                Some((Segment::Index(i), rest)) if *i == n => seq.next_element_seed(Find { path: rest })?.is_none(),
                _ => seq.next_element::<IgnoredAny>()?.is_none(),
            };
            if done {
                return Ok(());
            }
            n += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        here(self.path)?;
        let (want, rest) = match self.path.split_first() {
            Some((Segment::Key(k), rest)) => (Some(k.as_str()), rest),
            _ => (None, self.path),
        };
        while let Some(matched) = map.next_key_seed(Key { want, last: rest.is_empty() })? {
            if matched {
                map.next_value_seed(Find { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A mapping key: `true` when it is the wanted one; fails (at the key's
/// position) when it is the wanted one and the last step.
struct Key<'w> {
    want: Option<&'w str>,
    last: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<bool, E> {
        let matched = self.want == Some(k);
        if matched && self.last {
            return Err(E::custom(FOUND));
        }
        Ok(matched)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// The value at `path` in a parsed document.
pub fn value_at<'v>(v: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    let mut cur = v;
    for s in path {
        cur = match (s, cur) {
            (Segment::Key(k), Value::Mapping(m)) => m.get(k.as_str())?,
            (Segment::Index(i), Value::Sequence(items)) => items.get(*i)?,
            (_, Value::Tagged(t)) => value_at(&t.value, std::slice::from_ref(s))?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The spec files of an `extends:` chain, the spec itself first, each
/// with its parsed text (`Null` when it does not parse).
#[derive(Debug, Clone)]
pub struct Files {
    files: Vec<(PathBuf, Vec<u8>, Value)>,
}

impl Files {
    /// One file.
    pub fn one(path: &Path, raw: &[u8]) -> Self {
        Files { files: vec![(path.into(), raw.into(), serde_yaml::from_slice(raw).unwrap_or(Value::Null))] }
    }

    /// The chain of `spec`: its own file, then each spec it extends (paths
    /// from the `extends:` values, relative to the file that names them).
    pub fn chain(spec: &LoadedSpec) -> Self {
        let mut out = Files::one(&spec.path, &spec.raw);
        for raw in &spec.parents {
            let (path, _, v) = out.files.last().expect("one file");
            let Some(ext) = v.get("extends").and_then(Value::as_str) else { break };
            let parent = path.parent().unwrap_or(Path::new(".")).join(ext);
            out.files.push((parent, raw.clone(), serde_yaml::from_slice(raw).unwrap_or(Value::Null)));
        }
        out
    }

    fn place(path: &Path, raw: &[u8], field: &str, shown: &str) -> Place {
        let at = locate(raw, field);
        Place { path: path.into(), line: at.map(|a| a.0), column: at.map(|a| a.1), field: Some(shown.into()) }
    }

    /// Where `field` of the merged spec was written: the nearest spec of
    /// the chain that has it. A field no spec writes (a default) is placed
    /// at its nearest written parent (`sources[0]` for a defaulted
    /// `sources[0].components`), else at this spec without a line.
    pub fn origin(&self, field: &str) -> Place {
        let path = segments(field);
        for n in (1..=path.len()).rev() {
            let prefix = &path[..n];
            if let Some((p, raw, _)) = self.files.iter().find(|(_, _, v)| value_at(v, prefix).is_some()) {
                let mut place = Self::place(p, raw, &render(prefix), field);
                place.field = Some(field.into());
                return place;
            }
        }
        let (p, _, _) = &self.files[0];
        Place { path: p.clone(), line: None, column: None, field: Some(field.into()) }
    }

    /// Where an item of the list `list` (e.g. `packages`) for which
    /// `matches` holds is written: the nearest spec of the chain listing
    /// it, with its index in that file (`packages[2]`).
    pub fn item(&self, list: &str, matches: impl Fn(&Value) -> bool) -> Option<Place> {
        let path = segments(list);
        self.files.iter().find_map(|(p, raw, v)| {
            let items = value_at(v, &path)?.as_sequence()?;
            let i = items.iter().position(&matches)?;
            let field = format!("{list}[{i}]");
            Some(Self::place(p, raw, &field, &field))
        })
    }

    /// The value of `field` in the spec that writes it (see [`Files::origin`]).
    pub fn value(&self, field: &str) -> Option<&Value> {
        let path = segments(field);
        self.files.iter().find_map(|(_, _, v)| value_at(v, &path))
    }
}

fn render(path: &[Segment]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A string item equal to `want`, or a mapping item whose `name` is `want`.
pub fn named(want: &str) -> impl Fn(&Value) -> bool + '_ {
    move |v| v.as_str() == Some(want) || v.get("name").and_then(Value::as_str) == Some(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
name: t
sources:
  - suite: bookworm
    keys: [a.asc, b.asc]
  - {suite: trixie, keys: [c.asc]}
packages:
  - libc6
  - nodejs
paths:
  exclude: [/usr/share/doc, /usr/lib/*/gconv]
";

    #[test]
    fn locates_keys_items_and_flow_entries() {
        let at = |f: &str| locate(DOC.as_bytes(), f);
        assert_eq!(at("name"), Some((1, 1)));
        assert_eq!(at("sources"), Some((2, 1)));
        assert_eq!(at("sources[0]"), Some((3, 5)));
        assert_eq!(at("sources[0].suite"), Some((3, 5)));
        assert_eq!(at("sources[0].keys"), Some((4, 5)));
        assert_eq!(at("sources[0].keys[1]"), Some((4, 19)));
        assert_eq!(at("sources[1].suite"), Some((5, 6)));
        assert_eq!(at("sources[1].keys[0]"), Some((5, 28)));
        assert_eq!(at("packages[1]"), Some((8, 5)));
        assert_eq!(at("paths.exclude[1]"), Some((10, 29)));
        assert_eq!(at("packages[2]"), None);
        assert_eq!(at("image"), None);
        assert_eq!(locate(b"{", "name"), None);
    }

    #[test]
    fn segments_round_trip() {
        assert_eq!(
            segments("sources[0].keys[12]"),
            vec![Segment::Key("sources".into()), Segment::Index(0), Segment::Key("keys".into()), Segment::Index(12)]
        );
        assert_eq!(render(&segments("a.b[3].c")), "a.b[3].c");
    }

    #[test]
    fn suggestions_are_a_typo_away() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        let fields = ["version", "name", "extends", "packages", "paths", "prefer", "image"];
        assert_eq!(closest("pakages", fields, 1), ["packages"]);
        assert_eq!(closest("imagee", fields, 1), ["image"]);
        assert!(closest("zzzzzz", fields, 1).is_empty());
        assert_eq!(closest("libsssl3", ["libgss3", "libsdsl3", "libssl3"], 3), ["libssl3", "libsdsl3", "libgss3"]);
        assert_eq!(did_you_mean(&["a", "b", "c"]), "did you mean `a`, `b` or `c`?");
    }

    #[test]
    fn origin_prefers_the_nearest_spec_that_writes_the_field() {
        let files = Files {
            files: vec![
                (PathBuf::from("child.yaml"), b"name: c\npackages: [x]\n".to_vec(), Value::Null),
                (PathBuf::from("base.yaml"), DOC.as_bytes().to_vec(), Value::Null),
            ],
        };
        let files = Files {
            files: files
                .files
                .into_iter()
                .map(|(p, r, _)| {
                    let v = serde_yaml::from_slice(&r).unwrap();
                    (p, r, v)
                })
                .collect(),
        };
        let o = files.origin("sources[1].suite");
        assert_eq!((o.path.to_str(), o.line), (Some("base.yaml"), Some(5)));
        let o = files.origin("sources[0].components");
        assert_eq!(
            (o.path.to_str(), o.line, o.field.as_deref()),
            (Some("base.yaml"), Some(3), Some("sources[0].components"))
        );
        let o = files.item("packages", named("nodejs")).unwrap();
        assert_eq!((o.path.to_str(), o.line, o.field.as_deref()), (Some("base.yaml"), Some(8), Some("packages[1]")));
        let o = files.item("packages", named("x")).unwrap();
        assert_eq!((o.path.to_str(), o.line, o.field.as_deref()), (Some("child.yaml"), Some(2), Some("packages[0]")));
    }

    #[test]
    fn diagnostic_layout_and_wrapping() {
        let d = Place { path: "s.yaml".into(), line: Some(3), column: Some(5), field: Some("packages[0]".into()) }
            .diagnostic("unknown package `x`\n  detail", "word ".repeat(40).trim_end());
        let text = d.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "unknown package `x`");
        assert_eq!(lines[1], "  at s.yaml line 3 column 5, field `packages[0]`");
        assert_eq!(lines[2], "  detail");
        assert!(lines[3].starts_with("hint: word"));
        assert!(lines.iter().all(|l| l.len() <= WIDTH), "{text}");
        assert!(lines[4].starts_with("  word"), "{text}");
    }
}
