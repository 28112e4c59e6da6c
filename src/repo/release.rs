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
/// does); `Suite` or `Codename` equals `suite`; `Valid-Until`, when present
/// and `check_valid_until` (apt's `Check-Valid-Until`, sources.list(5)), is
/// after `now`; `Date` parses.
pub fn verify(
    suite: &str,
    base_url: &str,
    url: &str,
    raw: &[u8],
    keys: &[TrustedKey],
    now: DateTime<Utc>,
    check_valid_until: bool,
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
    let release = ReleaseFile::from_armored_reader(std::io::BufReader::new(raw)).map_err(|e| {
        let mut msg = e.to_string();
        msg.truncate(160);
        bad(format!("malformed clearsigned document: {msg}"))
    })?;
    let signatures = release.signatures().ok_or_else(|| bad("no signature block".into()))?;
    let signed_by = check_signature(signatures, keys, now).map_err(|reason| RepoError::BadSignature {
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
        if valid < now && check_valid_until {
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

/// Why the primary key cannot be used to verify signatures, if so:
/// revoked, expired at `now`, or not marked for signing by a self-signature.
fn primary_unusable(key: &SignedPublicKey, now: DateTime<Utc>) -> Option<String> {
    let primary = &key.primary_key;
    let revoked = key.details.revocation_signatures.iter().any(|s| s.verify_key(primary).is_ok());
    if revoked {
        return Some("primary key is revoked".into());
    }
    let own = |s: &&pgp::packet::Signature| s.issuer().iter().any(|i| **i == primary.key_id());
    let self_sigs: Vec<&pgp::packet::Signature> =
        key.details.users.iter().flat_map(|u| u.signatures.iter()).filter(own).collect();
    if let Some(exp) = self_sigs.iter().filter_map(|s| s.key_expiration_time()).max() {
        if *primary.created_at() + *exp < now {
            return Some(format!("primary key expired at {}", *primary.created_at() + *exp));
        }
    }
    if !self_sigs.iter().any(|s| s.key_flags().sign()) {
        return Some("primary key is not marked for signing".into());
    }
    None
}

/// Why a subkey cannot be used, if so: no valid binding signature with the
/// signing flag, revoked, or expired at `now` (RFC 4880 §5.2.1, §5.2.3.6).
fn subkey_unusable(
    key: &SignedPublicKey,
    sub: &pgp::composed::SignedPublicSubKey,
    now: DateTime<Utc>,
) -> Option<String> {
    use pgp::packet::SignatureType;
    let primary = &key.primary_key;
    let valid = |s: &&pgp::packet::Signature| s.verify_key_binding(primary, &sub.key).is_ok();
    if sub.signatures.iter().filter(|s| s.typ() == SignatureType::SubkeyRevocation).any(|s| valid(&s)) {
        return Some("subkey is revoked".into());
    }
    let bindings: Vec<&pgp::packet::Signature> =
        sub.signatures.iter().filter(|s| s.typ() == SignatureType::SubkeyBinding).filter(valid).collect();
    let Some(binding) = bindings.iter().filter(|s| s.key_flags().sign()).max_by_key(|s| s.created().copied()) else {
        return Some("subkey has no valid binding signature that allows signing".into());
    };
    if let Some(exp) = binding.key_expiration_time() {
        let end = *sub.key.created_at() + *exp;
        if end < now {
            return Some(format!("subkey expired at {end}"));
        }
    }
    None
}

/// Return the key file that made a good signature, or why none did.
fn check_signature(
    sigs: &pgp_cleartext::CleartextSignatures,
    keys: &[TrustedKey],
    now: DateTime<Utc>,
) -> Result<PathBuf, String> {
    let mut reasons = Vec::new();
    for k in keys {
        // The primary key, then each subkey (Debian signs with subkeys);
        // only keys that are bound, not revoked, not expired and allowed
        // to sign count, as gpgv/apt require.
        if sigs.iter_signatures_from_key(&k.key).next().is_some() {
            match primary_unusable(&k.key, now) {
                Some(why) => reasons.push(format!("{}: {why}", k.path.display())),
                None => match sigs.verify(&k.key) {
                    Ok(_) => return Ok(k.path.clone()),
                    Err(e) => reasons.push(format!("{}: {e}", k.path.display())),
                },
            }
        }
        for sub in &k.key.public_subkeys {
            if sigs.iter_signatures_from_key(sub).next().is_none() {
                continue;
            }
            let id = hex::encode(sub.key_id());
            if let Some(why) = subkey_unusable(&k.key, sub, now) {
                reasons.push(format!("{}: subkey {id}: {why}", k.path.display()));
                continue;
            }
            match sigs.verify(sub) {
                Ok(_) => return Ok(k.path.clone()),
                Err(e) => reasons.push(format!("{}: subkey {id}: {e}", k.path.display())),
            }
        }
    }
    if reasons.is_empty() {
        let issuers: Vec<String> =
            sigs.iter_signatures().flat_map(|s| s.issuer().into_iter().map(hex::encode)).collect();
        reasons.push(format!(
            "signed only by unknown key(s) {}",
            if issuers.is_empty() { "(none)".into() } else { issuers.join(", ") }
        ));
    }
    Err(reasons.join("; "))
}
