//! Shared fakes for the hermetic integration tests, modelled on
//! canonical/chisel's test fakes: `.deb` files built in memory
//! ([`DebBuilder`]), an archive laid out and signed on disk
//! ([`RepoBuilder`]) with a TEST-ONLY OpenPGP key ([`TestKey`]), a loopback
//! HTTP server with tampering hooks ([`RepoServer`]), spec writing and
//! running the `distill` binary ([`SpecBuilder`], [`run_distill`]), and an
//! OCI layout reader that dumps the layer as a sorted tree ([`Image`]).
//!
//! Nothing here talks to anything but 127.0.0.1.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Lowercase hex SHA256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

// ---------------------------------------------------------------------------
// .deb files
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum DataEntry {
    Dir { path: String, mode: u32 },
    File { path: String, mode: u32, data: Vec<u8> },
    Symlink { path: String, target: String },
    Hardlink { path: String, target: String },
    Special { path: String, kind: tar::EntryType },
}

/// Builds a real `.deb` (deb(5)): an `ar` archive with `debian-binary`,
/// `control.tar.gz` and `data.tar.xz`. Entry paths are written to the tar
/// headers byte for byte (no normalisation), so a fixture can hold
/// hostile names such as `../etc/evil`.
#[derive(Debug, Clone)]
pub struct DebBuilder {
    name: String,
    version: String,
    arch: String,
    /// Optional control fields, in the order they are written.
    fields: Vec<(String, String)>,
    entries: Vec<DataEntry>,
    /// Write a `md5sums` control member (off by default).
    md5sums: bool,
    /// Paths of the `conffiles` control member (none: no member).
    conffiles: Vec<String>,
}

/// A built `.deb`: its bytes and its control fields.
#[derive(Debug, Clone)]
pub struct Deb {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub arch: String,
    /// All control fields in order (Package first, Description last).
    pub control: Vec<(String, String)>,
    /// The `.deb` bytes.
    pub bytes: Vec<u8>,
}

impl Deb {
    /// SHA256 of the `.deb`, lowercase hex.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }

    /// Pool path relative to the archive root: `pool/main/<x>/<name>_<ver>_<arch>.deb`.
    pub fn pool_path(&self) -> String {
        let prefix =
            if self.name.starts_with("lib") && self.name.len() > 3 { &self.name[..4] } else { &self.name[..1] };
        format!("pool/main/{prefix}/{}_{}_{}.deb", self.name, self.version.replace(':', "%3a"), self.arch)
    }

    /// The control file text.
    pub fn control_text(&self) -> String {
        self.control.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }
}

impl DebBuilder {
    /// A package `name` at `version` for amd64.
    pub fn new(name: &str, version: &str) -> Self {
        DebBuilder {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            fields: Vec::new(),
            entries: Vec::new(),
            md5sums: false,
            conffiles: Vec::new(),
        }
    }

    /// List an absolute path (e.g. `/etc/tool.conf`) in the `conffiles`
    /// control member; like dh_md5sums, md5sums then leaves it out.
    pub fn conffile(mut self, path: &str) -> Self {
        self.conffiles.push(path.into());
        self
    }

    /// Also write the `md5sums` control member, as dh_md5sums does: one
    /// line `<md5 hex>  <path without ./>` per regular file, in entry order.
    pub fn with_md5sums(mut self) -> Self {
        self.md5sums = true;
        self
    }

