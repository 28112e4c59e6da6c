//! `test` / `[` (XCU "test") over the image tree, and `$((…))`/`expr`
//! integer arithmetic.

use super::exec::Shell;
use crate::tree::Kind;

/// Evaluate `test` arguments (`!`, `-a`, `-o`, unary and binary primaries).
pub fn eval(sh: &mut Shell, a: &[String]) -> bool {
    if let Some(i) = a.iter().rposition(|w| w == "-o").filter(|&i| i > 0 && i + 1 < a.len()) {
        return eval(sh, &a[..i]) || eval(sh, &a[i + 1..]);
    }
    if let Some(i) = a.iter().rposition(|w| w == "-a").filter(|&i| i > 0 && i + 1 < a.len()) {
        return eval(sh, &a[..i]) && eval(sh, &a[i + 1..]);
    }
    match a {
        [] => false,
        [x] => !x.is_empty(),
        [not, rest @ ..] if not == "!" => !eval(sh, rest),
        [op, x] => unary(sh, op, x),
        [x, op, y] => binary(x, op, y),
        _ => false,
    }
}

fn unary(sh: &Shell, op: &str, x: &str) -> bool {
    let tree = &*sh.world.tree;
    let path = || tree.resolve(x);
    let entry = || path().and_then(|p| tree.get(&p).cloned());
    match op {
        "-z" => x.is_empty(),
        "-n" => !x.is_empty(),
        "-e" | "-r" | "-w" => entry().is_some(),
        "-f" => entry().is_some_and(|e| matches!(e.kind, Kind::File { .. })),
        "-d" => entry().is_some_and(|e| matches!(e.kind, Kind::Dir)),
        "-x" => entry().is_some_and(|e| e.mode & 0o111 != 0),
        "-s" => entry().is_some_and(|e| matches!(e.kind, Kind::Dir) || e.size() > 0),
        "-h" | "-L" => {
            let p = tree.resolve_parents(x);
            matches!(tree.get(&p).map(|e| &e.kind), Some(Kind::Symlink(_)))
        }
        // Sockets, pipes, terminals: none in an image being built.
        "-S" | "-p" | "-t" | "-b" | "-c" => false,
        _ => !op.is_empty(),
    }
}

fn binary(x: &str, op: &str, y: &str) -> bool {
    let n = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
    match op {
        "=" | "==" => x == y,
        "!=" => x != y,
        "-eq" => n(x) == n(y),
        "-ne" => n(x) != n(y),
        "-lt" => n(x) < n(y),
        "-le" => n(x) <= n(y),
        "-gt" => n(x) > n(y),
        "-ge" => n(x) >= n(y),
        _ => false,
    }
}

/// `$((expr))`: integers with `+ - * / %` and parentheses, variables by name.
pub fn arith(sh: &mut Shell, text: &str) -> i64 {
    let expanded = sh.expand_one(text);
    let toks: Vec<String> = tokens(&expanded);
    let mut pos = 0;
    sum(sh, &toks, &mut pos)
}

fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if "+-*/%()".contains(c) || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn sum(sh: &Shell, t: &[String], pos: &mut usize) -> i64 {
    let mut v = product(sh, t, pos);
    while let Some(op) = t.get(*pos).filter(|o| *o == "+" || *o == "-") {
        let plus = op == "+";
        *pos += 1;
        let r = product(sh, t, pos);
        v = if plus { v.wrapping_add(r) } else { v.wrapping_sub(r) };
    }
    v
}

fn product(sh: &Shell, t: &[String], pos: &mut usize) -> i64 {
    let mut v = atom(sh, t, pos);
    while let Some(op) = t.get(*pos).filter(|o| matches!(o.as_str(), "*" | "/" | "%")).cloned() {
        *pos += 1;
        let r = atom(sh, t, pos);
        v = match op.as_str() {
            "*" => v.wrapping_mul(r),
            "/" if r != 0 => v / r,
            "%" if r != 0 => v % r,
            _ => 0,
        };
    }
    v
}

fn atom(sh: &Shell, t: &[String], pos: &mut usize) -> i64 {
    let Some(tok) = t.get(*pos) else { return 0 };
    *pos += 1;
    match tok.as_str() {
        "(" => {
            let v = sum(sh, t, pos);
            *pos += 1;
            v
        }
        "-" => -atom(sh, t, pos),
        s => s.parse().unwrap_or_else(|_| sh.var(s).trim().parse().unwrap_or(0)),
    }
}

/// `expr A OP B` for the integer and string comparisons scripts use.
pub fn expr(a: &[String]) -> Option<String> {
    let n = |s: &str| s.parse::<i64>().ok();
    match a {
        [x] => Some(x.clone()),
        [x, op, y] => {
            let (l, r) = (n(x), n(y));
            let v = match (op.as_str(), l, r) {
                ("+", Some(l), Some(r)) => l + r,
                ("-", Some(l), Some(r)) => l - r,
                ("*", Some(l), Some(r)) => l * r,
                ("/", Some(l), Some(r)) if r != 0 => l / r,
                ("%", Some(l), Some(r)) if r != 0 => l % r,
                ("=", ..) => i64::from(x == y),
                ("!=", ..) => i64::from(x != y),
                ("<", Some(l), Some(r)) => i64::from(l < r),
                (">", Some(l), Some(r)) => i64::from(l > r),
                _ => return None,
            };
            Some(v.to_string())
        }
        _ => None,
    }
}
