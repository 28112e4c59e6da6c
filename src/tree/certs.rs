//! The links `update-ca-certificates` makes in `/etc/ssl/certs` besides
//! the bundle (ca-certificates' postinst runs it; see its man page):
//!
//! - `<name>.pem` → `/usr/share/ca-certificates/<dir>/<name>.crt` for every
//!   enabled certificate (all of them: the default debconf answer), with
//!   the name mapping of [`pem_link_name`];
//! - then `openssl rehash /etc/ssl/certs` (`openssl-rehash(1)`): for every
//!   `*.pem`, `*.crt`, `*.cer` file there holding exactly one certificate,
//!   in byte order of the names, `<hash>.<n>` → `<file>` (relative), where
//!   `<hash>` is the subject name hash of [`subject_hash`] and `<n>` the
//!   first index free for that hash; a certificate whose SHA-1 fingerprint
//!   an earlier file already had is skipped.
//!
//! These links are OpenSSL's `CApath` lookup (`X509_LOOKUP_hash_dir`):
//! a program that calls `SSL_CTX_load_verify_locations(ctx, NULL,
//! "/etc/ssl/certs")` or `-CApath` finds its trust anchors only through
//! them. Programs using OpenSSL's default paths also read the bundle
//! (`/usr/lib/ssl/cert.pem`), and GnuTLS and Go read every file.

use std::collections::BTreeMap;

use der::{Decode, Encode, Tagged};
use sha1::{Digest, Sha1};

use super::generate::CA_SOURCE_DIR;
use super::java::{pem_certificates, pem_link_name};
use super::{Entry, Kind, Tree};

/// The directory `update-ca-certificates` writes.
pub const CERTS_DIR: &str = "/etc/ssl/certs";

/// OpenSSL's `X509_NAME_hash_ex` of a name given as DER (`Name` of RFC
/// 5280): SHA-1 of the canonical encoding, its first four bytes read
/// little-endian. The canonical encoding (`x509_name_canon`) is the
/// concatenation of the RDN `SET`s (no outer `SEQUENCE`), where every
/// string value (UTF8, BMP, Universal, Printable, T61 as Latin-1, IA5,
/// Visible) becomes a `UTF8String` with leading and trailing white space
/// removed, inner runs of white space made one space, and ASCII letters
/// lowercased; other values stay as they are.
pub fn name_hash(name: &x509_cert::name::Name) -> Option<u32> {
    let mut canon = Vec::new();
    for rdn in name.0.iter() {
        let mut avas: Vec<Vec<u8>> = Vec::new();
        for atv in rdn.0.iter() {
            let mut body = atv.oid.to_der().ok()?;
            match canonical_string(atv.value.tag(), atv.value.value()) {
                Some(s) => body.extend(tlv(0x0c, s.as_bytes())),
                None => body.extend(atv.value.to_der().ok()?),
            }
            avas.push(tlv(0x30, &body));
        }
        avas.sort(); // DER orders SET OF by encoding
        canon.extend(tlv(0x31, &avas.concat()));
    }
    let md = Sha1::digest(&canon);
    Some(u32::from_le_bytes([md[0], md[1], md[2], md[3]]))
}

/// [`name_hash`] of a DER certificate's subject (`openssl x509 -subject_hash`).
pub fn subject_hash(cert_der: &[u8]) -> Option<u32> {
    let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
    name_hash(&cert.tbs_certificate.subject)
}

