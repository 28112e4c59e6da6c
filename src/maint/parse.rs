//! A reader for the POSIX shell that maintainer scripts are written in
//! (Debian Policy §6.1: `#!/bin/sh`, or bash): words with quotes and
//! expansions left unexpanded, simple commands with assignments and
//! redirections (here-documents too), pipelines, `&&`/`||` lists, `if`,
//! `case`, `for`, `while`/`until`, `{ }`, `( )` and function definitions
//! (POSIX.1-2017 XCU §2.9, "Shell Commands").
//!
//! It parses; [`super::exec`] runs the result against the image tree.
//! Anything it cannot parse is an [`Error`] naming the line, and the
//! caller lists the whole script as not reproduced.

/// A word as written: its raw text with quotes and `$…` still in it
/// (expanded by [`super::exec`]).
pub type Word = String;

/// A redirection: `n>file`, `n>>file`, `<file`, `n>&m`, `<<EOF` (body kept).
// Fields are named as in the grammar; each variant's doc says what they hold.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum Redirect {
    /// `>` or `>>` (append) of file descriptor `fd` to a path word.
    Out { fd: u32, append: bool, target: Word },
    /// `<` from a path word.
    In { target: Word },
    /// `n>&m`.
    Dup { fd: u32, to: Word },
    /// A here-document body; `expand` is false when the delimiter was quoted.
    Here { body: String, expand: bool },
}

/// A parsed command (XCU §2.9).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `NAME=value … word … redirects`.
    Simple { assigns: Vec<(String, Word)>, words: Vec<Word>, redirects: Vec<Redirect>, line: usize },
    /// `a | b | c`, optionally negated with `!`.
    Pipeline { negate: bool, parts: Vec<Node> },
    /// `a && b`, `a || b`: the first node, then (is_and, node) pairs.
    AndOr { first: Box<Node>, rest: Vec<(bool, Node)> },
    /// Commands run in order.
    List(Vec<Node>),
    /// `if c; then …; elif …; else …; fi`: (condition, body) pairs and the else part.
    If { arms: Vec<(Node, Node)>, otherwise: Option<Box<Node>> },
    /// `for name in words; do …; done` (`None`: `in "$@"`).
    For { var: String, items: Option<Vec<Word>>, body: Box<Node> },
    /// `while`/`until` (`until` = true) loops.
    While { until: bool, cond: Box<Node>, body: Box<Node> },
    /// `case word in pat|pat) …;; esac`.
    Case { word: Word, arms: Vec<(Vec<Word>, Node)> },
    /// `{ …; }` or `( … )` (subshell = true).
    Group { subshell: bool, body: Box<Node>, redirects: Vec<Redirect> },
    /// `name() { … }`.
    Function { name: String, body: Box<Node> },
}

/// A script that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Error {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Op(&'static str),
    Newline,
    Eof,
}

const OPS: [&str; 16] = ["&&", "||", ";;", "<<-", "<<", ">>", ">&", "<&", "&>", ">|", ";", "&", "|", "(", ")", ">"];

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    /// Here-documents whose bodies start after the next newline:
    /// (delimiter, strip tabs, index into `heres`).
    pending: Vec<(String, bool, usize)>,
    heres: Vec<String>,
}

