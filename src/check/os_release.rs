//! Distro detection: an image with Debian packages (a `status.d` entry)
//! has `/etc/os-release` as a symlink to `/usr/lib/os-release`, a regular
//! file saying `ID=debian` and `VERSION_CODENAME`, and `VERSION_ID` as a
//! number when it is set (testing and unstable have none). Scanners read
//! these to choose the vulnerability feed (os-release(5)).

use super::packages::status_d_packages;
use super::Finding;
use crate::tree::generate::{os_release_fields, ETC_OS_RELEASE, OS_RELEASE};
use crate::tree::{Kind, Tree};

/// Findings about `/etc/os-release` (none for an image without packages).
pub fn os_release(tree: &Tree) -> Vec<Finding> {
    if status_d_packages(tree).is_empty() {
        return Vec::new();
    }
    let finding = |path: &str, package: Option<&str>, problem: String| Finding {
        path: path.into(),
        package: package.unwrap_or("generated").into(),
        problem,
    };
    let link = tree.get(ETC_OS_RELEASE);
    let owner = link.and_then(|e| e.package.as_deref());
    let real = tree.resolve(ETC_OS_RELEASE);
    let Some(real) = real.filter(|r| matches!(tree.get(r).map(|e| &e.kind), Some(Kind::File { .. }))) else {
        return vec![finding(
            ETC_OS_RELEASE,
            owner,
            "missing or does not resolve to a regular file: distro detection fails".into(),
        )];
    };
    let mut out = Vec::new();
    if !matches!(link.map(|e| &e.kind), Some(Kind::Symlink(_))) || real != OS_RELEASE {
        out.push(finding(ETC_OS_RELEASE, owner, format!("is not a symlink to {OS_RELEASE} (it leads to {real})")));
    }
    let entry = tree.get(&real);
    let data = match entry.map(|e| &e.kind) {
        Some(Kind::File { data, .. }) => data.read_lossy().into_owned(),
        _ => Vec::new(),
    };
    let fields = os_release_fields(&String::from_utf8_lossy(&data));
    let pkg = entry.and_then(|e| e.package.as_deref());
    match fields.get("ID").map(String::as_str) {
        Some("debian") => {}
        other => out.push(finding(&real, pkg, format!("ID is {other:?}, not \"debian\""))),
    }
    if fields.get("VERSION_CODENAME").map_or(true, |c| c.is_empty()) {
        out.push(finding(&real, pkg, "has no VERSION_CODENAME".into()));
    }
    if let Some(v) = fields.get("VERSION_ID") {
        if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit() || c == '.') {
            out.push(finding(&real, pkg, format!("VERSION_ID {v:?} is not a version number")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::generate::{write_os_release, OsInfo, STATUS_D};
    use crate::tree::Entry;

    fn debian_tree() -> Tree {
        let mut t = Tree::new();
        t.insert(&format!("{STATUS_D}/libc6"), Entry::file(0o644, b"Package: libc6\n".to_vec(), 2));
        t
    }

    #[test]
    fn generated_os_release_passes() {
        let mut t = debian_tree();
        write_os_release(&mut t, &OsInfo { version_id: Some("12".into()), codename: "bookworm".into() }, Some("X"));
        assert_eq!(os_release(&t), vec![]);
        assert_eq!(os_release(&Tree::new()), vec![], "no packages, no distro to detect");
    }

    #[test]
    fn missing_or_wrong_os_release_is_reported() {
        let t = debian_tree();
        assert!(os_release(&t)[0].problem.contains("distro detection fails"));
        let mut t = debian_tree();
        t.insert(OS_RELEASE, Entry::file(0o644, b"ID=ubuntu\nVERSION_ID=\"x\"\n".to_vec(), 3));
        t.insert(ETC_OS_RELEASE, Entry::file(0o644, b"ID=debian\n".to_vec(), 4));
        let problems: Vec<String> = os_release(&t).into_iter().map(|f| f.problem).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("not a symlink"), "{problems:?}");
        assert!(problems[1].contains("VERSION_CODENAME"), "{problems:?}");
        let mut t = debian_tree();
        t.insert(OS_RELEASE, Entry::file(0o644, b"ID=ubuntu\nVERSION_ID=\"x\"\nVERSION_CODENAME=noble\n".to_vec(), 3));
        t.insert(ETC_OS_RELEASE, Entry::symlink("../usr/lib/os-release"));
        let problems: Vec<String> = os_release(&t).into_iter().map(|f| f.problem).collect();
        assert_eq!(problems, ["ID is Some(\"ubuntu\"), not \"debian\"", "VERSION_ID \"x\" is not a version number"]);
    }
}
