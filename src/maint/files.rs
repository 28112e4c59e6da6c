//! File utilities as maintainer scripts use them (coreutils' `mkdir`,
//! `ln`, `chmod`, `chown`, `touch`, `rm`, `rmdir`, `mv`, `cp`, `install`,
//! `cat`, `readlink`, findutils' `find`), `ucf` (configuration files
//! installed from a shipped template, ucf(1)) and `dpkg-divert`
//! (dpkg-divert(1)), applied to the image tree.

use super::commands::{new_file, read_file};
use super::exec::Shell;
use super::Handling;
use crate::tree::{normalize, Entry, Kind, Tree};

/// Run a file utility; `None` when `name` is not one.
pub fn run(sh: &mut Shell, name: &str, a: &[String], stdin: &[u8], out: &mut Vec<u8>) -> Option<i32> {
    let argv: Vec<String> = std::iter::once(name.to_string()).chain(a.iter().cloned()).collect();
    let (flags, paths) = split_flags(a);
    let status = match name {
        "cat" => {
            if paths.is_empty() {
                out.extend(stdin);
            }
            let mut status = 0;
            for p in &paths {
                match read_file(sh.world.tree, p) {
                    Some(b) => out.extend(b),
                    None => status = 1,
                }
            }
            return Some(status);
        }
        "readlink" => {
            let Some(p) = paths.first() else { return Some(1) };
            let tree = &*sh.world.tree;
            let target = if flags.iter().any(|f| f.contains('f') || f.contains('e') || f.contains('m')) {
                tree.resolve(p)
            } else {
                match tree.get(&tree.resolve_parents(p)).map(|e| &e.kind) {
                    Some(Kind::Symlink(t)) => Some(t.clone()),
                    _ => None,
                }
            };
            return Some(match target {
                Some(t) => {
                    out.extend(format!("{t}\n").as_bytes());
                    0
                }
                None => 1,
            });
        }
        "find" => return Some(find(sh.world.tree, a, out)),
        "realpath" => {
            let mut status = 0;
            for p in &paths {
                let no_links = flags.iter().any(|f| f.contains('s') || f == "--no-symlinks");
                let missing_ok = flags.iter().any(|f| f.contains('m'));
                let r = if no_links {
                    normalize(p)
                } else {
                    sh.world.tree.resolve(p).or_else(|| missing_ok.then(|| normalize(p)).flatten())
                };
                match r {
                    Some(r) => out.extend(format!("{r}\n").as_bytes()),
                    None => status = 1,
                }
            }
            return Some(status);
        }
        "stat" => return Some(stat(sh.world.tree, a, out)),
        "mkdir" => mkdir(sh, &flags, &paths, a),
        "ln" => ln(sh, &flags, &paths),
        "chmod" | "chown" | "chgrp" => return Some(super::accounts::chmod_chown(sh, name, &argv)),
        "touch" => {
            for p in &paths {
                if sh.world.tree.resolve(p).is_none() {
                    let e = new_file(sh.world.tree, 0o644, Vec::new());
                    sh.world.put(p, e);
                }
            }
            0
        }
        "rm" | "rmdir" => {
            for p in &paths {
                remove(sh.world.tree, p, flags.iter().any(|f| f.contains('r') || f.contains('R')) || name == "rmdir");
            }
            0
        }
        "mv" | "cp" => copy(sh, name == "mv", &paths),
        "install" => install(sh, a),
        _ => return None,
    };
    let handling = if status == 0 {
        Handling::Reproduced("file system change".into())
    } else {
        Handling::NoEffect("failed as it would in the image".into())
    };
    sh.world.record(sh.line, &argv, handling);
    Some(status)
}

/// Options (words starting with `-`, until `--`) and operands.
fn split_flags(a: &[String]) -> (Vec<String>, Vec<String>) {
    let mut flags = Vec::new();
    let mut paths = Vec::new();
    let mut rest = false;
    for w in a {
        if !rest && w == "--" {
            rest = true;
        } else if !rest && w.starts_with('-') && w.len() > 1 {
            flags.push(w.clone());
        } else {
            paths.push(w.clone());
        }
    }
    (flags, paths)
}

