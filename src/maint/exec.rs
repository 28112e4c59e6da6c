//! Runs a parsed maintainer script against the image tree, the way
//! `sh` would on a first installation (`preinst install`, `postinst
//! configure` with no old version, `postinst triggered NAMES`): variables,
//! positional parameters, functions, `.` of shell files the image ships,
//! `$(…)`, here-documents and redirections into image files, `test`.
//! Commands are dispatched to [`super::commands`], which emulates the ones
//! whose effects are files and records every other one as not reproduced.
//! Nothing on the host is run or written.

use std::collections::HashMap;

mod expand;

use super::parse::{self, Node, Redirect};
use super::World;
pub use expand::glob_match;

/// Deepest nesting of function calls, `.` and `$(…)` (scripts that recurse
/// without end are cut off here).
const MAX_DEPTH: usize = 48;
/// Most loop iterations of one `while`/`until` (they test state a script
/// cannot change here, so they are bounded).
const MAX_LOOP: usize = 64;

/// How control leaves a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next command.
    Next,
    /// `exit`: the script ends.
    Exit,
    /// `return` from a function or a `.` file.
    Return,
    /// `break`/`continue` out of the innermost loop.
    Break,
    /// `continue`.
    Continue,
}

/// A shell with its variables, run against one [`World`].
pub struct Shell<'w, 't> {
    /// The image and everything the scripts changed so far.
    pub world: &'w mut World<'t>,
    /// Shell variables (all exported; the environment starts here).
    pub vars: HashMap<String, String>,
    /// `$1` …
    pub args: Vec<String>,
    /// `$0`.
    pub arg0: String,
    funcs: HashMap<String, Node>,
    /// Exit status of the last command.
    pub status: i32,
    flow: Flow,
    depth: usize,
    /// The line of the command being run (for the report).
    pub line: usize,
    /// `getopts`' position.
    optind: usize,
    /// Inside `$(…)`: the line of the command that holds it (calls are
    /// reported at that line).
    outer_line: Option<usize>,
}

impl<'w, 't> Shell<'w, 't> {
    /// A shell for `script_name` of the world's current package, with `args`.
    pub fn new(world: &'w mut World<'t>, arg0: &str, args: Vec<String>, env: HashMap<String, String>) -> Self {
        Shell {
            world,
            vars: env,
            args,
            arg0: arg0.into(),
            funcs: HashMap::new(),
            status: 0,
            flow: Flow::Next,
            depth: 0,
            line: 0,
            optind: 1,
            outer_line: None,
        }
    }

    /// Run a whole script text; its parse error is returned as is.
    pub fn run_script(&mut self, text: &str) -> Result<i32, parse::Error> {
        let node = parse::parse(text)?;
        self.run(&node, &[]);
        Ok(self.status)
    }

    /// Run `node` with `stdin`; returns what it wrote to stdout.
    pub fn run(&mut self, node: &Node, stdin: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.node(node, stdin, &mut out);
        out
    }

    fn stopped(&self) -> bool {
        self.flow != Flow::Next
    }

    fn node(&mut self, node: &Node, stdin: &[u8], out: &mut Vec<u8>) {
        if self.stopped() {
            return;
        }
        match node {
            Node::Simple { assigns, words, redirects, line } => {
                self.line = self.outer_line.unwrap_or(*line);
                self.simple(assigns, words, redirects, stdin, out);
            }
            Node::List(items) => {
                for n in items {
                    self.node(n, stdin, out);
                    if self.stopped() {
                        break;
                    }
                }
            }
            Node::Pipeline { negate, parts } => {
                let mut data = stdin.to_vec();
                for (i, p) in parts.iter().enumerate() {
                    let mut o = Vec::new();
                    self.node(p, &data, &mut o);
                    if i + 1 == parts.len() {
                        out.extend(o);
                    } else {
                        data = o;
                    }
                    if self.flow == Flow::Exit {
                        break;
                    }
                }
                if *negate {
                    self.status = i32::from(self.status == 0);
                }
            }
            Node::AndOr { first, rest } => {
                self.node(first, stdin, out);
                for (and, n) in rest {
                    if self.stopped() {
                        return;
                    }
                    if (self.status == 0) == *and {
                        self.node(n, stdin, out);
                    }
                }
            }
            Node::If { arms, otherwise } => self.if_node(arms, otherwise.as_deref(), stdin, out),
            Node::For { var, items, body } => self.for_node(var, items.as_deref(), body, stdin, out),
            Node::While { until, cond, body } => self.while_node(*until, cond, body, stdin, out),
            Node::Case { word, arms } => self.case_node(word, arms, stdin, out),
            Node::Group { subshell, body, redirects } => self.group(*subshell, body, redirects, stdin, out),
            Node::Function { name, body } => {
                self.funcs.insert(name.clone(), (**body).clone());
                self.status = 0;
            }
        }
    }

