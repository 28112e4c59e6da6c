//! The Java truststore that `ca-certificates-java` would have made.
//!
//! Its maintainer scripts run `java -jar ca-certificates-java.jar`, which
//! imports every certificate linked from `/etc/ssl/certs/*.pem` into
//! `/etc/ssl/certs/java/cacerts` as alias `debian:<link name>`. OpenJDK's
//! `lib/security/cacerts` is a symlink to that file. We write the same
//! trust anchors without running Java: a PKCS#12 file (RFC 7292) with
//!
//! - one unencrypted `data` safe holding a `certBag` per certificate;
//! - bag attributes `friendlyName` (the alias) and Java's trusted key usage
//!   (`2.16.840.1.113894.746875.1.1` = `anyExtendedKeyUsage`), which is how
//!   Java's PKCS12 key store marks a trusted-certificate entry;
//! - no MAC and no encryption — the layout of the JDK's own password-less
//!   `cacerts`. Java then loads it with any password (`changeit`, empty,
//!   or `null`, which is what the default trust manager passes), and there
//!   is no salt or IV: the same certificates give the same bytes.

use der::asn1::{Any, BmpString, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode};
use pkcs12::cert_type::CertBag;
use pkcs12::pfx::{Pfx, Version};
use pkcs12::safe_bag::SafeBag;
use x509_cert::attr::Attribute;

use super::generate::CA_BUNDLE;
use super::{Entry, Kind, Tree};

/// Path of the generated Java truststore.
pub const JAVA_CACERTS: &str = "/etc/ssl/certs/java/cacerts";

/// Where Java runtimes live.
const JVM_DIR: &str = "/usr/lib/jvm";

/// Where ca-certificates ships the certificates the bundle is made from.
const CA_SOURCE_DIR: &str = "/usr/share/ca-certificates";

/// PKCS#7 `data` content type.
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// PKCS#9 `friendlyName` attribute.
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
/// Oracle's `TrustedKeyUsage` attribute: Java's marker of a trusted certificate entry.
const ORACLE_TRUSTED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113894.746875.1.1");
/// `anyExtendedKeyUsage`: trusted for every purpose (what `keytool -importcert` writes).
const ANY_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// One certificate of the truststore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCert {
    /// Key store alias (`debian:<name>.pem`).
    pub alias: String,
    /// DER-encoded X.509 certificate.
    pub der: Vec<u8>,
}

/// Whether the tree holds a Java runtime: a `lib/security/cacerts` or a
/// `bin/java` below `/usr/lib/jvm`.
pub fn has_java_runtime(tree: &Tree) -> bool {
    tree.children(JVM_DIR).any(|(p, _)| p.ends_with("/lib/security/cacerts") || p.ends_with("/bin/java"))
}

/// The `/etc/ssl/certs` link name `update-ca-certificates` gives a
/// certificate file: base name without `.crt`, spaces and commas to `_`,
/// parentheses to `=`, plus `.pem`.
pub fn pem_link_name(crt_path: &str) -> String {
    let base = crt_path.rsplit('/').next().unwrap_or(crt_path);
    let base = base.strip_suffix(".crt").unwrap_or(base);
    let mapped: String = base
        .chars()
        .map(|c| match c {
            ' ' | ',' => '_',
            '(' | ')' => '=',
            c => c,
        })
        .collect();
    format!("{mapped}.pem")
}

/// The DER certificates of a PEM file, in order. Blocks that are not
/// certificates or do not parse as X.509 are skipped (Java would refuse
/// the whole key store over one bad entry).
pub fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let Some(end) = after.find(END) else { break };
        let block = &after[..end + END.len()];
        rest = &after[end + END.len()..];
        // Normalise line endings and indentation; the decoder is strict.
        let mut clean = String::with_capacity(block.len() + 1);
        for line in block.lines() {
            let line = line.trim();
            if !line.is_empty() {
                clean.push_str(line);
                clean.push('\n');
            }
        }
        if let Ok(("CERTIFICATE", der)) = der::pem::decode_vec(clean.as_bytes()) {
            if x509_cert::Certificate::from_der(&der).is_ok() {
                out.push(der);
            }
        }
    }
    out
}

