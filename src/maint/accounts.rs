//! System accounts and ownership as scripts make them: `adduser`/`addgroup`
//! (adduser(8), `--system`: ids from `FIRST_SYSTEM_UID`=100 to
//! `LAST_SYSTEM_UID`=999, adduser.conf(5)), `useradd -r`/`groupadd -r`
//! (shadow's login.defs `SYS_UID_MIN`..`SYS_UID_MAX`, the same range on
//! Debian), `getent`, `id`, `dpkg-statoverride` (dpkg-statoverride(1)),
//! `chown`/`chgrp`/`chmod`. Accounts are lines of the image's
//! `/etc/passwd` and `/etc/group` (passwd(5), group(5)); ids are the
//! lowest free ones in the range, in the order scripts run, so they are the
//! same on every build.

use super::commands::read_file;
use super::exec::Shell;
use super::Handling;
use crate::tree::Tree;

/// base-passwd 3.6.1's `passwd.master` and `group.master`: the users and
/// groups every Debian system has, with ids fixed by Debian Policy §9.2.2
/// (base-passwd is Essential; its preinst writes them to /etc/passwd and
/// /etc/group). An image gets an entry from here when a script, a file's
/// owner or a statoverride names it and the image lacks it.
const PASSWD_MASTER: &str = include_str!("base-passwd/passwd.master");
/// See [`PASSWD_MASTER`].
const GROUP_MASTER: &str = include_str!("base-passwd/group.master");

const FIRST_SYSTEM_ID: u32 = 100;
const LAST_SYSTEM_ID: u32 = 999;

/// Run an account tool; `None` when `name` is not one.
pub fn run(sh: &mut Shell, name: &str, a: &[String], out: &mut Vec<u8>) -> Option<i32> {
    let argv: Vec<String> = std::iter::once(name.to_string()).chain(a.iter().cloned()).collect();
    Some(match name {
        "getent" => {
            let (Some(db), Some(key)) = (a.first(), a.get(1)) else { return Some(2) };
            let file = match db.as_str() {
                "passwd" => "/etc/passwd",
                "group" => "/etc/group",
                _ => return Some(2),
            };
            match lookup(sh.world.tree, file, key) {
                Some(line) => {
                    out.extend(format!("{line}\n").as_bytes());
                    0
                }
                None => 2,
            }
        }
        "id" => {
            let user = a.iter().find(|w| !w.starts_with('-'));
            match user.and_then(|u| lookup(sh.world.tree, "/etc/passwd", u)) {
                Some(line) => {
                    let f: Vec<&str> = line.split(':').collect();
                    let v = if a.iter().any(|w| w == "-g") { f.get(3) } else { f.get(2) };
                    out.extend(format!("{}\n", v.unwrap_or(&"")).as_bytes());
                    0
                }
                None => 1,
            }
        }
        "adduser" | "useradd" => add_user(sh, &argv),
        "addgroup" | "groupadd" => add_group(sh, &argv),
        _ => return None,
    })
}

/// The passwd/group line whose name (or numeric id) is `key`.
pub fn lookup(tree: &Tree, file: &str, key: &str) -> Option<String> {
    let text = String::from_utf8(read_file(tree, file)?).ok()?;
    text.lines()
        .find(|l| {
            let mut f = l.split(':');
            let name = f.next();
            let id = f.nth(1);
            name == Some(key) || id == Some(key)
        })
        .map(String::from)
}

fn ids(tree: &Tree, file: &str) -> Vec<u32> {
    let text = read_file(tree, file).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    text.lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect()
}

fn free_id(tree: &Tree, files: &[&str]) -> Option<u32> {
    let mut taken: Vec<u32> = files.iter().flat_map(|f| ids(tree, f)).collect();
    for master in [PASSWD_MASTER, GROUP_MASTER] {
        taken.extend(master.lines().filter_map(|l| l.split(':').nth(2)?.parse::<u32>().ok()));
    }
    (FIRST_SYSTEM_ID..=LAST_SYSTEM_ID).find(|i| !taken.contains(i))
}

fn append_line(sh: &mut Shell, file: &str, line: &str) {
    let mut data = read_file(sh.world.tree, file).unwrap_or_default();
    if !data.is_empty() && !data.ends_with(b"\n") {
        data.push(b'\n');
    }
    data.extend(format!("{line}\n").as_bytes());
    let e = super::commands::new_file(sh.world.tree, 0o644, data);
    sh.world.put(file, e);
}

