//! The image spec: a short, strict YAML document (format version 1) that
//! names the Debian sources, the packages, what to leave out, the accounts
//! and the image settings.
//!
//! Parsing is strict: an unknown field, a wrong type or a missing required
//! field is an error that names the file, line and field ([`SpecError`]).
//! The reference for every field is the "Spec reference" section of
//! README.md; the doc comments below are the same text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod diagnose;
mod extends;
pub mod locate;

pub use diagnose::{debian_arch_alias, unknown_arch, DEBIAN_ARCHS};
pub use locate::{Diagnostic, Place};

/// Errors from reading or validating a spec file.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read spec {path}: {source}")]
    Read {
        /// The spec file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A mistake at a place in a spec (YAML syntax, unknown field, wrong
    /// type, missing field, a value not allowed), with a hint.
    #[error("invalid spec: {0}")]
    At(Box<Diagnostic>),
    /// A value is not allowed (without a known line; [`SpecError::At`]
    /// names the line).
    #[error("invalid spec {path}: field `{field}`: {message}")]
    Invalid {
        /// The spec file.
        path: PathBuf,
        /// Dotted path of the field, e.g. `sources[0].suite`.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl From<Diagnostic> for SpecError {
    fn from(d: Diagnostic) -> Self {
        SpecError::At(Box::new(d))
    }
}

/// A validated image spec (format version 1).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Spec format version; only `1` exists. Optional, defaults to 1.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Image name: `[a-z0-9][a-z0-9._-]*`. Names the output directory
    /// `images/<name>/`.
    pub name: String,
    /// A spec this one builds on (path relative to this file). Its sources,
    /// architectures and path filters apply unless this spec sets its own;
    /// packages, exclusions, preferences, accounts, env and labels are
    /// merged; entrypoint, cmd, workdir and run_as are overridden when set.
    #[serde(default)]
    pub extends: Option<String>,
    /// Extra image variants, each written as a tagged manifest beside
    /// `latest`: `nonroot` (runs as 65532 in /home/nonroot), `debug` (a
    /// busybox shell under /busybox as entrypoint); both give
    /// `debug-nonroot` too.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// Where packages come from, in order of preference for equal versions.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Debian architectures to build, e.g. `[amd64, arm64]`. Default `[amd64]`.
    #[serde(default)]
    pub archs: Vec<String>,
    /// Packages to install, with their Depends and Pre-Depends closure.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Packages never installed. A dependency (or alternative group) naming
    /// one is dropped, and the drop is recorded in the build report.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Providers to choose when a virtual package has several of equal
    /// Priority (e.g. `[mawk]` for `awk`).
    #[serde(default)]
    pub prefer: Vec<String>,
    /// Path filters applied to every package's files.
    #[serde(default)]
    pub paths: Paths,
    /// Users, groups and the user the image runs as.
    #[serde(default)]
    pub accounts: Accounts,
    /// Image configuration (OCI image-spec config.md `config` object).
    #[serde(default)]
    pub image: ImageSettings,
    /// How this spec's files are split into layers.
    #[serde(default)]
    pub layering: Layering,
    /// Whether trigger programs the image ships may run (sandboxed, see
    /// `crate::sandbox`) to make files only they can make.
    #[serde(default)]
    pub triggers: Triggers,
}

/// `triggers:` — running the image's own trigger programs at build time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// `false` forbids executing anything from the image: the files such
    /// programs make (gdk-pixbuf's `loaders.cache`, GIO's
    /// `giomodule.cache`) are listed as omissions instead. Default `true`.
    #[serde(default = "default_true")]
    pub run: bool,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers { run: true }
    }
}

/// Layering of the files a spec adds (on top of the layers of the spec it
/// extends, which are kept as they are).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layering {
    /// Most layers this spec adds: one per Debian source package of at
    /// least 1 MiB of files, largest first, and one for everything else.
    /// 1–127; default 10. The whole image (with the specs it extends and
    /// the debug layer) may not exceed 127 layers.
    #[serde(default = "default_budget")]
    pub budget: usize,
}

impl Default for Layering {
    fn default() -> Self {
        Layering { budget: default_budget() }
    }
}

