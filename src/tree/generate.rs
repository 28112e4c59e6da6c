//! Files that maintainer scripts would have made, generated declaratively
//! (no script from any package is ever run):
//!
//! | path | what would have made it |
//! |---|---|
//! | `/etc/passwd`, `/etc/group`, home directories | base-passwd's postinst, adduser |
//! | `/tmp`, `/var/tmp` (1777), `/root` (0700) | base-files' postinst |
//! | `/etc/nsswitch.conf`, `/etc/hosts` (localhost) | base-files / libc-bin, netbase |
//! | `/usr/lib/os-release`, `/etc/os-release` | base-files (only when it is not installed) |
//! | `/etc/ssl/certs/ca-certificates.crt` | ca-certificates' `update-ca-certificates` |
//! | `/usr/lib/ssl/cert.pem`, `/usr/lib/ssl/certs` | openssl (OpenSSL's default CA paths) |
//! | `/etc/localtime`, `/etc/timezone` | tzdata's postinst (UTC) |
//! | `/var/lib/dpkg/status.d/<package>` | dpkg (distroless layout read by scanners) |

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Entry, Kind, Tree};
use crate::spec::Accounts;

/// Path of the generated CA bundle.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A passwd(5) line's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// The built-in accounts plus the spec's, ordered by uid.
pub fn accounts(spec: &Accounts) -> Vec<Account> {
    let mut users = vec![
        Account { name: "root".into(), uid: 0, gid: 0, home: "/root".into() },
        Account { name: "nonroot".into(), uid: 65532, gid: 65532, home: "/home/nonroot".into() },
        Account { name: "nobody".into(), uid: 65534, gid: 65534, home: "/nonexistent".into() },
    ];
    for u in &spec.users {
        users.retain(|x| x.name != u.name && x.uid != u.uid);
        users.push(Account {
            name: u.name.clone(),
            uid: u.uid,
            gid: u.gid.unwrap_or(u.uid),
            home: u.home.clone().unwrap_or_else(|| format!("/home/{}", u.name)),
        });
    }
    users.sort_by_key(|u| u.uid);
    users
}

/// Write `/etc/passwd`, `/etc/group` and the home directories.
pub fn write_accounts(tree: &mut Tree, spec: &Accounts) {
    let users = accounts(spec);
    let mut groups: BTreeMap<u32, (String, Vec<String>)> = BTreeMap::new();
    groups.insert(0, ("root".into(), vec![]));
    groups.insert(65532, ("nonroot".into(), vec![]));
    groups.insert(65534, ("nogroup".into(), vec![]));
    for g in &spec.groups {
        groups.retain(|gid, (name, _)| *gid != g.gid && *name != g.name);
        groups.insert(g.gid, (g.name.clone(), g.members.clone()));
    }
    for u in &users {
        groups.entry(u.gid).or_insert_with(|| (u.name.clone(), vec![]));
    }
    let mut passwd = String::new();
    for u in &users {
        passwd.push_str(&format!("{}:x:{}:{}:{}:{}:/sbin/nologin\n", u.name, u.uid, u.gid, u.name, u.home));
    }
    let mut group = String::new();
    for (gid, (name, members)) in &groups {
        group.push_str(&format!("{name}:x:{gid}:{}\n", members.join(",")));
    }
    let inode = tree.new_inode();
    tree.insert("/etc/passwd", Entry::file(0o644, passwd.into_bytes(), inode));
    let inode = tree.new_inode();
    tree.insert("/etc/group", Entry::file(0o644, group.into_bytes(), inode));
    for u in &users {
        if u.home == "/nonexistent" || u.home == "/" {
            continue;
        }
        let mode = if u.uid == 0 { 0o700 } else { 0o755 };
        tree.insert(&u.home, Entry { kind: Kind::Dir, mode, uid: u.uid, gid: u.gid, package: None });
    }
}