/// A mode operand: octal, or symbolic (`u+x`, `go-w`, `a=r`) applied to `old`.
pub fn parse_mode(m: &str, old: u32) -> Option<u32> {
    if let Ok(v) = u32::from_str_radix(m, 8) {
        return Some(v & 0o7777);
    }
    let mut mode = old;
    for clause in m.split(',') {
        let op_at = clause.find(['+', '-', '='])?;
        let (who, rest) = clause.split_at(op_at);
        let (op, perms) = rest.split_at(1);
        let who = if who.is_empty() { "a" } else { who };
        let mut mask = 0;
        for w in who.chars() {
            mask |= match w {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o0007,
                'a' => 0o6777,
                _ => return None,
            };
        }
        let mut bits = 0;
        for p in perms.chars() {
            bits |= match p {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                's' => 0o6000,
                't' => 0o1000,
                _ => return None,
            };
        }
        let bits = bits & (mask | 0o1000);
        mode = match op {
            "+" => mode | bits,
            "-" => mode & !bits,
            _ => (mode & !mask) | bits,
        };
    }
    Some(mode & 0o7777)
}

fn mkdir(sh: &mut Shell, flags: &[String], paths: &[String], a: &[String]) -> i32 {
    let given = a
        .iter()
        .position(|w| w == "-m")
        .and_then(|i| a.get(i + 1))
        .or_else(|| a.iter().find_map(|w| w.strip_prefix("--mode=").map(|_| w)));
    let mode = match given.map(|m| parse_mode(m.trim_start_matches("--mode="), 0o755)) {
        None => 0o755,
        Some(Some(m)) => m,
        // `mkdir -m /path` (an empty expansion ate the mode): an error.
        Some(None) => return 1,
    };
    let parents = flags.iter().any(|f| f.contains('p'));
    let mut status = 0;
    for p in paths.iter().filter(|p| Some(*p) != a.iter().position(|w| w == "-m").and_then(|i| a.get(i + 1))) {
        let tree = &*sh.world.tree;
        let real = tree.resolve_parents(p);
        let parent = real.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
        if tree.get(&real).is_some() {
            status = i32::from(!parents);
            continue;
        }
        if !parents && tree.resolve(parent).is_none() {
            status = 1;
            continue;
        }
        sh.world.put(p, Entry::dir(mode));
    }
    status
}

fn ln(sh: &mut Shell, flags: &[String], paths: &[String]) -> i32 {
    if !flags.iter().any(|f| f.contains('s') || f == "--symbolic") {
        return 1; // hard links between scripts' files: not seen in practice
    }
    let force = flags.iter().any(|f| f.contains('f') || f == "--force");
    let no_deref = flags.iter().any(|f| f.contains('n') || f.contains('T'));
    let [target, link] = paths else { return 1 };
    let tree = &*sh.world.tree;
    let mut dest = link.clone();
    // `ln -s target dir` makes dir/basename(target).
    if !no_deref && tree.resolve(link).is_some_and(|r| matches!(tree.get(&r).map(|e| &e.kind), Some(Kind::Dir))) {
        dest = format!("{}/{}", link.trim_end_matches('/'), target.rsplit('/').next().unwrap_or(target));
    }
    let real = tree.resolve_parents(&dest);
    if tree.get(&real).is_some() && !force {
        return 1;
    }
    if matches!(tree.get(&real).map(|e| &e.kind), Some(Kind::Dir)) {
        return 1;
    }
    sh.world.put(&dest, Entry::symlink(target));
    0
}

fn remove(tree: &mut Tree, path: &str, recursive: bool) {
    let real = tree.resolve_parents(path);
    if recursive {
        let below: Vec<String> = tree.children(&real).map(|(p, _)| p.clone()).collect();
        for p in below {
            tree.remove(&p);
        }
    } else if tree.has_children(&real) {
        return;
    }
    if real != "/" {
        tree.remove(&real);
    }
}

