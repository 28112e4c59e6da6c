//! Writing an OCI image layout directory (image-spec image-layout.md):
//! `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
//!
//! The layout is written into a temporary sibling directory and renamed
//! into place, so a failed or killed build never leaves a half-written
//! layout where the previous one was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{canonical_json, Blob, OciError, REF_NAME};

/// Write a layout at `dir` holding `blobs`, the blob files `files`
/// (`sha256:` digest, path of a verified file in the cache: hard-linked,
/// or copied across filesystems) and an index.json whose manifests are
/// `refs`: (tag, blob that is tagged). Replaces any layout already at
/// `dir` atomically (rename).
pub fn write_layout(
    dir: &Path,
    blobs: &[&Blob],
    files: &[(String, PathBuf)],
    refs: &[(String, &Blob)],
) -> Result<(), OciError> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |path: PathBuf| move |source| OciError::Io { path: path.clone(), source };
    crate::atomic::recover(dir);
    refuse_foreign_dir(dir)?;
    let tmp = crate::atomic::temp_dir(dir).map_err(io(parent.into()))?;
    let blob_dir = tmp.path().join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).map_err(io(blob_dir.clone()))?;
    for b in blobs {
        let p = blob_dir.join(b.digest.trim_start_matches("sha256:"));
        std::fs::write(&p, &b.data).map_err(io(p.clone()))?;
    }
    for (digest, src) in files {
        let p = blob_dir.join(digest.trim_start_matches("sha256:"));
        if p.exists() {
            continue;
        }
        if std::fs::hard_link(src, &p).is_err() {
            std::fs::copy(src, &p).map_err(io(p.clone()))?;
        }
    }
    let layout = tmp.path().join("oci-layout");
    std::fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io(layout.clone()))?;
    let descs = refs
        .iter()
        .map(|(tag, b)| {
            let mut ann = BTreeMap::new();
            ann.insert(REF_NAME.to_string(), tag.clone());
            b.descriptor(None, &ann)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let index = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(oci_spec::image::MediaType::ImageIndex)
        .manifests(descs)
        .build()
        .map_err(|e| OciError::Build { what: "index.json", reason: e.to_string() })?;
    let index_path = tmp.path().join("index.json");
    std::fs::write(&index_path, canonical_json(&index)).map_err(io(index_path.clone()))?;
    set_mode(tmp.path(), 0o755);

    // Swap into place in one step: a kill at any point leaves the old
    // layout or the new one.
    let tmp = tmp.keep();
    crate::atomic::replace_dir(&tmp, dir).map_err(io(dir.into()))?;
    Ok(())
}

/// An existing output must be an image layout (it has `oci-layout`) or an
/// empty directory: distill replaces layouts, never other data.
fn refuse_foreign_dir(dir: &Path) -> Result<(), OciError> {
    let foreign = |what: &str| OciError::Io {
        path: dir.into(),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{what}; refusing to replace it (choose another --output)"),
        ),
    };
    match std::fs::symlink_metadata(dir) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err(foreign("exists and is not a directory")),
        Ok(_) => {
            let empty = std::fs::read_dir(dir).map(|mut r| r.next().is_none()).unwrap_or(false);
            if empty || dir.join("oci-layout").is_file() {
                Ok(())
            } else {
                Err(foreign("is a non-empty directory without an oci-layout file"))
            }
        }
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}