/// A DER tag-length-value.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// The canonical text of a string value (`asn1_string_canon`), or `None`
/// for a value that is not one of the canonicalised string types.
fn canonical_string(tag: der::Tag, value: &[u8]) -> Option<String> {
    use der::Tag;
    let text: String = match tag {
        Tag::Utf8String => String::from_utf8(value.to_vec()).ok()?,
        Tag::PrintableString | Tag::Ia5String | Tag::VisibleString | Tag::TeletexString => {
            value.iter().map(|&b| char::from(b)).collect()
        }
        Tag::BmpString => {
            if value.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = value.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            char::decode_utf16(units).collect::<Result<_, _>>().ok()?
        }
        Tag::Application { .. } | Tag::ContextSpecific { .. } | Tag::Private { .. } => return None,
        // UniversalString (tag 28) is not in `der`'s named tags.
        _ if u8::from(tag) == 28 => value
            .chunks(4)
            .map(|c| c.try_into().ok().map(u32::from_be_bytes).and_then(char::from_u32))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|&b| !space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&b| !space(b)).map(|i| i + 1).unwrap_or(start);
    let mut out = Vec::with_capacity(end - start);
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if space(b) {
            out.push(b' ');
            while i < end && space(bytes[i]) {
                i += 1;
            }
        } else {
            out.push(b.to_ascii_lowercase());
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What [`write_ca_links`] made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaLinks {
    /// `<name>.pem` links made.
    pub pem: usize,
    /// `<hash>.<n>` links made.
    pub hashed: usize,
}

/// Make the `<name>.pem` links for every `*.crt` under [`CA_SOURCE_DIR`]
/// in `tree`, then [`rehash`] [`CERTS_DIR`]. `None` (nothing written)
/// when the image has no certificate there: a spec whose path filters drop
/// the certificates gets only the bundle, since links to them would dangle.
pub fn write_ca_links(tree: &mut Tree) -> Option<CaLinks> {
    let crts: Vec<String> = tree
        .children(CA_SOURCE_DIR)
        .filter(|(p, e)| p.ends_with(".crt") && matches!(e.kind, Kind::File { .. }))
        .map(|(p, _)| p.clone())
        .collect();
    if crts.is_empty() {
        return None;
    }
    for crt in &crts {
        let name = pem_link_name(crt);
        // A file named just `.crt` would make a link named `.pem`: not a
        // certificate name update-ca-certificates would use.
        if name.len() > ".pem".len() {
            tree.insert(&format!("{CERTS_DIR}/{name}"), Entry::symlink(crt));
        }
    }
    let hashed = rehash(tree, CERTS_DIR).len();
    Some(CaLinks { pem: crts.len(), hashed })
}

/// `openssl rehash <dir>` over the tree (see the module documentation):
/// removes existing `<hash>.<n>` links there and makes them anew; returns
/// the links made as (link path, target name) in order. CRLs (`.r<n>`)
/// are not made.
pub fn rehash(tree: &mut Tree, dir: &str) -> Vec<(String, String)> {
    let Some(real) = tree.resolve(dir) else { return Vec::new() };
    let names: Vec<String> =
        tree.children(&real).map(|(p, _)| p[real.len() + 1..].to_string()).filter(|n| !n.contains('/')).collect();
    for n in names.iter().filter(|n| is_hash_link(n)) {
        tree.remove(&format!("{real}/{n}"));
    }
    let mut buckets: BTreeMap<u32, Vec<[u8; 20]>> = BTreeMap::new();
    let mut made = Vec::new();
    for name in names.iter().filter(|n| !is_hash_link(n)) {
        let lower = name.to_ascii_lowercase();
        if ![".pem", ".crt", ".cer"].iter().any(|s| lower.ends_with(s)) {
            continue;
        }
        let Some(file) = tree.resolve(&format!("{real}/{name}")) else { continue };
        let Some(Entry { kind: Kind::File { data, .. }, .. }) = tree.get(&file) else { continue };
        let certs = pem_certificates(&data.read_lossy());
        let ([der], Some(hash)) = (certs.as_slice(), certs.first().and_then(|d| subject_hash(d))) else { continue };
        let digest: [u8; 20] = Sha1::digest(der).into();
        let bucket = buckets.entry(hash).or_default();
        if bucket.contains(&digest) {
            continue; // openssl: "skipping duplicate"
        }
        let link = format!("{real}/{hash:08x}.{}", bucket.len());
        bucket.push(digest);
        made.push((link, name.clone()));
    }
    for (link, target) in &made {
        tree.insert(link, Entry::symlink(target));
    }
    made
}

/// `<8 hex digits>.<digits>` or `.r<digits>`: a name `openssl rehash` owns.
fn is_hash_link(name: &str) -> bool {
    let Some((h, n)) = name.split_once('.') else { return false };
    let n = n.strip_prefix('r').unwrap_or(n);
    h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
