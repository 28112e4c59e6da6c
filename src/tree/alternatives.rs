//! The links `update-alternatives` would have made.
//!
//! Maintainer scripts register alternatives with
//! `update-alternatives --install <link> <name> <path> <priority> [--slave …]`
//! (read from the scripts by [`crate::maint`]); in auto mode the highest
//! priority wins and dpkg makes `<link>` → `/etc/alternatives/<name>` →
//! `<path>` (update-alternatives(1)). [`write_alternatives`] makes the
//! same links for the registrations it is given.
//!
//! A link is only made when its target exists in the tree, and never over
//! an entry a package shipped; a slave link only where its directory exists
//! (so nothing is made under `/usr/share/man` when the path filters dropped it).

use std::collections::BTreeMap;

use super::{Entry, Kind, Tree};

/// Where dpkg keeps the alternatives' middle links.
pub const ALTERNATIVES_DIR: &str = "/etc/alternatives";

/// One `update-alternatives --install` registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// Generic name (`java`).
    pub name: String,
    /// The public link (`/usr/bin/java`).
    pub link: String,
    /// What it points at (`/usr/lib/jvm/java-17-openjdk-amd64/bin/java`).
    pub path: String,
    /// Priority; the highest wins in auto mode.
    pub priority: i64,
    /// Slave links: (link, name, path).
    pub slaves: Vec<(String, String, String)>,
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(a, _)| a).unwrap_or("")
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n != "." && n != ".." && !n.contains('/')
}

/// Make `<link>` → `/etc/alternatives/<name>` → `<path>` for the best
/// registration of each name whose path exists in the tree, and the same
/// for its slaves whose paths exist. A name set by hand (`manual`:
/// `update-alternatives --set`) takes that path when it is registered. A
/// link path already holding something other than that symlink is left
/// alone. Returns the links made (`/usr/bin/java`, …), sorted.
pub fn write_alternatives(
    tree: &mut Tree,
    registrations: &[Alternative],
    manual: &BTreeMap<String, String>,
) -> Vec<String> {
    // Best candidate per name: highest priority, then the smallest path.
    let mut best: BTreeMap<String, Alternative> = BTreeMap::new();
    for alt in registrations.iter().cloned() {
        if tree.resolve(&alt.path).is_none() {
            continue;
        }
        if manual.get(&alt.name).is_some_and(|p| *p == alt.path) {
            best.insert(alt.name.clone(), Alternative { priority: i64::MAX, ..alt });
            continue;
        }
        match best.get(&alt.name) {
            Some(b) if (b.priority, std::cmp::Reverse(&b.path)) >= (alt.priority, std::cmp::Reverse(&alt.path)) => {}
            _ => {
                best.insert(alt.name.clone(), alt);
            }
        }
    }
    let mut made = Vec::new();
    for alt in best.values() {
        if !link(tree, &alt.link, &alt.name, &alt.path) {
            continue;
        }
        made.push(alt.link.clone());
        for (l, n, p) in &alt.slaves {
            // A slave goes only where its directory is: when the path
            // filters removed `/usr/share/man`, no man page links.
            if tree.resolve(p).is_some() && tree.resolve(parent(l)).is_some() && link(tree, l, n, p) {
                made.push(l.clone());
            }
        }
    }
    made.sort();
    made
}

