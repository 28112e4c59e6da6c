//! Word expansion (XCU §2.6): parameters and `${…}` forms, `$(…)` and
//! backquotes, `$((…))`, quote removal, field splitting, `"$@"`, and the
//! shell patterns `case`, `${x#pat}` and pathname expansion use (§2.13).

use super::{parse, Flow, Shell, MAX_DEPTH};

impl Shell<'_, '_> {
    // ---- expansion -------------------------------------------------------

    /// Expand a word into fields: parameters, `$(…)`, quotes removed,
    /// unquoted results split on blanks, `"$@"` into one field per argument.
    pub fn expand(&mut self, word: &str) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut has = false;
        for (text, quoted, at) in self.segments(word) {
            if at {
                // "$@": each argument its own field.
                let args = self.args.clone();
                for (i, a) in args.iter().enumerate() {
                    cur.push_str(a);
                    if i + 1 < args.len() {
                        fields.push(std::mem::take(&mut cur));
                    }
                }
                has = has || !args.is_empty();
                continue;
            }
            if quoted {
                cur.push_str(&text);
                has = true;
                continue;
            }
            for (i, part) in text.split([' ', '\t', '\n']).enumerate() {
                if i > 0 && (has || !cur.is_empty()) {
                    fields.push(std::mem::take(&mut cur));
                    has = false;
                }
                if !part.is_empty() {
                    cur.push_str(part);
                    has = true;
                }
            }
        }
        if has || !cur.is_empty() {
            fields.push(cur);
        }
        fields.into_iter().flat_map(|f| crate::maint::commands::glob_fields(self.world.tree, word, f)).collect()
    }

    /// Expand a word into one string (assignments, `case` words, targets).
    pub fn expand_one(&mut self, word: &str) -> String {
        self.segments(word)
            .into_iter()
            .map(|(t, _, at)| if at { self.args.join(" ") } else { t })
            .collect::<Vec<_>>()
            .join("")
    }

    /// A `case` pattern: expansions done, quoted parts' glob characters escaped.
    pub(super) fn expand_pattern(&mut self, word: &str) -> String {
        self.segments(word)
            .into_iter()
            .map(|(t, q, _)| if q { t.chars().flat_map(|c| ['\\', c]).collect() } else { t })
            .collect()
    }

    /// Expand `$…` in a here-document body (no quote removal).
    pub(super) fn expand_text(&mut self, body: &str) -> String {
        let mut out = String::new();
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' if matches!(chars.get(i + 1), Some('$' | '`' | '\\')) => {
                    out.push(chars[i + 1]);
                    i += 2;
                }
                '$' | '`' => {
                    let (text, next) = self.dollar(&chars, i);
                    out.push_str(&text);
                    i = next;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        out
    }

    /// Split a raw word into (text, quoted, is "$@") segments, expanded.
    fn segments(&mut self, word: &str) -> Vec<(String, bool, bool)> {
        let chars: Vec<char> = word.chars().collect();
        let mut segs = Vec::new();
        let mut i = 0;
        let mut lit = String::new();
        while i < chars.len() {
            match chars[i] {
                '\'' => {
                    let end = chars[i + 1..].iter().position(|&c| c == '\'').map_or(chars.len(), |n| i + 1 + n);
                    push_lit(&mut segs, &mut lit);
                    segs.push((chars[i + 1..end.min(chars.len())].iter().collect(), true, false));
                    i = end + 1;
                }
                '"' => {
                    push_lit(&mut segs, &mut lit);
                    i = self.double_quoted(&chars, i + 1, &mut segs);
                }
                '\\' => {
                    if let Some(&c) = chars.get(i + 1) {
                        push_lit(&mut segs, &mut lit);
                        segs.push((c.to_string(), true, false));
                    }
                    i += 2;
                }
                '$' | '`' => {
                    push_lit(&mut segs, &mut lit);
                    let (text, next) = self.dollar(&chars, i);
                    segs.push((text, false, false));
                    i = next;
                }
                c => {
                    lit.push(c);
                    i += 1;
                }
            }
        }
        push_lit(&mut segs, &mut lit);
        segs
    }

    /// Inside `"…"` from `i`; returns the index after the closing quote.
    fn double_quoted(&mut self, chars: &[char], mut i: usize, segs: &mut Vec<(String, bool, bool)>) -> usize {
        let mut text = String::new();
        // `""` is an empty field, kept.
        segs.push((String::new(), true, false));
        while i < chars.len() && chars[i] != '"' {
            match chars[i] {
                '\\' if matches!(chars.get(i + 1), Some('$' | '`' | '"' | '\\' | '\n')) => {
                    if chars[i + 1] != '\n' {
                        text.push(chars[i + 1]);
                    }
                    i += 2;
                }
                '$' if chars.get(i + 1) == Some(&'@') => {
                    segs.push((std::mem::take(&mut text), true, false));
                    segs.push((String::new(), true, true));
                    i += 2;
                }
                '$' | '`' => {
                    let (t, next) = self.dollar(chars, i);
                    text.push_str(&t);
                    i = next;
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        segs.push((text, true, false));
        i + 1
    }

    /// Expand one `$…` or backquote at `i`; returns (text, next index).
    fn dollar(&mut self, chars: &[char], i: usize) -> (String, usize) {
        if chars[i] == '`' {
            let end = chars[i + 1..].iter().position(|&c| c == '`').map_or(chars.len(), |n| i + 1 + n);
            let src: String = chars[i + 1..end.min(chars.len())].iter().collect();
            return (self.substitute(&src.replace("\\`", "`")), end + 1);
        }
        match chars.get(i + 1) {
            Some('(') if chars.get(i + 2) == Some(&'(') => {
                let end = matching(chars, i + 2).unwrap_or(chars.len());
                let inner: String = chars[i + 3..end.min(chars.len())].iter().collect();
                let inner = inner.trim_end_matches(')');
                (crate::maint::test::arith(self, inner).to_string(), (end + 2).min(chars.len()))
            }
            Some('(') => {
                let end = matching(chars, i + 1).unwrap_or(chars.len());
                let src: String = chars[i + 2..end.min(chars.len())].iter().collect();
                (self.substitute(&src), end + 1)
            }
            Some('{') => {
                let end = chars[i + 2..].iter().position(|&c| c == '}').map_or(chars.len(), |n| i + 2 + n);
                let inner: String = chars[i + 2..end.min(chars.len())].iter().collect();
                (self.brace(&inner), end + 1)
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .map_or(chars.len(), |n| i + 1 + n);
                let name: String = chars[i + 1..end].iter().collect();
                (self.var(&name), end)
            }
            Some(c) if c.is_ascii_digit() || matches!(c, '#' | '?' | '*' | '@' | '$' | '!' | '-') => {
                (self.var(&c.to_string()), i + 2)
            }
            _ => ("$".into(), i + 1),
        }
    }

    /// The value of a parameter (unset: empty).
    pub fn var(&self, name: &str) -> String {
        match name {
            "#" => self.args.len().to_string(),
            "?" => self.status.to_string(),
            "*" | "@" => self.args.join(" "),
            "$" | "!" => "1".into(),
            "-" => String::new(),
            "0" => self.arg0.clone(),
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse::<usize>().ok().and_then(|i| self.args.get(i.wrapping_sub(1))).cloned().unwrap_or_default()
            }
            n => self.vars.get(n).cloned().unwrap_or_default(),
        }
    }

    fn is_set(&self, name: &str) -> bool {
        match name {
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse::<usize>().is_ok_and(|i| i == 0 || i <= self.args.len())
            }
            "#" | "?" | "*" | "@" | "$" => true,
            n => self.vars.contains_key(n),
        }
    }

    /// `${…}` forms: `name`, `#name`, `name:-w`, `name-w`, `name:=w`,
    /// `name:+w`, `name#p`, `name##p`, `name%p`, `name%%p`.
    fn brace(&mut self, inner: &str) -> String {
        if let Some(name) = inner.strip_prefix('#').filter(|n| !n.is_empty()) {
            return self.var(name).chars().count().to_string();
        }
        let split = inner.find([':', '-', '=', '+', '#', '%', '?']).unwrap_or(inner.len());
        let (name, op) = inner.split_at(split);
        let value = self.var(name);
        let set = self.is_set(name);
        let nonempty = set && !value.is_empty();
        for (prefix, colon) in [(":-", true), ("-", false), (":=", true), ("=", false)] {
            if let Some(w) = op.strip_prefix(prefix) {
                let use_word = if colon { !nonempty } else { !set };
                if !use_word {
                    return value;
                }
                let w = self.expand_one(w);
                if prefix.ends_with('=') {
                    self.vars.insert(name.into(), w.clone());
                }
                return w;
            }
        }
        for (prefix, colon) in [(":+", true), ("+", false)] {
            if let Some(w) = op.strip_prefix(prefix) {
                let use_word = if colon { nonempty } else { set };
                return if use_word { self.expand_one(w) } else { String::new() };
            }
        }
        if let Some(w) = op.strip_prefix(":?").or_else(|| op.strip_prefix('?')) {
            let _ = w;
            return value;
        }
        for (prefix, longest, front) in
            [("##", true, true), ("#", false, true), ("%%", true, false), ("%", false, false)]
        {
            if let Some(p) = op.strip_prefix(prefix) {
                let pat = self.expand_pattern(p);
                return strip(&value, &pat, longest, front);
            }
        }
        value
    }

    /// `$(…)`: run the text in this shell (variable changes discarded),
    /// trailing newlines removed.
    pub(super) fn substitute(&mut self, src: &str) -> String {
        if self.depth >= MAX_DEPTH {
            return String::new();
        }
        let Ok(node) = parse::parse(src) else { return String::new() };
        let saved = (self.vars.clone(), self.args.clone());
        let outer = self.outer_line.replace(self.outer_line.unwrap_or(self.line));
        self.depth += 1;
        let mut out = Vec::new();
        self.node(&node, &[], &mut out);
        self.depth -= 1;
        self.outer_line = outer;
        if matches!(self.flow, Flow::Exit | Flow::Return) {
            self.flow = Flow::Next;
        }
        (self.vars, self.args) = saved;
        String::from_utf8_lossy(&out).trim_end_matches('\n').to_string()
    }
}

