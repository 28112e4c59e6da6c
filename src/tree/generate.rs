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
//! | `/var/lib/dpkg/status.d/<package>`, `<package>.md5sums` | dpkg (distroless layout read by scanners) |
//!
//! [`GENERATED_FILES`] lists the regular files among them: the SBOM
//! counts them as the image's own files, not any package's.

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
        // A home that a package already ships (a directory such as /usr, or
        // a file) is left as the package made it: accounts never take over
        // or replace packaged paths.
        if tree.resolve(&u.home).is_some() {
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

/// Where distro detection reads (os-release(5)): a symlink to
/// [`OS_RELEASE`].
pub const ETC_OS_RELEASE: &str = "/etc/os-release";
/// The os-release file itself.
pub const OS_RELEASE: &str = "/usr/lib/os-release";

/// Write `/usr/lib/os-release` and the `/etc/os-release` symlink unless a
/// package (base-files) already shipped them. `pretty_name` (the spec's
/// `image.os_release.pretty_name`) replaces `PRETTY_NAME`, also in the
/// file base-files shipped (which then becomes a generated file: it no
/// longer matches base-files' md5sums). `ID`, `VERSION_ID` and
/// `VERSION_CODENAME`, which distro detection reads, are never changed.
pub fn write_os_release(tree: &mut Tree, os: &OsInfo, pretty_name: Option<&str>) {
    if let Some(real) = tree.resolve(ETC_OS_RELEASE) {
        if let (Some(pretty), Some(Entry { kind: Kind::File { data, .. }, mode, .. })) =
            (pretty_name, tree.get(&real).cloned())
        {
            let text = String::from_utf8_lossy(&data.read_lossy()).into_owned();
            let line = format!("PRETTY_NAME=\"{pretty}\"");
            let mut out: Vec<String> =
                text.lines().filter(|l| !l.starts_with("PRETTY_NAME=")).map(String::from).collect();
            out.insert(0, line);
            let inode = tree.new_inode();
            tree.insert(&real, Entry::file(mode, format!("{}\n", out.join("\n")).into_bytes(), inode));
        }
        return;
    }
    let mut s = String::new();
    let version = os.version_id.as_deref().map(|v| format!("{v} ({})", os.codename));
    match (pretty_name, &version) {
        (Some(p), _) => s.push_str(&format!("PRETTY_NAME=\"{p}\"\n")),
        (None, Some(v)) => s.push_str(&format!("PRETTY_NAME=\"Debian GNU/Linux {v}\"\n")),
        (None, None) => s.push_str(&format!("PRETTY_NAME=\"Debian GNU/Linux {}\"\n", os.codename)),
    }
    s.push_str("NAME=\"Debian GNU/Linux\"\n");
    if let (Some(id), Some(v)) = (&os.version_id, &version) {
        s.push_str(&format!("VERSION_ID=\"{id}\"\nVERSION=\"{v}\"\n"));
    }
    s.push_str(&format!("VERSION_CODENAME={}\nID=debian\n", os.codename));
    let inode = tree.new_inode();
    tree.insert(OS_RELEASE, Entry::file(0o644, s.into_bytes(), inode));
    tree.insert(ETC_OS_RELEASE, Entry::symlink("../usr/lib/os-release"));
}

/// The fields of os-release text (`KEY=value`, quotes removed; comments
/// and malformed lines skipped).
pub fn os_release_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Where ca-certificates ships the certificates the bundle is made of.
pub const CA_SOURCE_DIR: &str = "/usr/share/ca-certificates";

/// Build `/etc/ssl/certs/ca-certificates.crt` from the `*.crt` files under
/// [`CA_SOURCE_DIR`] (every certificate ca-certificates ships is enabled,
/// as its default debconf answer does), in byte order of their paths, each
/// ending in a newline — what `update-ca-certificates` writes. Returns the
/// number of certificates, or `None` when there are none.
pub fn write_ca_bundle(tree: &mut Tree) -> Option<usize> {
    let (bundle, count) = ca_bundle(tree)?;
    install_ca_bundle(tree, bundle);
    Some(count)
}

/// [`write_ca_bundle`] with the certificates read from `certs` (a tree of
/// the packages that ship them, unfiltered): the image's path filters may
/// drop [`CA_SOURCE_DIR`] once the bundle holds the same bytes.
pub fn write_ca_bundle_from(tree: &mut Tree, certs: &Tree) -> Option<usize> {
    let (bundle, count) = ca_bundle(certs)?;
    install_ca_bundle(tree, bundle);
    Some(count)
}

fn ca_bundle(tree: &Tree) -> Option<(Vec<u8>, usize)> {
    let mut bundle = Vec::new();
    let mut count = 0;
    for (path, entry) in tree.children(CA_SOURCE_DIR) {
        if let (true, Kind::File { data, .. }) = (path.ends_with(".crt"), &entry.kind) {
            let data = data.read_lossy();
            bundle.extend_from_slice(&data);
            if !data.ends_with(b"\n") {
                bundle.push(b'\n');
            }
            count += 1;
        }
    }
    (count > 0).then_some((bundle, count))
}

fn install_ca_bundle(tree: &mut Tree, bundle: Vec<u8>) {
    let inode = tree.new_inode();
    tree.insert(CA_BUNDLE, Entry::file(0o644, bundle, inode));
    if tree.get("/usr/lib/ssl/cert.pem").is_none() {
        tree.insert("/usr/lib/ssl/cert.pem", Entry::symlink(CA_BUNDLE));
    }
    if tree.get("/usr/lib/ssl/certs").is_none() {
        tree.insert("/usr/lib/ssl/certs", Entry::symlink("/etc/ssl/certs"));
    }
}

/// Directory of the per-package dpkg records (distroless layout).
pub const STATUS_D: &str = "/var/lib/dpkg/status.d";

/// Regular files distill writes itself (no package ships them): listed in
/// the SBOM as files of the image, not of a package. Every file under
/// [`STATUS_D`] is generated too. `/usr/lib/os-release` is generated only
/// when base-files did not ship it or the spec sets `PRETTY_NAME`.
pub const GENERATED_FILES: [&str; 9] = [
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/timezone",
    OS_RELEASE,
    CA_BUNDLE,
    crate::tree::java::JAVA_CACERTS,
    crate::tree::ldcache::LD_SO_CACHE,
];

/// What dpkg would have recorded for one installed package: its control
/// members `control`, `md5sums` and `conffiles` (deb(5)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpkgRecord {
    /// The `control` file.
    pub control: String,
    /// The `md5sums` file, if the package has one.
    pub md5sums: Option<String>,
    /// The `conffiles` file, if the package has one.
    pub conffiles: Option<String>,
}

