//! `extends:`: a spec that builds on another. The chain is loaded parent
//! first and merged field by field (rules on [`super::Spec::extends`]);
//! key paths are made absolute relative to the file that names them, so a
//! parent's `keys:` work from a child in another directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{default_archs, parse_unvalidated, LoadedSpec, Spec, SpecError};

/// Top-level keys present in a YAML document.
fn present_keys(raw: &[u8]) -> BTreeSet<String> {
    match serde_yaml::from_slice::<serde_yaml::Value>(raw) {
        Ok(serde_yaml::Value::Mapping(m)) => m.keys().filter_map(|k| k.as_str().map(String::from)).collect(),
        _ => BTreeSet::new(),
    }
}

/// Make each source's key paths absolute, relative to `spec_path`.
fn absolutize_keys(spec: &mut Spec, spec_path: &Path) {
    let probe = LoadedSpec { spec: spec.clone(), path: spec_path.into(), raw: Vec::new(), parents: Vec::new() };
    for source in &mut spec.sources {
        for key in &mut source.keys {
            let found = probe.key_path(key);
            // Absolute, so that resolving it again (LoadedSpec::key_path) is a no-op.
            *key = std::path::absolute(&found).unwrap_or(found);
        }
    }
}

/// Load `path` and everything it extends; `seen` detects cycles.
pub(super) fn load_chain(path: &Path, seen: &mut Vec<PathBuf>) -> Result<LoadedSpec, SpecError> {
    let raw = std::fs::read(path).map_err(|source| SpecError::Read { path: path.into(), source })?;
    let mut spec = parse_unvalidated(path, &raw)?;
    absolutize_keys(&mut spec, path);
    let canonical = path.canonicalize().unwrap_or_else(|_| path.into());
    if seen.contains(&canonical) {
        return Err(super::locate::Files::one(path, &raw)
            .origin("extends")
            .diagnostic("specs extend each other in a cycle", "remove `extends:` from one spec of the cycle")
            .into());
    }
    seen.push(canonical);
    let Some(parent_ref) = spec.extends.clone() else {
        if spec.archs.is_empty() {
            spec.archs = default_archs();
        }
        return Ok(LoadedSpec { spec, path: path.into(), raw, parents: Vec::new() });
    };
    let parent_path = path.parent().unwrap_or(Path::new(".")).join(&parent_ref);
    if !parent_path.is_file() {
        return Err(super::locate::Files::one(path, &raw)
            .origin("extends")
            .diagnostic(
                format!("the spec to extend, {}, does not exist", parent_path.display()),
                "`extends:` is a path relative to the spec that names it, e.g. `extends: base.yaml`",
            )
            .into());
    }
    let parent = load_chain(&parent_path, seen)?;
    let keys = present_keys(&raw);
    let merged = merge(parent.spec, spec, &keys);
    let mut parents = vec![parent.raw];
    parents.extend(parent.parents);
    Ok(LoadedSpec { spec: merged, path: path.into(), raw, parents })
}

fn union(mut a: Vec<String>, b: Vec<String>) -> Vec<String> {
    for x in b {
        if !a.contains(&x) {
            a.push(x);
        }
    }
    a
}

