//! `distill inspect`: what an image holds, layer by layer, where its bytes
//! go, and which layers two images share.
//!
//! The layout is read with [`crate::check::read`]: [`read::read_manifests`]
//! follows `index.json` → image index → one manifest per platform
//! (image-spec `image-layout.md`, `image-index.md`, `manifest.md`), then
//! each layer is streamed once with [`read::walk_layer`], verified against
//! its descriptor's digest and size and its config `diff_id`
//! (`config.md`, "rootfs"). No file content is held except the small
//! `/var/lib/dpkg/status.d/*` files. A blob is read once per layout (a
//! layer shared by two platforms or tags of one layout is walked once;
//! each layout's copy is verified).
//!
//! The layers are merged as a runtime would unpack them (`layer.md`,
//! "Applying Changesets"): later entries replace earlier ones, writes go
//! through parent symlinks of lower layers, `.wh.<name>` deletes `<name>`
//! and what is below it, `.wh..wh..opq` hides what lower layers put in its
//! directory (`layer.md`, "Whiteouts" and "Opaque Whiteout") — the same
//! rules as [`read::read_layout`].
//!
//! Units: every size is in bytes. A layer's *compressed size* is its
//! descriptor's `size` (`descriptor.md`: the size of the raw blob); its
//! *uncompressed size* is the length of the tar stream its `diff_id`
//! digests. File sizes count regular files only, each hard-linked file
//! once.
//!
//! # Package ownership
//!
//! A layer's packages are the names of the files `status.d/<name>` it
//! contains (`/var/lib/dpkg/status.d`, the distroless dpkg database;
//! `<name>.md5sums` companions are not packages). A regular file of the
//! merged filesystem belongs to:
//!
//! 1. the package whose `status.d/<pkg>.md5sums` (dpkg format:
//!    `<32 hex>  <path relative to />` per line) or `Conffiles:` field in
//!    `status.d/<pkg>` lists it (paths are resolved through the image's
//!    parent symlinks, so `lib/…` finds `/usr/lib/…` on merged /usr);
//!    when several do, the one whose status file is in the file's layer,
//!    else the first by name;
//! 2. otherwise, the package whose status file is in the same layer as the
//!    file (the layer that last wrote it), **only** when that layer holds
//!    exactly one package and that package has no md5sums;
//! 3. otherwise nobody: the file is *unattributed* (generated files such as
//!    the CA bundle and `status.d` itself, or a layer holding several
//!    packages without md5sums).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::check::packages::STATUS_D;
use crate::check::read::{self, LayerEntry, LayerEntryKind, LayerRef, LayerStats, ReadError};
use crate::tree::normalize;

/// Default number of files in [`PlatformReport::largest_files`].
pub const DEFAULT_TOP: usize = 15;

/// What to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How many of the largest files to list.
    pub top: usize,
    /// Only the platform of this architecture: a Debian name (`amd64`,
    /// `arm64`, `armhf`, `i386`, `ppc64el` …), an OCI one (`386`,
    /// `ppc64le`), or a platform (`linux/arm64/v8`). `None`: every platform.
    pub arch: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { top: DEFAULT_TOP, arch: None }
    }
}

/// Errors of [`inspect`].
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The layout could not be read or failed verification.
    #[error("{image}:{tag}: {source}")]
    Read {
        /// The layout directory.
        image: PathBuf,
        /// The tag.
        tag: String,
        /// What went wrong (names the file or blob).
        #[source]
        source: ReadError,
    },
    /// `--arch` names no platform of the image.
    #[error("--arch {arch}: not an architecture of {image}:{tag}\n  allowed: {available}")]
    NoPlatform {
        /// The layout directory.
        image: PathBuf,
        /// The tag.
        tag: String,
        /// The architecture asked for.
        arch: String,
        /// The image's platforms, comma-separated.
        available: String,
    },
    /// The layers do not merge (a hard link to a file no layer wrote).
    #[error("{image}:{tag}: layer {layer}: {reason}")]
    Merge {
        /// The layout directory.
        image: PathBuf,
        /// The tag.
        tag: String,
        /// The layer's digest.
        layer: String,
        /// What is wrong.
        reason: String,
    },
}

/// The whole answer: one report per image, and the comparison when two
/// images were given. This is the `--json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The images, in the order given.
    pub images: Vec<ImageReport>,
    /// Shared layers of the first and second image; `null` with one image.
    pub comparison: Option<Comparison>,
}

/// One image (a tag of a layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageReport {
    /// The layout directory, as given.
    pub image: String,
    /// The tag.
    pub tag: String,
    /// Digest of what the tag points at (an image index, or a manifest).
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// One report per platform (only the `--arch` one when given), in
    /// index order.
    pub platforms: Vec<PlatformReport>,
}

