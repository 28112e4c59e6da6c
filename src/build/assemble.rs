//! Stage: unpack the fetched .debs into an image [`Tree`], apply the path
//! filters, and add the generated files.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::BuildError;
use crate::fetch::unpacked::Unpacked;
use crate::oci::RunConfig;
use crate::repo::BinaryPackage;
use crate::report::Reporter;
use crate::spec::LoadedSpec;
use crate::tree::filter::PathFilter;
use crate::tree::generate::{self, OsInfo, CA_BUNDLE};
use crate::tree::{extract, Tree};

/// Default `PATH` of the image (as Debian's login.defs and distroless).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Unpack `packages` (with their unpacked members, same order) into a tree
/// and generate the files maintainer scripts would have made.
pub fn assemble(
    spec: &LoadedSpec,
    os: &OsInfo,
    packages: &[Arc<BinaryPackage>],
    unpacked: &[Unpacked],
    report: &Reporter,
) -> Result<(Tree, crate::maint::Report), BuildError> {
    let filter = PathFilter::new(&spec.spec.paths)
        .map_err(|e| BuildError::Other(format!("{}: paths: {e}", spec.path.display())))?;
    let mut tree = Tree::new();
    // The CA bundle's inputs, when the path filters drop them from the
    // image: the packages that ship them are read once more, unfiltered.
    let ca_probe = format!("{}/mozilla/x.crt", generate::CA_SOURCE_DIR);
    let ca_dropped = !filter.keeps(&ca_probe);
    let ca_listed = format!(" {}/", generate::CA_SOURCE_DIR.trim_start_matches('/'));
    let mut ca_sources = Vec::new();
    let mut dpkg = BTreeMap::new();
    let mut scripts = Vec::new();
    let bar = report.bar("extracting", packages.len() as u64, false);
    // Packages unpack in name order, so an overlap resolves the same way every time.
    let mut order: Vec<usize> = (0..packages.len()).collect();
    order.sort_by(|a, b| packages[*a].name.cmp(&packages[*b].name));
    for i in order {
        let p = &packages[i];
        bar.message(&p.name);
        let record = generate::DpkgRecord {
            control: unpacked[i].control_file(&p.name)?,
            md5sums: unpacked[i].md5sums(&p.name)?,
            conffiles: unpacked[i].conffiles(&p.name)?,
        };
        same_identity(p, &record.control)?;
        if ca_dropped && record.md5sums.as_deref().is_none_or(|m| m.contains(&ca_listed)) {
            ca_sources.push(i);
        }
        dpkg.insert(p.name.clone(), record);
        scripts.push(package_scripts(p, &unpacked[i])?);
        let setuid = spec.spec.paths.setuid.unwrap_or_default();
        let done = extract::extract_with(&mut tree, &p.name, &unpacked[i].data, &filter, setuid)?;
        for (path, mode) in done.stripped {
            report.warn(&format!(
                "package {}: cleared setuid/setgid bits of {path} (mode {mode:04o} → {:04o}); set paths.setuid to keep or refuse them",
                p.name,
                mode & !0o6000
            ));
        }
        bar.inc(1);
    }
    bar.finish();
    prune_filtered_dirs(&mut tree, &filter);
    let merged = crate::tree::usrmerge::write_merged_usr_links(&mut tree);
    if !merged.is_empty() {
        report.detail(&format!("merged-/usr links (no package shipped them): {}", merged.join(", ")));
    }
    generate::write_accounts(&mut tree, &spec.spec.accounts);
    generate::write_system_files(&mut tree);
    let pretty_name = spec.spec.image.os_release.as_ref().and_then(|o| o.pretty_name.as_deref());
    generate::write_os_release(&mut tree, os, pretty_name);
    let mut certs = None;
    if !ca_sources.is_empty() {
        let mut t = Tree::new();
        for i in ca_sources {
            extract::extract(&mut t, &packages[i].name, &unpacked[i].data, &PathFilter::keep_all())?;
        }
        certs = Some(t);
    }
    let bundle = match &certs {
        None => generate::write_ca_bundle(&mut tree),
        Some(certs) => generate::write_ca_bundle_from(&mut tree, certs),
    };
    if let Some(n) = bundle {
        report.detail(&format!("CA bundle: {n} certificates"));
    }
    if let Some(l) = crate::tree::certs::write_ca_links(&mut tree) {
        report.detail(&format!("/etc/ssl/certs: {} .pem links, {} hash links", l.pem, l.hashed));
    }
    let programs = crate::sandbox::Options::for_spec(&spec.spec, 0);
    let maint = run_maintainer_scripts(&mut tree, packages, scripts, programs, report);
    if let Some(ld) = crate::tree::ldcache::write_ld_so_cache(&mut tree) {
        if !ld.links.is_empty() {
            report.detail(&format!("ldconfig: SONAME links {}", ld.links.join(", ")));
        }
        if let Some(n) = ld.cache_entries {
            report.detail(&format!("ld.so.cache: {n} libraries (for {})", ld.extra_dirs.join(", ")));
        }
    }
    if let Some(n) = crate::tree::java::write_java_cacerts_from(&mut tree, certs.as_ref()) {
        report.detail(&format!("Java truststore: {n} certificates"));
    }
    generate::write_dpkg_database(&mut tree, &dpkg);
    // Links that dangle because the path filters removed their target
    // lead nowhere in the image: drop them. Any other dangling link is a
    // real fault, left for the check to report.
    for link in crate::check::dangling_links(&tree) {
        let Some(crate::tree::Entry { kind: crate::tree::Kind::Symlink(target), .. }) = tree.get(&link) else {
            continue;
        };
        let parent = link.rsplit_once('/').map(|(a, _)| a).unwrap_or("");
        let joined = if target.starts_with('/') { target.clone() } else { format!("{parent}/{target}") };
        if crate::tree::normalize(&joined).is_some_and(|t| !filter.keeps(&t)) {
            report.detail(&format!("dropped symlink {link} → {target} (target removed by path filters)"));
            tree.remove(&link);
        }
    }
    Ok((tree, maint))
}