/// The regular files each package owns in `tree`, in path order: the
/// entries whose [`Entry::package`] names it (the package that unpacked
/// them last), except dpkg's records under [`STATUS_D`]. A file that a
/// generator replaced belongs to no package. Paths are where the files
/// are (no symlinked parent).
pub fn package_files(tree: &Tree) -> BTreeMap<String, Vec<String>> {
    let skip = format!("{STATUS_D}/");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, e) in tree.iter() {
        if let (Kind::File { .. }, Some(p)) = (&e.kind, &e.package) {
            if !path.starts_with(&skip) {
                out.entry(p.to_string()).or_default().push(path.clone());
            }
        }
    }
    out
}

/// Paths of a `conffiles` control member: one absolute path per line,
/// optionally after flags such as `remove-on-upgrade` (deb-conffiles(5)).
pub fn conffile_paths(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().last().filter(|p| p.starts_with('/')))
        .filter_map(crate::tree::normalize)
        .collect()
}

/// MD5 of a file's contents, lowercase hex (read streaming).
fn md5_hex(data: &crate::tree::Content) -> String {
    use md5::Digest;
    let mut h = md5::Md5::new();
    let mut r = data.reader();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match std::io::Read::read(&mut r, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => h.update(&buf[..n]),
        }
    }
    hex::encode(h.finalize())
}

