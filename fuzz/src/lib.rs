//! Fuzz target bodies: one function per target taking arbitrary bytes.
//!
//! The cargo-fuzz binaries (`fuzz/fuzz_targets/<target>.rs`) call them, and
//! `tests/fuzz_corpus.rs` includes this file to replay the committed corpus
//! (`fuzz/corpus/<target>/`) and the crash regressions
//! (`fuzz/regressions/<target>/`) on stable, so both run the same code.
//! A body must not panic, hang or allocate without bound on any input;
//! each asserts the invariants named in its doc comment.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The targets, as named under `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &["spec", "packages", "deb", "extract"];

/// Run target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "spec" => spec(data),
        "packages" => packages(data),
        "deb" => deb(data),
        "extract" => extract(data),
        _ => panic!("unknown fuzz target {name}"),
    }
}

/// At most this many decompressed bytes are read from one member (the
/// product bounds what it unpacks itself; the harness must stay small).
const READ_CAP: u64 = 64 << 20;

/// Archive base URL given to the parsers (never fetched).
const BASE_URL: &str = "http://archive.invalid/debian";

// ---------------------------------------------------------------------------
// spec
// ---------------------------------------------------------------------------

/// Spec files: the bytes as one spec (`spec::parse`, in memory); then, when
/// they hold several YAML documents separated by `---` lines, as an
/// `extends:` chain `0.yaml` → `1.yaml` → … in a directory of its own,
/// loaded with `spec::load`. A spec that parses must compile its path
/// filters without panicking.
pub fn spec(data: &[u8]) {
    if let Ok(spec) = distill::spec::parse(Path::new("fuzz.yaml"), data) {
        let _ = distill::tree::filter::PathFilter::new(&spec.paths);
        let _ = distill::tree::generate::accounts(&spec.accounts);
    }
    let docs = split_documents(data);
    if docs.len() < 2 || docs.len() > 6 {
        return;
    }
    // The harness reads only its own files: `extends:` must name a sibling `N.yaml`.
    for d in &docs {
        if let Ok(s) = serde_yaml::from_slice::<distill::spec::Spec>(d) {
            let sibling = s
                .extends
                .as_deref()
                .map_or(true, |e| e.len() == 6 && e.ends_with(".yaml") && e.as_bytes()[0].is_ascii_digit());
            if !sibling {
                return;
            }
        }
    }
    SPEC_DIR.with(|dir| {
        let dir = dir.path();
        for i in 0..10 {
            let path = dir.join(format!("{i}.yaml"));
            match docs.get(i) {
                Some(d) => std::fs::write(&path, d).expect("write spec"),
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if let Ok(loaded) = distill::spec::load(&dir.join("0.yaml")) {
            assert!(loaded.parents.len() < docs.len(), "more parents than documents");
            let _ = loaded.digest();
            let _ = distill::tree::filter::PathFilter::new(&loaded.spec.paths);
        }
    });
}

thread_local! {
    static SPEC_DIR: tempfile::TempDir =
        tempfile::Builder::new().prefix("distill-fuzz-spec").tempdir().expect("temp dir");
}

/// Split at lines that are exactly `---`.
fn split_documents(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(off) = find(&data[i..], b"\n---\n") {
        let at = i + off;
        out.push(&data[start..at + 1]);
        start = at + 5;
        i = at + 4;
    }
    out.push(&data[start..]);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// packages
// ---------------------------------------------------------------------------

/// Packages index, dependency fields, versions and Release files:
/// `repo::index::parse_text` on the bytes (lossy UTF-8); for the packages
/// it returns, every dependency field through debian-packaging's parser,
/// each version printing as it parses, dpkg order antisymmetric and
/// consistent with sorting, and the resolver (`resolve::resolve`, `why`)
/// asked for the first packages with a pin, an exclusion and a preference.
/// Then the bytes as an InRelease (the clearsign parser
/// `repo::release::verify` runs before the signature check) and as an
/// unsigned Release stanza with the fields `verify` reads.
pub fn packages(data: &[u8]) {
    use distill::version::Version;
    let text = String::from_utf8_lossy(data);
    if let Ok(pkgs) = distill::repo::index::parse_text(&text, "bookworm", "main", BASE_URL) {
        for p in &pkgs {
            for field in [&p.pre_depends, &p.depends, &p.provides, &p.conflicts, &p.breaks] {
                let _ = debian_packaging::dependency::DependencyList::parse(field);
            }
            // Lock files store versions as text and parse them back.
            let printed = p.version.to_string();
            let again = Version::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse again: {e}"));
            assert_eq!(again, p.version, "version {printed:?} changes when printed and parsed");
        }
        let versions: Vec<&Version> = pkgs.iter().take(24).map(|p| &p.version).collect();
        for a in &versions {
            for b in &versions {
                assert_eq!(a.cmp(b), b.cmp(a).reverse(), "order of {a} and {b} is not antisymmetric");
            }
        }
        let mut sorted = versions.clone();
        sorted.sort();
        assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "sorted versions out of order");

        let index = distill::repo::PackageIndex {
            suite: "bookworm".into(),
            component: "main".into(),
            arch: "amd64".into(),
            sha256: "0".repeat(64),
            packages: pkgs.clone(),
        };
        let universe = distill::resolve::Universe::new([&index], "amd64");
        let mut names: Vec<String> = pkgs.iter().take(4).map(|p| p.name.clone()).collect();
        if let Some(p) = pkgs.get(4) {
            names.push(format!("{}={}", p.name, p.version));
        }
        if let Some(p) = pkgs.get(5) {
            names.push(format!("{}/bookworm", p.name));
        }
        let mut request = distill::resolve::Request::new("amd64", names);
        if pkgs.len() > 6 {
            request.exclude.insert(pkgs[pkgs.len() - 1].name.clone());
            request.prefer.push(pkgs[pkgs.len() - 2].name.clone());
        }
        if let Ok(res) = distill::resolve::resolve(&universe, &request) {
            for (name, p) in &res.packages {
                assert_eq!(name, &p.name, "resolution keyed by another name");
                let _ = res.chain(name);
                let w = distill::resolve::why::why(&res, name);
                let _ = distill::resolve::why::render(name, &w, Some(&p.version.to_string()));
            }
        }
    }

    // What repo::release::verify parses before it checks the signature (no
    // key here), then the fields it reads after.
    if let Ok(release) =
        debian_packaging::repository::release::ReleaseFile::from_armored_reader(std::io::BufReader::new(data))
    {
        let _ = release.signatures().map(|s| s.iter_signatures().count());
    }
    if let Ok(release) = debian_packaging::repository::release::ReleaseFile::from_reader(std::io::BufReader::new(data))
    {
        let _ = (release.suite(), release.codename(), release.version(), release.acquire_by_hash());
        let _ = (release.date(), release.valid_until());
        if let Some(field) = release.field("SHA256") {
            for line in field.iter_lines() {
                let _ = line.split_whitespace().count();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// deb
// ---------------------------------------------------------------------------

/// `.deb` files: `deb::members`, then each member through
/// `deb::decompress` (read up to [`READ_CAP`] bytes) and its tar entries
/// listed, and `deb::control_file`.
pub fn deb(data: &[u8]) {
    let Ok(m) = distill::deb::members("fuzz", data) else { return };
    for (name, bytes) in [(&m.control_name, &m.control), (&m.data_name, &m.data)] {
        let Ok(reader) = distill::deb::decompress("fuzz", name, bytes) else { continue };
        let mut out = Vec::new();
        let _ = reader.take(READ_CAP).read_to_end(&mut out);
        let mut archive = tar::Archive::new(out.as_slice());
        let Ok(entries) = archive.entries() else { continue };
        for entry in entries {
            let Ok(entry) = entry else { break };
            let _ = (entry.path_bytes(), entry.link_name_bytes(), entry.header().entry_type(), entry.size());
        }
    }
    if let Ok(control) = distill::deb::control_file("fuzz", &m) {
        let mut paragraphs = debian_packaging::control::ControlParagraphReader::new(control.as_bytes());
        for _ in paragraphs.by_ref().take(16) {}
    }
}

// ---------------------------------------------------------------------------
// extract
// ---------------------------------------------------------------------------

/// Tar extraction into the image tree: the bytes are up to three data.tar
/// files one after the other (each ends at its end-of-archive zero blocks),
/// extracted in order into one tree as packages `a`, `b`, `c` (the first
/// with no path filter, the others with the default spec filters; setuid
/// bits stripped, kept, refused), and the dpkg database written for them.
/// After every step, whether extraction succeeded or not, every key of the
/// tree is a normalised absolute path without `..`, `resolve_parents`
/// leaves it as it is, and every ancestor of an entry is a directory in
/// the tree.
pub fn extract(data: &[u8]) {
    use distill::spec::SetuidPolicy;
    use distill::tree::filter::PathFilter;
    use distill::tree::generate::DpkgRecord;
    use std::collections::BTreeMap;

    let mut tree = distill::tree::Tree::new();
    // Compiling the globs costs more than extracting; do it once.
    static FILTERS: std::sync::OnceLock<(PathFilter, PathFilter)> = std::sync::OnceLock::new();
    let (keep_all, defaults) = FILTERS.get_or_init(|| {
        let defaults = PathFilter::new(&distill::spec::Paths::default()).expect("default filters compile");
        (PathFilter::keep_all(), defaults)
    });
    let mut records = BTreeMap::new();
    for (i, part) in split_tars(data).into_iter().take(3).enumerate() {
        let name = ["a", "b", "c"][i];
        let mut file = tempfile::tempfile().expect("temp file");
        std::io::Write::write_all(&mut file, part).expect("write temp file");
        // extract opens the file again by path; /proc/self/fd names the open file.
        let path = proc_fd_path(&file);
        let content = Arc::new(distill::tree::ContentFile::new(&path, &"0".repeat(64), file));
        let filter = if i == 0 { keep_all } else { defaults };
        let setuid = [SetuidPolicy::Strip, SetuidPolicy::Keep, SetuidPolicy::Refuse][i];
        let result = distill::tree::extract::extract_with(&mut tree, name, &content, filter, setuid);
        check_tree(&tree);
        if let Ok(extracted) = result {
            for (path, _) in &extracted.stripped {
                if let Some(e) = tree.get(path) {
                    assert_eq!(e.mode & 0o6000, 0, "{path}: setuid/setgid bits left after Strip");
                }
            }
            let written = extracted.written;
            // Name every written path in md5sums and conffiles, as a package would.
            let md5sums: String = written.iter().map(|p| format!("{:032x}  {}\n", 0, &p[1..])).collect();
            let conffiles: String = written.iter().map(|p| format!("{p}\n")).collect();
            records.insert(
                name.to_string(),
                DpkgRecord {
                    control: format!("Package: {name}\nVersion: 1\nDescription: x\n"),
                    md5sums: Some(md5sums),
                    conffiles: Some(conffiles),
                },
            );
        }
    }
    distill::tree::generate::write_dpkg_database(&mut tree, &records);
    check_tree(&tree);
}

fn proc_fd_path(file: &std::fs::File) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    std::path::PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Split at end-of-archive markers: the first 512-byte-aligned pair of
/// zero blocks ends an archive; further zero blocks are skipped.
fn split_tars(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && out.len() < 3 {
        let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
        let mut end = None;
        let mut off = 0;
        while off + 1024 <= rest.len() {
            if zero(&rest[off..off + 1024]) {
                end = Some(off);
                break;
            }
            off += 512;
        }
        let Some(end) = end else {
            out.push(rest);
            break;
        };
        out.push(&rest[..end + 1024]);
        let mut next = end + 1024;
        while next + 512 <= rest.len() && zero(&rest[next..next + 512]) {
            next += 512;
        }
        rest = &rest[next..];
    }
    out
}

/// The tree invariants of [`extract`].
fn check_tree(tree: &distill::tree::Tree) {
    for (key, entry) in tree.iter() {
        assert_eq!(distill::tree::normalize(key).as_deref(), Some(key.as_str()), "key {key:?} is not normalised");
        assert!(!key.split('/').any(|c| c == ".."), "key {key:?} has a .. component");
        assert_eq!(&tree.resolve_parents(key), key, "key {key:?} lies under a symlink");
        if let Some((anc, e)) = tree.non_dir_ancestor(key) {
            panic!("{key:?} ({:?}) lies under {anc:?}, which is {:?}", entry.kind, e.kind);
        }
        let mut cur = key.as_str();
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            if cur.is_empty() {
                break;
            }
            assert!(tree.get(cur).is_some(), "{key:?} has no parent entry {cur:?}");
        }
    }
}
