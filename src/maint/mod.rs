//! Maintainer-script effects, reproduced without running any script
//! (Debian Policy ch. 6; deb-triggers(5)). dpkg finishes an installation by
//! running each package's `preinst install`, unpacking, then `postinst
//! configure`, and afterwards `postinst triggered NAMES` for packages whose
//! trigger interests were activated. distill reads those scripts from
//! `control.tar` ([`parse`]), runs them in a shell emulation over the image
//! tree ([`exec`]) in the same order, and emulates the programs they call
//! for their effect on files ([`commands`], [`files`], [`accounts`],
//! [`enable`], [`alternatives`]). Nothing on the host runs or changes.
//!
//! ```text
//! control.tar (preinst, postinst, templates, triggers)
//!   → parse → exec (tree, $1 = install | configure | triggered)
//!   → World { tree edits, alternatives, accounts, activated triggers }
//!   → update-alternatives links (auto mode) → Report (every call, how handled)
//! ```
//!
//! Every program call is kept in the [`Report`] with its [`Handling`]: what
//! it made, why it changes nothing in an image, what distill leaves out on
//! purpose (with what that costs), or that distill does not know it (a
//! warning when it names a path under `/etc`, `/usr`, `/var`, `/opt`).

pub mod accounts;
pub mod alternatives;
pub mod commands;
pub mod enable;
pub mod exec;
pub mod files;
pub mod parse;
pub mod test;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::tree::alternatives::Alternative;
use crate::tree::{Entry, Tree};

/// The maintainer-script material of one package, from its `control.tar`.
#[derive(Debug, Clone, Default)]
pub struct PackageScripts {
    /// Package name.
    pub name: String,
    /// Its `Architecture` (`all` or the image's).
    pub arch: String,
    /// `preinst`, if any.
    pub preinst: Option<String>,
    /// `postinst`, if any.
    pub postinst: Option<String>,
    /// debconf `config` script, if any (debconf-devel(7)).
    pub config: Option<String>,
    /// debconf `templates`, if any.
    pub templates: Option<String>,
    /// `triggers` (deb-triggers(5)), if any.
    pub triggers: Option<String>,
}

/// How one program call of a script was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "handling", content = "detail", rename_all = "kebab-case")]
pub enum Handling {
    /// Its effect is in the image (what it made).
    Reproduced(String),
    /// It changes nothing a first install leaves in an image (why).
    NoEffect(String),
    /// Left out on purpose (what that costs).
    Omitted(String),
    /// Not known to distill; `changes_system` when it names a path under
    /// `/etc`, `/usr`, `/var` or `/opt` (then it is a warning).
    Unknown {
        /// Whether the call names a system path.
        changes_system: bool,
    },
}

/// One program call of a maintainer script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The package whose script made the call.
    pub package: String,
    /// `preinst`, `postinst` or `postinst triggered`.
    pub script: String,
    /// 1-based line in the script (or in the file it sourced).
    pub line: usize,
    /// The call, expanded, words joined by spaces (at most 200 characters).
    pub command: String,
    /// How distill handled it.
    #[serde(flatten)]
    pub handling: Handling,
}

/// Every program call of every script, in the order they ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// The calls.
    pub records: Vec<Record>,
    /// Links `update-alternatives` would have made (`/usr/bin/java`, …).
    pub alternatives: Vec<String>,
    /// Scripts that could not be read (package, script, reason).
    pub unreadable: Vec<(String, String, String)>,
    /// Paths the scripts created or replaced (as written, parents'
    /// symlinks followed), sorted: files no package owns that are the
    /// image's own, like distill's generated files.
    #[serde(default)]
    pub made: Vec<String>,
}

impl Report {
    /// Calls distill did not reproduce and that name a system path.
    pub fn warnings(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(|r| matches!(r.handling, Handling::Unknown { changes_system: true }))
    }

    /// Calls not reproduced (unknown or omitted), for `-v` and `why`.
    pub fn not_reproduced(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(|r| matches!(r.handling, Handling::Unknown { .. } | Handling::Omitted(_)))
    }