/// Merge `child` over `parent`; `keys` are the child's top-level keys.
fn merge(parent: Spec, child: Spec, keys: &BTreeSet<String>) -> Spec {
    let mut accounts = parent.accounts;
    for u in child.accounts.users {
        accounts.users.retain(|x| x.name != u.name);
        accounts.users.push(u);
    }
    for g in child.accounts.groups {
        accounts.groups.retain(|x| x.name != g.name);
        accounts.groups.push(g);
    }
    if child.accounts.run_as.is_some() {
        accounts.run_as = child.accounts.run_as;
    }
    let mut image = parent.image;
    if !child.image.entrypoint.is_empty() {
        image.entrypoint = child.image.entrypoint;
    }
    if !child.image.cmd.is_empty() {
        image.cmd = child.image.cmd;
    }
    if child.image.workdir.is_some() {
        image.workdir = child.image.workdir;
    }
    if child.image.os_release.is_some() {
        image.os_release = child.image.os_release;
    }
    image.env.extend(child.image.env);
    image.labels.extend(child.image.labels);
    let mut variants = parent.variants;
    for v in child.variants {
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    Spec {
        version: child.version,
        name: child.name,
        extends: child.extends,
        variants,
        sources: if child.sources.is_empty() { parent.sources } else { child.sources },
        archs: if child.archs.is_empty() { parent.archs } else { child.archs },
        packages: union(parent.packages, child.packages),
        exclude: union(parent.exclude, child.exclude),
        prefer: union(parent.prefer, child.prefer),
        paths: if keys.contains("paths") {
            crate::spec::Paths {
                exclude: union(parent.paths.exclude, child.paths.exclude),
                keep: union(parent.paths.keep, child.paths.keep),
                setuid: child.paths.setuid.or(parent.paths.setuid),
            }
        } else {
            parent.paths
        },
        accounts,
        image,
        layering: if keys.contains("layering") { child.layering } else { parent.layering },
        triggers: if keys.contains("triggers") { child.triggers } else { parent.triggers },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn child_merges_over_parent() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("keys")).unwrap();
        std::fs::write(d.path().join("keys/k.asc"), "").unwrap();
        std::fs::create_dir_all(d.path().join("specs")).unwrap();
        write(
            &d.path().join("specs"),
            "base.yaml",
            "name: base\nsources:\n  - suite: bookworm\n    keys: [keys/k.asc]\narchs: [amd64, arm64]\npackages: [libc6]\nexclude: [debconf]\npaths:\n  exclude: [/usr/share/doc]\n  keep: []\nimage:\n  env: {A: '1'}\n  entrypoint: [/x]\n",
        );
        let child = write(
            &d.path().join("specs"),
            "cc.yaml",
            "name: cc\nextends: base.yaml\npackages: [libstdc++6]\nimage:\n  env: {B: '2'}\nvariants: [nonroot]\n",
        );
        let l = super::super::load(&child).unwrap();
        assert_eq!(l.spec.name, "cc");
        assert_eq!(l.spec.packages, ["libc6", "libstdc++6"]);
        assert_eq!(l.spec.archs, ["amd64", "arm64"]);
        assert_eq!(l.spec.exclude, ["debconf"]);
        assert_eq!(l.spec.paths.exclude, ["/usr/share/doc"], "parent's filters apply");
        assert_eq!(l.spec.image.entrypoint, ["/x"]);
        assert_eq!(l.spec.image.env.len(), 2);
        assert!(l.spec.sources[0].keys[0].is_absolute() && l.spec.sources[0].keys[0].exists());
        assert_eq!(l.parents.len(), 1);
        // The digest covers the parent: changing it changes the child's digest.
        let before = l.digest();
        write(
            &d.path().join("specs"),
            "base.yaml",
            &std::fs::read_to_string(d.path().join("specs/base.yaml")).unwrap().replace("libc6", "libc6, zlib1g"),
        );
        assert_ne!(super::super::load(&child).unwrap().digest(), before);
    }

    #[test]
    fn missing_key_path_is_resolved_once() {
        // A missing key must be reported where the spec points, not at a
        // path with the spec's directory applied twice (specs/specs/keys/…).
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("specs")).unwrap();
        let spec = write(
            &d.path().join("specs"),
            "x.yaml",
            "name: x\nsources:\n  - suite: s\n    keys: [keys/nope.asc]\npackages: [a]\n",
        );
        let l = super::super::load(&spec).unwrap();
        let k = l.key_path(&l.spec.sources[0].keys[0]);
        assert_eq!(k, l.spec.sources[0].keys[0]);
        assert!(k.ends_with("specs/keys/nope.asc") && !k.to_string_lossy().contains("specs/specs"), "{}", k.display());
    }

    #[test]
    fn cycles_and_missing_parents_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let a = write(d.path(), "a.yaml", "name: a\nextends: b.yaml\n");
        write(d.path(), "b.yaml", "name: b\nextends: a.yaml\n");
        assert!(super::super::load(&a).unwrap_err().to_string().contains("cycle"));
        let c = write(d.path(), "c.yaml", "name: c\nextends: nope.yaml\n");
        let err = super::super::load(&c).unwrap_err().to_string();
        assert!(err.contains("extends") && err.contains("nope.yaml"), "{err}");
    }
}
