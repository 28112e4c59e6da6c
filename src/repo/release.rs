//! `InRelease`: the clearsigned file at `dists/<suite>/InRelease` that
//! vouches for every index of a suite (Debian wiki "DebianRepository/Format",
//! section "Release files"; RFC 4880 §7 for the cleartext signature).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use debian_packaging::repository::release::ReleaseFile;
use pgp::types::PublicKeyTrait;
use pgp::{Deserializable, SignedPublicKey};
use sha2::{Digest, Sha256};

use super::RepoError;

/// A trusted archive key loaded from an ASCII-armored file.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The file it came from.
    pub path: PathBuf,
    /// The parsed key with its subkeys.
    pub key: SignedPublicKey,
}

/// Load an ASCII-armored public key (one primary key with its subkeys).
pub fn load_key(path: &Path) -> Result<TrustedKey, RepoError> {
    let err = |reason: String| RepoError::Key { path: path.into(), reason };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let (key, _) = SignedPublicKey::from_armor_single(std::io::BufReader::new(file)).map_err(|e| err(e.to_string()))?;
    // The key file is the trust anchor, so its primary key is not checked
    // further (`SignedPublicKey::verify` would also reject the third-party
    // certifications Debian's keys carry). Subkeys are only used when their
    // binding signature verifies; see `check_signature`.
    Ok(TrustedKey { path: path.into(), key })
}

/// One file listed in InRelease's `SHA256` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Size in bytes.
    pub size: u64,
    /// SHA256, lowercase hex.
    pub sha256: String,
}

/// An InRelease whose signature was verified against a trusted key.
#[derive(Debug, Clone)]
pub struct VerifiedRelease {
    /// The suite as requested (e.g. `bookworm-security`).
    pub suite: String,
    /// The archive base URL it came from.
    pub base_url: String,
    /// `Codename`, e.g. `bookworm`.
    pub codename: Option<String>,
    /// `Version`, e.g. `12.12`.
    pub version: Option<String>,
    /// `Date`.
    pub date: DateTime<Utc>,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// SHA256 of the raw InRelease bytes, lowercase hex.
    pub sha256: String,
    /// Files listed under `SHA256`, keyed by path relative to `dists/<suite>/`.
    pub files: BTreeMap<String, IndexEntry>,
    /// The key file whose key (or subkey) made a good signature.
    pub signed_by: PathBuf,
}

impl VerifiedRelease {
    /// URL of `dists/<suite>/<path>`.
    pub fn dists_url(&self, path: &str) -> String {
        format!("{}/dists/{}/{}", self.base_url, self.suite, path)
    }
}

/// Verify InRelease bytes fetched from `url` for `suite`.
///
/// Checks, failing closed: the document is clearsigned; at least one
/// signature verifies against the primary key or a signing-capable subkey
/// of one of `keys` (signatures by keys we do not hold are ignored, as apt
/// does); `Suite` or `Codename` equals `suite`; `Valid-Until`, when present,
/// is after `now`; `Date` parses.
pub fn verify(
    suite: &str,
    base_url: &str,
    url: &str,
    raw: &[u8],
    keys: &[TrustedKey],
    now: DateTime<Utc>,
) -> Result<VerifiedRelease, RepoError> {
    let bad = |reason: String| RepoError::BadRelease { suite: suite.into(), url: url.into(), reason };
    if !raw.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(RepoError::BadSignature {
            suite: suite.into(),
            url: url.into(),
            keys: key_names(keys),
            reason: "the file is not clearsigned (unsigned Release data is never trusted)".into(),
        });
    }
    let release = ReleaseFile::from_armored_reader(std::io::BufReader::new(raw)).map_err(|e| bad(e.to_string()))?;
    let signatures = release.signatures().ok_or_else(|| bad("no signature block".into()))?;
    let signed_by = check_signature(signatures, keys).map_err(|reason| RepoError::BadSignature {
        suite: suite.into(),
        url: url.into(),
        keys: key_names(keys),
        reason,
    })?;

    let names = [release.suite(), release.codename()];
    if !names.iter().flatten().any(|n| *n == suite) {
        return Err(bad(format!(
            "it describes suite {:?} (codename {:?}), not {suite:?}",
            release.suite().unwrap_or("?"),
            release.codename().unwrap_or("?")
        )));
    }
    let date = match release.date() {
        Some(Ok(d)) => d,
        Some(Err(e)) => return Err(bad(format!("bad Date: {e}"))),
        None => return Err(bad("no Date field".into())),
    };
    if let Some(valid) = release.valid_until() {
        let valid = valid.map_err(|e| bad(format!("bad Valid-Until: {e}")))?;
        if valid < now {
            return Err(RepoError::Expired {
                suite: suite.into(),
                url: url.into(),
                valid_until: release.valid_until_str().unwrap_or_default().into(),
            });
        }
    }
    let mut files = BTreeMap::new();
    if let Some(field) = release.field("SHA256") {
        for line in field.iter_lines() {
            let mut w = line.split_whitespace();
            if let (Some(h), Some(s), Some(p)) = (w.next(), w.next(), w.next()) {
                let size = s.parse().map_err(|_| bad(format!("bad size in SHA256 line {line:?}")))?;
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(format!("bad digest in SHA256 line {line:?}")));
                }
                files.insert(p.to_string(), IndexEntry { size, sha256: h.to_ascii_lowercase() });
            }
        }
    }
    if files.is_empty() {
        return Err(bad("no SHA256 file list".into()));
    }
    Ok(VerifiedRelease {
        suite: suite.into(),
        base_url: base_url.into(),
        codename: release.codename().map(String::from),
        version: release.version().map(String::from),
        date,
        acquire_by_hash: release.acquire_by_hash().unwrap_or(false),
        sha256: hex::encode(Sha256::digest(raw)),
        files,
        signed_by,
    })
}

fn key_names(keys: &[TrustedKey]) -> String {
    keys.iter().map(|k| k.path.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Return the key file that made a good signature, or why none did.
fn check_signature(sigs: &pgp_cleartext::CleartextSignatures, keys: &[TrustedKey]) -> Result<PathBuf, String> {
    let mut reasons = Vec::new();
    for k in keys {
        // The primary key, then each subkey that a valid binding signature
        // marks as signing-capable (Debian signs with subkeys).
        if sigs.iter_signatures_from_key(&k.key).next().is_some() {
            match sigs.verify(&k.key) {
                Ok(_) => return Ok(k.path.clone()),
                Err(e) => reasons.push(format!("{}: {e}", k.path.display())),
            }
        }
        for sub in &k.key.public_subkeys {
            if sigs.iter_signatures_from_key(sub).next().is_none() {
                continue;
            }
            let binding_ok = sub.verify(&k.key).is_ok() && sub.signatures.iter().any(|s| s.key_flags().sign());
            if !binding_ok {
                reasons.push(format!("{}: subkey {} is not a valid signing subkey", k.path.display(), hex::encode(sub.key_id())));
                continue;
            }
            match sigs.verify(sub) {
                Ok(_) => return Ok(k.path.clone()),
                Err(e) => reasons.push(format!("{}: subkey {}: {e}", k.path.display(), hex::encode(sub.key_id()))),
            }
        }
    }
    if reasons.is_empty() {
        let issuers: Vec<String> = sigs
            .iter_signatures()
            .flat_map(|s| s.issuer().into_iter().map(|i| hex::encode(i)))
            .collect();
        reasons.push(format!("signed only by unknown key(s) {}", if issuers.is_empty() { "(none)".into() } else { issuers.join(", ") }));
    }
    Err(reasons.join("; "))
}