/// The certificates the CA bundle is made of, from the same files
/// [`super::generate::write_ca_bundle`] reads (`*.crt` under
/// `/usr/share/ca-certificates`, in path order), with Debian's aliases.
/// A file holding several certificates gets `-2`, `-3`… after the first.
pub fn bundle_certificates(tree: &Tree) -> Vec<TrustedCert> {
    let mut certs = Vec::new();
    for (path, entry) in tree.children(CA_SOURCE_DIR) {
        let (true, Kind::File { data, .. }) = (path.ends_with(".crt"), &entry.kind) else { continue };
        let alias = format!("debian:{}", pem_link_name(path));
        for (i, der) in pem_certificates(&data.read_lossy()).into_iter().enumerate() {
            let alias = if i == 0 { alias.clone() } else { format!("{alias}-{}", i + 1) };
            certs.push(TrustedCert { alias, der });
        }
    }
    certs.sort_by(|a, b| a.alias.cmp(&b.alias).then_with(|| a.der.cmp(&b.der)));
    certs.dedup_by(|a, b| a.alias == b.alias);
    certs
}

/// Encode `certs` as a password-less PKCS#12 truststore (see the module
/// documentation). Deterministic: the output depends only on `certs`.
pub fn truststore_pkcs12(certs: &[TrustedCert]) -> der::Result<Vec<u8>> {
    let mut bags = Vec::with_capacity(certs.len());
    for cert in certs {
        let cert_bag =
            CertBag { cert_id: pkcs12::PKCS_12_X509_CERT_OID, cert_value: OctetString::new(cert.der.clone())? };
        // BMPString holds only the Basic Multilingual Plane; replace the rest.
        let alias: String = cert.alias.chars().map(|c| if (c as u32) <= 0xffff { c } else { '_' }).collect();
        let friendly = Attribute {
            oid: FRIENDLY_NAME,
            values: SetOfVec::try_from(vec![Any::encode_from(&BmpString::from_utf8(&alias)?)?])?,
        };
        let trusted = Attribute {
            oid: ORACLE_TRUSTED_KEY_USAGE,
            values: SetOfVec::try_from(vec![Any::encode_from(&ANY_EXTENDED_KEY_USAGE)?])?,
        };
        bags.push(SafeBag {
            bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
            bag_value: cert_bag.to_der()?,
            bag_attributes: Some(SetOfVec::try_from(vec![friendly, trusted])?),
        });
    }
    let safe_contents = bags.to_der()?;
    let safe = cms::content_info::ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(safe_contents)?)?,
    };
    let auth_safe = vec![safe].to_der()?;
    let pfx = Pfx {
        version: Version::V3,
        auth_safe: cms::content_info::ContentInfo {
            content_type: ID_DATA,
            content: Any::encode_from(&OctetString::new(auth_safe)?)?,
        },
        mac_data: None,
    };
    pfx.to_der()
}

/// Write `/etc/ssl/certs/java/cacerts` (0644) with the CA bundle's
/// certificates when the image holds a Java runtime and the bundle exists,
/// and make each runtime's `lib/security/cacerts` lead to it (OpenJDK ships
/// that symlink; it is added where a runtime has a `lib/security` directory
/// but no `cacerts`). Returns the number of certificates written.
pub fn write_java_cacerts(tree: &mut Tree) -> Option<usize> {
    write_java_cacerts_from(tree, None)
}