impl<'a> Lexer<'a> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error { line: self.line, message: message.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<(Tok, usize), Error> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'\\') if self.src.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                Some(b'#') => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let line = self.line;
        let Some(c) = self.peek() else { return Ok((Tok::Eof, line)) };
        if c == b'\n' {
            self.pos += 1;
            self.line += 1;
            self.read_heredocs()?;
            return Ok((Tok::Newline, line));
        }
        if c == b'<' || c == b'>' || c == b'&' || c == b'|' || c == b';' || c == b'(' || c == b')' {
            let rest = &self.src[self.pos..];
            // `<` alone is an operator too.
            if rest.starts_with(b"<") && !rest.starts_with(b"<<") && !rest.starts_with(b"<&") {
                self.pos += 1;
                return Ok((Tok::Op("<"), line));
            }
            for op in OPS {
                if rest.starts_with(op.as_bytes()) {
                    self.pos += op.len();
                    return Ok((Tok::Op(op), line));
                }
            }
        }
        Ok((Tok::Word(self.word()?), line))
    }

    /// One word up to an unquoted blank or operator, raw.
    fn word(&mut self) -> Result<String, Error> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => break,
                b'\\' => {
                    if self.src.get(self.pos + 1) == Some(&b'\n') {
                        self.line += 1;
                    }
                    self.pos += 2;
                }
                b'\'' => {
                    self.pos += 1;
                    self.skip_until(b'\'')?;
                }
                b'"' => {
                    self.pos += 1;
                    self.skip_double()?;
                }
                b'`' => {
                    self.pos += 1;
                    self.skip_backtick()?;
                }
                b'$' if self.src.get(self.pos + 1) == Some(&b'(') => {
                    self.pos += 2;
                    self.skip_parens()?;
                }
                b'$' if self.src.get(self.pos + 1) == Some(&b'{') => {
                    self.pos += 2;
                    self.skip_until(b'}')?;
                }
                _ => self.pos += 1,
            }
        }
        let end = self.pos.min(self.src.len());
        Ok(String::from_utf8_lossy(&self.src[start..end]).into_owned())
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_until(&mut self, end: u8) -> Result<(), Error> {
        loop {
            match self.bump() {
                None => return Err(self.err(format!("missing closing {}", end as char))),
                Some(c) if c == end => return Ok(()),
                _ => {}
            }
        }
    }

    fn skip_double(&mut self) -> Result<(), Error> {
        loop {
            match self.bump() {
                None => return Err(self.err("missing closing \"")),
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    self.bump();
                }
                Some(b'`') => self.skip_backtick()?,
                Some(b'$') if self.peek() == Some(b'(') => {
                    self.pos += 1;
                    self.skip_parens()?;
                }
                _ => {}
            }
        }
    }

    fn skip_backtick(&mut self) -> Result<(), Error> {
        loop {
            match self.bump() {
                None => return Err(self.err("missing closing `")),
                Some(b'`') => return Ok(()),
                Some(b'\\') => {
                    self.bump();
                }
                _ => {}
            }
        }
    }

    /// After `$(`: up to the matching `)`, minding quotes and nesting.
    fn skip_parens(&mut self) -> Result<(), Error> {
        let mut depth = 1;
        loop {
            match self.bump() {
                None => return Err(self.err("missing closing ) of $(")),
                Some(b'(') => depth += 1,
                Some(b')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(b'\'') => self.skip_until(b'\'')?,
                Some(b'"') => self.skip_double()?,
                Some(b'\\') => {
                    self.bump();
                }
                _ => {}
            }
        }
    }

    fn read_heredocs(&mut self) -> Result<(), Error> {
        for (delim, strip, idx) in std::mem::take(&mut self.pending) {
            let mut body = String::new();
            loop {
                if self.pos >= self.src.len() {
                    return Err(self.err(format!("here-document not ended by {delim}")));
                }
                let end =
                    self.src[self.pos..].iter().position(|&c| c == b'\n').map_or(self.src.len(), |n| self.pos + n);
                let raw = String::from_utf8_lossy(&self.src[self.pos..end]).into_owned();
                self.pos = (end + 1).min(self.src.len());
                self.line += 1;
                let text = if strip { raw.trim_start_matches('\t').to_string() } else { raw };
                if text == delim {
                    break;
                }
                body.push_str(&text);
                body.push('\n');
            }
            self.heres[idx] = body;
        }
        Ok(())
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok,
    line: usize,
}

/// Parse a whole script.
///
/// # Errors
/// [`Error`] with the line of the first construct it cannot read.
pub fn parse(script: &str) -> Result<Node, Error> {
    let lex = Lexer { src: script.as_bytes(), pos: 0, line: 1, pending: Vec::new(), heres: Vec::new() };
    let mut p = Parser { lex, tok: Tok::Eof, line: 1 };
    p.advance()?;
    let body = p.list(&[])?;
    if p.tok != Tok::Eof {
        return Err(p.err(format!("unexpected {:?}", p.tok)));
    }
    let heres = std::mem::take(&mut p.lex.heres);
    Ok(fill_heres(body, &heres))
}

