use super::*;
use std::process::Command;

fn openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
}

/// `openssl x509 -subject_hash` of a PEM file.
fn openssl_hash(pem: &std::path::Path) -> String {
    let out = Command::new("openssl").args(["x509", "-noout", "-subject_hash", "-in"]).arg(pem).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    pem_certificates(pem).into_iter().next().expect("one certificate")
}

#[test]
fn subject_hash_matches_openssl_for_names_needing_canonical_form() {
    if !openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Mixed case, runs of inner white space, leading/trailing spaces,
    // non-ASCII (UTF8String), a multi-valued RDN, and a PrintableString.
    let subjects = [
        "/CN=  Hello    World  /O=ACME Corp/C=DE",
        "/C=FR/O=Caf\u{e9} Cr\u{e8}me/OU=Unit\tTab/CN=R\u{e9}sum\u{e9} CA",
        "/DC=org/DC=Example/CN=Multi+serialNumber=42",
        "/emailAddress=Root@Example.ORG/CN=x",
    ];
    for (i, subj) in subjects.iter().enumerate() {
        let key = dir.path().join(format!("k{i}.pem"));
        let crt = dir.path().join(format!("c{i}.pem"));
        let mut args =
            vec!["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"];
        args.extend(["-utf8", "-multivalue-rdn", "-subj", subj]);
        let st = Command::new("openssl").args(&args).arg("-keyout").arg(&key).arg("-out").arg(&crt).output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let ours = subject_hash(&der_of(&std::fs::read(&crt).unwrap())).unwrap();
        assert_eq!(format!("{ours:08x}"), openssl_hash(&crt), "subject {subj}");
    }
}

#[test]
fn subject_hash_matches_openssl_on_every_host_ca_certificate() {
    let dir = std::path::Path::new("/usr/share/ca-certificates/mozilla");
    if !openssl() || !dir.is_dir() {
        eprintln!("skipped: no openssl or no ca-certificates on the host");
        return;
    }
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let ours = subject_hash(&der_of(&std::fs::read(&p).unwrap())).unwrap();
        assert_eq!(format!("{ours:08x}"), openssl_hash(&p), "{}", p.display());
        n += 1;
    }
    assert!(n > 100, "only {n} certificates");
}

/// The host's `/etc/ssl/certs` as update-ca-certificates made it (dpkg
/// ran it): every link we make must be there, the same way.
#[test]
fn links_equal_those_update_ca_certificates_made_on_the_host() {
    let src = std::path::Path::new("/usr/share/ca-certificates");
    let etc = std::path::Path::new(CERTS_DIR);
    if !src.is_dir() || !etc.join("ca-certificates.crt").is_file() {
        eprintln!("skipped: no ca-certificates on the host");
        return;
    }
    let mut tree = Tree::new();
    for e in walkdir(src) {
        let data = std::fs::read(&e).unwrap();
        let inode = tree.new_inode();
        tree.insert(e.to_str().unwrap(), Entry::file(0o644, data, inode));
    }
    let made = write_ca_links(&mut tree).unwrap();
    let mut ours = BTreeMap::new();
    for (p, e) in tree.children(CERTS_DIR) {
        if let Kind::Symlink(t) = &e.kind {
            ours.insert(p.clone(), t.clone());
        }
    }
    let mut host = BTreeMap::new();
    for e in std::fs::read_dir(etc).unwrap() {
        let p = e.unwrap().path();
        if let Ok(t) = std::fs::read_link(&p) {
            let t = t.to_string_lossy().into_owned();
            // Links update-ca-certificates made (certificates from
            // /usr/share/ca-certificates and their hashes), not local ones.
            if t.starts_with(src.to_str().unwrap()) || ours.contains_key(p.to_str().unwrap()) {
                host.insert(p.to_string_lossy().into_owned(), t);
            }
        }
    }
    assert_eq!(made.pem + made.hashed, ours.len());
    assert!(made.hashed >= made.pem - 2, "{made:?}");
    assert_eq!(ours, host);
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn rehash_numbers_collisions_in_name_order_and_skips_duplicates_and_bundles() {
    if !openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, subj: &str| -> Vec<u8> {
        let key = dir.path().join(format!("{name}.key"));
        let crt = dir.path().join(format!("{name}.crt"));
        let st = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
            .args(["-subj", subj])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .unwrap();
        assert!(st.status.success());
        std::fs::read(&crt).unwrap()
    };
    let a1 = make("a1", "/CN=Same");
    let a2 = make("a2", "/CN=same"); // same canonical name, another key
    let b = make("b", "/CN=Other");
    let mut tree = Tree::new();
    let mut put = |path: &str, data: Vec<u8>| {
        let inode = tree.new_inode();
        tree.insert(path, Entry::file(0o644, data, inode));
    };
    put("/etc/ssl/certs/z.pem", a1.clone());
    put("/etc/ssl/certs/m.crt", a2.clone());
    put("/etc/ssl/certs/dup.pem", a1.clone()); // same certificate as z.pem
    put("/etc/ssl/certs/ca-certificates.crt", [a1.clone(), b.clone()].concat()); // two: skipped
    put("/etc/ssl/certs/b.txt", b.clone()); // not a certificate extension
    tree.insert("/etc/ssl/certs/deadbeef.0", Entry::symlink("gone.pem")); // stale hash link
    let made = rehash(&mut tree, CERTS_DIR);
    let h = format!("{:08x}", subject_hash(&der_of(&a1)).unwrap());
    assert_eq!(
        made,
        vec![
            (format!("/etc/ssl/certs/{h}.0"), "dup.pem".to_string()),
            (format!("/etc/ssl/certs/{h}.1"), "m.crt".to_string())
        ]
    );
    assert!(tree.get("/etc/ssl/certs/deadbeef.0").is_none());
}

#[test]
fn no_links_without_the_certificates_in_the_image() {
    let mut tree = Tree::new();
    tree.insert("/etc/ssl/certs/ca-certificates.crt", Entry::file(0o644, b"x".to_vec(), 1));
    assert_eq!(write_ca_links(&mut tree), None);
    assert_eq!(tree.children(CERTS_DIR).count(), 1);
}
