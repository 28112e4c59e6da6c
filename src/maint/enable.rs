//! Configuration that packages ship as data and scripts switch on:
//! debconf answers (a noninteractive first install takes each template's
//! `Default:`, debconf-devel(7)), and PHP's module enabler (`phpenmod`,
//! `phpdismod`, `phpquery` from php-common: a module is enabled for a SAPI
//! by the link `/etc/php/V/SAPI/conf.d/PRIO-MOD.ini` →
//! `/etc/php/V/mods-available/MOD.ini`, PRIO from the ini's
//! `; priority=NN` line, 20 without one).

use std::collections::BTreeMap;

use super::commands::read_file;
use super::exec::Shell;
use super::Handling;
use crate::tree::{Entry, Kind, Tree};

/// The `Default:` of every template in a debconf `templates` file.
pub fn template_defaults(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| stanza.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
        if let Some(t) = field("Template:") {
            out.insert(t, field("Default:").unwrap_or_default());
        }
    }
    out
}

/// debconf's `db_*` commands (confmodule): `db_get` sets `RET` to the
/// template default; everything else succeeds without effect (`db_input`
/// answers 30, "question not shown", as the noninteractive frontend does).
pub fn debconf(sh: &mut Shell, name: &str, a: &[String]) -> i32 {
    let status = match name {
        "db_get" => {
            let q = a.first().cloned().unwrap_or_default();
            match sh.world.debconf.get(&q).cloned() {
                Some(v) => {
                    sh.vars.insert("RET".into(), v);
                    0
                }
                None => {
                    sh.vars.insert("RET".into(), String::new());
                    10
                }
            }
        }
        "db_set" => {
            if let Some(q) = a.first() {
                sh.world.debconf.insert(q.clone(), a[1..].join(" "));
            }
            0
        }
        "db_fget" => {
            sh.vars.insert("RET".into(), "false".into());
            0
        }
        "db_metaget" => {
            sh.vars.insert("RET".into(), String::new());
            0
        }
        "db_input" => 30,
        _ => 0,
    };
    sh.vars.entry("RET".into()).or_default();
    status
}

/// `phpquery`, `phpenmod`, `phpdismod`; `None` for other programs.
pub fn run(sh: &mut Shell, name: &str, a: &[String], out: &mut Vec<u8>) -> Option<i32> {
    if !matches!(name, "phpquery" | "phpenmod" | "phpdismod") {
        return None;
    }
    let argv: Vec<String> = std::iter::once(name.to_string()).chain(a.iter().cloned()).collect();
    let opts = PhpOpts::parse(name == "phpquery", a);
    let tree = &*sh.world.tree;
    if name == "phpquery" {
        return Some(phpquery(tree, &opts, out));
    }
    let enable = name == "phpenmod";
    let versions = if opts.version.as_deref().is_none_or(|v| v == "ALL") {
        php_versions(tree)
    } else {
        opts.version.iter().cloned().collect()
    };
    let mut status = 0;
    let mut done = Vec::new();
    for v in &versions {
        for m in &opts.mods {
            if read_file(tree_of(sh), &format!("/etc/php/{v}/mods-available/{m}.ini")).is_none() {
                status = 1;
                continue;
            }
            if opts.registry {
                touch(sh, &format!("/var/lib/php/modules/{v}/registry/{m}"));
                continue;
            }
            let sapis = match opts.sapi.as_deref() {
                None | Some("ALL") => php_sapis(tree_of(sh), v),
                Some(s) => vec![s.to_string()],
            };
            for s in sapis {
                if php_toggle(sh, v, &s, m, enable, opts.maint) {
                    done.push(format!("{v}/{s}/{m}"));
                }
            }
        }
    }
    let verb = if enable { "enabled" } else { "disabled" };
    let handling = if done.is_empty() {
        Handling::NoEffect("nothing to change".into())
    } else {
        Handling::Reproduced(format!("PHP modules {verb}: {}", done.join(", ")))
    };
    sh.world.record(sh.line, &argv, handling);
    Some(status)
}

fn tree_of<'a>(sh: &'a Shell) -> &'a Tree {
    sh.world.tree
}

#[derive(Default)]
struct PhpOpts {
    version: Option<String>,
    sapi: Option<String>,
    module: Option<String>,
    mods: Vec<String>,
    maint: bool,
    registry: bool,
    list_versions: bool,
    list_sapis: bool,
    list_mods: bool,
}