fn default_budget() -> usize {
    crate::layer::plan::DEFAULT_BUDGET
}

/// An image variant (see [`Spec::variants`]).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Runs as `nonroot` (65532:65532) in `/home/nonroot`.
    Nonroot,
    /// Adds busybox under `/busybox` and makes its shell the entrypoint.
    Debug,
}

/// One APT source: a suite of a Debian archive.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Suite or codename, e.g. `bookworm`, `bookworm-updates`, `bookworm-security`.
    pub suite: String,
    /// Components, e.g. `[main]`. Default `[main]`.
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// Key files (ASCII-armored OpenPGP), relative to the spec's directory
    /// (or absolute). InRelease must carry a valid signature by one of them.
    pub keys: Vec<PathBuf>,
    /// Archive base URL (the directory holding `dists/` and `pool/`).
    /// Optional: else `--mirror`/`DISTILL_MIRROR`, else the host's apt sources.
    #[serde(default)]
    pub url: Option<String>,
    /// Refuse an InRelease whose `Valid-Until` has passed (default `true`).
    /// Set `false` only for a snapshot mirror, whose old metadata is
    /// expired by design (apt's `Check-Valid-Until: no`); the signature is
    /// still checked.
    #[serde(default = "default_true")]
    pub check_valid_until: bool,
}

fn default_true() -> bool {
    true
}

/// Path filters. Globs are matched against absolute paths in the image
/// (`/usr/share/doc/**`); `*` does not cross `/`, `**` does. A path is
/// dropped when it or one of its parent directories matches `exclude`,
/// unless it matches `keep`. Parents of kept paths are always kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// Globs to drop. Default: `/usr/share/{doc,man,info,locale,lintian}`.
    #[serde(default = "default_path_excludes")]
    pub exclude: Vec<String>,
    /// Globs to keep even when excluded. Default: `/usr/share/doc/*/copyright`.
    #[serde(default = "default_path_keeps")]
    pub keep: Vec<String>,
    /// Setuid/setgid bits on packaged files: `strip` (default: cleared,
    /// with a warning), `refuse` (the build fails naming the package and
    /// file) or `keep`. A spec that sets it overrides what it extends.
    #[serde(default)]
    pub setuid: Option<SetuidPolicy>,
}

/// What to do with a regular file whose mode has the setuid (04000) or
/// setgid (02000) bit: a distroless image has no reason to raise
/// privileges, so the default strips them. Directories keep setgid (it
/// only sets the group of new files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetuidPolicy {
    /// Clear the bits and report the path ([`Extracted::stripped`]).
    #[default]
    Strip,
    /// Refuse the package ([`ExtractError::Refused`]).
    Refuse,
    /// Keep the bits as packaged.
    Keep,
}

impl Default for Paths {
    fn default() -> Self {
        Paths { exclude: default_path_excludes(), keep: default_path_keeps(), setuid: None }
    }
}

/// Accounts written to `/etc/passwd` and `/etc/group`, on top of the
/// built-in `root` (0), `nonroot` (65532) and `nobody` (65534).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// Extra users.
    #[serde(default)]
    pub users: Vec<User>,
    /// Extra groups.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// The user the image runs as: a user name from `/etc/passwd` or a
    /// numeric `uid[:gid]`. Default `root`.
    #[serde(default)]
    pub run_as: Option<String>,
}

/// A user account (passwd(5)).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Numeric user ID.
    pub uid: u32,
    /// Primary group ID; default: same as `uid` (a group of the same name is
    /// created if none has that ID).
    #[serde(default)]
    pub gid: Option<u32>,
    /// Home directory; default `/home/<name>`. Created, owned by the user, mode 0755.
    #[serde(default)]
    pub home: Option<String>,
}

/// A group (group(5)).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Numeric group ID.
    pub gid: u32,
    /// Member user names.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Image settings, written to the OCI image config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSettings {
    /// `Entrypoint`: argv, e.g. `[/usr/bin/node]`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// `Cmd`: default arguments.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Extra environment variables, merged over the defaults `PATH` and
    /// `SSL_CERT_FILE` (the latter only when the CA bundle exists).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `WorkingDir`; default `/` (or the run-as user's home when set).
    #[serde(default)]
    pub workdir: Option<String>,
    /// `Labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What `/etc/os-release` says beyond what distro detection reads
    /// (`ID=debian`, `VERSION_ID` and `VERSION_CODENAME` of the suite,
    /// which are never changed).
    #[serde(default)]
    pub os_release: Option<OsRelease>,
}