/// Here-document bodies are read after the line that names them: the
/// parser leaves an index, replaced here.
fn fill_heres(node: Node, heres: &[String]) -> Node {
    let fix = |r: Vec<Redirect>| -> Vec<Redirect> {
        r.into_iter()
            .map(|r| match r {
                Redirect::Here { body, expand } => {
                    let i: usize = body.parse().unwrap_or(usize::MAX);
                    Redirect::Here { body: heres.get(i).cloned().unwrap_or_default(), expand }
                }
                other => other,
            })
            .collect()
    };
    let b = |n: Box<Node>| Box::new(fill_heres(*n, heres));
    match node {
        Node::Simple { assigns, words, redirects, line } => {
            Node::Simple { assigns, words, redirects: fix(redirects), line }
        }
        Node::Pipeline { negate, parts } => {
            Node::Pipeline { negate, parts: parts.into_iter().map(|n| fill_heres(n, heres)).collect() }
        }
        Node::AndOr { first, rest } => {
            Node::AndOr { first: b(first), rest: rest.into_iter().map(|(a, n)| (a, fill_heres(n, heres))).collect() }
        }
        Node::List(v) => Node::List(v.into_iter().map(|n| fill_heres(n, heres)).collect()),
        Node::If { arms, otherwise } => Node::If {
            arms: arms.into_iter().map(|(c, n)| (fill_heres(c, heres), fill_heres(n, heres))).collect(),
            otherwise: otherwise.map(b),
        },
        Node::For { var, items, body } => Node::For { var, items, body: b(body) },
        Node::While { until, cond, body } => Node::While { until, cond: b(cond), body: b(body) },
        Node::Case { word, arms } => {
            Node::Case { word, arms: arms.into_iter().map(|(p, n)| (p, fill_heres(n, heres))).collect() }
        }
        Node::Group { subshell, body, redirects } => Node::Group { subshell, body: b(body), redirects: fix(redirects) },
        Node::Function { name, body } => Node::Function { name, body: b(body) },
    }
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error { line: self.line, message: message.into() }
    }

    fn advance(&mut self) -> Result<(), Error> {
        let (t, line) = self.lex.next()?;
        self.tok = t;
        self.line = line;
        Ok(())
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(&self.tok, Tok::Word(x) if x == w)
    }

    fn skip_newlines(&mut self) -> Result<(), Error> {
        while self.tok == Tok::Newline {
            self.advance()?;
        }
        Ok(())
    }

    fn expect_word(&mut self, w: &str) -> Result<(), Error> {
        self.skip_newlines()?;
        if !self.is_word(w) {
            return Err(self.err(format!("expected `{w}`, found {:?}", self.tok)));
        }
        self.advance()
    }

    /// Commands up to one of the `stop` reserved words (or `)`/`;;`/EOF).
    fn list(&mut self, stop: &[&str]) -> Result<Node, Error> {
        let mut items = Vec::new();
        loop {
            while matches!(self.tok, Tok::Newline | Tok::Op(";") | Tok::Op("&")) {
                self.advance()?;
            }
            match &self.tok {
                Tok::Eof | Tok::Op(")") | Tok::Op(";;") => break,
                Tok::Word(w) if stop.contains(&w.as_str()) => break,
                _ => items.push(self.and_or()?),
            }
        }
        Ok(Node::List(items))
    }

    fn and_or(&mut self) -> Result<Node, Error> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        while let Tok::Op(op @ ("&&" | "||")) = self.tok {
            self.advance()?;
            self.skip_newlines()?;
            rest.push((op == "&&", self.pipeline()?));
        }
        Ok(if rest.is_empty() { first } else { Node::AndOr { first: Box::new(first), rest } })
    }

    fn pipeline(&mut self) -> Result<Node, Error> {
        let negate = self.is_word("!");
        if negate {
            self.advance()?;
        }
        let mut parts = vec![self.command()?];
        while self.tok == Tok::Op("|") {
            self.advance()?;
            self.skip_newlines()?;
            parts.push(self.command()?);
        }
        Ok(if !negate && parts.len() == 1 {
            parts.pop().unwrap_or(Node::List(vec![]))
        } else {
            Node::Pipeline { negate, parts }
        })
    }

    fn command(&mut self) -> Result<Node, Error> {
        let w = match &self.tok {
            Tok::Word(w) => w.clone(),
            Tok::Op("(") => {
                self.advance()?;
                let body = self.list(&[])?;
                if self.tok != Tok::Op(")") {
                    return Err(self.err("expected `)`"));
                }
                self.advance()?;
                let redirects = self.redirects()?;
                return Ok(Node::Group { subshell: true, body: Box::new(body), redirects });
            }
            Tok::Op(op) if op.contains('<') || op.contains('>') => String::new(),
            t => return Err(self.err(format!("unexpected {t:?}"))),
        };
        match w.as_str() {
            "if" => self.if_clause(),
            "for" => self.for_clause(),
            "while" | "until" => self.while_clause(w == "until"),
            "case" => self.case_clause(),
            "{" => {
                self.advance()?;
                let body = self.list(&["}"])?;
                self.expect_word("}")?;
                let redirects = self.redirects()?;
                Ok(Node::Group { subshell: false, body: Box::new(body), redirects })
            }
            "function" => {
                self.advance()?;
                let Tok::Word(name) = self.tok.clone() else { return Err(self.err("expected a function name")) };
                self.advance()?;
                if self.tok == Tok::Op("(") {
                    self.advance()?;
                    self.advance()?;
                }
                self.skip_newlines()?;
                Ok(Node::Function { name, body: Box::new(self.command()?) })
            }
            _ => self.simple(),
        }
    }

    fn if_clause(&mut self) -> Result<Node, Error> {
        let mut arms = Vec::new();
        let mut otherwise = None;
        self.advance()?;
        loop {
            let cond = self.list(&["then"])?;
            self.expect_word("then")?;
            let body = self.list(&["elif", "else", "fi"])?;
            arms.push((cond, body));
            if self.is_word("elif") {
                self.advance()?;
                continue;
            }
            if self.is_word("else") {
                self.advance()?;
                otherwise = Some(Box::new(self.list(&["fi"])?));
            }
            self.expect_word("fi")?;
            break;
        }
        let _ = self.redirects()?;
        Ok(Node::If { arms, otherwise })
    }

    fn for_clause(&mut self) -> Result<Node, Error> {
        self.advance()?;
        let Tok::Word(var) = self.tok.clone() else { return Err(self.err("expected a name after `for`")) };
        self.advance()?;
        self.skip_newlines()?;
        let mut items = None;
        if self.is_word("in") {
            self.advance()?;
            let mut v = Vec::new();
            while let Tok::Word(w) = &self.tok {
                v.push(w.clone());
                self.advance()?;
            }
            items = Some(v);
        }
        while matches!(self.tok, Tok::Newline | Tok::Op(";")) {
            self.advance()?;
        }
        self.expect_word("do")?;
        let body = self.list(&["done"])?;
        self.expect_word("done")?;
        let _ = self.redirects()?;
        Ok(Node::For { var, items, body: Box::new(body) })
    }

    fn while_clause(&mut self, until: bool) -> Result<Node, Error> {
        self.advance()?;
        let cond = self.list(&["do"])?;
        self.expect_word("do")?;
        let body = self.list(&["done"])?;
        self.expect_word("done")?;
        let _ = self.redirects()?;
        Ok(Node::While { until, cond: Box::new(cond), body: Box::new(body) })
    }

    fn case_clause(&mut self) -> Result<Node, Error> {
        self.advance()?;
        let Tok::Word(word) = self.tok.clone() else { return Err(self.err("expected a word after `case`")) };
        self.advance()?;
        self.expect_word("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines()?;
            if self.is_word("esac") {
                self.advance()?;
                break;
            }
            if self.tok == Tok::Op("(") {
                self.advance()?;
            }
            let mut pats = Vec::new();
            loop {
                let Tok::Word(p) = self.tok.clone() else { return Err(self.err("expected a case pattern")) };
                pats.push(p);
                self.advance()?;
                match self.tok {
                    Tok::Op("|") => self.advance()?,
                    Tok::Op(")") => {
                        self.advance()?;
                        break;
                    }
                    _ => return Err(self.err("expected `)` after a case pattern")),
                }
            }
            let body = self.list(&["esac"])?;
            arms.push((pats, body));
            if self.tok == Tok::Op(";;") {
                self.advance()?;
            }
        }
        let _ = self.redirects()?;
        Ok(Node::Case { word, arms })
    }

    fn simple(&mut self) -> Result<Node, Error> {
        let line = self.line;
        let mut assigns = Vec::new();
        let mut words: Vec<Word> = Vec::new();
        let mut redirects = Vec::new();
        loop {
            match self.tok.clone() {
                Tok::Word(w) => {
                    if words.is_empty() {
                        if let Some((name, value)) = assignment(&w) {
                            assigns.push((name, value));
                            self.advance()?;
                            continue;
                        }
                    }
                    self.advance()?;
                    // `name() { … }`
                    if words.is_empty() && assigns.is_empty() && self.tok == Tok::Op("(") {
                        self.advance()?;
                        if self.tok != Tok::Op(")") {
                            return Err(self.err("expected `)` in a function definition"));
                        }
                        self.advance()?;
                        self.skip_newlines()?;
                        return Ok(Node::Function { name: w, body: Box::new(self.command()?) });
                    }
                    // A trailing fd number belongs to the redirection (`2>`).
                    if w.bytes().all(|c| c.is_ascii_digit()) && self.is_redirect() && !self.lex_had_space() {
                        let fd = w.parse().unwrap_or(1);
                        redirects.push(self.redirect(Some(fd))?);
                        continue;
                    }
                    words.push(w);
                }
                Tok::Op(_) if self.is_redirect() => redirects.push(self.redirect(None)?),
                _ => break,
            }
        }
        Ok(Node::Simple { assigns, words, redirects, line })
    }

    /// Whether the byte before the current operator was a blank (then a
    /// preceding number is an argument, not a file descriptor).
    fn lex_had_space(&self) -> bool {
        let op_len = match self.tok {
            Tok::Op(op) => op.len(),
            _ => 0,
        };
        let before = self.lex.pos.saturating_sub(op_len + 1);
        matches!(self.lex.src.get(before), Some(b' ' | b'\t'))
    }

    fn is_redirect(&self) -> bool {
        matches!(self.tok, Tok::Op(">" | ">>" | "<" | "<<" | "<<-" | ">&" | "<&" | "&>" | ">|"))
    }

    fn redirects(&mut self) -> Result<Vec<Redirect>, Error> {
        let mut out = Vec::new();
        while self.is_redirect() {
            out.push(self.redirect(None)?);
        }
        Ok(out)
    }

    fn redirect(&mut self, fd: Option<u32>) -> Result<Redirect, Error> {
        let Tok::Op(op) = self.tok else { return Err(self.err("expected a redirection")) };
        self.advance()?;
        let Tok::Word(target) = self.tok.clone() else { return Err(self.err(format!("expected a word after `{op}`"))) };
        // A here-document's body starts after the next newline: register it
        // before the lexer reads on.
        let here = matches!(op, "<<" | "<<-").then(|| self.here_document(&target, op == "<<-"));
        self.advance()?;
        if let Some(r) = here {
            return Ok(r);
        }
        Ok(match op {
            ">" | ">|" | "&>" => Redirect::Out { fd: fd.unwrap_or(1), append: false, target },
            ">>" => Redirect::Out { fd: fd.unwrap_or(1), append: true, target },
            "<" => Redirect::In { target },
            ">&" | "<&" => Redirect::Dup { fd: fd.unwrap_or(1), to: target },
            _ => unreachable!("here-documents are handled above"),
        })
    }

    fn here_document(&mut self, target: &str, strip: bool) -> Redirect {
        let expand = !target.contains(['\'', '"', '\\']);
        let delim: String = target.chars().filter(|c| !matches!(c, '\'' | '"' | '\\')).collect();
        let idx = self.lex.heres.len();
        self.lex.heres.push(String::new());
        self.lex.pending.push((delim, strip, idx));
        Redirect::Here { body: idx.to_string(), expand }
    }
}