impl PhpOpts {
    /// `phpquery` takes `-m MOD`; for `phpenmod`/`phpdismod` `-m` is
    /// "maintainer mode".
    fn parse(query: bool, a: &[String]) -> Self {
        let mut o = PhpOpts::default();
        let mut it = a.iter();
        while let Some(w) = it.next() {
            match w.as_str() {
                "-v" => o.version = it.next().cloned(),
                "-s" => o.sapi = it.next().cloned(),
                "-m" if query => o.module = it.next().cloned(),
                "-m" => o.maint = true,
                "-r" => o.registry = true,
                "-V" => o.list_versions = true,
                "-S" => o.list_sapis = true,
                "-M" => o.list_mods = true,
                w if w.starts_with('-') => {}
                w => o.mods.push(w.to_string()),
            }
        }
        o
    }
}

/// `phpquery -V` | `-S -v V` | `-M -v V` | `-v V -s S -m MOD` (status 0:
/// enabled, 1: not).
fn phpquery(tree: &Tree, o: &PhpOpts, out: &mut Vec<u8>) -> i32 {
    let v = o.version.clone().unwrap_or_default();
    let lines: Vec<String> = if o.list_versions {
        let mut v = php_versions(tree);
        v.reverse();
        v
    } else if o.list_sapis {
        php_sapis(tree, &v)
    } else if o.list_mods {
        php_mods(tree, &v)
    } else {
        let (Some(s), Some(m)) = (&o.sapi, o.module.as_ref().or(o.mods.first())) else { return 3 };
        return i32::from(php_link(tree, &v, s, m).is_none());
    };
    lines.iter().for_each(|l| out.extend(format!("{l}\n").as_bytes()));
    0
}

fn dir_names(tree: &Tree, dir: &str) -> Vec<String> {
    let prefix = format!("{dir}/");
    tree.children(dir)
        .filter_map(|(p, e)| {
            let n = p.strip_prefix(&prefix)?;
            (!n.contains('/') && matches!(e.kind, Kind::Dir)).then(|| n.to_string())
        })
        .collect()
}

fn php_versions(tree: &Tree) -> Vec<String> {
    dir_names(tree, "/etc/php").into_iter().filter(|v| v.contains('.') && v.as_bytes()[0].is_ascii_digit()).collect()
}

fn php_sapis(tree: &Tree, v: &str) -> Vec<String> {
    dir_names(tree, &format!("/etc/php/{v}")).into_iter().filter(|s| s != "mods-available").collect()
}

fn php_mods(tree: &Tree, v: &str) -> Vec<String> {
    let prefix = format!("/etc/php/{v}/mods-available/");
    tree.children(&prefix[..prefix.len() - 1])
        .filter_map(|(p, _)| p.strip_prefix(&prefix)?.strip_suffix(".ini").map(String::from))
        .filter(|m| !m.contains('/'))
        .collect()
}

fn php_priority(tree: &Tree, v: &str, m: &str) -> String {
    let ini = read_file(tree, &format!("/etc/php/{v}/mods-available/{m}.ini")).unwrap_or_default();
    String::from_utf8_lossy(&ini)
        .lines()
        .find_map(|l| {
            let l = l.strip_prefix(';')?.trim();
            let (k, v) = l.split_once('=')?;
            (k.trim() == "priority" && v.trim().bytes().all(|b| b.is_ascii_digit()) && !v.trim().is_empty())
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "20".into())
}

/// The existing enabling link of a module, if any.
fn php_link(tree: &Tree, v: &str, s: &str, m: &str) -> Option<String> {
    let link = format!("/etc/php/{v}/{s}/conf.d/{}-{m}.ini", php_priority(tree, v, m));
    matches!(tree.get(&tree.resolve_parents(&link)).map(|e| &e.kind), Some(Kind::Symlink(_))).then_some(link)
}

fn php_toggle(sh: &mut Shell, v: &str, s: &str, m: &str, enable: bool, maint: bool) -> bool {
    let tree = tree_of(sh);
    if tree.resolve(&format!("/etc/php/{v}/{s}/conf.d")).is_none() {
        return false;
    }
    let prio = php_priority(tree, v, m);
    let link = format!("/etc/php/{v}/{s}/conf.d/{prio}-{m}.ini");
    let exists = php_link(tree, v, s, m).is_some();
    let state = format!(
        "/var/lib/php/modules/{v}/{s}/{}_by_{}/{m}",
        if enable { "enabled" } else { "disabled" },
        if maint { "maint" } else { "admin" }
    );
    if enable && !exists {
        sh.world.put(&link, Entry::symlink(&format!("/etc/php/{v}/mods-available/{m}.ini")));
    } else if !enable && exists {
        sh.world.tree.remove(&link);
    }
    touch(sh, &state);
    enable != exists
}

fn touch(sh: &mut Shell, path: &str) {
    if sh.world.tree.resolve(path).is_none() {
        let e = super::commands::new_file(sh.world.tree, 0o644, Vec::new());
        sh.world.put(path, e);
    }
}
