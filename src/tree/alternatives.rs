//! The links `update-alternatives` would have made.
//!
//! Maintainer scripts register alternatives with
//! `update-alternatives --install <link> <name> <path> <priority> [--slave …]`;
//! in auto mode the highest priority wins and dpkg makes
//! `<link>` → `/etc/alternatives/<name>` → `<path>`. We make the same links,
//! from data instead of scripts:
//!
//! - **Java runtimes**: every `/usr/lib/jvm/.<name>.jinfo` file (shipped as
//!   data by OpenJDK packages, read by `update-java-alternatives`) lists the
//!   tools as `<kind> <tool> <path>` lines; OpenJDK's postinst registers each
//!   as `/usr/bin/<tool>` with the file's `priority=`, with slave man pages
//!   (`<jvm>/man/man1/<tool>.1.gz`) and, for `jexec`, `/usr/share/binfmts/jar`.
//!   Tools of packages that are not installed (the JDK's `javac` listed in a
//!   JRE's file) are skipped because their path is missing.
//! - **A short table** of other packages' registrations ([`KNOWN`]).
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

/// A registration from a postinst script, written out by hand.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// The public link.
    pub link: &'static str,
    /// Generic name.
    pub name: &'static str,
    /// Target.
    pub path: &'static str,
    /// Priority.
    pub priority: i64,
    /// Slaves as (link, name, path).
    pub slaves: &'static [(&'static str, &'static str, &'static str)],
}

/// Registrations made by postinst scripts of packages without a data file
/// to read. Entries whose path is not in the tree are ignored.
pub const KNOWN: &[Known] = &[
    // nodejs (bookworm) postinst.
    Known {
        link: "/usr/bin/js",
        name: "js",
        path: "/usr/bin/nodejs",
        priority: 200,
        slaves: &[("/usr/share/man/man1/js.1.gz", "js.1.gz", "/usr/share/man/man1/nodejs.1.gz")],
    },
];

/// Parse a `.jinfo` file. `basedir` is `/usr/lib/jvm/<name>` from its
/// `name=` line. Kinds `hl`, `jre`, `jdkhl`, `jdk` become `/usr/bin/<tool>`;
/// `plugin` lines (browser plugins) are ignored.
pub fn parse_jinfo(text: &str) -> Vec<Alternative> {
    let mut priority = 0;
    let mut basedir = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("priority=") {
            priority = v.trim().parse().unwrap_or(0);
            continue;
        }
        if let Some(v) = line.strip_prefix("name=") {
            basedir = Some(format!("/usr/lib/jvm/{}", v.trim()));
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [kind, tool, path] = fields[..] else { continue };
        if !matches!(kind, "hl" | "jre" | "jdkhl" | "jdk") || !valid_name(tool) || !path.starts_with('/') {
            continue;
        }
        out.push(Alternative {
            name: tool.into(),
            link: format!("/usr/bin/{tool}"),
            path: path.into(),
            priority,
            slaves: Vec::new(),
        });
    }
    for alt in &mut out {
        // The postinst's $basedir; the jinfo's tool paths sit in $basedir/{bin,lib}.
        let base = basedir.clone().unwrap_or_else(|| parent(parent(&alt.path)).to_string());
        let man = format!("{}.1.gz", alt.name);
        alt.slaves.push((format!("/usr/share/man/man1/{man}"), man.clone(), format!("{base}/man/man1/{man}")));
        if alt.name == "jexec" {
            alt.slaves.push(("/usr/share/binfmts/jar".into(), "jexec-binfmt".into(), format!("{base}/lib/jar.binfmt")));
        }
    }
    out
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(a, _)| a).unwrap_or("")
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n != "." && n != ".." && !n.contains('/')
}

/// Every registration that applies to the tree: the `.jinfo` files under
/// `/usr/lib/jvm` and [`KNOWN`].
pub fn registrations(tree: &Tree) -> Vec<Alternative> {
    let mut out = Vec::new();
    for (path, entry) in tree.children("/usr/lib/jvm") {
        let name = path.rsplit('/').next().unwrap_or("");
        if parent(path) != "/usr/lib/jvm" || !name.starts_with('.') || !name.ends_with(".jinfo") {
            continue;
        }
        if let Kind::File { data, .. } = &entry.kind {
            out.extend(parse_jinfo(&String::from_utf8_lossy(&data.read_lossy())));
        }
    }
    for k in KNOWN {
        out.push(Alternative {
            name: k.name.into(),
            link: k.link.into(),
            path: k.path.into(),
            priority: k.priority,
            slaves: k.slaves.iter().map(|(l, n, p)| ((*l).into(), (*n).into(), (*p).into())).collect(),
        });
    }
    out
}