/// Options as `(flag, value)` and the operands.
fn options(a: &[String], with_value: &[&str]) -> (Vec<(String, String)>, Vec<String>) {
    let mut opts = Vec::new();
    let mut ops = Vec::new();
    let mut it = a.iter();
    while let Some(w) = it.next() {
        if let Some((k, v)) = w.split_once('=').filter(|(k, _)| k.starts_with("--")) {
            opts.push((k.to_string(), v.to_string()));
        } else if with_value.contains(&w.as_str()) {
            opts.push((w.clone(), it.next().cloned().unwrap_or_default()));
        } else if w.starts_with('-') {
            opts.push((w.clone(), String::new()));
        } else {
            ops.push(w.clone());
        }
    }
    (opts, ops)
}

fn add_group(sh: &mut Shell, argv: &[String]) -> i32 {
    let (opts, ops) = options(&argv[1..], &["--gid", "-g", "-K", "--key"]);
    let Some(name) = ops.first().cloned() else { return 1 };
    let tree = &*sh.world.tree;
    if lookup(tree, "/etc/group", &name).is_some() {
        sh.world.record(sh.line, argv, Handling::NoEffect(format!("group {name} exists")));
        return 0;
    }
    let gid = opt(&opts, &["--gid", "-g"]).and_then(|g| g.parse().ok()).or_else(|| free_id(tree, &["/etc/group"]));
    let Some(gid) = gid else { return 1 };
    append_line(sh, "/etc/group", &format!("{name}:x:{gid}:"));
    sh.world.record(sh.line, argv, Handling::Reproduced(format!("system group {name} ({gid})")));
    0
}

fn opt<'a>(opts: &'a [(String, String)], keys: &[&str]) -> Option<&'a String> {
    opts.iter().find(|(k, _)| keys.contains(&k.as_str())).map(|(_, v)| v)
}

fn add_user(sh: &mut Shell, argv: &[String]) -> i32 {
    let valued = [
        "--home",
        "-d",
        "--shell",
        "-s",
        "--ingroup",
        "-g",
        "--gecos",
        "-c",
        "--comment",
        "--uid",
        "-u",
        "--gid",
        "-G",
        "--groups",
        "-K",
        "--firstuid",
        "--lastuid",
    ];
    let (opts, ops) = options(&argv[1..], &valued);
    let has = |k: &[&str]| opts.iter().any(|(o, _)| k.contains(&o.as_str()));
    // `adduser USER GROUP`: add a member to a group.
    if argv[0] == "adduser" && ops.len() == 2 {
        return add_member(sh, argv, &ops[0], &ops[1]);
    }
    let Some(name) = ops.first().cloned() else { return 1 };
    if lookup(sh.world.tree, "/etc/passwd", &name).is_some() {
        sh.world.record(sh.line, argv, Handling::NoEffect(format!("user {name} exists")));
        return 0;
    }
    if argv[0] == "adduser" && !has(&["--system"]) {
        sh.world.record(sh.line, argv, Handling::Unknown { changes_system: true });
        return 1;
    }
    // A group of the user's name: adduser --group, useradd -U (and
    // useradd's default USERGROUPS_ENAB yes without -g/-N).
    let own_group = has(&["--group", "-U"]) || (argv[0] == "useradd" && !has(&["-g", "-N", "--no-user-group"]));
    let tree = &*sh.world.tree;
    let uid = opt(&opts, &["--uid", "-u"]).and_then(|u| u.parse().ok()).or_else(|| free_id(tree, &["/etc/passwd"]));
    let Some(uid) = uid else { return 1 };
    let gid = if own_group {
        if lookup(tree, "/etc/group", &name).is_none() {
            let gid = opt(&opts, &["--gid"]).and_then(|g| g.parse().ok());
            let gid = gid
                .or_else(|| (!ids(tree, "/etc/group").contains(&uid)).then_some(uid))
                .or_else(|| free_id(tree, &["/etc/group"]));
            let Some(gid) = gid else { return 1 };
            append_line(sh, "/etc/group", &format!("{name}:x:{gid}:"));
        }
        group_id(sh, &name)
    } else {
        let group = opt(&opts, &["--ingroup", "-g", "--gid"]).cloned().unwrap_or_else(|| "nogroup".into());
        group_id(sh, &group)
    };
    let gid = gid.unwrap_or(65534);
    let home = opt(&opts, &["--home", "-d"]).cloned().unwrap_or_else(|| "/nonexistent".into());
    let shell = opt(&opts, &["--shell", "-s"]).cloned().unwrap_or_else(|| "/usr/sbin/nologin".into());
    let gecos = opt(&opts, &["--gecos", "-c", "--comment"]).cloned().unwrap_or_default();
    append_line(sh, "/etc/passwd", &format!("{name}:x:{uid}:{gid}:{gecos}:{home}:{shell}"));
    let create_home = match argv[0].as_str() {
        "adduser" => !has(&["--no-create-home"]),
        _ => has(&["-m", "--create-home"]),
    };
    if create_home && home != "/nonexistent" && sh.world.tree.resolve(&home).is_none() {
        let mut dir = crate::tree::Entry::dir(0o755);
        (dir.uid, dir.gid) = (uid, gid);
        sh.world.put(&home, dir);
    }
    sh.world.record(sh.line, argv, Handling::Reproduced(format!("system user {name} ({uid}:{gid}, home {home})")));
    0
}