/// `/tmp`, `/var/tmp`, `/etc/nsswitch.conf`, and time zone files when tzdata is present.
pub fn write_system_files(tree: &mut Tree) {
    for d in ["/tmp", "/var/tmp"] {
        tree.insert(d, Entry::dir(0o1777));
    }
    let nss = "passwd: files\ngroup: files\nshadow: files\ngshadow: files\n\nhosts: files dns\nnetworks: files\n\nprotocols: files\nservices: files\nethers: files\nrpc: files\n";
    let inode = tree.new_inode();
    tree.insert("/etc/nsswitch.conf", Entry::file(0o644, nss.as_bytes().to_vec(), inode));
    // Container runtimes mount their own /etc/hosts; this default makes
    // `localhost` resolve through nsswitch everywhere else (chroot, VMs).
    if tree.get("/etc/hosts").is_none() {
        let hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
        let inode = tree.new_inode();
        tree.insert("/etc/hosts", Entry::file(0o644, hosts.as_bytes().to_vec(), inode));
    }
    if tree.get("/usr/share/zoneinfo/Etc/UTC").is_some() {
        tree.insert("/etc/localtime", Entry::symlink("/usr/share/zoneinfo/Etc/UTC"));
        let inode = tree.new_inode();
        tree.insert("/etc/timezone", Entry::file(0o644, b"Etc/UTC\n".to_vec(), inode));
    }
}

/// What `/etc/os-release` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsInfo {
    /// `VERSION_ID`, e.g. `12`; `None` for testing/unstable.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    pub codename: String,
}

/// Write `/usr/lib/os-release` and the `/etc/os-release` symlink unless a
/// package (base-files) already shipped them.
pub fn write_os_release(tree: &mut Tree, os: &OsInfo) {
    if tree.resolve("/etc/os-release").is_some() {
        return;
    }
    let mut s = String::new();
    let version = os.version_id.as_deref().map(|v| format!("{v} ({})", os.codename));
    match &version {
        Some(v) => s.push_str(&format!("PRETTY_NAME=\"Debian GNU/Linux {v}\"\n")),
        None => s.push_str(&format!("PRETTY_NAME=\"Debian GNU/Linux {}\"\n", os.codename)),
    }
    s.push_str("NAME=\"Debian GNU/Linux\"\n");
    if let (Some(id), Some(v)) = (&os.version_id, &version) {
        s.push_str(&format!("VERSION_ID=\"{id}\"\nVERSION=\"{v}\"\n"));
    }
    s.push_str(&format!("VERSION_CODENAME={}\nID=debian\n", os.codename));
    let inode = tree.new_inode();
    tree.insert("/usr/lib/os-release", Entry::file(0o644, s.into_bytes(), inode));
    tree.insert("/etc/os-release", Entry::symlink("../usr/lib/os-release"));
}

/// Build `/etc/ssl/certs/ca-certificates.crt` from the `*.crt` files under
/// `/usr/share/ca-certificates` (every certificate ca-certificates ships is
/// enabled, as its default debconf answer does), in byte order of their
/// paths, each ending in a newline — what `update-ca-certificates` writes.
/// Returns the number of certificates, or `None` when there are none.
pub fn write_ca_bundle(tree: &mut Tree) -> Option<usize> {
    let mut bundle = Vec::new();
    let mut count = 0;
    for (path, entry) in tree.children("/usr/share/ca-certificates") {
        if let (true, Kind::File { data, .. }) = (path.ends_with(".crt"), &entry.kind) {
            let data = data.read_lossy();
            bundle.extend_from_slice(&data);
            if !data.ends_with(b"\n") {
                bundle.push(b'\n');
            }
            count += 1;
        }
    }
    if count == 0 {
        return None;
    }
    let inode = tree.new_inode();
    tree.insert(CA_BUNDLE, Entry::file(0o644, bundle, inode));
    if tree.get("/usr/lib/ssl/cert.pem").is_none() {
        tree.insert("/usr/lib/ssl/cert.pem", Entry::symlink(CA_BUNDLE));
    }
    if tree.get("/usr/lib/ssl/certs").is_none() {
        tree.insert("/usr/lib/ssl/certs", Entry::symlink("/etc/ssl/certs"));
    }
    Some(count)
}