/// One platform's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformReport {
    /// `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
    pub platform: String,
    /// Digest of the image manifest.
    pub manifest: String,
    /// Digest of the image config.
    pub config: String,
    /// Sum of the layers' compressed sizes, bytes.
    pub compressed_size: u64,
    /// Sum of the layers' uncompressed (tar) sizes, bytes.
    pub uncompressed_size: u64,
    /// The layers, bottom first (`index` is the position in the manifest's
    /// `layers`).
    pub layers: Vec<LayerReport>,
    /// The merged filesystem.
    pub filesystem: FilesystemSummary,
    /// The largest regular files of the merged filesystem, largest first
    /// (ties by path); at most `--top`.
    pub largest_files: Vec<FileReport>,
    /// Bytes per package (see the module documentation for ownership).
    pub packages: PackageSizes,
}

/// One layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerReport {
    /// Position in the manifest's `layers`, from 0 (the bottom layer).
    pub index: usize,
    /// Digest of the blob.
    pub digest: String,
    /// Media type of the blob.
    pub media_type: String,
    /// Compressed size: the descriptor's `size`, bytes.
    pub compressed_size: u64,
    /// Uncompressed size: bytes of the tar stream.
    pub uncompressed_size: u64,
    /// Digest of the tar stream (from the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// Tar entries in the layer (whiteouts included).
    pub entries: u64,
    /// Whiteout entries (`.wh.*`, opaque ones included).
    pub whiteouts: u64,
    /// Bytes of the regular files in the layer (hard links count 0).
    pub file_bytes: u64,
    /// Packages whose `status.d/<name>` file is in this layer, sorted.
    pub packages: Vec<String>,
}

/// The merged filesystem of a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesystemSummary {
    /// Entries (files, hard links, directories, symlinks; `/` included).
    pub entries: u64,
    /// Distinct regular files (hard links of one file count once).
    pub files: u64,
    /// Bytes of the distinct regular files.
    pub file_bytes: u64,
}

/// One file of the merged filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// Absolute path (the first, by path order, of its hard links).
    pub path: String,
    /// Size, bytes.
    pub size: u64,
    /// The owning package, `null` when unattributed.
    pub package: Option<String>,
    /// Index of the layer its contents come from.
    pub layer: usize,
    /// Other paths of the same file (hard links), sorted; often empty.
    pub hardlinks: Vec<String>,
}

/// Installed size per package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageSizes {
    /// Packages owning files, largest first (ties by name); packages with
    /// md5sums are listed even when they own nothing.
    pub packages: Vec<PackageSize>,
    /// Bytes of all regular files (= `filesystem.file_bytes`).
    pub total_bytes: u64,
    /// Bytes owned by some package.
    pub owned_bytes: u64,
    /// Bytes owned by no package (`total_bytes - owned_bytes`): generated or
    /// unattributed files.
    pub unattributed_bytes: u64,
    /// Files owned by no package.
    pub unattributed_files: u64,
    /// Packages installed in the merged filesystem (`status.d` entries).
    pub installed: u64,
    /// Installed packages whose files cannot be told apart (no md5sums, and
    /// their layer holds several packages), sorted.
    pub without_ownership: Vec<String>,
}

/// One package's share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageSize {
    /// Package name (as its `status.d` file is named).
    pub name: String,
    /// Bytes of the regular files it owns.
    pub size: u64,
    /// Number of those files.
    pub files: u64,
    /// How ownership was found: `md5sums` or `layer` (sole package of its layer).
    pub source: String,
}

/// Layers shared by two images, per platform both have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The first image, `DIR:TAG`.
    pub a: String,
    /// The second image, `DIR:TAG`.
    pub b: String,
    /// One entry per platform both images have (in the first's order).
    pub platforms: Vec<PlatformComparison>,
    /// Platforms only the first image has.
    pub platforms_only_in_a: Vec<String>,
    /// Platforms only the second image has.
    pub platforms_only_in_b: Vec<String>,
}

/// Shared layers of one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformComparison {
    /// The platform.
    pub platform: String,
    /// Layers in both (same digest), in the first image's order.
    pub shared: Vec<LayerBrief>,
    /// Sum of the shared layers' compressed sizes, bytes (what a registry
    /// or a node stores and transfers once).
    pub shared_compressed_size: u64,
    /// Sum of the shared layers' uncompressed sizes, bytes.
    pub shared_uncompressed_size: u64,
    /// Layers only the first image has, in its order.
    pub only_in_a: Vec<LayerBrief>,
    /// Layers only the second image has, in its order.
    pub only_in_b: Vec<LayerBrief>,
}