fn add_member(sh: &mut Shell, argv: &[String], user: &str, group: &str) -> i32 {
    let Some(bytes) = read_file(sh.world.tree, "/etc/group") else { return 1 };
    let text = String::from_utf8_lossy(&bytes);
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() == Some(&group) && f.len() == 4 {
                found = true;
                let mut members: Vec<&str> = f[3].split(',').filter(|m| !m.is_empty()).collect();
                if !members.contains(&user) {
                    members.push(user);
                }
                return format!("{}:{}:{}:{}", f[0], f[1], f[2], members.join(","));
            }
            l.to_string()
        })
        .collect();
    if !found {
        return 1;
    }
    let e = super::commands::new_file(sh.world.tree, 0o644, format!("{}\n", lines.join("\n")).into_bytes());
    sh.world.put("/etc/group", e);
    sh.world.record(sh.line, argv, Handling::Reproduced(format!("{user} added to group {group}")));
    0
}

fn user_id(sh: &mut Shell, user: &str) -> Option<u32> {
    account_id(sh, "/etc/passwd", PASSWD_MASTER, user)
}

fn group_id(sh: &mut Shell, group: &str) -> Option<u32> {
    account_id(sh, "/etc/group", GROUP_MASTER, group)
}

/// The id of a user or group of the image, numeric as given, or added
/// from base-passwd's static list when the image lacks it.
fn account_id(sh: &mut Shell, file: &str, master: &str, key: &str) -> Option<u32> {
    if let Ok(id) = key.parse() {
        return Some(id);
    }
    if let Some(line) = lookup(sh.world.tree, file, key) {
        return line.split(':').nth(2)?.parse().ok();
    }
    let line = master.lines().find(|l| l.split(':').next() == Some(key))?;
    add_static(sh, file, line);
    line.split(':').nth(2)?.parse().ok()
}

fn add_static(sh: &mut Shell, file: &str, master_line: &str) {
    let line = master_line.replacen(":*:", ":x:", 1);
    append_line(sh, file, &line);
    let name = line.split(':').next().unwrap_or("");
    let argv = [format!("(base-passwd {})", if file.ends_with("group") { "group" } else { "user" }), name.to_string()];
    sh.world.record(
        sh.line,
        &argv,
        Handling::Reproduced(format!("static account {name} (Debian Policy 9.2.2) in {file}")),
    );
}

/// After the scripts ran: every uid and gid an image file is owned by that
/// names no account gets its base-passwd entry, so `ls -l`, tar and
/// programs that look owners up see the names dpkg would have.
pub fn name_file_owners(sh: &mut Shell) {
    let mut uids: Vec<u32> = sh.world.tree.iter().map(|(_, e)| e.uid).collect();
    let mut gids: Vec<u32> = sh.world.tree.iter().map(|(_, e)| e.gid).collect();
    uids.sort_unstable();
    uids.dedup();
    gids.sort_unstable();
    gids.dedup();
    for (ids_used, file, master) in [(uids, "/etc/passwd", PASSWD_MASTER), (gids, "/etc/group", GROUP_MASTER)] {
        let known = ids(sh.world.tree, file);
        for id in ids_used.into_iter().filter(|i| !known.contains(i)) {
            if let Some(line) = master.lines().find(|l| l.split(':').nth(2) == Some(&id.to_string())) {
                add_static(sh, file, line);
            }
        }
    }
}