    /// `Architecture` (default `amd64`).
    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.into();
        self
    }

    /// Any control field (replaces an earlier one of the same name).
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.into(), value.into()));
        self
    }

    /// `Depends`.
    pub fn depends(self, v: &str) -> Self {
        self.field("Depends", v)
    }

    /// `Pre-Depends`.
    pub fn pre_depends(self, v: &str) -> Self {
        self.field("Pre-Depends", v)
    }

    /// `Provides`.
    pub fn provides(self, v: &str) -> Self {
        self.field("Provides", v)
    }

    /// `Conflicts`.
    pub fn conflicts(self, v: &str) -> Self {
        self.field("Conflicts", v)
    }

    /// `Multi-Arch`.
    pub fn multi_arch(self, v: &str) -> Self {
        self.field("Multi-Arch", v)
    }

    /// A directory entry, e.g. `.dir("./usr/bin/", 0o755)`.
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.entries.push(DataEntry::Dir { path: path.into(), mode });
        self
    }

    /// A regular file, e.g. `.file("./usr/bin/hello", 0o755, b"...")`.
    pub fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        self.entries.push(DataEntry::File { path: path.into(), mode, data: data.to_vec() });
        self
    }

    /// A symbolic link, e.g. `.symlink("./usr/bin/hi", "hello")`.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(DataEntry::Symlink { path: path.into(), target: target.into() });
        self
    }

    /// A hard link to an earlier entry, e.g. `.hardlink("./usr/bin/hello2", "./usr/bin/hello")`.
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(DataEntry::Hardlink { path: path.into(), target: target.into() });
        self
    }

    /// A special entry (character/block device, FIFO) with no data, e.g.
    /// `.special("./dev/evil", tar::EntryType::Char)`.
    pub fn special(mut self, path: &str, kind: tar::EntryType) -> Self {
        self.entries.push(DataEntry::Special { path: path.into(), kind });
        self
    }

    fn installed_size_kib(&self) -> u64 {
        let bytes: u64 = self
            .entries
            .iter()
            .map(|e| match e {
                DataEntry::File { data, .. } => data.len() as u64,
                _ => 0,
            })
            .sum();
        bytes.div_ceil(1024).max(1)
    }

    /// Build the `.deb`. Like every real Debian package it ships
    /// `/usr/share/doc/<name>/copyright` (added when the fixture has none).
    pub fn build(mut self) -> Deb {
        let doc = format!("./usr/share/doc/{}", self.name);
        let has_copyright = self.entries.iter().any(|e| match e {
            DataEntry::File { path, .. } => *path == format!("{doc}/copyright"),
            DataEntry::Symlink { path, .. } => path.trim_end_matches('/') == doc,
            _ => false,
        });
        if !has_copyright {
            let text = format!("{} test fixture, public domain\n", self.name);
            self.entries.push(DataEntry::File {
                path: format!("{doc}/copyright"),
                mode: 0o644,
                data: text.into_bytes(),
            });
        }
        let mut control = vec![
            ("Package".to_string(), self.name.clone()),
            ("Version".to_string(), self.version.clone()),
            ("Architecture".to_string(), self.arch.clone()),
            ("Maintainer".to_string(), "distill test suite <nobody@localhost>".to_string()),
            ("Installed-Size".to_string(), self.installed_size_kib().to_string()),
        ];
        for (k, v) in &self.fields {
            control.retain(|(c, _)| c != k);
            control.push((k.clone(), v.clone()));
        }
        if !control.iter().any(|(k, _)| k == "Description") {
            control.push(("Description".to_string(), format!("test package {}", self.name)));
        }
        let control_text: String = control.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();

        // control.tar.gz
        let mut ctar = tar::Builder::new(Vec::new());
        append_raw(&mut ctar, tar::EntryType::Directory, "./", 0o755, None, b"");
        append_raw(&mut ctar, tar::EntryType::Regular, "./control", 0o644, None, control_text.as_bytes());
        if self.md5sums {
            let mut sums = String::new();
            for e in &self.entries {
                if let DataEntry::File { path, data, .. } = e {
                    if self.conffiles.iter().any(|c| c.trim_start_matches('/') == path.trim_start_matches("./")) {
                        continue;
                    }
                    sums.push_str(&format!("{}  {}\n", md5_hex(data), path.trim_start_matches("./")));
                }
            }
            append_raw(&mut ctar, tar::EntryType::Regular, "./md5sums", 0o644, None, sums.as_bytes());
        }
        if !self.conffiles.is_empty() {
            let text: String = self.conffiles.iter().map(|c| format!("{c}\n")).collect();
            append_raw(&mut ctar, tar::EntryType::Regular, "./conffiles", 0o644, None, text.as_bytes());
        }
        let ctar = ctar.into_inner().expect("control tar");
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
        gz.write_all(&ctar).unwrap();
        let control_gz = gz.finish().unwrap();

        // data.tar.xz
        let mut dtar = tar::Builder::new(Vec::new());
        append_raw(&mut dtar, tar::EntryType::Directory, "./", 0o755, None, b"");
        for e in &self.entries {
            match e {
                DataEntry::Dir { path, mode } => {
                    append_raw(&mut dtar, tar::EntryType::Directory, path, *mode, None, b"")
                }
                DataEntry::File { path, mode, data } => {
                    append_raw(&mut dtar, tar::EntryType::Regular, path, *mode, None, data)
                }
                DataEntry::Symlink { path, target } => {
                    append_raw(&mut dtar, tar::EntryType::Symlink, path, 0o777, Some(target), b"")
                }
                DataEntry::Hardlink { path, target } => {
                    append_raw(&mut dtar, tar::EntryType::Link, path, 0o644, Some(target), b"")
                }
                DataEntry::Special { path, kind } => append_raw(&mut dtar, *kind, path, 0o644, None, b""),
            }
        }
        let dtar = dtar.into_inner().expect("data tar");
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&dtar).unwrap();
        let data_xz = xz.finish().unwrap();

        // The ar container.
        let mut ar = ar::Builder::new(Vec::new());
        for (name, data) in
            [("debian-binary", b"2.0\n".to_vec()), ("control.tar.gz", control_gz), ("data.tar.xz", data_xz)]
        {
            let mut h = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
            h.set_mode(0o100644);
            ar.append(&h, data.as_slice()).expect("ar append");
        }
        let bytes = ar.into_inner().expect("ar");
        Deb { name: self.name, version: self.version, arch: self.arch, control, bytes }
    }
}

/// Append one tar entry with `path` (and `link`) copied verbatim into the
/// GNU header's name fields (the tar crate's setters refuse `..`).
fn append_raw(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    path: &str,
    mode: u32,
    link: Option<&str>,
    data: &[u8],
) {
    assert!(path.len() < 100 && link.map_or(0, str::len) < 100, "fixture paths must be short");
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(l) = link {
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).expect("tar append");
}

// ---------------------------------------------------------------------------
// OpenPGP test keys
// ---------------------------------------------------------------------------

/// User ID of the key the tests trust.
pub const TEST_KEY_UID: &str = "distill test-only key (never trust)";
/// User ID of the unrelated key used for the "unknown key" case.
pub const OTHER_KEY_UID: &str = "distill test-only OTHER key (never trust)";

/// A TEST-ONLY OpenPGP key shaped like Debian's archive keys: an ed25519
/// primary key (certify only) and an ed25519 signing subkey. Generated in
/// the test process, never written anywhere but the test's temp dir.
pub struct TestKey {
    secret: pgp::SignedSecretKey,
    /// The public key (primary + subkey), ASCII-armored.
    pub public_armored: String,
    /// Hex key ID of the signing subkey.
    pub subkey_id: String,
}

/// How the signing subkey of a generated key is bound to its primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubkeyState {
    /// A valid signing subkey (as Debian's keys have).
    Valid,
    /// Bound without the "sign" key flag (e.g. an authentication-only subkey).
    NotForSigning,
    /// Its binding says it expired on 2020-01-02.
    Expired,
    /// A valid binding followed by a subkey revocation signature.
    Revoked,
}