/// Make one `link` → `/etc/alternatives/name` → `path` pair; false when
/// `link` or the middle link is taken by something else.
fn link(tree: &mut Tree, link: &str, name: &str, path: &str) -> bool {
    if !valid_name(name) || !link.starts_with('/') {
        return false;
    }
    let middle = format!("{ALTERNATIVES_DIR}/{name}");
    let free = |t: &Tree, p: &str, target: &str| match t.get(&t.resolve_parents(p)) {
        None => true,
        Some(Entry { kind: Kind::Symlink(s), .. }) => s == target,
        Some(_) => false,
    };
    if !free(tree, link, &middle) || !free(tree, &middle, path) {
        return false;
    }
    if tree.get(ALTERNATIVES_DIR).is_none() {
        tree.insert(ALTERNATIVES_DIR, Entry::dir(0o755));
    }
    tree.insert(&middle, Entry::symlink(path));
    tree.insert(link, Entry::symlink(&middle));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alt(name: &str, link: &str, path: &str, priority: i64) -> Alternative {
        Alternative { name: name.into(), link: link.into(), path: path.into(), priority, slaves: Vec::new() }
    }

    fn file(t: &mut Tree, p: &str) {
        let inode = t.new_inode();
        t.insert(p, Entry::file(0o755, vec![], inode));
    }

    #[test]
    fn links_go_through_etc_alternatives_with_slaves_where_their_directory_is() {
        let mut t = Tree::new();
        file(&mut t, "/usr/sbin/rmt-tar");
        file(&mut t, "/usr/share/man/man8/rmt-tar.8.gz");
        let mut a = alt("rmt", "/usr/sbin/rmt", "/usr/sbin/rmt-tar", 50);
        a.slaves.push((
            "/usr/share/man/man8/rmt.8.gz".into(),
            "rmt.8.gz".into(),
            "/usr/share/man/man8/rmt-tar.8.gz".into(),
        ));
        a.slaves.push((
            "/usr/share/man/de/man8/rmt.8.gz".into(),
            "rmt.de.8.gz".into(),
            "/usr/share/man/de/rmt-tar.8.gz".into(),
        ));
        let made = write_alternatives(&mut t, &[a], &BTreeMap::new());
        assert_eq!(made, vec!["/usr/sbin/rmt", "/usr/share/man/man8/rmt.8.gz"]);
        assert_eq!(t.get("/usr/sbin/rmt").unwrap().kind, Kind::Symlink("/etc/alternatives/rmt".into()));
        assert_eq!(t.resolve("/usr/sbin/rmt").as_deref(), Some("/usr/sbin/rmt-tar"));
    }

    #[test]
    fn highest_priority_wins_unless_set_by_hand_and_shipped_files_stay() {
        let mut t = Tree::new();
        file(&mut t, "/usr/lib/jvm/a/bin/java");
        file(&mut t, "/usr/lib/jvm/b/bin/java");
        file(&mut t, "/usr/bin/keytool");
        let regs = [
            alt("java", "/usr/bin/java", "/usr/lib/jvm/a/bin/java", 1711),
            alt("java", "/usr/bin/java", "/usr/lib/jvm/b/bin/java", 2111),
            alt("keytool", "/usr/bin/keytool", "/usr/lib/jvm/b/bin/java", 2111),
            alt("gone", "/usr/bin/gone", "/usr/lib/jvm/c/bin/gone", 9999),
        ];
        let made = write_alternatives(&mut t, &regs, &BTreeMap::new());
        assert_eq!(made, vec!["/usr/bin/java"], "keytool is a shipped file; gone's path is missing");
        assert_eq!(t.resolve("/usr/bin/java").as_deref(), Some("/usr/lib/jvm/b/bin/java"));
        assert!(matches!(t.get("/usr/bin/keytool").unwrap().kind, Kind::File { .. }));
        // Idempotent.
        assert_eq!(write_alternatives(&mut t, &regs, &BTreeMap::new()), made);
        let manual = BTreeMap::from([("java".to_string(), "/usr/lib/jvm/a/bin/java".to_string())]);
        let mut t2 = Tree::new();
        file(&mut t2, "/usr/lib/jvm/a/bin/java");
        file(&mut t2, "/usr/lib/jvm/b/bin/java");
        write_alternatives(&mut t2, &regs, &manual);
        assert_eq!(t2.resolve("/usr/bin/java").as_deref(), Some("/usr/lib/jvm/a/bin/java"));
    }

    #[test]
    fn nothing_for_no_registration() {
        let mut t = Tree::new();
        assert!(write_alternatives(&mut t, &[], &BTreeMap::new()).is_empty());
        assert!(t.get(ALTERNATIVES_DIR).is_none());
    }
}