/// A package's maintainer-script material from its `control.tar`.
fn package_scripts(p: &BinaryPackage, unpacked: &Unpacked) -> Result<crate::maint::PackageScripts, BuildError> {
    let member = |m: &str| unpacked.control_text(&p.name, m);
    Ok(crate::maint::PackageScripts {
        name: p.name.clone(),
        arch: p.arch.clone(),
        preinst: member("preinst")?,
        postinst: member("postinst")?,
        config: member("config")?,
        templates: member("templates")?,
        triggers: member("triggers")?,
    })
}

/// Run the packages' maintainer scripts over the tree ([`crate::maint`]),
/// dependencies first as dpkg configures them, and report what was not
/// reproduced.
fn run_maintainer_scripts(
    tree: &mut Tree,
    packages: &[Arc<BinaryPackage>],
    scripts: Vec<crate::maint::PackageScripts>,
    programs: crate::sandbox::Options,
    report: &Reporter,
) -> crate::maint::Report {
    let arch = packages.iter().map(|p| p.arch.as_str()).find(|a| *a != "all").unwrap_or("all").to_string();
    let order = configure_order(packages);
    let by_name: BTreeMap<String, crate::maint::PackageScripts> =
        scripts.into_iter().map(|s| (s.name.clone(), s)).collect();
    let ordered: Vec<crate::maint::PackageScripts> = order.iter().filter_map(|n| by_name.get(n).cloned()).collect();
    let maint = crate::maint::apply(tree, &arch, &ordered, Some(programs));
    if !maint.alternatives.is_empty() {
        report.detail(&format!("alternatives: {} links ({})", maint.alternatives.len(), maint.alternatives.join(", ")));
    }
    for r in maint.warnings() {
        report.warn(&format!(
            "package {}: {} line {}: `{}` was not reproduced (distill does not know this command; it may change files of the image)",
            r.package, r.script, r.line, r.command
        ));
    }
    for r in maint.not_reproduced() {
        report.detail(&format!(
            "package {}: {} line {}: not reproduced: {} ({:?})",
            r.package, r.script, r.line, r.command, r.handling
        ));
    }
    for (p, s, why) in &maint.unreadable {
        report.warn(&format!("package {p}: {s} could not be read ({why}); its effects are missing"));
    }
    maint
}

