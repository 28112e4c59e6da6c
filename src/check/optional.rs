//! Which findings make an image unable to run, and which only mark an
//! optional piece. dpkg installs a package whose dlopen plugin lacks an
//! optional library, or whose documentation links point into a package it
//! only recommends (Debian Policy 7.2: Recommends and Suggests need not be
//! installed); distill must not be stricter than that where nothing the
//! image runs is affected, and must stay strict where it is.
//!
//! **Required ELF files** are the roots and what they link: every
//! executable (an ELF with a program interpreter, or of type `ET_EXEC`),
//! which covers the entrypoint and the binaries on `PATH`; every shared
//! object directly in a directory of the loader's default search path (or
//! of `/etc/ld.so.conf` with a cache), which programs may link; and,
//! transitively, every ELF file a required one names in `DT_NEEDED` (by
//! file name or any symlink name that leads to it). A missing library of a
//! required file is an error.
//!
//! **Plugins** are the other ELF files: shared objects off the search path
//! that nothing links (libcaca's `caca/libgl_plugin.so`, iproute2's
//! `tc/q_atm.so`, the JDK's `libfontmanager.so`, Python extension
//! modules). Only `dlopen` loads them; when one lacks a library, that
//! `dlopen` fails and the rest of the image works. Its findings are
//! warnings; the plugin stays, as dpkg leaves it.
//!
//! **Optional links** are dangling symlinks that are documentation (the
//! link or its target under `/usr/share/doc`, `/usr/share/man`,
//! `/usr/share/info`), or that point into `/usr/share` while their package
//! recommends or suggests packages not in the image (read from the
//! package's `status.d` record): what such a package would ship there is
//! data an optional feature uses (rdoc's templates link to fonts-lato's
//! fonts). Every other dangling link is an error.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::elf::{self, ElfInfo};
use crate::tree::{normalize, Kind, Tree};

/// Documentation directories: a dangling link in or into them is never
/// needed at run time.
pub const DOC_DIRS: [&str; 3] = ["/usr/share/doc/", "/usr/share/man/", "/usr/share/info/"];

/// Paths of the ELF files in `elves` that are required (see the module
/// documentation); the others are plugins.
pub fn required(tree: &Tree, elves: &HashMap<&str, ElfInfo>) -> HashSet<String> {
    // Every name an ELF file is loaded by: its own file name and the names
    // of the symlinks that lead to it (a SONAME link).
    let mut by_name: HashMap<String, Vec<&str>> = HashMap::new();
    for p in elves.keys() {
        by_name.entry(base_name(p).to_string()).or_default().push(p);
    }
    for (p, e) in tree.iter() {
        if let Kind::Symlink(_) = e.kind {
            if let Some(real) = tree.resolve(p) {
                if let Some((k, _)) = elves.get_key_value(real.as_str()) {
                    by_name.entry(base_name(p).to_string()).or_default().push(k);
                }
            }
        }
    }
    let conf_dirs = elf::ld_so_conf_dirs(tree);
    let mut search: HashMap<elf::Abi, HashSet<String>> = HashMap::new();
    let mut todo: Vec<&str> = Vec::new();
    for (p, info) in elves {
        let executable = info.interp.is_some() || info.e_type == object::elf::ET_EXEC.0;
        let dirs = search.entry(info.abi).or_insert_with(|| {
            elf::default_dirs(&info.abi, &conf_dirs).iter().map(|d| tree.resolve_parents(d)).collect()
        });
        if executable || dirs.contains(parent(p)) {
            todo.push(p);
        }
    }
    let mut done: HashSet<String> = HashSet::new();
    while let Some(p) = todo.pop() {
        if !done.insert(p.to_string()) {
            continue;
        }
        for lib in &elves[p].needed {
            if lib.contains('/') {
                let abs = if lib.starts_with('/') { lib.clone() } else { format!("/{lib}") };
                if let Some(real) = normalize(&abs).and_then(|a| tree.resolve(&a)) {
                    if let Some((k, _)) = elves.get_key_value(real.as_str()) {
                        todo.push(k);
                    }
                }
            } else if let Some(v) = by_name.get(lib.as_str()) {
                todo.extend(v.iter().copied());
            }
        }
    }
    done
}