    fn if_node(&mut self, arms: &[(Node, Node)], otherwise: Option<&Node>, stdin: &[u8], out: &mut Vec<u8>) {
        for (cond, body) in arms {
            self.node(cond, stdin, out);
            if self.stopped() {
                return;
            }
            if self.status == 0 {
                self.node(body, stdin, out);
                return;
            }
        }
        self.status = 0;
        if let Some(o) = otherwise {
            self.node(o, stdin, out);
        }
    }

    fn for_node(&mut self, var: &str, items: Option<&[String]>, body: &Node, stdin: &[u8], out: &mut Vec<u8>) {
        let values = match items {
            Some(words) => words.iter().flat_map(|w| self.expand(w)).collect(),
            None => self.args.clone(),
        };
        for v in values {
            self.vars.insert(var.into(), v);
            self.node(body, stdin, out);
            if self.loop_ends() {
                break;
            }
        }
    }

    /// After a loop body: `break` ends the loop, `continue` goes on;
    /// `exit`/`return` end it and stay in force. True when the loop ends.
    fn loop_ends(&mut self) -> bool {
        match self.flow {
            Flow::Break | Flow::Continue => {
                let ends = self.flow == Flow::Break;
                self.flow = Flow::Next;
                ends
            }
            Flow::Next => false,
            _ => true,
        }
    }

    fn while_node(&mut self, until: bool, cond: &Node, body: &Node, stdin: &[u8], out: &mut Vec<u8>) {
        for _ in 0..MAX_LOOP {
            self.node(cond, stdin, out);
            if self.stopped() || (self.status == 0) == until {
                break;
            }
            self.node(body, stdin, out);
            if self.loop_ends() {
                break;
            }
        }
        if !self.stopped() {
            self.status = 0;
        }
    }

    fn case_node(&mut self, word: &str, arms: &[(Vec<String>, Node)], stdin: &[u8], out: &mut Vec<u8>) {
        let value = self.expand_one(word);
        for (pats, body) in arms {
            if pats.iter().any(|p| glob_match(&self.expand_pattern(p), &value)) {
                self.node(body, stdin, out);
                return;
            }
        }
        self.status = 0;
    }

    fn group(&mut self, subshell: bool, body: &Node, redirects: &[Redirect], stdin: &[u8], out: &mut Vec<u8>) {
        let saved = subshell.then(|| (self.vars.clone(), self.args.clone()));
        let (input, sink) = self.redirections(redirects, stdin);
        let mut o = Vec::new();
        self.node(body, &input, &mut o);
        if subshell {
            if matches!(self.flow, Flow::Exit | Flow::Return) {
                self.flow = Flow::Next;
            }
            if let Some((vars, args)) = saved {
                self.vars = vars;
                self.args = args;
            }
        }
        self.deliver(o, sink, out);
    }

    fn simple(
        &mut self,
        assigns: &[(String, String)],
        words: &[String],
        redirects: &[Redirect],
        stdin: &[u8],
        out: &mut Vec<u8>,
    ) {
        let argv: Vec<String> = words.iter().flat_map(|w| self.expand(w)).collect();
        let values: Vec<(String, String)> = assigns.iter().map(|(n, v)| (n.clone(), self.expand_one(v))).collect();
        if argv.is_empty() {
            for (n, v) in values {
                self.vars.insert(n, v);
            }
            // The status of `x=$(cmd)` is cmd's; plain assignments succeed.
            if assigns.iter().all(|(_, v)| !v.contains("$(") && !v.contains('`')) {
                self.status = 0;
            }
            let _ = self.redirections(redirects, stdin);
            return;
        }
        let (input, sink) = self.redirections(redirects, stdin);
        let saved: Vec<(String, Option<String>)> =
            values.iter().map(|(n, v)| (n.clone(), self.vars.insert(n.clone(), v.clone()))).collect();
        let mut o = Vec::new();
        self.command(&argv, &input, &mut o);
        for (n, old) in saved {
            match old {
                Some(v) => self.vars.insert(n, v),
                None => self.vars.remove(&n),
            };
        }
        self.deliver(o, sink, out);
    }

    /// Run one expanded command: builtin, function, or an emulated program.
    pub fn command(&mut self, argv: &[String], stdin: &[u8], out: &mut Vec<u8>) {
        let name = argv[0].as_str();
        if let Some(body) = self.funcs.get(name).cloned() {
            return self.call(&body, argv, stdin, out);
        }
        if self.builtin(argv, stdin, out) {
            return;
        }
        self.status = super::commands::run(self, argv, stdin, out);
    }