/// Make `<link>` → `/etc/alternatives/<name>` → `<path>` for the best
/// registration of each name whose path exists in the tree, and the same
/// for its slaves whose paths exist. A link path already holding something
/// other than that symlink is left alone. Returns the links made
/// (`/usr/bin/java`, …), sorted.
pub fn write_alternatives(tree: &mut Tree) -> Vec<String> {
    // Best candidate per name: highest priority, then the smallest path.
    let mut best: BTreeMap<String, Alternative> = BTreeMap::new();
    for alt in registrations(tree) {
        if tree.resolve(&alt.path).is_none() {
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

    const JINFO: &str = "name=java-17-openjdk-amd64\nalias=java-1.17.0-openjdk-amd64\npriority=1711\nsection=main\n\n\
hl java /usr/lib/jvm/java-17-openjdk-amd64/bin/java\n\
hl keytool /usr/lib/jvm/java-17-openjdk-amd64/bin/keytool\n\
hl jexec /usr/lib/jvm/java-17-openjdk-amd64/lib/jexec\n\
jdkhl javac /usr/lib/jvm/java-17-openjdk-amd64/bin/javac\n\
jdk jconsole /usr/lib/jvm/java-17-openjdk-amd64/bin/jconsole\n";

    fn jre(t: &mut Tree, name: &str, priority: u32) {
        let base = format!("/usr/lib/jvm/{name}");
        let jinfo = JINFO.replace("java-17-openjdk-amd64", name).replace("1711", &priority.to_string());
        t.insert(&format!("/usr/lib/jvm/.{name}.jinfo"), Entry::file(0o644, jinfo.into_bytes(), 2));
        t.insert("/usr/share/binfmts", Entry::dir(0o755));
        for f in ["bin/java", "bin/keytool", "lib/jexec", "lib/jar.binfmt", "man/man1/java.1.gz"] {
            let inode = t.new_inode();
            t.insert(&format!("{base}/{f}"), Entry::file(0o755, vec![], inode));
        }
    }

    #[test]
    fn jinfo_tools_link_through_etc_alternatives() {
        let mut t = Tree::new();
        t.insert("/usr/bin", Entry::dir(0o755));
        jre(&mut t, "java-17-openjdk-amd64", 1711);
        let made = write_alternatives(&mut t);
        assert_eq!(made, vec!["/usr/bin/java", "/usr/bin/jexec", "/usr/bin/keytool", "/usr/share/binfmts/jar"]);
        assert_eq!(t.get("/usr/bin/java").unwrap().kind, Kind::Symlink("/etc/alternatives/java".into()));
        assert_eq!(
            t.get("/etc/alternatives/java").unwrap().kind,
            Kind::Symlink("/usr/lib/jvm/java-17-openjdk-amd64/bin/java".into())
        );
        assert_eq!(t.resolve("/usr/bin/java").as_deref(), Some("/usr/lib/jvm/java-17-openjdk-amd64/bin/java"));
        assert_eq!(
            t.resolve("/usr/share/binfmts/jar").as_deref(),
            Some("/usr/lib/jvm/java-17-openjdk-amd64/lib/jar.binfmt")
        );
        assert!(t.get("/usr/bin/javac").is_none(), "JDK tool without the JDK");
        assert!(t.get("/usr/share/man/man1/java.1.gz").is_none(), "no /usr/share/man/man1: no man links");
        // With man pages kept, the slave link is made.
        let mut t = Tree::new();
        t.insert("/usr/share/man/man1", Entry::dir(0o755));
        jre(&mut t, "java-17-openjdk-amd64", 1711);
        assert!(write_alternatives(&mut t).contains(&"/usr/share/man/man1/java.1.gz".to_string()));
        assert_eq!(
            t.resolve("/usr/share/man/man1/java.1.gz").as_deref(),
            Some("/usr/lib/jvm/java-17-openjdk-amd64/man/man1/java.1.gz")
        );
    }

    #[test]
    fn highest_priority_wins_and_shipped_files_stay() {
        let mut t = Tree::new();
        jre(&mut t, "java-17-openjdk-amd64", 1711);
        jre(&mut t, "java-21-openjdk-amd64", 2111);
        t.insert("/usr/bin/keytool", Entry::file(0o755, b"real".to_vec(), 9));
        let made = write_alternatives(&mut t);
        assert_eq!(t.resolve("/usr/bin/java").as_deref(), Some("/usr/lib/jvm/java-21-openjdk-amd64/bin/java"));
        assert!(!made.contains(&"/usr/bin/keytool".to_string()));
        assert!(matches!(t.get("/usr/bin/keytool").unwrap().kind, Kind::File { .. }));
        // Idempotent.
        assert_eq!(write_alternatives(&mut t), made);
    }

    #[test]
    fn nodejs_js_and_nothing_for_an_empty_tree() {
        let mut t = Tree::new();
        assert!(write_alternatives(&mut t).is_empty());
        assert!(t.get(ALTERNATIVES_DIR).is_none());
        t.insert("/usr/bin/node", Entry::file(0o755, vec![], 2));
        t.insert("/usr/bin/nodejs", Entry::symlink("node"));
        assert_eq!(write_alternatives(&mut t), vec!["/usr/bin/js"]);
        assert_eq!(t.resolve("/usr/bin/js").as_deref(), Some("/usr/bin/node"));
    }
}