fn generate_key(uid: &str) -> TestKey {
    generate_key_with(uid, SubkeyState::Valid)
}

/// Generate a fresh TEST-ONLY key whose signing subkey is in `state`.
pub fn generate_key_with(uid: &str, state: SubkeyState) -> TestKey {
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::packet::{KeyFlags, SignatureConfig, SignatureType, Subpacket, SubpacketData};
    use pgp::types::{PublicKeyTrait, SecretKeyTrait};
    let mut rng = rand::thread_rng();
    let created = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let sub = pgp::SubkeyParamsBuilder::default()
        .key_type(pgp::KeyType::EdDSALegacy)
        .can_sign(state != SubkeyState::NotForSigning)
        .can_authenticate(state == SubkeyState::NotForSigning)
        .created_at(created)
        .build()
        .expect("subkey params");
    let params = pgp::SecretKeyParamsBuilder::default()
        .key_type(pgp::KeyType::EdDSALegacy)
        .can_certify(true)
        .can_sign(false)
        .primary_user_id(uid.into())
        .created_at(created)
        .subkey(sub)
        .build()
        .expect("key params");
    let mut secret =
        params.generate(&mut rng).expect("generate key").sign(&mut rng, String::new).expect("self-sign key");
    if state == SubkeyState::NotForSigning {
        // pgp's builder binding (key flags: authenticate) is what we want.
    } else {
        // Re-bind the signing subkey the way GnuPG (and so Debian's keys)
        // do: key flags "sign" plus an embedded primary-key binding
        // signature made by the subkey (the "back-signature" gpgv requires).
        let sig_time = created + chrono::Duration::hours(1);
        let primary = &secret.primary_key;
        let sub = &secret.secret_subkeys[0].key;
        let back = {
            let mut config = SignatureConfig::v4(SignatureType::KeyBinding, sub.algorithm(), HashAlgorithm::SHA2_256);
            config.hashed_subpackets = vec![
                Subpacket::regular(SubpacketData::SignatureCreationTime(sig_time)),
                Subpacket::regular(SubpacketData::IssuerFingerprint(sub.fingerprint())),
            ];
            config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::Issuer(sub.key_id()))];
            let mut hasher = config.hash_alg.new_hasher().expect("hasher");
            primary.serialize_for_hashing(&mut hasher).expect("hash primary");
            sub.serialize_for_hashing(&mut hasher).expect("hash subkey");
            let len = config.hash_signature_data(&mut hasher).expect("hash config");
            hasher.update(&config.trailer(len).expect("trailer"));
            let digest = hasher.finish();
            let bytes = sub.create_signature(String::new, config.hash_alg, &digest).expect("back-signature");
            pgp::Signature::from_config(config, [digest[0], digest[1]], bytes)
        };
        let bind = |typ: SignatureType, extra: Vec<Subpacket>| {
            let mut config = SignatureConfig::v4(typ, primary.algorithm(), HashAlgorithm::SHA2_256);
            config.hashed_subpackets = vec![
                Subpacket::regular(SubpacketData::SignatureCreationTime(sig_time)),
                Subpacket::regular(SubpacketData::IssuerFingerprint(primary.fingerprint())),
            ];
            config.hashed_subpackets.extend(extra);
            config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::Issuer(primary.key_id()))];
            config.sign_key_binding(primary, String::new, sub).expect("binding signature")
        };
        let mut flags = KeyFlags::default();
        flags.set_sign(true);
        let mut binding = vec![Subpacket::regular(SubpacketData::KeyFlags(flags.into()))];
        if state == SubkeyState::Expired {
            binding.push(Subpacket::regular(SubpacketData::KeyExpirationTime(chrono::Duration::days(1))));
        }
        binding.push(Subpacket::regular(SubpacketData::EmbeddedSignature(Box::new(back))));
        let mut sigs = vec![bind(SignatureType::SubkeyBinding, binding)];
        if state == SubkeyState::Revoked {
            sigs.push(bind(SignatureType::SubkeyRevocation, vec![]));
        }
        secret.secret_subkeys[0].signatures = sigs;
    }
    let public = pgp::SignedPublicKey::from(secret.clone());
    public.verify().expect("generated key verifies");
    let public_armored = public.to_armored_string(pgp::ArmorOptions::default()).expect("armor");
    let subkey_id = hex::encode(public.public_subkeys[0].key_id());
    TestKey { secret, public_armored, subkey_id }
}

/// The key the tests trust (one per test process).
pub fn test_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| generate_key(TEST_KEY_UID))
}

/// A second, unrelated key (one per test process).
pub fn other_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| generate_key(OTHER_KEY_UID))
}

impl TestKey {
    /// Clearsign `text` with the signing subkey (as Debian signs InRelease).
    pub fn clearsign(&self, text: &str) -> String {
        pgp_cleartext::cleartext_sign(
            &self.secret.secret_subkeys[0],
            String::new,
            pgp::crypto::hash::HashAlgorithm::SHA2_256,
            text.as_bytes(),
        )
        .expect("clearsign")
    }

    /// Write the ASCII-armored public key to `path`.
    pub fn write_public(&self, path: &Path) {
        std::fs::write(path, &self.public_armored).expect("write key");
    }
}

// ---------------------------------------------------------------------------
// The archive
// ---------------------------------------------------------------------------

/// Fixed `Date` of every test Release (RFC 2822).
pub const RELEASE_DATE: &str = "Sat, 01 Jun 2024 12:00:00 UTC";

