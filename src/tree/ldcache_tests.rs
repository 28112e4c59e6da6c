use super::*;
use std::path::Path;
use std::process::Command;

fn file(t: &mut Tree, path: &str, data: Vec<u8>) {
    let inode = t.new_inode();
    t.insert(path, Entry::file(0o644, data, inode));
}

#[test]
fn libcmp_compares_digit_runs_as_numbers() {
    assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Ordering::Greater);
    assert_eq!(libcmp("libfoo.so.1", "libfoo.so.1"), Ordering::Equal);
    assert_eq!(libcmp("libfoo.so", "libfoo.so.1"), Ordering::Less);
    assert_eq!(libcmp("liba.so", "libb.so"), Ordering::Less);
    assert_eq!(libcmp("lib2.so", "libx.so"), Ordering::Greater, "a digit sorts after a letter");
}

#[test]
fn string_table_stores_suffixes_once() {
    let (table, off) = string_table(&["libc.so.6", "/usr/lib/x/libc.so.6", "libm.so.6", "libc.so.6"]);
    // Sorted by reversed bytes, descending: "...m.so.6" before "...c.so.6".
    assert_eq!(table, b"libm.so.6\0/usr/lib/x/libc.so.6\0");
    assert_eq!(off["libc.so.6"], 21);
    assert_eq!(off["/usr/lib/x/libc.so.6"], 10);
}

#[test]
fn conf_dirs_follow_includes_in_byte_order_and_skip_comments() {
    let mut t = Tree::new();
    file(&mut t, "/etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n/first/lib/\n".to_vec());
    file(&mut t, "/etc/ld.so.conf.d/b.conf", b"# comment\n/opt/b/lib # trailing\n".to_vec());
    file(&mut t, "/etc/ld.so.conf.d/a.conf", b"/opt/a/lib=libc6\n\n".to_vec());
    file(&mut t, "/etc/ld.so.conf.d/c.txt", b"/never\n".to_vec());
    assert_eq!(conf_dirs(&t), ["/opt/a/lib", "/opt/b/lib", "/first/lib"]);
    // Without /etc/ld.so.conf (libc-bin not installed): Debian's, which
    // includes ld.so.conf.d.
    t.remove("/etc/ld.so.conf");
    assert_eq!(conf_dirs(&t), ["/opt/a/lib", "/opt/b/lib"]);
}

#[test]
fn no_cache_without_libraries_outside_the_default_path() {
    let mut t = Tree::new();
    file(&mut t, "/etc/ld.so.conf", b"/usr/local/lib\n".to_vec());
    t.insert("/usr/local/lib", Entry::dir(0o755));
    // Not ELF: ignored, but it makes the triplet known.
    file(&mut t, "/usr/lib/x86_64-linux-gnu/libc.so.6", b"not elf".to_vec());
    let s = write_ld_so_cache(&mut t).unwrap();
    assert_eq!((s.cache_entries, s.extra_dirs.len()), (None, 0));
    assert!(t.get(LD_SO_CACHE).is_none());
    assert!(write_ld_so_cache(&mut Tree::new()).is_none(), "no glibc, nothing");
}

/// Build `libname` (`soname`) with gcc into `dir`; `None` without gcc.
fn gcc_lib(dir: &Path, name: &str, soname: Option<&str>, needs_libc: bool) -> Option<Vec<u8>> {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, format!("int f_{}(void) {{ return 1; }}\n", name.replace(['.', '-'], "_"))).ok()?;
    let out = dir.join(name);
    let mut c = Command::new("gcc");
    c.args(["-shared", "-fPIC", "-o"]).arg(&out).arg(&src);
    if let Some(s) = soname {
        c.arg(format!("-Wl,-soname,{s}"));
    }
    if !needs_libc {
        c.args(["-nostdlib"]);
    }
    c.status().ok()?.success().then(|| std::fs::read(&out).ok()).flatten()
}