/// `dpkg-statoverride --add [--update] USER GROUP MODE PATH`: the path
/// gets that owner and mode (with `--update`, at once; dpkg applies it at
/// unpack otherwise, which on a first install is the same). `--list`
/// finds none.
pub fn statoverride(sh: &mut Shell, argv: &[String]) -> i32 {
    let a = &argv[1..];
    if !a.iter().any(|w| w == "--add") {
        return i32::from(a.iter().any(|w| w == "--list"));
    }
    let ops: Vec<&String> = a.iter().filter(|w| !w.starts_with("--")).collect();
    let [user, group, mode, path] = ops[..] else { return 2 };
    let (uid, gid) = (user_id(sh, user), group_id(sh, group));
    let tree = &mut *sh.world.tree;
    let (Some(uid), Some(gid), Ok(mode)) = (uid, gid, u32::from_str_radix(mode, 8)) else {
        sh.world.record(sh.line, argv, Handling::Unknown { changes_system: true });
        return 2;
    };
    let real = tree.resolve_parents(path);
    match tree.get_mut(&real) {
        Some(e) => {
            (e.uid, e.gid, e.mode) = (uid, gid, mode & 0o7777);
            sh.world.record(sh.line, argv, Handling::Reproduced(format!("{path} {uid}:{gid} {mode:04o}")));
            0
        }
        None => {
            sh.world.record(sh.line, argv, Handling::NoEffect(format!("{path} is not in the image")));
            0
        }
    }
}

/// `chown [-R] USER[:GROUP] PATH…`, `chgrp GROUP PATH…`, `chmod [-R] MODE PATH…`.
pub fn chmod_chown(sh: &mut Shell, name: &str, argv: &[String]) -> i32 {
    let recursive = argv[1..].iter().any(|w| w == "-R" || w == "--recursive");
    let ops: Vec<&String> = argv[1..].iter().filter(|w| !w.starts_with('-') || w.len() == 1).collect();
    // `--reference=FILE`: that file's owner (chown/chgrp) or mode (chmod).
    let reference = argv[1..].iter().find_map(|w| w.strip_prefix("--reference=")).and_then(|r| {
        let tree = &*sh.world.tree;
        tree.resolve(r).and_then(|p| tree.get(&p)).map(|e| (e.uid, e.gid, e.mode))
    });
    if let Some((uid, gid, mode)) = reference {
        for p in ops.iter() {
            let tree = &mut *sh.world.tree;
            if let Some(e) = tree.resolve(p).and_then(|r| tree.get_mut(&r)) {
                match name {
                    "chmod" => e.mode = mode,
                    "chgrp" => e.gid = gid,
                    _ => (e.uid, e.gid) = (uid, gid),
                }
            }
        }
        sh.world.record(sh.line, argv, Handling::Reproduced("ownership/mode from the reference file".into()));
        return 0;
    }
    let Some((spec, paths)) = ops.split_first() else { return 1 };
    let (owner, group) = match name {
        "chown" => spec.split_once([':', '.']).map_or((spec.as_str(), None), |(u, g)| (u, Some(g))),
        "chgrp" => ("", Some(spec.as_str())),
        _ => ("", None),
    };
    let uid = if owner.is_empty() { None } else { user_id(sh, owner) };
    let gid = match group.filter(|g| !g.is_empty()) {
        Some(g) => group_id(sh, g),
        None => None,
    };
    let tree = &mut *sh.world.tree;
    if (name != "chmod")
        && ((!owner.is_empty() && uid.is_none()) || (group.is_some_and(|g| !g.is_empty()) && gid.is_none()))
    {
        sh.world.record(sh.line, argv, Handling::Unknown { changes_system: true });
        return 1;
    }
    let mut status = 0;
    for p in paths {
        let Some(real) = tree.resolve(p) else {
            status = 1;
            continue;
        };
        let mut targets = vec![real.clone()];
        if recursive {
            targets.extend(tree.children(&real).map(|(k, _)| k.clone()));
        }
        for t in targets {
            let Some(e) = tree.get_mut(&t) else { continue };
            if name == "chmod" {
                match super::files::parse_mode(spec, e.mode) {
                    Some(m) => e.mode = m,
                    None => status = 1,
                }
            } else {
                e.uid = uid.unwrap_or(e.uid);
                e.gid = gid.unwrap_or(e.gid);
            }
        }
    }
    let handling = if status == 0 {
        Handling::Reproduced("ownership/mode".into())
    } else {
        Handling::NoEffect("path not in the image".into())
    };
    sh.world.record(sh.line, argv, handling);
    status
}