/// A layer in a [`PlatformComparison`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerBrief {
    /// Digest of the blob.
    pub digest: String,
    /// Media type.
    pub media_type: String,
    /// Compressed size, bytes.
    pub compressed_size: u64,
    /// Uncompressed size, bytes.
    pub uncompressed_size: u64,
}

/// Inspect one or two images (`(layout directory, tag)`); with two, also
/// compare the first with the second.
pub fn inspect(images: &[(PathBuf, String)], opts: &Options) -> Result<Report, InspectError> {
    let mut cache = HashMap::new();
    let reports =
        images.iter().map(|(dir, tag)| inspect_image(dir, tag, opts, &mut cache)).collect::<Result<Vec<_>, _>>()?;
    let comparison = match reports.as_slice() {
        [a, b, ..] => Some(compare(a, b)),
        _ => None,
    };
    Ok(Report { images: reports, comparison })
}

/// A layer as walked: its stats and its entries (contents only for
/// `status.d` files).
struct Walked {
    stats: LayerStats,
    entries: Vec<LayerEntry>,
}

fn inspect_image(
    dir: &Path,
    tag: &str,
    opts: &Options,
    cache: &mut HashMap<(PathBuf, LayerRef), Arc<Walked>>,
) -> Result<ImageReport, InspectError> {
    let read_err = |source| InspectError::Read { image: dir.into(), tag: tag.into(), source };
    let image = read::read_manifests(dir, tag).map_err(read_err)?;
    let mut platforms: Vec<_> = image.platforms.iter().collect();
    if let Some(arch) = &opts.arch {
        platforms.retain(|p| platform_matches(&p.platform, arch));
        if platforms.is_empty() {
            return Err(InspectError::NoPlatform {
                image: dir.into(),
                tag: tag.into(),
                arch: arch.clone(),
                available: image.platforms.iter().map(|p| p.platform.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
    }
    let mut reports = Vec::new();
    for p in platforms {
        let mut walked = Vec::new();
        for l in &p.layers {
            let key = (dir.to_path_buf(), l.clone());
            let w = match cache.get(&key) {
                Some(w) => w.clone(),
                None => {
                    let mut entries = Vec::new();
                    let stats = read::walk_layer(dir, l, &is_status_file, &mut |e| {
                        entries.push(e);
                        Ok(())
                    })
                    .map_err(read_err)?;
                    let w = Arc::new(Walked { stats, entries });
                    cache.insert(key, w.clone());
                    w
                }
            };
            walked.push((l, w));
        }
        let report = platform_report(&p.platform, &p.digest, &p.config, &walked, opts.top)
            .map_err(|(layer, reason)| InspectError::Merge { image: dir.into(), tag: tag.into(), layer, reason })?;
        reports.push(report);
    }
    Ok(ImageReport {
        image: dir.display().to_string(),
        tag: tag.to_string(),
        digest: image.digest,
        media_type: image.media_type,
        platforms: reports,
    })
}

/// Files directly in `status.d` (the only contents read).
fn is_status_file(path: &str) -> bool {
    path.strip_prefix(STATUS_D).and_then(|r| r.strip_prefix('/')).is_some_and(|n| !n.is_empty() && !n.contains('/'))
}

/// A package name from a `status.d` file name (`None` for md5sums
/// companions and dot files).
fn package_name(file_name: &str) -> Option<&str> {
    (!file_name.ends_with(".md5sums") && !file_name.starts_with('.') && !file_name.is_empty()).then_some(file_name)
}

/// Whether `platform` (`os/arch[/variant]`) is the one `arch` names (see
/// [`Options::arch`]).
pub fn platform_matches(platform: &str, arch: &str) -> bool {
    if arch.contains('/') {
        return platform == arch || platform.split_once('/').is_some_and(|(_, rest)| rest == arch);
    }
    let (want_arch, want_variant) = match arch {
        "i386" => ("386", None),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v5")),
        "ppc64el" => ("ppc64le", None),
        "mips64el" => ("mips64le", None),
        "mipsel" => ("mipsle", None),
        other => (other, None),
    };
    let mut parts = platform.split('/');
    let _os = parts.next();
    let (Some(p_arch), p_variant) = (parts.next(), parts.next()) else { return false };
    p_arch == want_arch && want_variant.map_or(true, |v| p_variant == Some(v))
}

// ---------------------------------------------------------------------------
// The merged filesystem
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    /// Index into [`Fs::inodes`].
    File(usize),
    Symlink(String),
}

#[derive(Debug, Clone)]
struct Inode {
    size: u64,
    /// The layer the contents come from.
    layer: usize,
    data: Option<Arc<[u8]>>,
}

/// Paths, kinds and sizes of the merged layers (no contents but those of
/// `status.d` files).
#[derive(Debug, Clone)]
struct Fs {
    nodes: BTreeMap<String, Node>,
    inodes: Vec<Inode>,
}

fn parent_of(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Fs {
    fn new() -> Self {
        Fs { nodes: BTreeMap::from([("/".to_string(), Node::Dir)]), inodes: Vec::new() }
    }

    /// `path` with every ancestor symlink followed (not the last
    /// component), as [`crate::tree::Tree::resolve_parents`] does.
    fn resolve_parents(&self, path: &str) -> String {
        let mut comps: Vec<String> = path.split('/').filter(|c| !c.is_empty()).map(String::from).collect();
        let mut hops = 0;
        let mut i = 0;
        while i + 1 < comps.len() {
            let prefix = format!("/{}", comps[..=i].join("/"));
            if let Some(Node::Symlink(target)) = self.nodes.get(&prefix) {
                hops += 1;
                if hops > 40 {
                    break;
                }
                let mut joined: Vec<String> = if target.starts_with('/') { Vec::new() } else { comps[..i].to_vec() };
                for t in target.split('/').filter(|c| !c.is_empty() && *c != ".") {
                    if t == ".." {
                        joined.pop();
                    } else {
                        joined.push(t.to_string());
                    }
                }
                joined.extend(comps[i + 1..].iter().cloned());
                comps = joined;
                i = 0;
                continue;
            }
            i += 1;
        }
        format!("/{}", comps.join("/"))
    }

    /// A directory path with the directory itself resolved too.
    fn resolve_dir(&self, dir: &str) -> String {
        parent_of(&self.resolve_parents(&join(dir, "x"))).to_string()
    }

    fn below(&self, dir: &str) -> Vec<String> {
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| k.as_str() != "/")
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Remove `path` and what is below it, except paths in `keep`.
    fn remove_tree(&mut self, path: &str, keep: &HashSet<String>) {
        for k in self.below(path) {
            if !keep.contains(&k) {
                self.nodes.remove(&k);
            }
        }
        if path != "/" && !keep.contains(path) {
            self.nodes.remove(path);
        }
    }

    fn ensure_parents(&mut self, path: &str) {
        let mut cur = String::new();
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push('/');
            cur.push_str(c);
            self.nodes.entry(cur.clone()).or_insert(Node::Dir);
        }
    }

    /// Apply one layer's entries (the same rules as `read::apply_tar`).
    fn apply(&mut self, layer: usize, entries: &[LayerEntry]) -> Result<(), String> {
        let mut this_layer: HashSet<String> = HashSet::new();
        for e in entries {
            let node = match e.kind {
                LayerEntryKind::Whiteout => {
                    let target = self.resolve_parents(&e.path);
                    self.remove_tree(&target, &this_layer);
                    continue;
                }
                LayerEntryKind::OpaqueWhiteout => {
                    let dir = self.resolve_dir(&e.path);
                    for k in self.below(&dir) {
                        if !this_layer.contains(&k) {
                            self.nodes.remove(&k);
                        }
                    }
                    continue;
                }
                LayerEntryKind::Other => continue,
                _ if e.path == "/" => continue,
                LayerEntryKind::Dir => Node::Dir,
                LayerEntryKind::Symlink => Node::Symlink(e.link.clone().unwrap_or_default()),
                LayerEntryKind::File => {
                    self.inodes.push(Inode { size: e.size, layer, data: e.data.as_deref().map(Arc::from) });
                    Node::File(self.inodes.len() - 1)
                }
                LayerEntryKind::HardLink => {
                    let target = e.link.clone().unwrap_or_default();
                    match self.nodes.get(&self.resolve_parents(&target)) {
                        Some(Node::File(i)) => Node::File(*i),
                        _ => return Err(format!("hard link {} → {target} names no regular file before it", e.path)),
                    }
                }
            };
            let real = self.resolve_parents(&e.path);
            if self.nodes.get(&real) == Some(&Node::Dir) && node != Node::Dir {
                self.remove_tree(&real, &this_layer);
            }
            self.ensure_parents(&real);
            self.nodes.insert(real.clone(), node);
            this_layer.insert(real);
        }
        Ok(())
    }
}

/// Paths listed by dpkg md5sums text (`<md5>  <path relative to />`).
fn md5sums_paths(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (sum, rest) = line.split_once(' ')?;
            if sum.len() != 32 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            // Two spaces in dpkg's format; `md5sum` may write ` *` (binary).
            let path = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*')).unwrap_or(rest);
            let path = path.strip_prefix('*').unwrap_or(path);
            (!path.is_empty()).then(|| normalize(&format!("/{path}"))).flatten()
        })
        .collect()
}

/// Paths of the `Conffiles:` field of a dpkg status stanza
/// (` /etc/x <md5>[ obsolete]` continuation lines).
fn conffiles(status: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in status.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if inside {
                if let Some(p) = line.split_whitespace().next().filter(|p| p.starts_with('/')) {
                    out.extend(normalize(p));
                }
            }
        } else {
            inside = line.split_once(':').is_some_and(|(k, _)| k.eq_ignore_ascii_case("conffiles"));
        }
    }
    out
}

