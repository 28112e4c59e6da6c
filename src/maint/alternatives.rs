//! `update-alternatives` (update-alternatives(1)) calls read from scripts:
//! `--install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]…` registers a
//! choice, `--set NAME PATH` selects one by hand, `--list NAME` prints the
//! registered paths. The links are made once every script has run, by
//! [`crate::tree::alternatives::write_alternatives`] (auto mode: the
//! highest priority wins, as dpkg chooses).

use super::exec::Shell;
use super::Handling;
use crate::tree::alternatives::Alternative;

/// Run one `update-alternatives` call; returns its exit status.
pub fn update_alternatives(sh: &mut Shell, argv: &[String]) -> i32 {
    let a: Vec<&String> = argv[1..]
        .iter()
        .filter(|w| !matches!(w.as_str(), "--quiet" | "--force" | "--verbose" | "--debug" | "--skip-auto"))
        .collect();
    let at = |k: &str| a.iter().position(|w| *w == k);
    if let Some(i) = at("--install") {
        let Some([link, name, path, prio]) = a.get(i + 1..i + 5).map(|s| [s[0], s[1], s[2], s[3]]) else {
            sh.world.record(sh.line, argv, Handling::Unknown { changes_system: true });
            return 2;
        };
        let Ok(priority) = prio.parse::<i64>() else { return 2 };
        let mut slaves = Vec::new();
        let mut j = i + 5;
        while let Some(w) = a.get(j) {
            if *w == "--slave" {
                if let Some(s) = a.get(j + 1..j + 4) {
                    slaves.push((s[0].clone(), s[1].clone(), s[2].clone()));
                }
                j += 4;
            } else {
                j += 1;
            }
        }
        let alt = Alternative { name: name.clone(), link: link.clone(), path: path.clone(), priority, slaves };
        sh.world.alternatives.retain(|x| !(x.name == alt.name && x.path == alt.path));
        sh.world.alternatives.push(alt);
        sh.world.record(
            sh.line,
            argv,
            Handling::Reproduced(format!("alternative {name}: {link} → {path} ({priority})")),
        );
        return 0;
    }
    if let Some(i) = at("--set") {
        if let (Some(name), Some(path)) = (a.get(i + 1), a.get(i + 2)) {
            sh.world.manual_alternatives.insert((*name).clone(), (*path).clone());
            sh.world.record(sh.line, argv, Handling::Reproduced(format!("alternative {name} set to {path}")));
            return 0;
        }
        return 2;
    }
    if let Some(i) = at("--list") {
        let name = a.get(i + 1).map(|s| s.as_str()).unwrap_or("");
        let paths: Vec<String> =
            sh.world.alternatives.iter().filter(|x| x.name == name).map(|x| x.path.clone()).collect();
        return if paths.is_empty() { 2 } else { 0 };
    }
    if at("--remove").is_some() || at("--remove-all").is_some() || at("--auto").is_some() {
        sh.world.record(
            sh.line,
            argv,
            Handling::NoEffect("removal or reset: nothing registered before a first install".into()),
        );
        return 0;
    }
    // --query, --display, --get-selections, --config: read-only.
    2
}