    /// Number of calls per handling kind: (reproduced, no effect, omitted, unknown).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for r in &self.records {
            match r.handling {
                Handling::Reproduced(_) => c.0 += 1,
                Handling::NoEffect(_) => c.1 += 1,
                Handling::Omitted(_) => c.2 += 1,
                Handling::Unknown { .. } => c.3 += 1,
            }
        }
        c
    }
}

/// The image as scripts see it, and what they registered.
pub struct World<'t> {
    /// The image tree, changed in place.
    pub tree: &'t mut Tree,
    /// The image's Debian architecture (`dpkg --print-architecture`).
    pub arch: String,
    /// The package whose script runs.
    pub package: String,
    /// `preinst`, `postinst`, `postinst triggered`.
    pub script: String,
    /// `update-alternatives --install` registrations, in order.
    pub alternatives: Vec<Alternative>,
    /// `update-alternatives --set` choices.
    pub manual_alternatives: BTreeMap<String, String>,
    /// Named triggers activated (`dpkg-trigger`, `activate` lines).
    pub activated: BTreeSet<String>,
    /// debconf answers: every template's default.
    pub debconf: BTreeMap<String, String>,
    /// How ELF programs of the image that scripts call (trigger programs
    /// such as `gdk-pixbuf-query-loaders`) run: in [`crate::sandbox`];
    /// `None` never runs them.
    pub programs: Option<crate::sandbox::Options>,
    report: Report,
}

impl World<'_> {
    /// Record a call.
    pub fn record(&mut self, line: usize, argv: &[String], handling: Handling) {
        let mut command = argv.join(" ");
        if command.len() > 200 {
            let cut = (0..=200).rev().find(|&i| command.is_char_boundary(i)).unwrap_or(0);
            command.truncate(cut);
            command.push('…');
        }
        self.report.records.push(Record {
            package: self.package.clone(),
            script: self.script.clone(),
            line,
            command,
            handling,
        });
    }

    /// A `.` of an image file that is not shell.
    pub fn note_unreadable(&mut self, path: &str) {
        let (p, s) = (self.package.clone(), self.script.clone());
        self.report.unreadable.push((p, s, format!("cannot read {path} as shell")));
    }

    /// Put an entry at `path` (through symlinked parents), unless that
    /// climbs out of the image.
    pub fn put(&mut self, path: &str, entry: Entry) {
        if self.tree.resolve_parents_for_write(path).is_ok() && crate::tree::normalize(path).is_some() {
            let written = self.tree.insert(path, entry);
            self.report.made.push(written);
        }
    }

    /// Record paths made by other means (a sandboxed program's changes).
    pub fn made(&mut self, paths: impl IntoIterator<Item = String>) {
        self.report.made.extend(paths);
    }

    /// A redirection `> path` (`>> path`: append) of a script's output.
    pub fn write_file(&mut self, path: &str, data: Vec<u8>, append: bool, line: usize) {
        if path.starts_with("/dev/") || path.starts_with("/proc/") || !path.starts_with('/') {
            return;
        }
        let mut bytes = if append { commands::read_file(self.tree, path).unwrap_or_default() } else { Vec::new() };
        bytes.extend(data);
        let e = commands::new_file(self.tree, 0o644, bytes);
        self.put(path, e);
        self.record(line, &[">".to_string(), path.to_string()], Handling::Reproduced(format!("wrote {path}")));
    }
}

/// dpkg's environment for maintainer scripts (dpkg(1) "ENVIRONMENT").
fn script_env(p: &PackageScripts, script: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for (k, v) in [
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ("DPKG_ROOT", ""),
        ("DPKG_ADMINDIR", "/var/lib/dpkg"),
        ("DEBIAN_FRONTEND", "noninteractive"),
        ("LC_ALL", "C"),
        ("DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT", "1"),
    ] {
        env.insert(k.into(), v.into());
    }
    env.insert("DPKG_MAINTSCRIPT_PACKAGE".into(), p.name.clone());
    env.insert("DPKG_MAINTSCRIPT_ARCH".into(), p.arch.clone());
    env.insert("DPKG_MAINTSCRIPT_NAME".into(), script.into());
    env
}

