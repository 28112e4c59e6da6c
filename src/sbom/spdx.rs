//! SPDX 2.3 JSON (spdx-spec v2.3, JSON serialization).
//!
//! Shape:
//!
//! - `SPDXRef-DOCUMENT` `DESCRIBES` `SPDXRef-Image`: the image (name,
//!   `versionInfo` = the `latest` manifest digest of the architecture,
//!   purpose `CONTAINER`, purl `pkg:oci/…`);
//! - `SPDXRef-Image` `CONTAINS` each Debian package
//!   `SPDXRef-Package-deb-<name>-<arch>` (`versionInfo`, `supplier` from
//!   `Maintainer`, `sourceInfo` naming the source package, `checksums` =
//!   the `.deb`'s SHA256, `packageFileName`, pool path and suite in
//!   `comment`, `downloadLocation` NOASSERTION, purl, `licenseDeclared`
//!   from the copyright file, `licenseConcluded` NOASSERTION,
//!   `packageVerificationCode` over its files);
//! - each package `CONTAINS` its files `SPDXRef-File-<16 hex of the
//!   path's SHA256>`, `-2`… on a clash (`fileName` `./usr/…`, SHA1 and
//!   SHA256);
//! - `SPDXRef-Image` `CONTAINS` the generated files directly;
//! - `hasExtractedLicensingInfos` for every `LicenseRef-…` used.
//!
//! `documentNamespace` is
//! `https://distill.invalid/spdx/<name>/<arch>/<sha256 of the document>`
//! (`.invalid`: the namespace is a unique name, not a download location).

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{image_purl, license, FileInfo, ImageInfo, Inventory};

/// Root package of every document.
pub const IMAGE_ID: &str = "SPDXRef-Image";

/// An SPDX idstring from free text: `[A-Za-z0-9.-]`, `+` as `plus`.
fn idstring(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => out.push(c),
            '+' => out.push_str("plus"),
            _ => out.push('-'),
        }
    }
    out
}

/// `Person: name (email)` or `Organization: …` from a `Maintainer` field
/// (teams and mailing lists are organizations).
pub fn actor(maintainer: &str) -> String {
    let (name, email) = match maintainer.split_once('<') {
        Some((n, e)) => (n.trim(), Some(e.trim().trim_end_matches('>').trim())),
        None => (maintainer.trim(), None),
    };
    let name: String = name.chars().filter(|c| !matches!(c, '(' | ')')).collect();
    let name = name.trim();
    let lower = format!("{} {}", name.to_lowercase(), email.unwrap_or("").to_lowercase());
    let org = ["team", "maintainers", "developers", "group", "project", "committee", "packagers", "lists."]
        .iter()
        .any(|w| lower.contains(w));
    let kind = if org { "Organization" } else { "Person" };
    match email.filter(|e| !e.is_empty()) {
        Some(e) => format!("{kind}: {name} ({e})"),
        None => format!("{kind}: {name}"),
    }
}

/// A URL the SPDX tools accept as `homepage` (scheme, dotted host with an
/// alphabetic top-level domain of 2–5 letters).
fn homepage_ok(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels.last().is_some_and(|t| (2..=5).contains(&t.len()) && t.chars().all(|c| c.is_ascii_alphabetic()))
        && !url.contains(char::is_whitespace)
}

/// SPDX package verification code: SHA1 of the sorted SHA1s of its files.
fn verification_code(files: &[&FileInfo]) -> String {
    let mut sums: Vec<&str> = files.iter().map(|f| f.sha1.as_str()).collect();
    sums.sort_unstable();
    let mut h = sha1::Sha1::new();
    for s in sums {
        h.update(s.as_bytes());
    }
    hex::encode(h.finalize())
}

fn file_json(id: &str, f: &FileInfo, comment: Option<&str>) -> Value {
    let mut v = json!({
        "SPDXID": id,
        "fileName": format!(".{}", f.path),
        "checksums": [
            {"algorithm": "SHA1", "checksumValue": f.sha1},
            {"algorithm": "SHA256", "checksumValue": f.sha256},
        ],
    });
    if let Some(c) = comment {
        v["comment"] = json!(c);
    }
    v
}

