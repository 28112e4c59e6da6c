//! Reading `.deb` files (deb(5)): an `ar` archive holding `debian-binary`
//! (`2.0`), `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst|.bz2]`.
//! Nothing here writes to disk; entries are handed to a visitor.

use std::io::Read;

/// Errors reading a .deb.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// The ar container or a member is malformed.
    #[error("package {package}: malformed .deb: {reason}")]
    Malformed {
        /// Package name (or file).
        package: String,
        /// What is wrong.
        reason: String,
    },
    /// A member uses a compression distill does not read.
    #[error("package {package}: member {member} uses an unsupported compression")]
    Unsupported {
        /// Package name.
        package: String,
        /// The member name.
        member: String,
    },
}

/// The two tar members of a .deb, still compressed, with their names.
#[derive(Debug)]
pub struct DebMembers {
    /// e.g. `control.tar.xz`.
    pub control_name: String,
    /// Compressed bytes of the control member.
    pub control: Vec<u8>,
    /// e.g. `data.tar.xz`.
    pub data_name: String,
    /// Compressed bytes of the data member.
    pub data: Vec<u8>,
}

/// Split a .deb into its members; `package` names it in errors.
pub fn members(package: &str, deb: &[u8]) -> Result<DebMembers, DebError> {
    let bad = |reason: String| DebError::Malformed { package: package.into(), reason };
    let mut version = None;
    let mut control = None;
    let mut data = None;
    for (name, bytes) in ar_members(deb).map_err(|e| bad(format!("ar: {e}")))? {
        let buf = bytes.to_vec();
        if name == "debian-binary" {
            version = Some(buf);
        } else if name.starts_with("control.tar") {
            if control.is_some() {
                return Err(bad("two control members".into()));
            }
            control = Some((name, buf));
        } else if name.starts_with("data.tar") {
            if data.is_some() {
                return Err(bad("two data members".into()));
            }
            data = Some((name, buf));
        }
    }
    match version {
        Some(v) if v.starts_with(b"2.") => {}
        Some(v) => return Err(bad(format!("unsupported format version {:?}", String::from_utf8_lossy(&v).trim()))),
        None => return Err(bad("no debian-binary member".into())),
    }
    let (control_name, control) = control.ok_or_else(|| bad("no control.tar member".into()))?;
    let (data_name, data) = data.ok_or_else(|| bad("no data.tar member".into()))?;
    Ok(DebMembers { control_name, control, data_name, data })
}

/// The members of an ar archive as deb(5) allows it: the common format
/// only (60-byte headers, names of at most 16 bytes with an optional
/// trailing `/`, no GNU or BSD long-name extensions), each member padded
/// to an even offset. The `ar` crate is not used here: it panics on a GNU
/// long-name index past its name table and allocates a name table of
/// whatever size a header claims (found by `fuzz/`, target `deb`).
fn ar_members(deb: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let mut rest = deb.strip_prefix(b"!<arch>\n").ok_or("not an ar archive")?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 60 || &rest[58..60] != b"`\n" {
            return Err(format!("malformed member header after {} members", out.len()));
        }
        let (header, body) = rest.split_at(60);
        let name = String::from_utf8_lossy(&header[..16]).trim_end_matches(' ').to_string();
        if name.starts_with('/') || name.starts_with("#1/") {
            return Err(format!("member name {name:?} uses a long-name extension, which deb(5) does not allow"));
        }
        let name = name.strip_suffix('/').unwrap_or(&name).to_string();
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim_end_matches(' ').parse::<usize>().ok())
            .ok_or_else(|| format!("member {name}: bad size field"))?;
        if size > body.len() {
            return Err(format!("member {name}: {size} bytes announced, {} present (truncated)", body.len()));
        }
        out.push((name, &body[..size]));
        rest = &body[(size + size % 2).min(body.len())..];
    }
    Ok(out)
}

/// A decompressing reader for a `*.tar[.gz|.xz|.zst]` member.
pub fn decompress<'a>(package: &str, name: &str, bytes: &'a [u8]) -> Result<Box<dyn Read + 'a>, DebError> {
    let r: Box<dyn Read + 'a> = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("tar") => Box::new(bytes),
        Some("gz") => Box::new(flate2::read::GzDecoder::new(bytes)),
        Some("xz") => Box::new(xz2::read::XzDecoder::new(bytes)),
        Some("zst") => Box::new(
            zstd::stream::read::Decoder::with_buffer(bytes)
                .map_err(|e| DebError::Malformed { package: package.into(), reason: format!("{name}: {e}") })?,
        ),
        _ => return Err(DebError::Unsupported { package: package.into(), member: name.into() }),
    };
    Ok(r)
}

/// The `control` file of a .deb's control member (Debian Policy §5.3).
pub fn control_file(package: &str, m: &DebMembers) -> Result<String, DebError> {
    let bad = |reason: String| DebError::Malformed { package: package.into(), reason };
    let mut tar = tar::Archive::new(decompress(package, &m.control_name, &m.control)?);
    for entry in tar.entries().map_err(|e| bad(format!("{}: {e}", m.control_name)))? {
        let mut entry = entry.map_err(|e| bad(format!("{}: {e}", m.control_name)))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().to_string();
        if path.trim_start_matches("./") == "control" {
            let mut s = String::new();
            entry.read_to_string(&mut s).map_err(|e| bad(format!("control: {e}")))?;
            return Ok(s);
        }
    }
    Err(bad(format!("{} has no control file", m.control_name)))
}