/// One suite of a [`RepoBuilder`].
#[derive(Debug, Clone)]
pub struct SuiteSpec {
    /// `Codename` (the suite name when unset).
    pub codename: Option<String>,
    /// `Version`.
    pub version: String,
    /// `Date`.
    pub date: String,
    /// `Valid-Until`, if any.
    pub valid_until: Option<String>,
    /// Packages, in index order.
    pub debs: Vec<Deb>,
}

impl Default for SuiteSpec {
    fn default() -> Self {
        SuiteSpec {
            codename: None,
            version: "12.5".into(),
            date: RELEASE_DATE.into(),
            valid_until: None,
            debs: Vec::new(),
        }
    }
}

/// Lays out a Debian archive (component `main`, architecture amd64):
/// `pool/`, `dists/<suite>/main/binary-amd64/Packages{,.xz}` and a
/// clearsigned `dists/<suite>/InRelease`.
#[derive(Debug, Clone, Default)]
pub struct RepoBuilder {
    suites: BTreeMap<String, SuiteSpec>,
    /// Architectures with an index ([`RepoBuilder::archs`]); empty: the
    /// single amd64 index listing every package.
    archs: Vec<String>,
}

/// What [`RepoBuilder::write`] produced.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The archive root (holds `dists/` and `pool/`).
    pub root: PathBuf,
    /// Unsigned Release text of each suite.
    pub release: BTreeMap<String, String>,
    /// Every package written, by suite.
    pub debs: BTreeMap<String, Vec<Deb>>,
}

impl Repo {
    /// The deb `name` (highest-listed first match) in any suite.
    pub fn deb(&self, name: &str) -> &Deb {
        self.debs
            .values()
            .flatten()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no deb {name} in the test repo"))
    }
}

impl RepoBuilder {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// The suite `name`, created on first use.
    pub fn suite(&mut self, name: &str) -> &mut SuiteSpec {
        self.suites.entry(name.into()).or_default()
    }

    /// Write one index per architecture in `archs`, each listing the
    /// packages of that architecture and those of `Architecture: all`
    /// (without it: one amd64 index listing every package).
    pub fn archs(mut self, archs: &[&str]) -> Self {
        self.archs = archs.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Add `deb` to `suite`.
    pub fn add(mut self, suite: &str, deb: Deb) -> Self {
        self.suite(suite).debs.push(deb);
        self
    }

    /// Write the archive under `root`, signing every InRelease with `key`.
    pub fn write(&self, root: &Path, key: &TestKey) -> Repo {
        let mut release = BTreeMap::new();
        let mut debs = BTreeMap::new();
        let per_arch = !self.archs.is_empty();
        let archs: Vec<String> = if per_arch { self.archs.clone() } else { vec!["amd64".to_string()] };
        for (suite, spec) in &self.suites {
            for d in &spec.debs {
                let pool = root.join(d.pool_path());
                std::fs::create_dir_all(pool.parent().unwrap()).unwrap();
                std::fs::write(&pool, &d.bytes).unwrap();
            }
            let mut indices = Vec::new();
            for arch in &archs {
                let mut packages = String::new();
                for d in spec.debs.iter().filter(|d| !per_arch || d.arch == *arch || d.arch == "all") {
                    if !packages.is_empty() {
                        packages.push('\n');
                    }
                    packages.push_str(&packages_stanza(d));
                }
                let dir = root.join(format!("dists/{suite}/main/binary-{arch}"));
                std::fs::create_dir_all(&dir).unwrap();
                let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
                xz.write_all(packages.as_bytes()).unwrap();
                let packages_xz = xz.finish().unwrap();
                std::fs::write(dir.join("Packages"), &packages).unwrap();
                std::fs::write(dir.join("Packages.xz"), &packages_xz).unwrap();
                indices.push((arch.clone(), packages, packages_xz));
            }

            let mut text = format!(
                "Origin: distill-tests\nLabel: distill-tests\nSuite: {suite}\nCodename: {}\nVersion: {}\nDate: {}\n",
                spec.codename.as_deref().unwrap_or(suite),
                spec.version,
                spec.date
            );
            if let Some(v) = &spec.valid_until {
                text.push_str(&format!("Valid-Until: {v}\n"));
            }
            text.push_str(&format!(
                "Architectures: {}\nComponents: main\nDescription: distill hermetic test archive\nSHA256:\n",
                archs.join(" ")
            ));
            for (arch, packages, packages_xz) in &indices {
                for (name, data) in [("Packages", packages.as_bytes()), ("Packages.xz", packages_xz.as_slice())] {
                    text.push_str(&format!(" {} {:>8} main/binary-{arch}/{name}\n", sha256_hex(data), data.len()));
                }
            }
            std::fs::write(root.join(format!("dists/{suite}/Release")), &text).unwrap();
            std::fs::write(root.join(format!("dists/{suite}/InRelease")), key.clearsign(&text)).unwrap();
            release.insert(suite.clone(), text);
            debs.insert(suite.clone(), spec.debs.clone());
        }
        Repo { root: root.into(), release, debs }
    }
}

/// The Packages stanza of `deb`: its control fields plus Filename, Size,
/// SHA256 (Description last, as the archive writes it).
pub fn packages_stanza(deb: &Deb) -> String {
    let mut s = String::new();
    for (k, v) in deb.control.iter().filter(|(k, _)| k != "Description") {
        s.push_str(&format!("{k}: {v}\n"));
    }
    s.push_str(&format!("Filename: {}\nSize: {}\nSHA256: {}\n", deb.pool_path(), deb.bytes.len(), deb.sha256()));
    if let Some((_, d)) = deb.control.iter().find(|(k, _)| k == "Description") {
        s.push_str(&format!("Description: {d}\n"));
    }
    s
}

// ---------------------------------------------------------------------------
// Loopback HTTP server
// ---------------------------------------------------------------------------

/// Path (relative to the root) → (HTTP status, body) served instead of the file.
type Overrides = Arc<Mutex<HashMap<String, (u16, Vec<u8>)>>>;

/// Serves a directory on `http://127.0.0.1:<port>/`, with per-path byte
/// overrides (tampering) and a log of every request (`GET /path`).
pub struct RepoServer {
    port: u16,
    overrides: Overrides,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RepoServer {
    /// Start serving `root` on an ephemeral loopback port.
    pub fn start(root: &Path) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let overrides: Overrides = Arc::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (root, ov, lg, st) = (root.to_path_buf(), overrides.clone(), log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let req = match server.recv_timeout(Duration::from_millis(50)) {
                    Ok(Some(r)) => r,
                    Ok(None) | Err(_) => continue,
                };
                let path = req.url().split('?').next().unwrap_or("").trim_start_matches('/').to_string();
                lg.lock().unwrap().push(format!("{} /{path}", req.method()));
                let over = ov.lock().unwrap().get(&path).cloned();
                let resp = if let Some((status, bytes)) = over {
                    tiny_http::Response::from_data(bytes).with_status_code(status)
                } else if path.split('/').any(|c| c == ".." || c == ".") {
                    tiny_http::Response::from_data(b"bad path".to_vec()).with_status_code(400)
                } else {
                    match std::fs::read(root.join(&path)) {
                        Ok(bytes) => tiny_http::Response::from_data(bytes),
                        Err(_) => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
                    }
                };
                // One request per connection: a keep-alive connection left
                // idle by one client must not hold up the next.
                let close = tiny_http::Header::from_bytes(&b"Connection"[..], &b"close"[..]).expect("header");
                let _ = req.respond(resp.with_header(close));
            }
        });
        RepoServer { port, overrides, log, stop, thread: Some(thread) }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serve `bytes` for `path` (relative to the root, e.g. `dists/s/InRelease`).
    pub fn tamper(&self, path: &str, bytes: Vec<u8>) {
        self.overrides.lock().unwrap().insert(path.trim_start_matches('/').into(), (200, bytes));
    }