/// The SPDX document of `inv`.
pub fn render(inv: &Inventory, info: &ImageInfo) -> Vec<u8> {
    let mut used: HashSet<String> = HashSet::new();
    let mut unique = |base: String| -> String {
        let mut id = base.clone();
        let mut n = 2;
        while !used.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    };
    unique(IMAGE_ID.to_string());
    let mut file_ids: BTreeMap<&str, String> = BTreeMap::new();
    for f in inv.all_files() {
        let h = hex::encode(Sha256::digest(f.path.as_bytes()));
        file_ids.insert(&f.path, unique(format!("SPDXRef-File-{}", &h[..16])));
    }

    let mut packages = Vec::new();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": IMAGE_ID,
    })];
    let mut contains = |from: &str, to: &str| {
        relationships.push(json!({"spdxElementId": from, "relationshipType": "CONTAINS", "relatedSpdxElement": to}));
    };
    let all: Vec<&FileInfo> = inv.all_files().collect();
    packages.push(json!({
        "SPDXID": IMAGE_ID,
        "name": info.name,
        "versionInfo": info.manifest,
        "primaryPackagePurpose": "CONTAINER",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": true,
        "packageVerificationCode": {"packageVerificationCodeValue": verification_code(&all)},
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": image_purl(info)}],
        "comment": format!(
            "The filesystem of OCI image {} for {} (tags latest and nonroot; the debug tags add busybox, not listed). It contains the Debian packages below and the files distill generated (accounts, system files, CA bundle, dpkg status.d), which belong to no package.",
            info.name, info.arch
        ),
    }));
    let mut refs: BTreeMap<String, license::Extracted> = BTreeMap::new();
    for p in &inv.packages {
        let id = unique(format!("SPDXRef-Package-deb-{}-{}", idstring(&p.name), idstring(&p.arch)));
        let files: Vec<&FileInfo> = p.files.iter().collect();
        let file_name = p.pool_path.rsplit('/').next().unwrap_or(&p.pool_path);
        let mut v = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "packageFileName": file_name,
            "supplier": p.maintainer.as_deref().map(actor).unwrap_or_else(|| "NOASSERTION".into()),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": !files.is_empty(),
            "checksums": [{"algorithm": "SHA256", "checksumValue": p.deb_sha256}],
            "sourceInfo": format!("built from Debian source package {} {}", p.source, p.source_version),
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": p.license.expression.clone().unwrap_or_else(|| "NOASSERTION".into()),
            "copyrightText": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
            "comment": format!(
                "Debian package for {}, from suite {} ({}); license from {}.",
                p.arch,
                p.suite,
                p.pool_path,
                p.copyright.as_deref().map(|c| format!("{c} (machine-readable: {})", if p.license.expression.is_some() { "yes" } else { "no" })).unwrap_or_else(|| "no copyright file".into())
            ),
        });
        if !files.is_empty() {
            v["packageVerificationCode"] = json!({"packageVerificationCodeValue": verification_code(&files)});
        }
        if let Some(s) = &p.summary {
            v["summary"] = json!(s);
        }
        if let Some(h) = p.homepage.as_deref().filter(|h| homepage_ok(h)) {
            v["homepage"] = json!(h);
        }
        for (rid, r) in &p.license.refs {
            refs.entry(rid.clone()).or_insert_with(|| r.clone());
        }
        contains(IMAGE_ID, &id);
        for f in &p.files {
            contains(&id, &file_ids[f.path.as_str()]);
        }
        packages.push(v);
    }
    for f in &inv.generated {
        contains(IMAGE_ID, &file_ids[f.path.as_str()]);
    }

    let mut files: Vec<(&str, Value)> = Vec::new();
    for p in &inv.packages {
        for f in &p.files {
            files.push((&f.path, file_json(&file_ids[f.path.as_str()], f, None)));
        }
    }
    for f in &inv.generated {
        files.push((&f.path, file_json(&file_ids[f.path.as_str()], f, Some("generated by distill"))));
    }
    files.sort_by(|a, b| a.0.cmp(b.0));

    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", info.name, info.arch),
        "documentNamespace": "",
        "creationInfo": {
            "created": info.created,
            "creators": [format!("Tool: distill-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "files": files.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "relationships": relationships,
    });
    if !refs.is_empty() {
        doc["hasExtractedLicensingInfos"] =
            refs.iter().map(|(id, r)| json!({"licenseId": id, "name": r.name, "extractedText": r.text})).collect();
    }
    let digest = hex::encode(Sha256::digest(serde_json::to_vec(&doc).unwrap_or_default()));
    doc["documentNamespace"] = json!(format!("https://distill.invalid/spdx/{}/{}/{digest}", info.name, info.arch));
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintainers_become_spdx_actors() {
        assert_eq!(
            actor("GNU Libc Maintainers <libc@lists.example.org>"),
            "Organization: GNU Libc Maintainers (libc@lists.example.org)"
        );
        assert_eq!(actor("Jane Doe (jd) <jane@example.org>"), "Person: Jane Doe jd (jane@example.org)");
        assert_eq!(
            actor("Python Team <team+python@example.org>"),
            "Organization: Python Team (team+python@example.org)"
        );
    }

    #[test]
    fn homepages_the_validator_rejects_are_left_out() {
        assert!(homepage_ok("https://www.python.org/"));
        assert!(homepage_ok("https://nodejs.org"));
        assert!(!homepage_ok("ftp://x.org"));
        assert!(!homepage_ok("https://localhost/x"));
        assert!(!homepage_ok("https://example.technology/"));
    }

    #[test]
    fn verification_code_is_order_independent() {
        let f = |s: &str| FileInfo { path: s.into(), size: 0, sha1: s.into(), sha256: String::new() };
        let (a, b) = (f("b"), f("a"));
        assert_eq!(verification_code(&[&a, &b]), verification_code(&[&b, &a]));
        assert_eq!(verification_code(&[]), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn documents_are_deterministic_and_named_by_their_content() {
        use crate::sbom::PackageInfo;
        let os = crate::tree::generate::OsInfo { version_id: Some("12".into()), codename: "bookworm".into() };
        let info =
            ImageInfo { name: "img", arch: "amd64", os: &os, created: "2024-06-01T12:00:00Z", manifest: "sha256:00" };
        let file = |p: &str| FileInfo { path: p.into(), size: 1, sha1: "a".repeat(40), sha256: "b".repeat(64) };
        let inv = |version: &str| Inventory {
            packages: vec![PackageInfo {
                name: "libx1".into(),
                version: version.into(),
                arch: "amd64".into(),
                source: "x".into(),
                source_version: version.into(),
                maintainer: Some("X Team <x@lists.example.org>".into()),
                homepage: None,
                summary: Some("x library".into()),
                deb_sha256: "c".repeat(64),
                pool_path: "pool/main/x/x/libx1_1_amd64.deb".into(),
                suite: "bookworm".into(),
                license: Default::default(),
                copyright: None,
                files: vec![file("/usr/lib/libx.so.1")],
                purl: crate::sbom::purl("libx1", version, "amd64", &os, "x", version),
            }],
            generated: vec![file("/etc/passwd")],
        };
        let a = render(&inv("1"), &info);
        assert_eq!(a, render(&inv("1"), &info), "same inventory, same bytes");
        let b = render(&inv("2"), &info);
        let ns =
            |d: &[u8]| serde_json::from_slice::<Value>(d).unwrap()["documentNamespace"].as_str().unwrap().to_string();
        assert_ne!(ns(&a), ns(&b), "another content, another namespace");
        assert!(ns(&a).starts_with("https://distill.invalid/spdx/img/amd64/"));
        let c1 = crate::sbom::cyclonedx::render(&inv("1"), &info);
        assert_eq!(c1, crate::sbom::cyclonedx::render(&inv("1"), &info));
        assert_ne!(c1, crate::sbom::cyclonedx::render(&inv("2"), &info));
    }
}