/// `NAME=value` (NAME a valid shell name) → (name, raw value).
fn assignment(w: &str) -> Option<(String, String)> {
    let (name, value) = w.split_once('=')?;
    let valid = !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    valid.then(|| (name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: &Node) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        walk(n, &mut out);
        out
    }

    fn walk(n: &Node, out: &mut Vec<Vec<String>>) {
        match n {
            Node::Simple { words, .. } => out.push(words.clone()),
            Node::Pipeline { parts, .. } => parts.iter().for_each(|p| walk(p, out)),
            Node::AndOr { first, rest } => {
                walk(first, out);
                rest.iter().for_each(|(_, p)| walk(p, out));
            }
            Node::List(v) => v.iter().for_each(|p| walk(p, out)),
            Node::If { arms, otherwise } => {
                for (c, b) in arms {
                    walk(c, out);
                    walk(b, out);
                }
                if let Some(o) = otherwise {
                    walk(o, out);
                }
            }
            Node::For { body, .. }
            | Node::While { body, .. }
            | Node::Group { body, .. }
            | Node::Function { body, .. } => walk(body, out),
            Node::Case { arms, .. } => arms.iter().for_each(|(_, b)| walk(b, out)),
        }
    }

    #[test]
    fn continuations_case_arms_and_quotes_are_read() {
        let s = "#!/bin/sh\nset -e\ncase \"$1\" in\n    configure|abort-remove)\n\tupdate-alternatives --install /usr/sbin/rmt rmt /usr/sbin/rmt-tar 50 \\\n\t\t--slave /usr/share/man/man8/rmt.8.gz rmt.8.gz \\\n\t\t\t/usr/share/man/man8/rmt-tar.8.gz \n    ;;\n    upgrade)\n    ;;\nesac\n";
        let n = parse(s).unwrap();
        let w = words(&n);
        assert_eq!(w[1].len(), 10, "{w:?}");
        assert_eq!(w[1][0], "update-alternatives");
        assert_eq!(w[1][9], "/usr/share/man/man8/rmt-tar.8.gz");
    }

    #[test]
    fn heredocs_functions_loops_and_substitutions_are_read() {
        let s = "f() {\n  [ \"$1\" = configure ] && return 0\n  return 1\n}\nif [ ! -e \"$DPKG_ROOT/etc/passwd\" ]; then\n\tcat > \"$DPKG_ROOT/etc/passwd\" <<'EOF'\nroot:*:0:0:root:/root:/bin/bash\nEOF\nfi\nfor b in php phar; do x=$(dpkg --print-architecture) ; echo \"${b}\" `true`; done 2>/dev/null\n";
        let n = parse(s).unwrap();
        let Node::List(items) = &n else { panic!() };
        assert!(matches!(items[0], Node::Function { .. }));
        let Node::If { arms, .. } = &items[1] else { panic!("{:?}", items[1]) };
        let Node::List(body) = &arms[0].1 else { panic!() };
        let Node::Simple { redirects, .. } = &body[0] else { panic!() };
        assert_eq!(redirects[1], Redirect::Here { body: "root:*:0:0:root:/root:/bin/bash\n".into(), expand: false });
        assert!(matches!(items[2], Node::For { .. }));
    }

    #[test]
    fn unterminated_constructs_name_their_line() {
        assert_eq!(parse("if true; then\n  echo x\n").unwrap_err().line, 3);
        assert!(parse("echo \"open\n").is_err());
        assert!(parse("case x in\n a) echo\n").is_err());
    }
}