/// Write `/var/lib/dpkg/status.d/<package>`: the package's control stanza
/// with `Status: install ok installed` after `Package:`. `packages` maps the
/// package name to its control file text.
pub fn write_dpkg_status(tree: &mut Tree, packages: &BTreeMap<String, String>) {
    tree.insert("/var/lib/dpkg/status.d", Entry::dir(0o755));
    for (name, control) in packages {
        let mut out = String::new();
        for line in control.trim_end().lines() {
            if line.starts_with("Status:") {
                continue;
            }
            out.push_str(line);
            out.push('\n');
            if line.starts_with("Package:") {
                out.push_str("Status: install ok installed\n");
            }
        }
        let inode = tree.new_inode();
        let mut e = Entry::file(0o644, out.into_bytes(), inode);
        e.package = Some(Arc::from(name.as_str()));
        tree.insert(&format!("/var/lib/dpkg/status.d/{name}"), e);
    }
}

/// Write `/var/lib/dpkg/status.d/<package>.md5sums` (dpkg's `md5sums`
/// control file: `<md5 hex>  <path without leading />`), keeping only the
/// lines of files that are in the image (path filters remove some), so
/// scanners that read it (e.g. to map files to packages) see the image as
/// it is. `packages` maps the package name to its md5sums text.
pub fn write_dpkg_md5sums(tree: &mut Tree, packages: &BTreeMap<String, String>) {
    for (name, sums) in packages {
        let mut out = String::new();
        for line in sums.lines() {
            let Some((_, path)) = line.split_once("  ") else { continue };
            let Some(abs) = crate::tree::normalize(path) else { continue };
            let real = tree.resolve_parents(&abs);
            if matches!(tree.get(&real).map(|e| &e.kind), Some(Kind::File { .. })) {
                out.push_str(line);
                out.push('\n');
            }
        }
        let inode = tree.new_inode();
        let mut e = Entry::file(0o644, out.into_bytes(), inode);
        e.package = Some(Arc::from(name.as_str()));
        tree.insert(&format!("/var/lib/dpkg/status.d/{name}.md5sums"), e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::User;

    fn text(tree: &Tree, path: &str) -> String {
        match &tree.get(path).unwrap().kind {
            Kind::File { data, .. } => String::from_utf8(data.read().unwrap().to_vec()).unwrap(),
            k => panic!("{path} is {k:?}"),
        }
    }

    #[test]
    fn passwd_has_builtins_and_spec_users() {
        let mut t = Tree::new();
        let spec = Accounts {
            users: vec![User { name: "app".into(), uid: 1000, gid: None, home: None }],
            ..Default::default()
        };
        write_accounts(&mut t, &spec);
        let passwd = text(&t, "/etc/passwd");
        assert!(passwd.contains("root:x:0:0:"));
        assert!(passwd.contains("nonroot:x:65532:65532:nonroot:/home/nonroot:"));
        assert!(passwd.contains("nobody:x:65534:65534:"));
        assert!(passwd.contains("app:x:1000:1000:app:/home/app:"));
        assert!(text(&t, "/etc/group").contains("app:x:1000:"));
        let home = t.get("/home/app").unwrap();
        assert_eq!((home.uid, home.gid, home.mode), (1000, 1000, 0o755));
        assert_eq!(t.get("/root").unwrap().mode, 0o700);
    }

    #[test]
    fn ca_bundle_concatenates_in_path_order() {
        let mut t = Tree::new();
        t.insert("/usr/share/ca-certificates/mozilla/B.crt", Entry::file(0o644, b"B".to_vec(), 1));
        t.insert("/usr/share/ca-certificates/mozilla/A.crt", Entry::file(0o644, b"A\n".to_vec(), 2));
        t.insert("/usr/share/ca-certificates/mozilla/README", Entry::file(0o644, b"x".to_vec(), 3));
        assert_eq!(write_ca_bundle(&mut t), Some(2));
        assert_eq!(text(&t, CA_BUNDLE), "A\nB\n");
        assert_eq!(t.resolve("/usr/lib/ssl/cert.pem").as_deref(), Some(CA_BUNDLE));
    }

    #[test]
    fn status_d_marks_packages_installed() {
        let mut t = Tree::new();
        let mut p = BTreeMap::new();
        p.insert("libc6".to_string(), "Package: libc6\nVersion: 2.36\n".to_string());
        write_dpkg_status(&mut t, &p);
        assert_eq!(
            text(&t, "/var/lib/dpkg/status.d/libc6"),
            "Package: libc6\nStatus: install ok installed\nVersion: 2.36\n"
        );
    }
}