    /// Answer `path` with HTTP `status` and an empty body.
    pub fn fail(&self, path: &str, status: u16) {
        self.overrides.lock().unwrap().insert(path.trim_start_matches('/').into(), (status, Vec::new()));
    }

    /// Stop serving: later connections are refused.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stop overriding `path`.
    pub fn untamper(&self, path: &str) {
        self.overrides.lock().unwrap().remove(path.trim_start_matches('/'));
    }

    /// Requests so far, as `GET /path`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Forget the request log.
    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for RepoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Specs and running distill
// ---------------------------------------------------------------------------

fn q(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap()
}

fn flow(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "))
}

/// Writes a spec (format version 1, see src/spec/mod.rs).
#[derive(Debug, Clone)]
pub struct SpecBuilder {
    name: String,
    sources: Vec<(String, String, Vec<PathBuf>)>,
    packages: Vec<String>,
    exclude: Vec<String>,
    entrypoint: Vec<String>,
    extra: String,
    /// `archs:` (empty: `[amd64]`).
    archs: Vec<String>,
}

impl SpecBuilder {
    /// A spec for image `name`.
    pub fn new(name: &str) -> Self {
        SpecBuilder {
            name: name.into(),
            sources: Vec::new(),
            packages: Vec::new(),
            exclude: Vec::new(),
            entrypoint: Vec::new(),
            extra: String::new(),
            archs: Vec::new(),
        }
    }

    /// Add a source: `suite` at `url`, trusting `key` (absolute path).
    pub fn source(mut self, suite: &str, url: &str, key: &Path) -> Self {
        self.sources.push((suite.into(), url.into(), vec![key.into()]));
        self
    }

    /// `packages:`.
    pub fn packages(mut self, p: &[&str]) -> Self {
        self.packages = p.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `exclude:`.
    pub fn exclude(mut self, p: &[&str]) -> Self {
        self.exclude = p.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `image.entrypoint`.
    pub fn entrypoint(mut self, argv: &[&str]) -> Self {
        self.entrypoint = argv.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `archs:` (default `[amd64]`).
    pub fn archs(mut self, archs: &[&str]) -> Self {
        self.archs = archs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Raw YAML appended at the end.
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self
    }

    /// The YAML text.
    pub fn yaml(&self) -> String {
        let mut s = format!("# written by tests/common/mod.rs\nname: {}\nsources:\n", self.name);
        for (suite, url, keys) in &self.sources {
            let keys: Vec<String> = keys.iter().map(|k| k.display().to_string()).collect();
            s.push_str(&format!("  - suite: {suite}\n    url: {}\n    keys: {}\n", q(url), flow(&keys)));
        }
        if self.archs.is_empty() {
            s.push_str("archs: [amd64]\n");
        } else {
            s.push_str(&format!("archs: {}\n", flow(&self.archs)));
        }
        s.push_str(&format!("packages: {}\n", flow(&self.packages)));
        if !self.exclude.is_empty() {
            s.push_str(&format!("exclude: {}\n", flow(&self.exclude)));
        }
        if !self.entrypoint.is_empty() {
            s.push_str(&format!("image:\n  entrypoint: {}\n", flow(&self.entrypoint)));
        }
        s.push_str(&self.extra);
        s
    }

    /// Write the spec to `path` and return it.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.yaml()).expect("write spec");
        path.to_path_buf()
    }
}

/// Exit code and output of one `distill` run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// The last non-empty stdout line.
    pub fn last_line(&self) -> &str {
        self.stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
    }

    /// Panic with the output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        if std::env::var_os("DISTILL_TEST_SHOW").is_some() {
            eprintln!("--- exit {}\n--- stdout:\n{}--- stderr:\n{}", self.code, self.stdout, self.stderr);
        }
        assert_eq!(
            self.code, code,
            "expected exit code {code}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panic unless stderr contains every one of `needles`.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}\n--- stderr:\n{}", self.stderr);
        }
        self
    }
}