/// Write the dpkg database of the image, the layout Google's distroless
/// documents for scanners (`PACKAGE_METADATA.md`):
///
/// - `/var/lib/dpkg/status.d/<package>`: the control stanza with
///   `Status: install ok installed` after `Package:` and, for packages with
///   conffiles in the image, dpkg's `Conffiles:` field (` /etc/x <md5>`
///   lines, before `Description:` as in dpkg's status file);
/// - `/var/lib/dpkg/status.d/<package>.md5sums`: `<md5>  <path without
///   leading />` for exactly the package's regular files in the image
///   (path filters remove some; a file another package or a generator
///   replaced is not listed) except its conffiles, which dpkg's md5sums
///   never list. Paths are where the files are in the image (a package's
///   `lib/…` reached through a `/lib` → `usr/lib` link is listed as
///   `usr/lib/…`), so a scanner matching files by path finds them. Lines
///   keep the order of the package's md5sums; files it does not list (all
///   of them for a package without md5sums, whose sums dpkg would compute
///   when unpacking) follow, hashed, in path order.
///
/// So every regular file of the image outside [`STATUS_D`] is listed by
/// exactly one package or is one of [`GENERATED_FILES`].
pub fn write_dpkg_database(tree: &mut Tree, packages: &BTreeMap<String, DpkgRecord>) {
    tree.insert(STATUS_D, Entry::dir(0o755));
    let owned = package_files(tree);
    for (name, rec) in packages {
        let files: &[String] = owned.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let file_set: std::collections::BTreeSet<&str> = files.iter().map(String::as_str).collect();
        // Conffiles in the image that this package owns, as listed.
        let mut conffiles: Vec<(String, String)> = Vec::new();
        for p in rec.conffiles.as_deref().map(conffile_paths).unwrap_or_default() {
            let real = tree.resolve_parents(&p);
            if !file_set.contains(real.as_str()) || conffiles.iter().any(|(c, _)| *c == real) {
                continue;
            }
            if let Some(Entry { kind: Kind::File { data, .. }, .. }) = tree.get(&real) {
                conffiles.push((real.clone(), md5_hex(data)));
            }
        }
        // The package's md5sums lines in its order, each path rewritten to
        // where the file is, for files it owns here (not conffiles); then
        // the files its md5sums does not list (or a package without one:
        // dpkg computes those sums too), hashed, in path order.
        let is_conffile = |p: &str| conffiles.iter().any(|(c, _)| c == p);
        let mut md5 = String::new();
        let mut listed: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for line in rec.md5sums.as_deref().unwrap_or("").lines() {
            let Some((sum, path)) = line.split_once("  ") else { continue };
            let Some(abs) = crate::tree::normalize(path) else { continue };
            let real = tree.resolve_parents(&abs);
            if sum.len() != 32 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            if file_set.contains(real.as_str()) && !is_conffile(&real) && listed.insert(real.clone()) {
                md5.push_str(&format!("{}  {}\n", sum.to_ascii_lowercase(), &real[1..]));
            }
        }
        for path in files {
            if listed.contains(path) || is_conffile(path) {
                continue;
            }
            if let Some(Entry { kind: Kind::File { data, .. }, .. }) = tree.get(path) {
                md5.push_str(&format!("{}  {}\n", md5_hex(data), &path[1..]));
            }
        }

        let mut status = String::new();
        let mut wrote_conffiles = false;
        let conffiles_field = |out: &mut String| {
            if !conffiles.is_empty() {
                out.push_str("Conffiles:\n");
                for (p, sum) in &conffiles {
                    out.push_str(&format!(" {p} {sum}\n"));
                }
            }
        };
        for line in rec.control.trim_end().lines() {
            if line.starts_with("Status:") || line.trim().is_empty() {
                continue;
            }
            if line.starts_with("Description:") && !wrote_conffiles {
                conffiles_field(&mut status);
                wrote_conffiles = true;
            }
            status.push_str(line);
            status.push('\n');
            if line.starts_with("Package:") {
                status.push_str("Status: install ok installed\n");
            }
        }
        if !wrote_conffiles {
            conffiles_field(&mut status);
        }
        for (path, text) in [(format!("{STATUS_D}/{name}"), status), (format!("{STATUS_D}/{name}.md5sums"), md5)] {
            let inode = tree.new_inode();
            let mut e = Entry::file(0o644, text.into_bytes(), inode);
            e.package = Some(Arc::from(name.as_str()));
            tree.insert(&path, e);
        }
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

    fn owned(t: &mut Tree, path: &str, pkg: &str, data: &[u8]) {
        let inode = t.new_inode();
        let mut e = Entry::file(0o644, data.to_vec(), inode);
        e.package = Some(Arc::from(pkg));
        t.insert(path, e);
    }

    fn md5(data: &[u8]) -> String {
        use md5::Digest;
        hex::encode(md5::Md5::digest(data))
    }

    fn record(control: &str, md5sums: Option<&str>, conffiles: Option<&str>) -> DpkgRecord {
        DpkgRecord {
            control: control.into(),
            md5sums: md5sums.map(String::from),
            conffiles: conffiles.map(String::from),
        }
    }

    #[test]
    fn status_d_marks_packages_installed_and_lists_conffiles_before_description() {
        let mut t = Tree::new();
        owned(&mut t, "/etc/netbase.conf", "netbase", b"conf\n");
        owned(&mut t, "/etc/services", "netbase", b"svc\n");
        let mut p = BTreeMap::new();
        p.insert("libc6".to_string(), record("Package: libc6\nVersion: 2.36\n", None, None));
        p.insert(
            "netbase".to_string(),
            record(
                "Package: netbase\nStatus: bogus\nVersion: 6.4\nDescription: Basic TCP/IP\n networking files\n",
                Some(&format!("{}  etc/services\n", md5(b"svc\n"))),
                Some("/etc/netbase.conf\nremove-on-upgrade /etc/gone.conf\n"),
            ),
        );
        write_dpkg_database(&mut t, &p);
        assert_eq!(
            text(&t, "/var/lib/dpkg/status.d/libc6"),
            "Package: libc6\nStatus: install ok installed\nVersion: 2.36\n"
        );
        assert_eq!(
            text(&t, "/var/lib/dpkg/status.d/netbase"),
            format!(
                "Package: netbase\nStatus: install ok installed\nVersion: 6.4\nConffiles:\n /etc/netbase.conf {}\nDescription: Basic TCP/IP\n networking files\n",
                md5(b"conf\n")
            )
        );
        // The conffile is in Conffiles only, never in md5sums.
        assert_eq!(text(&t, "/var/lib/dpkg/status.d/netbase.md5sums"), format!("{}  etc/services\n", md5(b"svc\n")));
        assert_eq!(text(&t, "/var/lib/dpkg/status.d/libc6.md5sums"), "");
    }

    #[test]
    fn md5sums_list_exactly_the_package_files_in_the_image_where_they_are() {
        let mut t = Tree::new();
        t.insert("/usr/lib", Entry::dir(0o755));
        t.insert("/lib", Entry::symlink("usr/lib"));
        owned(&mut t, "/usr/lib/libx.so.1", "libx1", b"x");
        owned(&mut t, "/usr/share/x/data", "libx1", b"unlisted");
        owned(&mut t, "/usr/share/shared", "other", b"other wins");
        t.insert("/etc/hosts", Entry::file(0o644, b"generated".to_vec(), 99));
        let sums = format!(
            "{}  lib/libx.so.1\n{}  usr/share/doc/libx1/changelog.gz\n{}  usr/share/shared\n",
            md5(b"x"),
            md5(b"filtered away"),
            md5(b"libx1's version"),
        );
        let mut p = BTreeMap::new();
        p.insert("libx1".to_string(), record("Package: libx1\n", Some(&sums), None));
        p.insert("other".to_string(), record("Package: other\n", None, None));
        write_dpkg_database(&mut t, &p);
        // The path through /lib is listed where the file is; the filtered
        // file and the file `other` replaced are not listed; the file the
        // package's md5sums missed is hashed (after the listed ones).
        assert_eq!(
            text(&t, "/var/lib/dpkg/status.d/libx1.md5sums"),
            format!("{}  usr/lib/libx.so.1\n{}  usr/share/x/data\n", md5(b"x"), md5(b"unlisted"))
        );
        assert_eq!(
            text(&t, "/var/lib/dpkg/status.d/other.md5sums"),
            format!("{}  usr/share/shared\n", md5(b"other wins"))
        );
        let files = package_files(&t);
        assert_eq!(files["libx1"], ["/usr/lib/libx.so.1", "/usr/share/x/data"]);
        assert!(!files.values().flatten().any(|p| p.starts_with(STATUS_D) || p == "/etc/hosts"));
    }

    #[test]
    fn os_release_is_generated_with_detection_fields_and_the_spec_pretty_name() {
        let os = OsInfo { version_id: Some("12".into()), codename: "bookworm".into() };
        let mut t = Tree::new();
        write_os_release(&mut t, &os, None);
        assert_eq!(t.resolve(ETC_OS_RELEASE).as_deref(), Some(OS_RELEASE));
        let f = os_release_fields(&text(&t, OS_RELEASE));
        assert_eq!(
            (f["ID"].as_str(), f["VERSION_ID"].as_str(), f["VERSION_CODENAME"].as_str()),
            ("debian", "12", "bookworm")
        );
        assert_eq!(f["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");

        let mut t = Tree::new();
        let testing = OsInfo { version_id: None, codename: "forky".into() };
        write_os_release(&mut t, &testing, Some("Acme base (forky)"));
        let f = os_release_fields(&text(&t, OS_RELEASE));
        assert_eq!(f["PRETTY_NAME"], "Acme base (forky)");
        assert_eq!((f["ID"].as_str(), f["VERSION_CODENAME"].as_str()), ("debian", "forky"));
        assert!(!f.contains_key("VERSION_ID"));
    }

    #[test]
    fn pretty_name_replaces_only_that_line_of_base_files_os_release() {
        let shipped = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        let mut t = Tree::new();
        owned(&mut t, OS_RELEASE, "base-files", shipped.as_bytes());
        let mut link = Entry::symlink("../usr/lib/os-release");
        link.package = Some(Arc::from("base-files"));
        t.insert(ETC_OS_RELEASE, link);
        let os = OsInfo { version_id: Some("12".into()), codename: "bookworm".into() };
        write_os_release(&mut t, &os, None);
        assert_eq!(text(&t, OS_RELEASE), shipped, "kept as shipped without a pretty name");
        assert_eq!(t.get(OS_RELEASE).unwrap().package.as_deref(), Some("base-files"));
        write_os_release(&mut t, &os, Some("Acme Node 18"));
        let f = os_release_fields(&text(&t, OS_RELEASE));
        assert_eq!(f["PRETTY_NAME"], "Acme Node 18");
        assert_eq!((f["ID"].as_str(), f["VERSION_ID"].as_str()), ("debian", "12"));
        // No longer base-files' bytes: a generated file, out of its md5sums.
        assert_eq!(t.get(OS_RELEASE).unwrap().package, None);
    }
}