fn push_lit(segs: &mut Vec<(String, bool, bool)>, lit: &mut String) {
    if !lit.is_empty() {
        segs.push((std::mem::take(lit), false, false));
    }
}

/// Index of the `)` matching the `(` at `open`.
fn matching(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => i += 1,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '\\') => i += 1,
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Remove the shortest/longest prefix/suffix of `value` matching `pat`.
pub(super) fn strip(value: &str, pat: &str, longest: bool, front: bool) -> String {
    let idx: Vec<usize> = value.char_indices().map(|(i, _)| i).chain([value.len()]).collect();
    let cands: Box<dyn Iterator<Item = &usize>> =
        if longest == front { Box::new(idx.iter().rev()) } else { Box::new(idx.iter()) };
    for &i in cands {
        let (part, rest) = if front { (&value[..i], &value[i..]) } else { (&value[i..], &value[..i]) };
        if glob_match(pat, part) {
            return rest.to_string();
        }
    }
    value.to_string()
}

/// Shell pattern matching (`*`, `?`, `[…]`, `\x`), XCU §2.13.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len()).any(|i| glob_at(&p[1..], &t[i..])),
        Some('?') => !t.is_empty() && glob_at(&p[1..], &t[1..]),
        Some('[') => {
            let Some(end) = p.iter().skip(2).position(|&c| c == ']').map(|n| n + 2) else {
                return t.first() == Some(&'[') && glob_at(&p[1..], &t[1..]);
            };
            let Some(&c) = t.first() else { return false };
            let set = &p[1..end];
            let (neg, set) = match set.first() {
                Some('!' | '^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut k = 0;
            while k < set.len() {
                if k + 2 < set.len() && set[k + 1] == '-' {
                    hit |= set[k] <= c && c <= set[k + 2];
                    k += 3;
                } else {
                    hit |= set[k] == c;
                    k += 1;
                }
            }
            hit != neg && glob_at(&p[end + 1..], &t[1..])
        }
        Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && glob_at(&p[2..], &t[1..]),
        Some(c) => t.first() == Some(c) && glob_at(&p[1..], &t[1..]),
    }
}