/// Run the built `distill` binary with `args`, in a clean environment:
/// no `SOURCE_DATE_EPOCH`, `DISTILL_MIRROR`, `DISTILL_CACHE_DIR` or proxy
/// variables.
pub fn run_distill(args: &[&std::ffi::OsStr]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_distill"));
    cmd.args(args);
    for v in [
        "SOURCE_DATE_EPOCH",
        "DISTILL_MIRROR",
        "DISTILL_CACHE_DIR",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(v);
    }
    cmd.stdin(std::process::Stdio::null());
    let out = cmd.output().expect("run distill");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `distill build <spec> --output <out> --cache-dir <cache> -q`.
pub fn build(spec: &Path, out: &Path, cache: &Path) -> Outcome {
    run_distill(&[
        "build".as_ref(),
        spec.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
        "-q".as_ref(),
    ])
}

/// A test world: a temp dir with a signed archive, the trusted key file
/// and a loopback server over it.
pub struct Fixture {
    /// Holds everything; removed on drop.
    pub dir: tempfile::TempDir,
    /// The archive on disk.
    pub repo: Repo,
    /// The trusted public key file (ASCII-armored).
    pub key_file: PathBuf,
    /// The server.
    pub server: RepoServer,
}

impl Fixture {
    /// Write `repo` signed by the test key and serve it.
    pub fn new(repo: RepoBuilder) -> Self {
        Self::signed_by(repo, test_key())
    }

    /// Write `repo` signed by `signer`; the spec still trusts the test key.
    pub fn signed_by(repo: RepoBuilder, signer: &TestKey) -> Self {
        Self::with_keys(repo, test_key(), signer)
    }

    /// Write `repo` signed by `signer`; specs from [`Fixture::spec`] trust `trusted`.
    pub fn with_keys(repo: RepoBuilder, trusted: &TestKey, signer: &TestKey) -> Self {
        let dir = tempfile::Builder::new().prefix("distill-hermetic-").tempdir().expect("tempdir");
        let key_file = dir.path().join("test-only-archive-key.asc");
        trusted.write_public(&key_file);
        let repo = repo.write(&dir.path().join("archive"), signer);
        let server = RepoServer::start(&repo.root);
        Fixture { dir, repo, key_file, server }
    }

    /// A path in the temp dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A spec with one source per suite of the archive (in name order).
    pub fn spec(&self, name: &str) -> SpecBuilder {
        let mut s = SpecBuilder::new(name);
        for suite in self.repo.release.keys() {
            s = s.source(suite, &self.server.url(), &self.key_file);
        }
        s
    }

    /// Build `spec` into `<tmp>/out` with the cache `<tmp>/cache`.
    pub fn build(&self, spec: &Path) -> Outcome {
        build(spec, &self.path("out"), &self.path("cache"))
    }
}

// ---------------------------------------------------------------------------
// Reading an OCI image layout
// ---------------------------------------------------------------------------

/// One entry of the image layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerEntry {
    /// `file 0644 <8 hex of sha256>`, `dir 0755`, `symlink -> target`,
    /// `hardlink -> /target`.
    pub desc: String,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Contents (files only).
    pub data: Vec<u8>,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
}

/// A single-platform image read back from an OCI layout.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:` of the image index blob that index.json points to.
    pub index_digest: String,
    /// The image config document.
    pub config: serde_json::Value,
    /// The layer's entries by absolute path (`/usr/bin/hello`).
    pub entries: BTreeMap<String, LayerEntry>,
}

fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    let data = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap_or_else(|e| panic!("blob {digest}: {e}"));
    assert_eq!(sha256_hex(&data), hex, "blob {digest} does not match its name");
    data
}

fn json(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).expect("valid JSON")
}

/// Read the layout at `layout`: index.json → image index → manifest →
/// config and the single layer, checking every digest on the way.
pub fn read_image(layout: &Path) -> Image {
    let index_json = json(&std::fs::read(layout.join("index.json")).expect("index.json"));
    let index_digest = index_json["manifests"][0]["digest"].as_str().expect("index.json digest").to_string();
    let index = json(&read_blob(layout, &index_digest));
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifest = json(&read_blob(layout, index["manifests"][0]["digest"].as_str().expect("manifest digest")));
    let config = json(&read_blob(layout, manifest["config"]["digest"].as_str().expect("config digest")));
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one layer");
    let blob = read_blob(layout, layers[0]["digest"].as_str().unwrap());
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(blob.as_slice()).read_to_end(&mut tar_bytes).expect("gunzip layer");
    assert_eq!(
        config["rootfs"]["diff_ids"][0].as_str().unwrap(),
        format!("sha256:{}", sha256_hex(&tar_bytes)),
        "diff_id is the uncompressed layer's digest"
    );
    let mut entries = BTreeMap::new();
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    for e in archive.entries().expect("layer tar") {
        let mut e = e.expect("layer entry");
        let raw = String::from_utf8_lossy(&e.path_bytes()).to_string();
        let path = format!("/{}", raw.trim_start_matches("./").trim_end_matches('/'));
        let h = e.header().clone();
        let mode = h.mode().unwrap() & 0o7777;
        let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).to_string());
        let mut data = Vec::new();
        let desc = match h.entry_type() {
            tar::EntryType::Directory => format!("dir {mode:04o}"),
            tar::EntryType::Regular => {
                e.read_to_end(&mut data).unwrap();
                format!("file {mode:04o} {}", &sha256_hex(&data)[..8])
            }
            tar::EntryType::Symlink => format!("symlink -> {}", link.unwrap()),
            tar::EntryType::Link => format!("hardlink -> /{}", link.unwrap().trim_start_matches('/')),
            t => panic!("unexpected entry type {t:?} for {path}"),
        };
        let prev = entries.insert(
            path.clone(),
            LayerEntry { desc, uid: h.uid().unwrap(), gid: h.gid().unwrap(), data, mtime: h.mtime().unwrap() },
        );
        assert!(prev.is_none(), "duplicate layer entry {path}");
    }
    Image { index_digest, config, entries }
}