    fn call(&mut self, body: &Node, argv: &[String], stdin: &[u8], out: &mut Vec<u8>) {
        if self.depth >= MAX_DEPTH {
            self.status = 1;
            return;
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.args, argv[1..].to_vec());
        self.node(body, stdin, out);
        self.args = saved;
        self.depth -= 1;
        if self.flow == Flow::Return {
            self.flow = Flow::Next;
        }
    }

    /// Run a shell script of the image as a program: a fresh set of
    /// positional parameters, functions and variables (the caller's
    /// variables stand in for the environment); returns its exit status.
    pub fn run_program(&mut self, path: &str, text: &str, args: Vec<String>, stdin: &[u8], out: &mut Vec<u8>) -> i32 {
        let Ok(node) = parse::parse(text) else {
            self.world.note_unreadable(path);
            return 1;
        };
        if self.depth >= MAX_DEPTH {
            return 1;
        }
        let env = self.vars.clone();
        let mut child = Shell::new(self.world, path, args, env);
        child.depth = self.depth + 1;
        child.outer_line = Some(self.line);
        child.node(&node, stdin, out);
        child.status
    }

    /// Source a shell file of the image (`. FILE`).
    pub fn source(&mut self, text: &str, out: &mut Vec<u8>) -> bool {
        let Ok(node) = parse::parse(text) else { return false };
        if self.depth >= MAX_DEPTH {
            return false;
        }
        self.depth += 1;
        self.node(&node, &[], out);
        self.depth -= 1;
        if self.flow == Flow::Return {
            self.flow = Flow::Next;
        }
        true
    }

    /// Shell builtins; false when `argv[0]` is not one.
    fn builtin(&mut self, argv: &[String], stdin: &[u8], out: &mut Vec<u8>) -> bool {
        let a = &argv[1..];
        self.status = match argv[0].as_str() {
            ":" | "true" | "set" | "trap" | "umask" | "cd" | "hash" | "wait" | "readonly" => 0,
            "false" => 1,
            "export" | "local" => {
                for w in a {
                    if let Some((n, v)) = w.split_once('=') {
                        self.vars.insert(n.into(), v.into());
                    } else if argv[0] == "local" {
                        self.vars.entry(w.clone()).or_default();
                    }
                }
                0
            }
            "unset" => {
                a.iter().filter(|w| !w.starts_with('-')).for_each(|w| {
                    self.vars.remove(w);
                    self.funcs.remove(w);
                });
                0
            }
            "shift" => {
                let n = a.first().and_then(|n| n.parse().ok()).unwrap_or(1usize);
                self.args.drain(..n.min(self.args.len()));
                0
            }
            "exit" | "return" => {
                let code = a.first().and_then(|n| n.parse().ok()).unwrap_or(self.status);
                self.flow = if argv[0] == "exit" { Flow::Exit } else { Flow::Return };
                code
            }
            "break" => {
                self.flow = Flow::Break;
                0
            }
            "continue" => {
                self.flow = Flow::Continue;
                0
            }
            "echo" => {
                let (nl, words) = if a.first().is_some_and(|w| w == "-n") { (false, &a[1..]) } else { (true, a) };
                out.extend(words.join(" ").as_bytes());
                if nl {
                    out.push(b'\n');
                }
                0
            }
            "printf" => {
                out.extend(printf(a).as_bytes());
                0
            }
            "test" => i32::from(!super::test::eval(self, a)),
            "[" => {
                let a = if a.last().is_some_and(|w| w == "]") { &a[..a.len() - 1] } else { a };
                i32::from(!super::test::eval(self, a))
            }
            "." | "source" => return self.dot(a, out),
            "eval" => {
                let text = a.join(" ");
                match parse::parse(&text) {
                    Ok(n) => {
                        self.node(&n, stdin, out);
                        self.status
                    }
                    Err(_) => 1,
                }
            }
            "getopts" => self.getopts(a),
            // Input is not fed line by line here: `read` meets end of input,
            // so `while read …` loops end at once (recorded once).
            "read" => {
                a.iter().filter(|w| !w.starts_with('-')).for_each(|w| {
                    self.vars.insert(w.clone(), String::new());
                });
                self.world.record(self.line, argv, super::Handling::Unknown { changes_system: false });
                1
            }
            "exec" if !a.is_empty() => {
                self.command(a, stdin, out);
                self.flow = Flow::Exit;
                return true;
            }
            "exec" => 0,
            "command" if a.first().is_some_and(|w| w == "-v") => {
                let found = a.get(1).is_some_and(|p| super::commands::available(self, p));
                if found {
                    out.extend(format!("{}\n", a[1]).as_bytes());
                }
                i32::from(!found)
            }
            "command" if !a.is_empty() => {
                self.command(a, stdin, out);
                return true;
            }
            _ => return false,
        };
        true
    }