/// Settings of `/usr/lib/os-release` (`/etc/os-release` links to it).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OsRelease {
    /// `PRETTY_NAME`, e.g. `Acme Node.js 18 (Debian 12)`; default the
    /// one base-files ships (`Debian GNU/Linux 12 (bookworm)`). At most
    /// 200 characters, none of `"`, `\`, `$`, `` ` `` or control characters.
    #[serde(default)]
    pub pretty_name: Option<String>,
}

fn default_version() -> u32 {
    1
}
pub(crate) fn default_archs() -> Vec<String> {
    vec!["amd64".into()]
}
fn default_components() -> Vec<String> {
    vec!["main".into()]
}
fn default_path_excludes() -> Vec<String> {
    ["doc", "man", "info", "locale", "lintian"].iter().map(|d| format!("/usr/share/{d}")).collect()
}
fn default_path_keeps() -> Vec<String> {
    vec!["/usr/share/doc/*/copyright".into()]
}

/// A spec together with the file it was read from.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The parsed, validated spec.
    pub spec: Spec,
    /// The spec file's path, as given.
    pub path: PathBuf,
    /// Its raw bytes (the lock file records their digest).
    pub raw: Vec<u8>,
    /// Raw bytes of the specs it extends, nearest first.
    pub parents: Vec<Vec<u8>>,
}

impl LoadedSpec {
    /// SHA256 identifying this spec's content (and its parents') for lock files.
    pub fn digest(&self) -> String {
        crate::lock::spec_digest(std::iter::once(self.raw.as_slice()).chain(self.parents.iter().map(Vec::as_slice)))
    }

    /// Resolve a key path from the spec: relative paths are relative to the
    /// spec file's directory.
    pub fn key_path(&self, key: &Path) -> PathBuf {
        if key.is_absolute() {
            return key.to_path_buf();
        }
        let base = self.path.parent().unwrap_or(Path::new("."));
        // Keys are conventionally referenced from the project root
        // (`keys/...`); accept that too when the spec lives in `specs/`.
        let beside = base.join(key);
        if beside.exists() {
            return beside;
        }
        let parent = base.parent().map(|p| p.join(key));
        match parent {
            Some(p) if p.exists() => p,
            _ => beside,
        }
    }
}

/// Read and validate the spec at `path`.
///
/// Errors: [`SpecError::Read`] when the file is unreadable,
/// [`SpecError::At`] for YAML/schema errors and values that are not
/// allowed, naming the file of the `extends:` chain, the line, the field
/// and a hint.
pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
    let loaded = extends::load_chain(path, &mut Vec::new())?;
    validate(&locate::Files::chain(&loaded), &loaded.spec)?;
    Ok(loaded)
}

/// Parse and validate spec text; `path` is only used in error messages.
/// `extends:` is not followed here (see [`load`]).
pub fn parse(path: &Path, raw: &[u8]) -> Result<Spec, SpecError> {
    let mut spec = parse_unvalidated(path, raw)?;
    if spec.archs.is_empty() {
        spec.archs = default_archs();
    }
    validate(&locate::Files::one(path, raw), &spec)?;
    Ok(spec)
}

/// Parse without validation (a spec that extends another may omit fields).
pub(crate) fn parse_unvalidated(path: &Path, raw: &[u8]) -> Result<Spec, SpecError> {
    serde_yaml::from_slice(raw).map_err(|e| diagnose::serde_error(path, raw, &e).into())
}