impl Image {
    /// path → description, every entry.
    pub fn dump(&self) -> BTreeMap<String, String> {
        self.entries.iter().map(|(p, e)| (p.clone(), e.desc.clone())).collect()
    }

    /// path → description for paths equal to or under one of `prefixes`.
    pub fn dump_under(&self, prefixes: &[&str]) -> BTreeMap<String, String> {
        self.dump()
            .into_iter()
            .filter(|(p, _)| prefixes.iter().any(|pre| p == pre || p.starts_with(&format!("{pre}/"))))
            .collect()
    }

    /// Whether `path` is in the layer.
    pub fn has(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    /// Contents of the file at `path` (following a hard link), as text.
    #[track_caller]
    pub fn text(&self, path: &str) -> String {
        let e =
            self.entries.get(path).unwrap_or_else(|| panic!("{path} not in the image; image has:\n{:#?}", self.dump()));
        if let Some(target) = e.desc.strip_prefix("hardlink -> ") {
            return self.text(target);
        }
        assert!(e.desc.starts_with("file "), "{path} is {}", e.desc);
        String::from_utf8(e.data.clone()).expect("utf-8")
    }

    /// Packages recorded under `/var/lib/dpkg/status.d/` (not their
    /// `<package>.md5sums` companions).
    pub fn installed(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter_map(|p| p.strip_prefix("/var/lib/dpkg/status.d/"))
            .filter(|n| !n.ends_with(".md5sums"))
            .map(String::from)
            .collect()
    }
}

/// `file <mode> <8 hex>` for `data`, as [`Image::dump`] writes it.
pub fn file_desc(mode: u32, data: &[u8]) -> String {
    format!("file {mode:04o} {}", &sha256_hex(data)[..8])
}

/// Files in `<cache>/blobs/sha256/`.
pub fn cache_blobs(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(cache.join("blobs/sha256"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// MD5 (RFC 1321), for dpkg md5sums fixtures; no crate needed for 60 lines
// ---------------------------------------------------------------------------

/// Lowercase hex MD5 of `data` (RFC 1321).
pub fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32).collect();
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) = (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0].iter().flat_map(|w| w.to_le_bytes()).map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Reading every layer of one platform (multi-layer images, whiteouts)
// ---------------------------------------------------------------------------

/// One layer read back by [`read_platform`].
#[derive(Debug, Clone)]
pub struct ReadLayer {
    /// The manifest's layer descriptor.
    pub descriptor: serde_json::Value,
    /// The config's `diff_id` for it.
    pub diff_id: String,
    /// Entries by absolute path, whiteouts as the `.wh.` files they are.
    pub entries: BTreeMap<String, LayerEntry>,
    /// Length of the uncompressed tar, bytes.
    pub tar_len: u64,
}

impl ReadLayer {
    /// `sha256:` of the blob.
    pub fn digest(&self) -> &str {
        self.descriptor["digest"].as_str().expect("layer digest")
    }

    /// Whether `path` is in this layer.
    pub fn has(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    /// Paths of the regular files, links and whiteouts (no directories).
    pub fn non_dirs(&self) -> Vec<String> {
        self.entries.iter().filter(|(_, e)| !e.desc.starts_with("dir ")).map(|(p, _)| p.clone()).collect()
    }
}

/// One platform's image of an OCI layout, every layer read.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// `sha256:` of the image index the tag points to.
    pub index_digest: String,
    /// The image index.
    pub index: serde_json::Value,
    /// `sha256:` of the platform's manifest.
    pub manifest_digest: String,
    /// The manifest.
    pub manifest: serde_json::Value,
    /// The config.
    pub config: serde_json::Value,
    /// Layers, bottom first.
    pub layers: Vec<ReadLayer>,
}

/// Parse an uncompressed layer tar into path → entry (as [`read_image`]).
pub fn parse_layer_tar(tar_bytes: &[u8]) -> BTreeMap<String, LayerEntry> {
    let mut entries = BTreeMap::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for e in archive.entries().expect("layer tar") {
        let mut e = e.expect("layer entry");
        let raw = String::from_utf8_lossy(&e.path_bytes()).to_string();
        let path = format!("/{}", raw.trim_start_matches("./").trim_end_matches('/'));
        let h = e.header().clone();
        let mode = h.mode().unwrap() & 0o7777;
        let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).to_string());
        let mut data = Vec::new();
        let desc = match h.entry_type() {
            tar::EntryType::Directory => format!("dir {mode:04o}"),
            tar::EntryType::Regular => {
                e.read_to_end(&mut data).unwrap();
                format!("file {mode:04o} {}", &sha256_hex(&data)[..8])
            }
            tar::EntryType::Symlink => format!("symlink -> {}", link.unwrap()),
            tar::EntryType::Link => format!("hardlink -> /{}", link.unwrap().trim_start_matches('/')),
            t => panic!("unexpected entry type {t:?} for {path}"),
        };
        let prev = entries.insert(
            path.clone(),
            LayerEntry { desc, uid: h.uid().unwrap(), gid: h.gid().unwrap(), data, mtime: h.mtime().unwrap() },
        );
        assert!(prev.is_none(), "duplicate layer entry {path}");
    }
    entries
}