fn copy(sh: &mut Shell, moving: bool, paths: &[String]) -> i32 {
    let [src, dst] = paths else { return 1 };
    let tree = &*sh.world.tree;
    let from = tree.resolve_parents(src);
    let Some(entry) = tree.get(&from).cloned() else { return 1 };
    if tree.has_children(&from) {
        return 1; // directory trees: not seen in practice
    }
    let mut dest = dst.clone();
    if tree.resolve(dst).is_some_and(|r| matches!(tree.get(&r).map(|e| &e.kind), Some(Kind::Dir))) {
        dest = format!("{}/{}", dst.trim_end_matches('/'), src.rsplit('/').next().unwrap_or(src));
    }
    let entry = if moving { entry } else { Entry { package: None, ..entry } };
    sh.world.put(&dest, entry);
    if moving {
        sh.world.tree.remove(&from);
    }
    0
}

/// `install -d [-m MODE] DIR…` and `install [-m MODE] SRC DEST`.
fn install(sh: &mut Shell, a: &[String]) -> i32 {
    let mut mode = 0o755;
    let mut dirs = false;
    let mut ops = Vec::new();
    let mut it = a.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "-d" | "--directory" => dirs = true,
            "-m" | "--mode" => mode = it.next().and_then(|m| parse_mode(m, 0o755)).unwrap_or(mode),
            "-o" | "-g" | "--owner" | "--group" => {
                it.next();
            }
            w if w.starts_with('-') => {}
            w => ops.push(w.to_string()),
        }
    }
    if dirs {
        for d in ops {
            if sh.world.tree.resolve(&d).is_none() {
                sh.world.put(&d, Entry::dir(mode));
            }
        }
        return 0;
    }
    let [src, dst] = &ops[..] else { return 1 };
    let Some(data) = read_file(sh.world.tree, src) else { return 1 };
    let e = new_file(sh.world.tree, mode, data);
    sh.world.put(dst, e);
    0
}

/// `find PATH… [-maxdepth N] [-name PAT] [-type f|d|l] [-print]`.
fn find(tree: &Tree, a: &[String], out: &mut Vec<u8>) -> i32 {
    let roots: Vec<&String> = a.iter().take_while(|w| !w.starts_with('-')).collect();
    let arg = |k: &str| a.iter().position(|w| w == k).and_then(|i| a.get(i + 1));
    let name = arg("-name");
    let kind = arg("-type");
    let depth: Option<usize> = arg("-maxdepth").and_then(|d| d.parse().ok());
    let mut status = 0;
    for root in roots {
        let Some(real) = tree.resolve(root) else {
            status = 1;
            continue;
        };
        let base_depth = real.matches('/').count();
        let entries = std::iter::once((&real, tree.get(&real))).chain(tree.children(&real).map(|(p, e)| (p, Some(e))));
        for (p, e) in entries {
            let Some(e) = e else { continue };
            let d = if p == &real { 0 } else { p.matches('/').count() - base_depth.min(p.matches('/').count()) };
            let shown = format!("{}{}", root.trim_end_matches('/'), &p[real.len()..]);
            let leaf = p.rsplit('/').next().unwrap_or("");
            let ok_kind = match kind.map(String::as_str) {
                Some("f") => matches!(e.kind, Kind::File { .. }),
                Some("d") => matches!(e.kind, Kind::Dir),
                Some("l") => matches!(e.kind, Kind::Symlink(_)),
                _ => true,
            };
            if ok_kind && depth.is_none_or(|m| d <= m) && name.is_none_or(|n| super::exec::glob_match(n, leaf)) {
                out.extend(format!("{shown}\n").as_bytes());
            }
        }
    }
    status
}