/// The real `ldconfig -r` on the materialized tree and our cache must be
/// the same bytes (with ldconfig's generator string), and ldconfig must
/// create exactly the SONAME links we create.
#[test]
fn cache_and_links_equal_what_glibc_ldconfig_makes() {
    let host_libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    let ldconfig_bin = Path::new("/sbin/ldconfig");
    let work = tempfile::tempdir().unwrap();
    let Some(foo) = gcc_lib(work.path(), "libfoo.so.1.2.3", Some("libfoo.so.1"), true) else {
        eprintln!("skipped: no gcc");
        return;
    };
    if !host_libc.exists() || !ldconfig_bin.exists() {
        eprintln!("skipped: not an x86-64 glibc host with ldconfig");
        return;
    }
    let bar = gcc_lib(work.path(), "libbar.so.2", Some("libbar.so.2"), true).unwrap();
    let nosoname = gcc_lib(work.path(), "libplain.so", None, false).unwrap();
    let old = gcc_lib(work.path(), "libfoo.so.1.0.0", Some("libfoo.so.1"), true).unwrap();
    let mut t = Tree::new();
    let t3 = "/usr/lib/x86_64-linux-gnu";
    t.insert("/usr/lib", Entry::dir(0o755));
    t.insert("/lib", Entry::symlink("usr/lib"));
    file(&mut t, &format!("{t3}/libc.so.6"), std::fs::read(host_libc).unwrap());
    file(&mut t, &format!("{t3}/libbar.so.2"), bar.clone());
    file(&mut t, &format!("{t3}/libbar.so.2.0"), bar.clone()); // same soname, newer name
    t.insert(&format!("{t3}/libbar.so"), Entry::symlink("libbar.so.2"));
    file(&mut t, "/etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n".to_vec());
    file(
        &mut t,
        "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        format!("/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n{t3}\n").into_bytes(),
    );
    file(&mut t, "/etc/ld.so.conf.d/zz-opt.conf", b"/opt/x/lib\n".to_vec());
    file(&mut t, "/opt/x/lib/libfoo.so.1.2.3", foo);
    file(&mut t, "/opt/x/lib/libfoo.so.1.0.0", old);
    t.insert("/opt/x/lib/libfoo.so", Entry::symlink("libfoo.so.1"));
    file(&mut t, "/opt/x/lib/libplain.so", nosoname);
    file(&mut t, "/opt/x/lib/README", b"text".to_vec());
    file(&mut t, "/opt/x/lib/libscript.so", b"/* GNU ld script */".to_vec());

    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    crate::sandbox::fs::materialize(&t, &root).unwrap();
    let st = Command::new(ldconfig_bin).arg("-r").arg(&root).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let theirs = std::fs::read(root.join("etc/ld.so.cache")).unwrap();
    // ldconfig's generator string: the extension's last section.
    let ext = u32::from_le_bytes(theirs[32..36].try_into().unwrap()) as usize;
    let generator = std::str::from_utf8(&theirs[ext + 24..]).unwrap();
    assert!(generator.starts_with("ldconfig"), "{generator}");

    // The first run: same entries as ours before any link exists.
    let first = ldconfig(&t, "x86_64-linux-gnu");
    assert_eq!(cache_bytes(&first.entries, generator), theirs, "entries: {:#?}", first.entries);

    // What we write equals ldconfig's second run (links now exist).
    let mut ours = t.clone();
    let s = write_ld_so_cache(&mut ours).unwrap();
    assert_eq!(s.extra_dirs, ["/opt/x/lib"]);
    let st = Command::new(ldconfig_bin).arg("-r").arg(&root).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let second = std::fs::read(root.join("etc/ld.so.cache")).unwrap();
    let ld = ldconfig(&ours, "x86_64-linux-gnu");
    assert_eq!(cache_bytes(&ld.entries, generator), second, "entries: {:#?}", ld.entries);
    assert_eq!(s.cache_entries, Some(ld.entries.len()));
    assert_eq!(ld.entries.len(), first.entries.len() + 1, "libfoo.so now resolves");
    match &ours.get(LD_SO_CACHE).unwrap().kind {
        Kind::File { data, .. } => assert_eq!(data.read().unwrap().as_ref(), cache_bytes(&ld.entries, GENERATOR)),
        k => panic!("{k:?}"),
    }

    // The links ldconfig made on disk are the ones we made in the tree.
    let mut made = Vec::new();
    for dir in ["opt/x/lib", "usr/lib/x86_64-linux-gnu"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            let path = format!("/{}", p.strip_prefix(&root).unwrap().display());
            if let (Ok(target), None) = (std::fs::read_link(&p), t.get(&path)) {
                made.push((path, target.display().to_string()));
            }
        }
    }
    made.sort();
    let mut ours_links: Vec<(String, String)> = s
        .links
        .iter()
        .map(|p| {
            (
                p.clone(),
                match &ours.get(p).unwrap().kind {
                    Kind::Symlink(t) => t.clone(),
                    k => panic!("{k:?}"),
                },
            )
        })
        .collect();
    ours_links.sort();
    assert_eq!(ours_links, made);
    assert_eq!(made, [("/opt/x/lib/libfoo.so.1".to_string(), "libfoo.so.1.2.3".to_string())]);

    // glibc reads our file back with our generator.
    let cache = work.path().join("ours.cache");
    std::fs::write(&cache, cache_bytes(&ld.entries, GENERATOR)).unwrap();
    let p = Command::new(ldconfig_bin).arg("-p").arg("-C").arg(&cache).output().unwrap();
    let text = String::from_utf8_lossy(&p.stdout);
    assert!(text.contains("libfoo.so.1 (libc6,x86-64) => /opt/x/lib/libfoo.so.1"), "{text}");
    assert!(text.contains("Cache generated by: distill"), "{text}");
}