/// Decompress a layer blob by its media type (gzip, zstd or plain tar).
pub fn decompress_layer(media_type: &str, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match media_type {
        "application/vnd.oci.image.layer.v1.tar+gzip" => {
            flate2::read::GzDecoder::new(blob).read_to_end(&mut out).expect("gunzip layer");
        }
        "application/vnd.oci.image.layer.v1.tar+zstd" => {
            zstd::stream::read::Decoder::new(blob).expect("zstd").read_to_end(&mut out).expect("unzstd layer");
        }
        "application/vnd.oci.image.layer.v1.tar" => out = blob.to_vec(),
        m => panic!("unexpected layer media type {m}"),
    }
    out
}

/// Read the image tagged `tag` in `layout` for the OCI architecture `arch`
/// (`amd64`, `arm64`: the same names as Debian's): index.json → image index → the platform's
/// manifest → config and every layer, checking each blob's digest and
/// size and each layer's diff_id.
pub fn read_platform(layout: &Path, tag: &str, arch: &str) -> PlatformImage {
    let index_json = json(&std::fs::read(layout.join("index.json")).expect("index.json"));
    let desc = index_json["manifests"]
        .as_array()
        .expect("index.json manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {index_json}"));
    let index_digest = desc["digest"].as_str().expect("index digest").to_string();
    let index = json(&read_blob(layout, &index_digest));
    let mdesc = index["manifests"]
        .as_array()
        .expect("image index manifests")
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap_or_else(|| panic!("no {arch} manifest in {index}"))
        .clone();
    let manifest_digest = mdesc["digest"].as_str().unwrap().to_string();
    let manifest_bytes = read_blob(layout, &manifest_digest);
    assert_eq!(mdesc["size"].as_u64().unwrap(), manifest_bytes.len() as u64, "manifest size");
    let manifest = json(&manifest_bytes);
    let config = json(&read_blob(layout, manifest["config"]["digest"].as_str().expect("config digest")));
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids").clone();
    let descs = manifest["layers"].as_array().expect("layers").clone();
    assert_eq!(diff_ids.len(), descs.len(), "one diff_id per layer");
    let layers = descs
        .into_iter()
        .zip(diff_ids)
        .map(|(d, diff_id)| {
            let blob = read_blob(layout, d["digest"].as_str().unwrap());
            assert_eq!(d["size"].as_u64().unwrap(), blob.len() as u64, "layer size of {d}");
            let tar_bytes = decompress_layer(d["mediaType"].as_str().unwrap(), &blob);
            let diff_id = diff_id.as_str().unwrap().to_string();
            assert_eq!(diff_id, format!("sha256:{}", sha256_hex(&tar_bytes)), "diff_id of {d}");
            ReadLayer { descriptor: d, diff_id, entries: parse_layer_tar(&tar_bytes), tar_len: tar_bytes.len() as u64 }
        })
        .collect();
    PlatformImage { index_digest, index, manifest_digest, manifest, config, layers }
}

impl PlatformImage {
    /// The filesystem the layers make, applied bottom first as
    /// image-spec layer.md "Applying Changesets" says: `.wh.<name>`
    /// removes `<name>` (and what is under it), `.wh..wh..opq` empties its
    /// directory of lower entries, an entry replaces what was at its path
    /// (a non-directory over a directory removes the directory's
    /// contents).
    pub fn merged(&self) -> BTreeMap<String, LayerEntry> {
        let mut fs: BTreeMap<String, LayerEntry> = BTreeMap::new();
        let remove_under = |fs: &mut BTreeMap<String, LayerEntry>, dir: &str| {
            let prefix = format!("{dir}/");
            fs.retain(|p, _| !p.starts_with(&prefix));
        };
        for layer in &self.layers {
            for path in layer.entries.keys() {
                let (dir, name) = path.rsplit_once('/').expect("absolute path");
                if name == ".wh..wh..opq" {
                    remove_under(&mut fs, dir);
                } else if let Some(gone) = name.strip_prefix(".wh.") {
                    let target = format!("{dir}/{gone}");
                    fs.remove(&target);
                    remove_under(&mut fs, &target);
                }
            }
            for (path, e) in &layer.entries {
                let name = path.rsplit_once('/').map(|(_, n)| n).unwrap_or("");
                if name.starts_with(".wh.") {
                    continue;
                }
                let was_dir = fs.get(path).is_some_and(|o| o.desc.starts_with("dir "));
                if was_dir && !e.desc.starts_with("dir ") {
                    remove_under(&mut fs, path);
                }
                fs.insert(path.clone(), e.clone());
            }
        }
        fs
    }

    /// path → description of [`PlatformImage::merged`].
    pub fn merged_dump(&self) -> BTreeMap<String, String> {
        self.merged().into_iter().map(|(p, e)| (p, e.desc)).collect()
    }

    /// The layer holding the non-directory `path`, by index.
    #[track_caller]
    pub fn layer_of(&self, path: &str) -> usize {
        let found: Vec<usize> = (0..self.layers.len()).filter(|&i| self.layers[i].has(path)).collect();
        assert_eq!(found.len(), 1, "{path} is in layers {found:?}");
        found[0]
    }
}