/// Where a value that is not allowed was written.
enum At {
    /// A field of the merged spec (placed in the nearest spec writing it).
    Field(String),
    /// An item of a merged list, found by its value (or `name`).
    Item(&'static str, String),
}

fn validate(files: &locate::Files, spec: &Spec) -> Result<(), SpecError> {
    validate_at(spec).map_err(|(at, message, hint)| {
        let place = match at {
            At::Field(f) => files.origin(&f),
            At::Item(list, value) => files.item(list, locate::named(&value)).unwrap_or_else(|| files.origin(list)),
        };
        place.diagnostic(message, hint).into()
    })
}

/// The first value that is not allowed: where, what, and the hint.
fn validate_at(spec: &Spec) -> Result<(), (At, String, String)> {
    let field = |f: &str, message: String, hint: &str| (At::Field(f.into()), message, hint.to_string());
    if let Some(run_as) = &spec.accounts.run_as {
        let numeric = {
            let mut parts = run_as.splitn(2, ':');
            let num = |p: Option<&str>| p.is_some_and(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()));
            let (u, g) = (parts.next(), parts.next());
            num(u) && (g.is_none() || num(g))
        };
        let known = crate::tree::generate::accounts(&spec.accounts).iter().any(|a| &a.name == run_as);
        if !numeric && !known {
            let names: Vec<String> =
                crate::tree::generate::accounts(&spec.accounts).into_iter().map(|a| a.name).collect();
            return Err(field(
                "accounts.run_as",
                format!("{run_as:?} is neither a user of the image ({}) nor a numeric uid[:gid]", names.join(", ")),
                "add the user under `accounts.users` (name, uid), or write a numeric uid[:gid] such as `65532`",
            ));
        }
    }
    if !(1..=crate::layer::plan::MAX_LAYERS).contains(&spec.layering.budget) {
        return Err(field(
            "layering.budget",
            format!("layer budget {} is outside 1..={}", spec.layering.budget, crate::layer::plan::MAX_LAYERS),
            &format!(
                "set `layering.budget` to 1..={} (default {}), or leave it out",
                crate::layer::plan::MAX_LAYERS,
                crate::layer::plan::DEFAULT_BUDGET
            ),
        ));
    }
    if spec.version != 1 {
        return Err(field(
            "version",
            format!("unsupported spec version {}; this distill reads version 1", spec.version),
            "write `version: 1`, or leave it out",
        ));
    }
    let name_ok = !spec.name.is_empty()
        && spec.name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && spec.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !name_ok {
        return Err(field(
            "name",
            format!("{:?} is not a valid image name", spec.name),
            "use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit, e.g. `nodejs`",
        ));
    }
    if spec.sources.is_empty() {
        return Err(field(
            "sources",
            "at least one source is required".into(),
            "add one, e.g. `sources: [{suite: bookworm, keys: [keys/debian-12-archive.asc]}]`",
        ));
    }
    for (i, s) in spec.sources.iter().enumerate() {
        if s.suite.is_empty() || s.suite.contains('/') || s.suite.contains(char::is_whitespace) {
            return Err(field(
                &format!("sources[{i}].suite"),
                format!("{:?} is not a suite name", s.suite),
                "suite names are like bookworm, trixie, bookworm-updates, bookworm-security",
            ));
        }
        if s.components.is_empty() {
            return Err(field(
                &format!("sources[{i}].components"),
                "at least one component is required".into(),
                "write `components: [main]`, or leave it out for the default [main]",
            ));
        }
        if s.keys.is_empty() {
            return Err(field(
                &format!("sources[{i}].keys"),
                "at least one key file is required".into(),
                "name the archive's signing keys, e.g. `keys: [keys/debian-12-archive.asc]` (see keys/README.md)",
            ));
        }
        if let Some(url) = &s.url {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://")) {
                return Err(field(
                    &format!("sources[{i}].url"),
                    format!("{url:?} is not an http(s):// or file:// URL"),
                    "write the archive's base URL (the directory holding dists/ and pool/), or leave it out",
                ));
            }
            if url.contains(['?', '#']) || url.chars().any(char::is_control) {
                return Err(field(
                    &format!("sources[{i}].url"),
                    "the archive URL has a query, a fragment or control characters".into(),
                    "write the plain base URL (paths are appended to it); credentials go in `user:password@host`",
                ));
            }
        }
    }
    if spec.archs.is_empty() {
        return Err(field(
            "archs",
            "at least one architecture is required".into(),
            "write e.g. `archs: [amd64]`, or leave it out for the default [amd64]",
        ));
    }
    for (i, a) in spec.archs.iter().enumerate() {
        if let Err((message, hint)) = diagnose::check_arch(a) {
            return Err(field(&format!("archs[{i}]"), message, &hint));
        }
    }
    if spec.packages.is_empty() {
        return Err(field(
            "packages",
            "at least one package is required".into(),
            "list the packages to install, e.g. `packages: [libc6]`",
        ));
    }
    for (list, items) in [("packages", &spec.packages), ("exclude", &spec.exclude), ("prefer", &spec.prefer)] {
        for p in items {
            if let Err((message, hint)) = diagnose::check_package(p, list == "packages") {
                return Err((At::Item(list, p.clone()), message, hint));
            }
        }
    }
    for (list, globs) in [("paths.exclude", &spec.paths.exclude), ("paths.keep", &spec.paths.keep)] {
        for g in globs {
            if !g.starts_with('/') {
                return Err((
                    At::Item(list, g.clone()),
                    format!("{g:?} is not an absolute path glob"),
                    format!("globs match absolute paths in the image: write `/{}`", g.trim_start_matches("./")),
                ));
            }
            if let Err(e) = globset::Glob::new(g) {
                return Err((
                    At::Item(list, g.clone()),
                    format!("{g:?} is not a glob: {}", e.kind()),
                    "`*` matches within one path component, `**` across them; `[`, `{` must be closed".into(),
                ));
            }
        }
    }
    const BUILT_IN: [(&str, u32); 3] = [("root", 0), ("nonroot", 65532), ("nobody", 65534)];
    for u in &spec.accounts.users {
        let at = || At::Item("accounts.users", u.name.clone());
        if u.name.is_empty() || u.name.contains([':', '\n', '/']) {
            return Err((
                at(),
                format!("{:?} is not a user name", u.name),
                "use a name without `:`, `/` or line breaks, e.g. `app`".into(),
            ));
        }
        if let Some((name, uid)) = BUILT_IN.iter().find(|(n, id)| *n == u.name || *id == u.uid) {
            return Err((
                at(),
                format!("user {} (uid {}) would replace the built-in user {name} (uid {uid})", u.name, u.uid),
                "root (0), nonroot (65532) and nobody (65534) are always in the image: pick another name and uid"
                    .into(),
            ));
        }
        if let Some(home) = &u.home {
            let clean = crate::tree::normalize(home).is_some_and(|n| n == *home);
            if !home.starts_with('/') || !clean || home.chars().any(|c| c == ':' || c.is_control()) {
                return Err((
                    at(),
                    format!("home {home:?} of user {} is not a usable home directory", u.name),
                    "write an absolute, normalised path without `:`, `..` or control characters, e.g. `/home/app`"
                        .into(),
                ));
            }
        }
    }
    for g in &spec.accounts.groups {
        if g.name.is_empty() || g.name.contains([':', '\n', '/']) {
            return Err((
                At::Item("accounts.groups", g.name.clone()),
                format!("{:?} is not a group name", g.name),
                "use a name without `:`, `/` or line breaks, e.g. `app`".into(),
            ));
        }
        let built_in = [("root", 0), ("nonroot", 65532), ("nogroup", 65534)];
        if let Some((name, gid)) = built_in.iter().find(|(n, id)| *n == g.name || *id == g.gid) {
            return Err((
                At::Item("accounts.groups", g.name.clone()),
                format!("group {} (gid {}) would replace the built-in group {name} (gid {gid})", g.name, g.gid),
                "root (0), nonroot (65532) and nogroup (65534) are always in the image: pick another name and gid"
                    .into(),
            ));
        }
    }
    if let Some(p) = spec.image.os_release.as_ref().and_then(|o| o.pretty_name.as_ref()) {
        if p.trim().is_empty() || p.chars().count() > 200 || p.chars().any(|c| c.is_control() || "\"\\$`".contains(c)) {
            return Err(field(
                "image.os_release.pretty_name",
                format!("{p:?} is not a usable PRETTY_NAME"),
                "use 1 to 200 characters without quotes, backslashes, `$`, backquotes or control characters",
            ));
        }
    }
    if let Some(w) = &spec.image.workdir {
        if !w.starts_with('/') {
            return Err(field(
                "image.workdir",
                format!("{w:?} is not an absolute path"),
                "write an absolute path, e.g. `/app`",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod run_as_tests {
    use super::*;

    fn spec_with(run_as: &str, users: &str) -> Result<Spec, SpecError> {
        let text = format!(
            "name: t\nsources: [{{suite: bookworm, keys: [k.asc]}}]\npackages: [a]\naccounts:\n  run_as: {run_as:?}\n{users}"
        );
        parse(Path::new("t.yaml"), text.as_bytes())
    }

    #[test]
    fn run_as_must_name_a_user_of_the_image_or_be_numeric() {
        assert!(spec_with("nonroot", "").is_ok());
        assert!(spec_with("1000:1000", "").is_ok());
        assert!(spec_with("1000", "").is_ok());
        assert!(spec_with("app", "  users: [{name: app, uid: 1000}]\n").is_ok());
        let err = spec_with("ghost", "").unwrap_err().to_string();
        assert!(err.contains("accounts.run_as") && err.contains("ghost") && err.contains("nonroot"), "{err}");
        assert!(spec_with("10:x", "").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: t\nsources:\n  - suite: bookworm\n    keys: [k.asc]\npackages: [libc6]\n";

    #[test]
    fn minimal_spec_gets_defaults() {
        let s = parse(Path::new("t.yaml"), MINIMAL.as_bytes()).unwrap();
        assert_eq!(s.archs, vec!["amd64"]);
        assert_eq!(s.sources[0].components, vec!["main"]);
        assert!(s.paths.exclude.contains(&"/usr/share/doc".to_string()));
        assert_eq!(s.paths.keep, vec!["/usr/share/doc/*/copyright"]);
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let text = format!("{MINIMAL}imagee:\n  cmd: [x]\n");
        let err = parse(Path::new("specs/t.yaml"), text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("specs/t.yaml"), "{err}");
        assert!(err.contains("line 6"), "{err}");
        assert!(err.contains("imagee"), "{err}");
    }

    #[test]
    fn nested_unknown_field_is_rejected() {
        let text = MINIMAL.replace("    keys: [k.asc]\n", "    keys: [k.asc]\n    compnents: [main]\n");
        let err = parse(Path::new("t.yaml"), text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("compnents") && err.contains("line 5") && err.contains("sources[0]"), "{err}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let text = MINIMAL.replace("packages: [libc6]", "packages: libc6");
        let err = parse(Path::new("t.yaml"), text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("packages") || err.contains("sequence"), "{err}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = parse(Path::new("t.yaml"), MINIMAL.replace("name: t", "name: T!").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("field `name`"), "{err}");
        let err = parse(Path::new("t.yaml"), MINIMAL.replace("[k.asc]", "[]").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("sources[0].keys"), "{err}");
        let text = format!("{MINIMAL}paths:\n  exclude: [usr/share]\n");
        let err = parse(Path::new("t.yaml"), text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("paths.exclude[0]"), "{err}");
    }

    #[test]
    fn os_release_pretty_name_is_optional_strict_and_validated() {
        let ok = format!("{MINIMAL}image:\n  os_release:\n    pretty_name: Acme Node 18 (Debian 12)\n");
        let s = parse(Path::new("t.yaml"), ok.as_bytes()).unwrap();
        assert_eq!(s.image.os_release.unwrap().pretty_name.as_deref(), Some("Acme Node 18 (Debian 12)"));
        assert_eq!(parse(Path::new("t.yaml"), MINIMAL.as_bytes()).unwrap().image.os_release, None);
        let unknown = format!("{MINIMAL}image:\n  os_release:\n    id: ubuntu\n");
        let err = parse(Path::new("t.yaml"), unknown.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("unknown field `id`"), "{err}");
        let quoted = format!("{MINIMAL}image:\n  os_release:\n    pretty_name: 'a\"b'\n");
        let err = parse(Path::new("t.yaml"), quoted.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("image.os_release.pretty_name"), "{err}");
    }
}