/// [`write_java_cacerts`] with the certificates read from `certs` when
/// given (the unfiltered packages that ship them: the image's path filters
/// may have dropped `/usr/share/ca-certificates`).
pub fn write_java_cacerts_from(tree: &mut Tree, certs: Option<&Tree>) -> Option<usize> {
    if !has_java_runtime(tree) || tree.get(CA_BUNDLE).is_none() {
        return None;
    }
    let certs = bundle_certificates(certs.unwrap_or(tree));
    if certs.is_empty() {
        return None;
    }
    let data = truststore_pkcs12(&certs).ok()?;
    let inode = tree.new_inode();
    tree.insert(JAVA_CACERTS, Entry::file(0o644, data, inode));
    let security_dirs: Vec<String> = tree
        .children(JVM_DIR)
        .filter(|(p, e)| matches!(e.kind, Kind::Dir) && p.ends_with("/lib/security"))
        .map(|(p, _)| p.clone())
        .collect();
    for dir in security_dirs {
        let link = format!("{dir}/cacerts");
        if tree.get(&link).is_none() {
            tree.insert(&link, Entry::symlink(JAVA_CACERTS));
        }
    }
    Some(certs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::generate::write_ca_bundle;
    use std::path::Path;
    use std::process::Command;

    fn host_bundle() -> Option<Vec<u8>> {
        std::fs::read("/etc/ssl/certs/ca-certificates.crt").ok()
    }

    /// A tree with a JRE and one `.crt` per certificate of the host bundle.
    fn java_tree(bundle: &[u8]) -> (Tree, usize) {
        let mut t = Tree::new();
        t.insert("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", Entry::file(0o755, b"elf".to_vec(), 2));
        t.insert("/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts", Entry::symlink(JAVA_CACERTS));
        let text = String::from_utf8_lossy(bundle);
        let mut n = 0;
        for block in text.split_inclusive("-----END CERTIFICATE-----\n") {
            if !block.contains("-----BEGIN CERTIFICATE-----") {
                continue;
            }
            n += 1;
            let inode = t.new_inode();
            t.insert(
                &format!("/usr/share/ca-certificates/mozilla/Host_CA_{n:03}.crt"),
                Entry::file(0o644, block.as_bytes().to_vec(), inode),
            );
        }
        (t, n)
    }

    fn data(t: &Tree, path: &str) -> Vec<u8> {
        match &t.get(path).unwrap().kind {
            Kind::File { data, .. } => data.read().unwrap().to_vec(),
            k => panic!("{path} is {k:?}"),
        }
    }

    #[test]
    fn link_names_follow_update_ca_certificates() {
        assert_eq!(pem_link_name("/usr/share/ca-certificates/mozilla/ACCVRAIZ1.crt"), "ACCVRAIZ1.pem");
        assert_eq!(pem_link_name("/x/A (B), C.crt"), "A_=B=__C.pem");
    }

    #[test]
    fn nothing_without_a_java_runtime() {
        let Some(bundle) = host_bundle() else { return eprintln!("skipped: no host CA bundle") };
        let (mut t, _) = java_tree(&bundle);
        t.remove("/usr/lib/jvm/java-17-openjdk-amd64/bin/java");
        t.remove("/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts");
        write_ca_bundle(&mut t);
        assert_eq!(write_java_cacerts(&mut t), None);
        assert!(t.get(JAVA_CACERTS).is_none());
    }

    #[test]
    fn truststore_is_deterministic_and_resolves_from_the_jvm() {
        let Some(bundle) = host_bundle() else { return eprintln!("skipped: no host CA bundle") };
        let (mut t, n) = java_tree(&bundle);
        assert!(write_ca_bundle(&mut t).is_some());
        assert_eq!(write_java_cacerts(&mut t), Some(n));
        let first = data(&t, JAVA_CACERTS);
        assert_eq!(t.get(JAVA_CACERTS).unwrap().mode, 0o644);
        assert_eq!(t.resolve("/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts").as_deref(), Some(JAVA_CACERTS));
        let (mut t2, _) = java_tree(&bundle);
        write_ca_bundle(&mut t2);
        write_java_cacerts(&mut t2);
        assert_eq!(first, data(&t2, JAVA_CACERTS));
        // The structure decodes back.
        let pfx = Pfx::from_der(&first).unwrap();
        assert!(pfx.mac_data.is_none());
    }

    #[test]
    fn missing_jvm_cacerts_link_is_added() {
        let Some(bundle) = host_bundle() else { return eprintln!("skipped: no host CA bundle") };
        let (mut t, _) = java_tree(&bundle);
        t.remove("/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts");
        write_ca_bundle(&mut t);
        assert!(write_java_cacerts(&mut t).is_some());
        assert_eq!(t.resolve("/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts").as_deref(), Some(JAVA_CACERTS));
    }

    const PROBE: &str = r#"
import java.io.FileInputStream;
import java.security.KeyStore;
import java.security.cert.PKIXParameters;
import java.security.cert.X509Certificate;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class Probe {
    public static void main(String[] args) throws Exception {
        for (String pw : new String[] {"changeit", null, ""}) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (FileInputStream in = new FileInputStream(args[0])) {
                ks.load(in, pw == null ? null : pw.toCharArray());
            }
            int trusted = 0;
            for (String a : java.util.Collections.list(ks.aliases())) {
                if (ks.isCertificateEntry(a)) trusted++;
            }
            int anchors = new PKIXParameters(ks).getTrustAnchors().size();
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            int issuers = 0;
            for (javax.net.ssl.TrustManager tm : tmf.getTrustManagers()) {
                if (tm instanceof X509TrustManager) issuers += ((X509TrustManager) tm).getAcceptedIssuers().length;
            }
            System.out.println((pw == null ? "null" : "'" + pw + "'") + " " + ks.size() + " " + trusted + " " + anchors + " " + issuers);
        }
    }
}
"#;

    /// Whether `tool` can be started (keytool has no `-version`; any exit status will do).
    fn have(tool: &str) -> bool {
        Command::new(tool).arg("-help").output().is_ok()
    }

    #[test]
    fn java_loads_the_truststore() {
        let Some(bundle) = host_bundle() else { return eprintln!("skipped: no host CA bundle") };
        if !have("java") || !have("javac") {
            return eprintln!("skipped: java/javac not installed");
        }
        let (mut t, n) = java_tree(&bundle);
        write_ca_bundle(&mut t);
        assert_eq!(write_java_cacerts(&mut t), Some(n));
        assert!(n > 100, "host bundle has only {n} certificates");
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("cacerts");
        std::fs::write(&store, data(&t, JAVA_CACERTS)).unwrap();
        std::fs::write(dir.path().join("Probe.java"), PROBE).unwrap();
        let javac =
            Command::new("javac").arg("-d").arg(dir.path()).arg(dir.path().join("Probe.java")).output().unwrap();
        assert!(javac.status.success(), "javac: {}", String::from_utf8_lossy(&javac.stderr));
        let run = Command::new("java").arg("-cp").arg(dir.path()).arg("Probe").arg(&store).output().unwrap();
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "java: {out}{}", String::from_utf8_lossy(&run.stderr));
        eprintln!("Probe (password, size, trusted entries, PKIX anchors, accepted issuers):\n{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            vec![format!("'changeit' {n} {n} {n} {n}"), format!("null {n} {n} {n} {n}"), format!("'' {n} {n} {n} {n}")]
        );
        keytool_lists(&store, n);
    }

    fn keytool_lists(store: &Path, n: usize) {
        if !have("keytool") {
            return eprintln!("skipped keytool: not installed");
        }
        let out = Command::new("keytool")
            .args(["-list", "-storetype", "PKCS12", "-storepass", "changeit", "-keystore"])
            .arg(store)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "keytool: {text}{}", String::from_utf8_lossy(&out.stderr));
        eprintln!("keytool: {}", text.lines().take(6).collect::<Vec<_>>().join("\n         "));
        assert!(text.contains(&format!("Your keystore contains {n} entries")), "{text}");
        assert_eq!(text.matches("trustedCertEntry").count(), n, "{text}");
        assert!(text.contains("debian:host_ca_001.pem") || text.contains("debian:Host_CA_001.pem"), "{text}");
    }
}