/// dpkg's configure order: a package after the packages it depends on
/// (Depends, Pre-Depends; cycles broken by name), ties in name order.
pub fn configure_order(packages: &[Arc<BinaryPackage>]) -> Vec<String> {
    let names: std::collections::BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let deps: BTreeMap<&str, Vec<String>> = packages
        .iter()
        .map(|p| {
            let d = format!("{},{}", p.pre_depends, p.depends)
                .split([',', '|'])
                .map(|x| x.trim().split([' ', '(', ':']).next().unwrap_or("").to_string())
                .filter(|n| names.contains(n.as_str()) && *n != p.name)
                .collect();
            (p.name.as_str(), d)
        })
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    fn visit<'a>(
        n: &'a str,
        deps: &'a BTreeMap<&str, Vec<String>>,
        seen: &mut std::collections::BTreeSet<&'a str>,
        done: &mut Vec<String>,
    ) {
        if !seen.insert(n) {
            return;
        }
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, seen, done);
        }
        done.push(n.to_string());
    }
    for n in &names {
        visit(n, &deps, &mut seen, &mut done);
    }
    done
}

/// The .deb's own control file must name the package the signed index
/// (or the lock) chose: `Package`, `Version` and `Architecture` equal, so
/// status.d, scanners and SBOMs describe what was verified.
fn same_identity(p: &BinaryPackage, control: &str) -> Result<(), BuildError> {
    let fields = crate::sbom::control_fields(control);
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let (name, version, arch) = (field("Package"), field("Version"), field("Architecture"));
    let same_version = crate::version::Version::parse(version).is_ok_and(|v| v == p.version);
    if name != p.name || !same_version || arch != p.arch {
        return Err(BuildError::Deb(crate::deb::DebError::Malformed {
            package: p.name.clone(),
            reason: format!(
                "its control file says {name} {version} ({arch}), but the Packages index (or lock) says {} {} ({})",
                p.name, p.version, p.arch
            ),
        }));
    }
    Ok(())
}

/// Remove directories the filter excludes that hold nothing kept (they
/// were created as parents during extraction).
fn prune_filtered_dirs(tree: &mut Tree, filter: &PathFilter) {
    let mut dirs: Vec<String> = tree
        .iter()
        .filter(|(p, e)| matches!(e.kind, crate::tree::Kind::Dir) && p.as_str() != "/" && !filter.keeps(p))
        .map(|(p, _)| p.clone())
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for d in dirs {
        if !tree.has_children(&d) {
            tree.remove(&d);
        }
    }
}

/// The image's run configuration from the spec and the assembled tree.
pub fn run_config(spec: &LoadedSpec, tree: &Tree, tag: &super::variants::Tag) -> RunConfig {
    let s = &spec.spec;
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    if tree.get(CA_BUNDLE).is_some() {
        env.insert("SSL_CERT_FILE".into(), CA_BUNDLE.into());
    }
    for (k, v) in &s.image.env {
        env.insert(k.clone(), v.clone());
    }
    let accounts = generate::accounts(&s.accounts);
    let run_as = if tag.nonroot { "nonroot" } else { s.accounts.run_as.as_deref().unwrap_or("root") };
    let (user, home) = match accounts.iter().find(|a| a.name == run_as) {
        Some(a) => (format!("{}:{}", a.uid, a.gid), Some(a.home.clone())),
        None => (run_as.to_string(), None),
    };
    let workdir = match (&home, tag.nonroot) {
        (Some(h), true) => h.clone(),
        _ => s.image.workdir.clone().unwrap_or_else(|| match (&home, user.as_str()) {
            (Some(h), u) if !u.starts_with("0:") && h != "/nonexistent" => h.clone(),
            _ => "/".into(),
        }),
    };
    if tag.debug {
        let path = env.get("PATH").cloned().unwrap_or_default();
        env.insert("PATH".into(), format!("{path}:{}", super::variants::BUSYBOX_DIR));
    }
    // PATH first, then the rest sorted: stable and readable.
    let mut env_list = vec![format!("PATH={}", env.remove("PATH").unwrap_or_default())];
    env_list.extend(env.into_iter().map(|(k, v)| format!("{k}={v}")));
    let (entrypoint, cmd) = if tag.debug {
        (vec![format!("{}/sh", super::variants::BUSYBOX_DIR)], Vec::new())
    } else {
        (s.image.entrypoint.clone(), s.image.cmd.clone())
    };
    RunConfig { entrypoint, cmd, env: env_list, user, workdir, labels: s.image.labels.clone() }
}