/// The report for one platform from its walked layers (bottom first).
/// `Err((layer digest, reason))` when a layer does not apply.
fn platform_report(
    platform: &str,
    manifest: &str,
    config: &str,
    layers: &[(&LayerRef, Arc<Walked>)],
    top: usize,
) -> Result<PlatformReport, (String, String)> {
    let mut fs = Fs::new();
    let mut layer_reports = Vec::new();
    for (i, (l, w)) in layers.iter().enumerate() {
        fs.apply(i, &w.entries).map_err(|reason| (l.digest.clone(), reason))?;
        let mut packages: Vec<String> = w
            .entries
            .iter()
            .filter(|e| e.kind == LayerEntryKind::File && is_status_file(&e.path))
            .filter_map(|e| package_name(e.path.rsplit('/').next().unwrap_or("")).map(String::from))
            .collect();
        packages.sort();
        packages.dedup();
        layer_reports.push(LayerReport {
            index: i,
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            compressed_size: l.size,
            uncompressed_size: w.stats.uncompressed_size,
            diff_id: l.diff_id.clone(),
            entries: w.stats.entries,
            whiteouts: w
                .entries
                .iter()
                .filter(|e| matches!(e.kind, LayerEntryKind::Whiteout | LayerEntryKind::OpaqueWhiteout))
                .count() as u64,
            file_bytes: w.entries.iter().filter(|e| e.kind == LayerEntryKind::File).map(|e| e.size).sum(),
            packages,
        });
    }

    // Paths of each file still in the merged filesystem, in path order.
    let mut paths: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (p, n) in &fs.nodes {
        if let Node::File(i) = n {
            paths.entry(*i).or_default().push(p);
        }
    }

    // The dpkg database of the merged filesystem.
    let status_dir = fs.resolve_dir(STATUS_D);
    let mut installed: BTreeMap<String, usize> = BTreeMap::new(); // package → inode of its status file
    let mut md5sums: BTreeMap<String, usize> = BTreeMap::new(); // package → inode of its md5sums
    for (p, n) in &fs.nodes {
        let (Node::File(i), Some(name)) = (n, p.strip_prefix(&status_dir).and_then(|r| r.strip_prefix('/'))) else {
            continue;
        };
        if name.contains('/') {
            continue;
        }
        if let Some(pkg) = name.strip_suffix(".md5sums") {
            md5sums.insert(pkg.to_string(), *i);
        } else if let Some(pkg) = package_name(name) {
            installed.insert(pkg.to_string(), *i);
        }
    }
    let text = |i: usize| fs.inodes[i].data.as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
    // File (inode) → the packages whose md5sums or Conffiles list it.
    let mut claims: HashMap<usize, BTreeSet<String>> = HashMap::new();
    let listed = md5sums
        .iter()
        .flat_map(|(pkg, &i)| md5sums_paths(&text(i)).into_iter().map(move |p| (pkg, p)))
        .chain(installed.iter().flat_map(|(pkg, &i)| conffiles(&text(i)).into_iter().map(move |p| (pkg, p))));
    for (pkg, path) in listed {
        if let Some(Node::File(i)) = fs.nodes.get(&fs.resolve_parents(&path)) {
            claims.entry(*i).or_default().insert(pkg.clone());
        }
    }

    let owner = |i: usize| -> Option<String> {
        let layer = fs.inodes[i].layer;
        let in_layer = &layer_reports[layer].packages;
        if let Some(c) = claims.get(&i) {
            return c.iter().find(|p| in_layer.contains(p)).or_else(|| c.iter().next()).cloned();
        }
        match in_layer.as_slice() {
            [only] if !md5sums.contains_key(only) => Some(only.clone()),
            _ => None,
        }
    };

    let mut per_package: BTreeMap<String, (u64, u64)> = md5sums.keys().map(|p| (p.clone(), (0, 0))).collect();
    let mut files: Vec<FileReport> = Vec::new();
    let (mut total, mut unattributed, mut unattributed_files) = (0u64, 0u64, 0u64);
    for (&i, ps) in &paths {
        let size = fs.inodes[i].size;
        let pkg = owner(i);
        total += size;
        match &pkg {
            Some(p) => {
                let e = per_package.entry(p.clone()).or_default();
                e.0 += size;
                e.1 += 1;
            }
            None => {
                unattributed += size;
                unattributed_files += 1;
            }
        }
        files.push(FileReport {
            path: ps[0].to_string(),
            size,
            package: pkg,
            layer: fs.inodes[i].layer,
            hardlinks: ps[1..].iter().map(|s| s.to_string()).collect(),
        });
    }
    files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    files.truncate(top);

    let mut packages: Vec<PackageSize> = per_package
        .into_iter()
        .map(|(name, (size, n))| PackageSize {
            source: if md5sums.contains_key(&name) { "md5sums" } else { "layer" }.to_string(),
            name,
            size,
            files: n,
        })
        .collect();
    packages.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    let listed: HashSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let without_ownership: Vec<String> = installed.keys().filter(|p| !listed.contains(p.as_str())).cloned().collect();

    Ok(PlatformReport {
        platform: platform.to_string(),
        manifest: manifest.to_string(),
        config: config.to_string(),
        compressed_size: layer_reports.iter().map(|l| l.compressed_size).sum(),
        uncompressed_size: layer_reports.iter().map(|l| l.uncompressed_size).sum(),
        layers: layer_reports,
        filesystem: FilesystemSummary { entries: fs.nodes.len() as u64, files: paths.len() as u64, file_bytes: total },
        largest_files: files,
        packages: PackageSizes {
            packages,
            total_bytes: total,
            owned_bytes: total - unattributed,
            unattributed_bytes: unattributed,
            unattributed_files,
            installed: installed.len() as u64,
            without_ownership,
        },
    })
}