/// `stat [-L] -c FORMAT PATH…` with `%a` (octal mode), `%u`/`%g` (ids),
/// `%U`/`%G` (names), `%n` (path), `%F` (type) and `%s` (size).
fn stat(tree: &Tree, a: &[String], out: &mut Vec<u8>) -> i32 {
    let fmt = a.iter().position(|w| w == "-c" || w == "--format").and_then(|i| a.get(i + 1)).cloned().or_else(|| {
        a.iter().find_map(|w| {
            w.strip_prefix("--format=").or_else(|| w.strip_prefix("-c")).filter(|f| !f.is_empty()).map(String::from)
        })
    });
    let Some(fmt) = fmt else { return 1 };
    let follow = a.iter().any(|w| w == "-L" || w == "--dereference");
    let paths: Vec<&String> = a.iter().filter(|w| !w.starts_with('-') && **w != fmt).collect();
    let mut status = 0;
    for p in paths {
        let real = if follow { tree.resolve(p) } else { Some(tree.resolve_parents(p)) };
        let Some(e) = real.as_deref().and_then(|r| tree.get(r)) else {
            status = 1;
            continue;
        };
        let name = |file: &str, id: u32| {
            super::accounts::lookup(tree, file, &id.to_string())
                .and_then(|l| l.split(':').next().map(String::from))
                .unwrap_or_else(|| id.to_string())
        };
        let kind = match e.kind {
            Kind::Dir => "directory",
            Kind::File { .. } => "regular file",
            Kind::Symlink(_) => "symbolic link",
        };
        let line = fmt
            .replace("%a", &format!("{:o}", e.mode & 0o7777))
            .replace("%u", &e.uid.to_string())
            .replace("%g", &e.gid.to_string())
            .replace("%U", &name("/etc/passwd", e.uid))
            .replace("%G", &name("/etc/group", e.gid))
            .replace("%n", p)
            .replace("%F", kind)
            .replace("%s", &e.size().to_string());
        out.extend(format!("{line}\n").as_bytes());
    }
    status
}

/// `ucf [options] NEW DEST`: on a first install ucf copies the shipped
/// template `NEW` to the configuration file `DEST` (ucf(1)).
pub fn ucf(sh: &mut Shell, argv: &[String]) -> i32 {
    let ops: Vec<&String> = argv[1..].iter().filter(|w| !w.starts_with('-')).collect();
    let [src, dst] = ops[..] else {
        sh.world.record(sh.line, argv, Handling::NoEffect("ucf query or purge".into()));
        return 0;
    };
    if sh.world.tree.resolve(dst).is_some() {
        sh.world.record(sh.line, argv, Handling::NoEffect("configuration file already there".into()));
        return 0;
    }
    let Some(data) = read_file(sh.world.tree, src) else {
        sh.world.record(sh.line, argv, Handling::Unknown { changes_system: true });
        return 1;
    };
    let e = new_file(sh.world.tree, 0o644, data);
    sh.world.put(dst, e);
    sh.world.record(sh.line, argv, Handling::Reproduced(format!("configuration file {dst} from {src}")));
    0
}

/// `dpkg-divert [--package P] [--rename] [--divert TO] --add FILE`: with
/// `--rename`, a file another package shipped at FILE moves to TO (on a
/// first install dpkg unpacks it there). `--list`/`--truename` answer as
/// dpkg would with no diversions but this one.
pub fn divert(sh: &mut Shell, argv: &[String], out: &mut Vec<u8>) -> i32 {
    let a = &argv[1..];
    let arg = |k: &str| a.iter().position(|w| w == k).and_then(|i| a.get(i + 1)).cloned();
    let file = a
        .iter()
        .rev()
        .find(|w| !w.starts_with('-') && Some(*w) != arg("--divert").as_ref() && Some(*w) != arg("--package").as_ref());
    if a.iter().any(|w| w == "--list" || w == "--listpackage") {
        return 0;
    }
    if a.iter().any(|w| w == "--truename") {
        if let Some(f) = file {
            out.extend(format!("{f}\n").as_bytes());
        }
        return 0;
    }
    if a.iter().any(|w| w == "--remove") {
        sh.world.record(sh.line, argv, Handling::NoEffect("removes a diversion".into()));
        return 0;
    }
    let Some(file) = file.cloned() else { return 2 };
    let to = arg("--divert").unwrap_or_else(|| format!("{file}.distrib"));
    let owner = arg("--package").unwrap_or_else(|| sh.world.package.clone());
    let tree = &mut *sh.world.tree;
    let real = tree.resolve_parents(&file);
    let moved = a.iter().any(|w| w == "--rename")
        && tree.get(&real).is_some_and(|e| e.package.as_deref().is_some_and(|p| p != owner));
    if moved {
        if let (Some(e), Some(_)) = (tree.remove(&real), normalize(&to)) {
            tree.insert(&to, e);
        }
    }
    let what =
        if moved { format!("diverted {file} to {to}") } else { format!("diversion of {file} (nothing to move)") };
    sh.world.record(sh.line, argv, Handling::Reproduced(what));
    0
}