/// Why a dangling symlink at `path` (to `target`) is optional, or `None`
/// when it is a fault.
pub fn optional_link(tree: &Tree, path: &str, target: &str, package: Option<&str>) -> Option<String> {
    let parent_dir = parent(path);
    let joined = if target.starts_with('/') { target.to_string() } else { format!("{parent_dir}/{target}") };
    let abs = normalize(&joined)?;
    let abs = tree.resolve_parents(&abs);
    if DOC_DIRS.iter().any(|d| path.starts_with(d) || abs.starts_with(d)) {
        return Some("documentation, not needed at run time".into());
    }
    if !abs.starts_with("/usr/share/") {
        return None;
    }
    let missing = absent_recommends(tree, package);
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "data under /usr/share that {} only recommends or suggests ({}, not in the image) would ship",
        package.unwrap_or("an installed package"),
        missing.join(", ")
    ))
}

/// The packages that `package`, or another installed binary package of its
/// source, recommends or suggests (every alternative) and that have no
/// `status.d` record in the image. A source's binaries are one unit: ruby3.1
/// recommends the fonts its sibling libruby3.1's rdoc templates link to.
/// Without an owner (a tree read back from a layout, where dpkg's records
/// do not list symlinks) every installed package counts, so `distill check`
/// accepts what the build accepted.
fn absent_recommends(tree: &Tree, package: Option<&str>) -> Vec<String> {
    let status_d = crate::tree::generate::STATUS_D;
    let Some(dir) = tree.resolve(status_d) else { return Vec::new() };
    let records: Vec<BTreeMap<String, String>> = tree
        .children(&dir)
        .filter(|(p, _)| !p[dir.len() + 1..].contains('/') && !p.ends_with(".md5sums"))
        .filter_map(|(_, e)| match &e.kind {
            Kind::File { data, .. } => Some(crate::sbom::control_fields(&String::from_utf8_lossy(&data.read_lossy()))),
            _ => None,
        })
        .collect();
    let source = |f: &BTreeMap<String, String>| -> String {
        let name = f.get("Package").cloned().unwrap_or_default();
        f.get("Source").and_then(|s| s.split_whitespace().next()).map(str::to_string).unwrap_or(name)
    };
    let own_source = match package {
        Some(package) => match records.iter().find(|f| f.get("Package").is_some_and(|n| n == package)) {
            Some(own) => Some(source(own)),
            None => return Vec::new(),
        },
        None => None,
    };
    let installed: HashSet<&str> = records.iter().filter_map(|f| f.get("Package").map(String::as_str)).collect();
    let mut out = Vec::new();
    for f in records.iter().filter(|f| match &own_source {
        Some(s) => *s == source(f),
        None => true,
    }) {
        for field in ["Recommends", "Suggests"] {
            for alt in f.get(field).map(String::as_str).unwrap_or("").split([',', '|']) {
                let name = alt.split(['(', ':', '[']).next().unwrap_or("").trim();
                if !name.is_empty() && !installed.contains(name) && !out.iter().any(|n| n == name) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn parent(p: &str) -> &str {
    match p.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((d, _)) => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::elf::testelf::{build, X86_64};
    use crate::check::{classify, CheckOptions};
    use crate::tree::Entry;
    use std::sync::Arc;

    const INTERP: Option<&str> = Some("/lib64/ld-linux-x86-64.so.2");
    const LIB: &str = "/usr/lib/x86_64-linux-gnu";

    fn file(t: &mut Tree, path: &str, data: Vec<u8>, package: &str) {
        let inode = t.new_inode();
        let mut e = Entry::file(0o755, data, inode);
        e.package = Some(Arc::from(package));
        t.insert(path, e);
    }

    /// Merged-/usr x86-64 with libc and its loader.
    fn base() -> Tree {
        let mut t = Tree::new();
        t.insert("/usr/lib64", Entry::dir(0o755));
        t.insert("/lib", Entry::symlink("usr/lib"));
        t.insert("/lib64", Entry::symlink("usr/lib64"));
        file(&mut t, &format!("{LIB}/ld-linux-x86-64.so.2"), build(true, X86_64, None, &[], None), "libc6");
        t.insert("/usr/lib64/ld-linux-x86-64.so.2", Entry::symlink("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
        file(
            &mut t,
            &format!("{LIB}/libc.so.6"),
            build(true, X86_64, INTERP, &["ld-linux-x86-64.so.2"], None),
            "libc6",
        );
        t
    }

    /// The closure and link findings (the packages and os-release checks
    /// also run on these bare trees).
    fn check(t: &Tree) -> crate::check::Checked {
        let mut c = classify(t, &CheckOptions::default());
        c.errors.retain(|f| f.problem.contains("needs ") || f.problem.contains("dangling symlink"));
        c
    }

    fn texts(f: &[crate::check::Finding]) -> Vec<String> {
        f.iter().map(|f| format!("{}: {}", f.path, f.problem)).collect()
    }

    #[test]
    fn plugin_with_a_missing_library_is_a_warning() {
        let mut t = base();
        file(&mut t, &format!("{LIB}/libcaca.so.0.99.20"), build(true, X86_64, None, &["libc.so.6"], None), "libcaca0");
        t.insert(&format!("{LIB}/libcaca.so.0"), Entry::symlink("libcaca.so.0.99.20"));
        let plugin = format!("{LIB}/caca/libgl_plugin.so");
        file(&mut t, &plugin, build(true, X86_64, None, &["libGLU.so.1", "libcaca.so.0"], None), "libcaca0");
        file(&mut t, "/usr/bin/img2txt", build(true, X86_64, INTERP, &["libcaca.so.0"], None), "caca-utils");
        let c = check(&t);
        assert!(c.errors.is_empty(), "{:?}", texts(&c.errors));
        assert_eq!(c.warnings.len(), 1, "{:?}", texts(&c.warnings));
        assert_eq!(c.warnings[0].path, plugin);
        assert!(
            c.warnings[0].problem.contains("needs libGLU.so.1") && c.warnings[0].problem.contains("optional: a plugin")
        );
        let req = required(&t, &crate::check::elf::elf_files(&t));
        assert!(req.contains(&format!("{LIB}/libcaca.so.0.99.20")), "linked through its SONAME link");
        assert!(!req.contains(&plugin));
    }

    #[test]
    fn executables_and_what_they_link_stay_errors() {
        let mut t = base();
        // A private library off the search path, linked by a program through RUNPATH.
        let private = format!("{LIB}/app/libprivate.so");
        file(&mut t, &private, build(true, X86_64, None, &["libmissing.so.1"], None), "app");
        file(
            &mut t,
            "/usr/bin/app",
            build(true, X86_64, INTERP, &["libprivate.so"], Some(&format!("{LIB}/app"))),
            "app",
        );
        // A public library (on the search path) nothing links yet.
        file(
            &mut t,
            &format!("{LIB}/libpublic.so.1"),
            build(true, X86_64, None, &["libgone.so.2"], None),
            "libpublic1",
        );
        // An executable off PATH.
        file(&mut t, "/usr/libexec/helper", build(true, X86_64, INTERP, &["libhelper.so.3"], None), "app");
        let c = check(&t);
        assert!(c.warnings.is_empty(), "{:?}", texts(&c.warnings));
        let paths: Vec<&str> = c.errors.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [private.as_str(), &format!("{LIB}/libpublic.so.1"), "/usr/libexec/helper"]);
    }

    #[test]
    fn library_needed_only_by_a_plugin_is_optional_too() {
        let mut t = base();
        file(&mut t, &format!("{LIB}/libatm.so.1"), build(true, X86_64, None, &["libnotthere.so.9"], None), "libatm1");
        // libatm.so.1 is on the search path, so it is a root itself: an error.
        file(&mut t, &format!("{LIB}/tc/q_atm.so"), build(true, X86_64, None, &["libatm.so.1"], None), "iproute2");
        let c = check(&t);
        assert_eq!(c.errors.len(), 1, "{:?}", texts(&c.errors));
        assert_eq!(c.errors[0].path, format!("{LIB}/libatm.so.1"));
        // Off the search path and only loaded by the plugin: a warning.
        let mut t = base();
        file(&mut t, &format!("{LIB}/tc/libhelper.so"), build(true, X86_64, None, &["libnotthere.so.9"], None), "x");
        file(&mut t, &format!("{LIB}/tc/q_x.so"), build(true, X86_64, None, &["libhelper.so"], Some("$ORIGIN")), "x");
        let c = check(&t);
        assert!(c.errors.is_empty(), "{:?}", texts(&c.errors));
        assert_eq!(c.warnings.len(), 1);
    }

    fn status(t: &mut Tree, package: &str, fields: &str) {
        let path = format!("{}/{package}", crate::tree::generate::STATUS_D);
        let inode = t.new_inode();
        t.insert(&path, Entry::file(0o644, format!("Package: {package}\n{fields}").into_bytes(), inode));
    }

    fn link(t: &mut Tree, path: &str, target: &str, package: &str) {
        let mut e = Entry::symlink(target);
        e.package = Some(Arc::from(package));
        t.insert(path, e);
    }

    #[test]
    fn link_into_data_a_sibling_recommends_is_a_warning() {
        let mut t = Tree::new();
        status(&mut t, "ruby3.1", "Recommends: fonts-lato, libjs-jquery\n");
        status(&mut t, "libruby3.1", "Source: ruby3.1 (3.1.2-7)\nDepends: libc6\n");
        let font = "/usr/lib/ruby/3.1.0/rdoc/fonts/Lato-Light.ttf";
        link(&mut t, font, "../../../../../share/fonts/truetype/lato/Lato-Light.ttf", "libruby3.1");
        // The same kind of link from a package whose source recommends nothing.
        status(&mut t, "other", "Depends: libc6\n");
        link(&mut t, "/usr/lib/other/font.ttf", "../../share/fonts/x.ttf", "other");
        // A link into a program directory is a fault even with Recommends.
        link(&mut t, "/usr/lib/ruby/bin-link", "../../bin/rdoc", "libruby3.1");
        link(&mut t, "/usr/share/doc/libruby3.1/README", "../ruby3.1/README", "libruby3.1");
        let c = check(&t);
        let warned: Vec<&str> = c.warnings.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(warned, [font, "/usr/share/doc/libruby3.1/README"]);
        assert!(c.warnings[0].problem.contains("fonts-lato, libjs-jquery"), "{}", c.warnings[0].problem);
        assert!(c.warnings[1].problem.contains("documentation"));
        let failed: Vec<&str> = c.errors.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(failed, ["/usr/lib/other/font.ttf", "/usr/lib/ruby/bin-link"]);
        // Read back from a layout (no owner): any installed package's Recommends count.
        let unowned = optional_link(&t, font, "../../../../../share/fonts/truetype/lato/Lato-Light.ttf", None);
        assert!(unowned.is_some_and(|w| w.contains("an installed package") && w.contains("fonts-lato")));
        // Once the recommended package is installed the link is not excused.
        status(&mut t, "fonts-lato", "");
        status(&mut t, "libjs-jquery", "");
        assert!(optional_link(&t, font, "x/../../../../../../share/fonts/y", Some("libruby3.1")).is_none());
    }
}