/// Run every package's scripts over `tree` as dpkg would on a first
/// install, in `packages` order (dependencies first): all `preinst
/// install`, then all `postinst configure`, then `postinst triggered` for
/// activated interests; then make the alternatives' links.
///
/// `programs` says how ELF programs of the image that a script calls run
/// ([`crate::sandbox`]); `None` lists them as omitted.
pub fn apply(
    tree: &mut Tree,
    arch: &str,
    packages: &[PackageScripts],
    programs: Option<crate::sandbox::Options>,
) -> Report {
    let mut debconf = BTreeMap::new();
    for p in packages {
        if let Some(t) = &p.templates {
            debconf.extend(enable::template_defaults(t));
        }
    }
    let mut world = World {
        tree,
        arch: arch.into(),
        package: String::new(),
        script: String::new(),
        alternatives: Vec::new(),
        manual_alternatives: BTreeMap::new(),
        activated: BTreeSet::new(),
        debconf,
        programs,
        report: Report::default(),
    };
    for p in packages {
        run_script(&mut world, p, "preinst", p.preinst.as_deref(), vec!["install".into()]);
    }
    for p in packages {
        // debconf runs the config script first (at preconfiguration, and
        // again when the postinst loads confmodule); its db_set answers
        // are what the postinst reads.
        run_script(&mut world, p, "config", p.config.as_deref(), vec!["configure".into()]);
        run_script(&mut world, p, "postinst", p.postinst.as_deref(), vec!["configure".into()]);
    }
    run_triggers(&mut world, packages);
    world.package = "(image)".into();
    world.script = "file owners".into();
    accounts::name_file_owners(&mut exec::Shell::new(&mut world, "", Vec::new(), HashMap::new()));
    let (alts, manual) = (std::mem::take(&mut world.alternatives), std::mem::take(&mut world.manual_alternatives));
    let mut report = std::mem::take(&mut world.report);
    report.made.sort();
    report.made.dedup();
    report.alternatives = crate::tree::alternatives::write_alternatives(world.tree, &alts, &manual);
    report
}

fn run_script(world: &mut World, p: &PackageScripts, script: &str, text: Option<&str>, args: Vec<String>) {
    let Some(text) = text else { return };
    world.package = p.name.clone();
    world.script =
        if args.first().is_some_and(|a| a == "triggered") { "postinst triggered".into() } else { script.into() };
    let env = script_env(p, script);
    let arg0 = format!("/var/lib/dpkg/info/{}.{script}", p.name);
    let mut sh = exec::Shell::new(world, &arg0, args, env);
    if let Err(e) = sh.run_script(text) {
        let s = world.script.clone();
        world.report.unreadable.push((p.name.clone(), s, e.to_string()));
    }
}

/// deb-triggers(5): a file trigger (`interest PATH`) is activated when any
/// package ships a file at or below PATH; a named one by an `activate`
/// line or `dpkg-trigger`. Each interested package's postinst then runs
/// once with `triggered "NAME…"`.
fn run_triggers(world: &mut World, packages: &[PackageScripts]) {
    for p in packages {
        for (directive, name) in trigger_lines(p) {
            if directive.starts_with("activate") {
                world.activated.insert(name);
            }
        }
    }
    for p in packages {
        let mut names = Vec::new();
        for (directive, name) in trigger_lines(p) {
            if !directive.starts_with("interest") {
                continue;
            }
            let hit = if name.starts_with('/') {
                let real = world.tree.resolve_parents(&name);
                world.tree.get(&real).is_some_and(|e| e.package.is_some())
                    || world.tree.children(&real).any(|(_, e)| e.package.is_some())
            } else {
                world.activated.contains(&name)
            };
            if hit {
                names.push(name);
            }
        }
        if !names.is_empty() {
            run_script(world, p, "postinst", p.postinst.as_deref(), vec!["triggered".into(), names.join(" ")]);
        }
    }
}

fn trigger_lines(p: &PackageScripts) -> Vec<(String, String)> {
    p.triggers
        .as_deref()
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let (d, n) = l.split_once(char::is_whitespace)?;
            Some((d.to_string(), n.trim().to_string()))
        })
        .collect()
}