// ---------------------------------------------------------------------------
// Two images
// ---------------------------------------------------------------------------

fn brief(l: &LayerReport) -> LayerBrief {
    LayerBrief {
        digest: l.digest.clone(),
        media_type: l.media_type.clone(),
        compressed_size: l.compressed_size,
        uncompressed_size: l.uncompressed_size,
    }
}

/// The layers `a` and `b` share (same digest), per platform both have.
pub fn compare(a: &ImageReport, b: &ImageReport) -> Comparison {
    let mut platforms = Vec::new();
    for pa in &a.platforms {
        let Some(pb) = b.platforms.iter().find(|pb| pb.platform == pa.platform) else { continue };
        let in_a: HashSet<&str> = pa.layers.iter().map(|l| l.digest.as_str()).collect();
        let in_b: HashSet<&str> = pb.layers.iter().map(|l| l.digest.as_str()).collect();
        let mut seen = HashSet::new();
        let shared: Vec<LayerBrief> = pa
            .layers
            .iter()
            .filter(|l| in_b.contains(l.digest.as_str()) && seen.insert(l.digest.as_str()))
            .map(brief)
            .collect();
        platforms.push(PlatformComparison {
            platform: pa.platform.clone(),
            shared_compressed_size: shared.iter().map(|l| l.compressed_size).sum(),
            shared_uncompressed_size: shared.iter().map(|l| l.uncompressed_size).sum(),
            shared,
            only_in_a: pa.layers.iter().filter(|l| !in_b.contains(l.digest.as_str())).map(brief).collect(),
            only_in_b: pb.layers.iter().filter(|l| !in_a.contains(l.digest.as_str())).map(brief).collect(),
        });
    }
    let only = |x: &ImageReport, y: &ImageReport| -> Vec<String> {
        x.platforms
            .iter()
            .filter(|p| !y.platforms.iter().any(|q| q.platform == p.platform))
            .map(|p| p.platform.clone())
            .collect()
    };
    Comparison {
        a: format!("{}:{}", a.image, a.tag),
        b: format!("{}:{}", b.image, b.tag),
        platforms,
        platforms_only_in_a: only(a, b),
        platforms_only_in_b: only(b, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: LayerEntryKind, size: u64) -> LayerEntry {
        LayerEntry { path: path.into(), kind, size, mode: 0o644, link: None, data: None }
    }
    fn file(path: &str, size: u64) -> LayerEntry {
        entry(path, LayerEntryKind::File, size)
    }
    fn text_file(path: &str, text: &str) -> LayerEntry {
        LayerEntry { data: Some(text.as_bytes().to_vec()), ..file(path, text.len() as u64) }
    }
    fn link(path: &str, kind: LayerEntryKind, target: &str) -> LayerEntry {
        LayerEntry { link: Some(target.into()), ..entry(path, kind, 0) }
    }
    fn walked(n: u8, entries: Vec<LayerEntry>) -> (LayerRef, Arc<Walked>) {
        let l = LayerRef {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size: 1000 + u64::from(n),
            diff_id: format!("sha256:{}", "0".repeat(64)),
        };
        let stats = LayerStats { uncompressed_size: 2000 + u64::from(n), entries: entries.len() as u64 };
        (l, Arc::new(Walked { stats, entries }))
    }
    fn report(layers: &[(LayerRef, Arc<Walked>)], top: usize) -> PlatformReport {
        let refs: Vec<(&LayerRef, Arc<Walked>)> = layers.iter().map(|(l, w)| (l, w.clone())).collect();
        platform_report("linux/amd64", "sha256:m", "sha256:c", &refs, top).unwrap()
    }
    fn sizes(r: &PlatformReport) -> Vec<(&str, u64, u64, &str)> {
        r.packages.packages.iter().map(|p| (p.name.as_str(), p.size, p.files, p.source.as_str())).collect()
    }

    #[test]
    fn md5sums_lines_give_absolute_paths() {
        let text = "0123456789abcdef0123456789abcdef  usr/bin/a b\n\
                    0123456789abcdef0123456789abcdef *./usr/lib/x\n\
                    not a line\n\
                    0123456789abcdef0123456789abcdef  ../../etc/passwd\n";
        assert_eq!(md5sums_paths(text), ["/usr/bin/a b", "/usr/lib/x"]);
    }

    #[test]
    fn conffiles_field_is_read_from_a_status_stanza() {
        let status =
            "Package: p\nConffiles:\n /etc/p.conf 0123 \n /etc/old.conf 4567 obsolete\nDescription: x\n more\n";
        assert_eq!(conffiles(status), ["/etc/p.conf", "/etc/old.conf"]);
        assert!(conffiles("Package: p\nDescription: x\n /etc/not-a-conffile\n").is_empty());
    }

    #[test]
    fn debian_and_oci_architecture_names_select_platforms() {
        assert!(platform_matches("linux/amd64", "amd64"));
        assert!(platform_matches("linux/arm64/v8", "arm64"));
        assert!(platform_matches("linux/arm64/v8", "linux/arm64/v8"));
        assert!(platform_matches("linux/arm64/v8", "arm64/v8"));
        assert!(platform_matches("linux/arm/v7", "armhf"));
        assert!(!platform_matches("linux/arm/v5", "armhf"));
        assert!(platform_matches("linux/386", "i386"));
        assert!(platform_matches("linux/ppc64le", "ppc64el"));
        assert!(!platform_matches("linux/amd64", "arm64"));
        assert!(!platform_matches("linux/arm64/v8", "linux/arm64"));
    }

    #[test]
    fn whiteouts_and_parent_symlinks_apply_as_in_read_layout() {
        let lower = walked(
            1,
            vec![
                entry("/usr/lib", LayerEntryKind::Dir, 0),
                link("/lib", LayerEntryKind::Symlink, "usr/lib"),
                file("/lib/libx.so", 10),
                file("/etc/gone/sub/f", 20),
                file("/opt/old", 30),
                file("/srv/d/f", 40),
            ],
        );
        let upper = walked(
            2,
            vec![
                entry("/etc/gone", LayerEntryKind::Whiteout, 0),
                entry("/opt", LayerEntryKind::OpaqueWhiteout, 0),
                file("/opt/new", 5),
                // A file over a directory replaces the directory and its contents.
                file("/srv/d", 7),
                // Written through the lower layer's /lib symlink.
                file("/lib/liby.so", 3),
            ],
        );
        let r = report(&[lower, upper], 100);
        let mut paths: Vec<(&str, u64, usize)> =
            r.largest_files.iter().map(|f| (f.path.as_str(), f.size, f.layer)).collect();
        paths.sort();
        assert_eq!(
            paths,
            [("/opt/new", 5, 1), ("/srv/d", 7, 1), ("/usr/lib/libx.so", 10, 0), ("/usr/lib/liby.so", 3, 1)]
        );
        assert_eq!(r.filesystem.file_bytes, 25);
        assert_eq!(r.layers[1].whiteouts, 2);
        assert_eq!(r.layers[0].file_bytes, 100);
        assert_eq!((r.compressed_size, r.uncompressed_size), (2003, 4003));
    }

    #[test]
    fn hard_links_count_once_and_must_name_a_file() {
        let l = walked(1, vec![file("/a", 100), link("/b", LayerEntryKind::HardLink, "/a"), file("/c", 1)]);
        let r = report(&[l], 1);
        assert_eq!(r.filesystem.files, 2);
        assert_eq!(r.filesystem.file_bytes, 101);
        assert_eq!(r.largest_files.len(), 1);
        assert_eq!(r.largest_files[0].hardlinks, ["/b"]);
        let (l, w) = walked(2, vec![link("/b", LayerEntryKind::HardLink, "/nothing")]);
        let err = platform_report("p", "m", "c", &[(&l, w)], 1).unwrap_err();
        assert_eq!(err.0, l.digest);
        assert!(err.1.contains("names no regular file"), "{}", err.1);
    }

    #[test]
    fn ownership_md5sums_first_then_the_only_package_of_a_layer() {
        let s = STATUS_D;
        let base = walked(
            1,
            vec![
                text_file(&format!("{s}/liba"), "Package: liba\n"),
                text_file(&format!("{s}/liba.md5sums"), "0123456789abcdef0123456789abcdef  lib/liba.so\n"),
                text_file(&format!("{s}/libb"), "Package: libb\n"),
                entry("/usr/lib", LayerEntryKind::Dir, 0),
                link("/lib", LayerEntryKind::Symlink, "usr/lib"),
                file("/usr/lib/liba.so", 1000),
                file("/usr/lib/libb.so", 500),
            ],
        );
        // One package, no md5sums: the layer's files are its own.
        let single = walked(2, vec![text_file(&format!("{s}/tool"), "Package: tool\n"), file("/usr/bin/tool", 300)]);
        // One package with md5sums: files it does not list are nobody's.
        let listed = walked(
            3,
            vec![
                text_file(&format!("{s}/app"), "Package: app\n"),
                text_file(&format!("{s}/app.md5sums"), "0123456789abcdef0123456789abcdef  usr/bin/app\n"),
                file("/usr/bin/app", 200),
                file("/etc/app-generated", 7),
            ],
        );
        let r = report(&[base, single, listed], 3);
        assert_eq!(r.layers.iter().map(|l| l.packages.len()).collect::<Vec<_>>(), [2, 1, 1]);
        let tool_status = "Package: tool\n".len() as u64;
        assert_eq!(
            sizes(&r),
            [("liba", 1000, 1, "md5sums"), ("tool", 300 + tool_status, 2, "layer"), ("app", 200, 1, "md5sums")]
        );
        assert_eq!(r.packages.without_ownership, ["libb"]);
        assert_eq!(r.packages.installed, 4);
        assert_eq!(r.packages.owned_bytes + r.packages.unattributed_bytes, r.packages.total_bytes);
        // libb.so, the generated file, and the status and md5sums files
        // (their layers hold several packages, or the package has md5sums).
        let status_files: u64 = ["Package: liba\n", "Package: libb\n", "Package: app\n"]
            .iter()
            .map(|t| t.len() as u64)
            .chain([34 + "lib/liba.so\n".len() as u64, 34 + "usr/bin/app\n".len() as u64])
            .sum();
        let unowned = 500 + 7 + status_files;
        assert_eq!(r.packages.unattributed_bytes, unowned);
        assert_eq!(r.packages.unattributed_files, 7);
        let top: Vec<(&str, Option<&str>)> =
            r.largest_files.iter().map(|f| (f.path.as_str(), f.package.as_deref())).collect();
        assert_eq!(
            top,
            [("/usr/lib/liba.so", Some("liba")), ("/usr/lib/libb.so", None), ("/usr/bin/tool", Some("tool"))]
        );
    }

    #[test]
    fn comparison_lists_shared_and_own_layers() {
        let (l1, l2, l3) = (walked(1, vec![file("/a", 1)]), walked(2, vec![]), walked(3, vec![]));
        let image = |layers: &[(LayerRef, Arc<Walked>)], platform: &str| ImageReport {
            image: "x".into(),
            tag: "latest".into(),
            digest: "d".into(),
            media_type: "m".into(),
            platforms: vec![PlatformReport { platform: platform.into(), ..report(layers, 0) }],
        };
        let a = image(&[l1.clone(), l2.clone()], "linux/amd64");
        let b = image(&[l1.clone(), l3.clone()], "linux/amd64");
        let c = compare(&a, &b);
        assert_eq!(c.platforms.len(), 1);
        let p = &c.platforms[0];
        assert_eq!(p.shared.iter().map(|l| l.digest.as_str()).collect::<Vec<_>>(), [l1.0.digest.as_str()]);
        assert_eq!((p.shared_compressed_size, p.shared_uncompressed_size), (1001, 2001));
        assert_eq!(p.only_in_a[0].digest, l2.0.digest);
        assert_eq!(p.only_in_b[0].digest, l3.0.digest);
        let other = image(&[l1], "linux/arm64/v8");
        let c = compare(&a, &other);
        assert!(c.platforms.is_empty());
        assert_eq!(
            (c.platforms_only_in_a.as_slice(), c.platforms_only_in_b.as_slice()),
            (&["linux/amd64".to_string()][..], &["linux/arm64/v8".to_string()][..])
        );
    }
}