    fn dot(&mut self, a: &[String], out: &mut Vec<u8>) -> bool {
        let Some(path) = a.first() else {
            self.status = 1;
            return true;
        };
        if super::commands::is_confmodule(path) {
            // debconf's protocol is emulated ([`super::enable::debconf`]);
            // the real confmodule would re-run the script under its frontend.
            self.status = 0;
            return true;
        }
        let text = super::commands::read_file(self.world.tree, path);
        self.status = match text {
            Some(t) if self.source(&String::from_utf8_lossy(&t), out) => 0,
            Some(_) => {
                self.world.note_unreadable(path);
                1
            }
            None => super::commands::source_missing(self, path),
        };
        true
    }

    /// `getopts OPTSTRING NAME` over the positional parameters.
    fn getopts(&mut self, a: &[String]) -> i32 {
        let (Some(spec), Some(name)) = (a.first(), a.get(1)) else { return 2 };
        let Some(arg) = self.args.get(self.optind - 1).cloned() else { return 1 };
        if !arg.starts_with('-') || arg == "-" || arg == "--" {
            if arg == "--" {
                self.optind += 1;
            }
            self.vars.insert("OPTIND".into(), self.optind.to_string());
            return 1;
        }
        let opt = arg.chars().nth(1).unwrap_or('?');
        self.optind += 1;
        let takes = spec.find(opt).is_some_and(|i| spec[i + 1..].starts_with(':'));
        if takes {
            let value = if arg.len() > 2 {
                arg[2..].to_string()
            } else {
                self.args.get(self.optind - 1).cloned().unwrap_or_default()
            };
            if arg.len() <= 2 {
                self.optind += 1;
            }
            self.vars.insert("OPTARG".into(), value);
        }
        self.vars.insert(name.clone(), if spec.contains(opt) { opt.to_string() } else { "?".into() });
        self.vars.insert("OPTIND".into(), self.optind.to_string());
        0
    }

    /// Apply redirections: the command's stdin, and where its stdout goes
    /// (`None`: to the caller).
    fn redirections(&mut self, redirects: &[Redirect], stdin: &[u8]) -> (Vec<u8>, Option<Sink>) {
        let mut input = stdin.to_vec();
        let mut sink = None;
        for r in redirects {
            match r {
                Redirect::Here { body, expand } => {
                    input = if *expand { self.expand_text(body).into_bytes() } else { body.clone().into_bytes() };
                }
                Redirect::In { target } => {
                    let path = self.expand_one(target);
                    input = super::commands::read_file(self.world.tree, &path).unwrap_or_default();
                }
                Redirect::Out { fd: 1, append, target } => {
                    let path = self.expand_one(target);
                    sink = Some(if path == "/dev/null" { Sink::Null } else { Sink::File { path, append: *append } });
                }
                Redirect::Dup { fd: 1, to } if to == "2" => sink = Some(Sink::Null),
                _ => {}
            }
        }
        (input, sink)
    }

    fn deliver(&mut self, data: Vec<u8>, sink: Option<Sink>, out: &mut Vec<u8>) {
        match sink {
            None => out.extend(data),
            Some(Sink::Null) => {}
            Some(Sink::File { path, append }) => {
                let line = self.line;
                self.world.write_file(&path, data, append, line);
            }
        }
    }
}

/// Where a command's stdout goes.
enum Sink {
    Null,
    File { path: String, append: bool },
}

/// `printf FORMAT ARGS…` with `%s`, `%d`, `%b`, `%%` and `\n`/`\t` escapes;
/// the format is reused while arguments remain.
fn printf(a: &[String]) -> String {
    let Some(fmt) = a.first() else { return String::new() };
    let mut args = a[1..].iter();
    let mut out = String::new();
    loop {
        let mut used = false;
        let mut chars = fmt.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => out.push('\\'),
                },
                '%' => {
                    while chars.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '.')) {
                        chars.next();
                    }
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some(_) => {
                            used = true;
                            out.push_str(args.next().map(String::as_str).unwrap_or(""));
                        }
                        None => {}
                    }
                }
                c => out.push(c),
            }
        }
        if !used || args.len() == 0 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::expand::strip;
    use super::*;

    #[test]
    fn patterns_match_like_sh() {
        assert!(glob_match("abort-*", "abort-remove"));
        assert!(glob_match("*.so", "libx.so"));
        assert!(!glob_match("\\*", "x"));
        assert!(glob_match("[0-9]*", "8.2"));
        assert_eq!(strip("/usr/lib/x.so", "*/", true, true), "x.so");
        assert_eq!(strip("file.ini", ".*", false, false), "file");
        assert_eq!(strip("a.b.c", ".*", true, false), "a");
    }

    #[test]
    fn printf_reuses_its_format() {
        assert_eq!(printf(&["%s=%s\\n".into(), "a".into(), "1".into(), "b".into(), "2".into()]), "a=1\nb=2\n");
    }
}
