//! Replacing an output directory so that a process killed at any moment
//! (SIGKILL, power loss of the process, OOM) leaves either the previous
//! directory or the new one at its path, never neither and never a mix.
//!
//! A new output is written into a sibling temporary directory named
//! `.<name>.tmp-<pid>-<random>` ([`temp_dir`]), then swapped in with one
//! `renameat2(RENAME_EXCHANGE)` (Linux ≥ 3.15; rename(2)), after which the
//! temporary path holds the old output and is deleted. Where the exchange
//! is not supported, the old directory is first renamed to
//! `.<name>.old-<pid>` and the new one renamed in; a run killed between
//! the two renames is repaired by the next run ([`recover`]), which puts
//! the old directory back and deletes leftovers of dead processes.

use std::io;
use std::path::{Path, PathBuf};

/// The temporary sibling directory for a new `dir`, named after this
/// process so that [`recover`] can tell a dead writer's leftovers from a
/// live one's.
///
/// Errors: creating the parent or the directory.
pub fn temp_dir(dir: &Path) -> io::Result<tempfile::TempDir> {
    let parent = parent_of(dir);
    std::fs::create_dir_all(parent)?;
    tempfile::Builder::new().prefix(&format!(".{}.tmp-{}-", name_of(dir), std::process::id())).tempdir_in(parent)
}

/// Put `new` (a directory beside `dir`) at `dir`, replacing what is there
/// atomically, and delete the replaced directory.
///
/// Errors: the rename; on error `dir` is unchanged and `new` is removed.
pub fn replace_dir(new: &Path, dir: &Path) -> io::Result<()> {
    let exists = std::fs::symlink_metadata(dir).is_ok();
    if !exists {
        return std::fs::rename(new, dir).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(new);
        });
    }
    match exchange(new, dir) {
        Ok(()) => {
            // `new` now holds the previous output.
            let _ = std::fs::remove_dir_all(new);
            Ok(())
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EXDEV)) => {
            let old = parent_of(dir).join(format!(".{}.old-{}", name_of(dir), std::process::id()));
            std::fs::rename(dir, &old)?;
            if let Err(e) = std::fs::rename(new, dir) {
                let _ = std::fs::rename(&old, dir);
                let _ = std::fs::remove_dir_all(new);
                return Err(e);
            }
            let _ = std::fs::remove_dir_all(&old);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(new);
            Err(e)
        }
    }
}

/// Repair what a killed writer of `dir` left: when `dir` is missing and a
/// dead process's `.<name>.old-<pid>` exists, it is renamed back; then
/// every `.<name>.tmp-<pid>-*` and `.<name>.old-<pid>` of a dead process
/// is deleted. Leftovers of live processes (a concurrent build) are kept.
/// Returns the paths restored or deleted, for a message.
pub fn recover(dir: &Path) -> Vec<PathBuf> {
    let parent = parent_of(dir);
    let name = name_of(dir);
    let (tmp_prefix, old_prefix) = (format!(".{name}.tmp-"), format!(".{name}.old-"));
    let Ok(entries) = std::fs::read_dir(parent) else { return Vec::new() };
    let mut stale: Vec<(PathBuf, bool)> = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        let (rest, is_old) = if let Some(r) = file.strip_prefix(&tmp_prefix) {
            (r, false)
        } else if let Some(r) = file.strip_prefix(&old_prefix) {
            (r, true)
        } else {
            continue;
        };
        let pid: Option<i32> = rest.split('-').next().and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| !alive(p)) {
            stale.push((e.path(), is_old));
        }
    }
    stale.sort();
    let mut done = Vec::new();
    if std::fs::symlink_metadata(dir).is_err() {
        if let Some((old, _)) = stale.iter().find(|(_, is_old)| *is_old) {
            if std::fs::rename(old, dir).is_ok() {
                done.push(dir.to_path_buf());
            }
        }
    }
    for (p, _) in stale {
        if std::fs::symlink_metadata(&p).is_ok() && std::fs::remove_dir_all(&p).is_ok() {
            done.push(p);
        }
    }
    done
}

fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: two valid NUL-terminated paths; renameat2 does not retain them.
    let rc =
        unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether process `pid` exists (kill(2) with signal 0; EPERM means it
/// exists under another user).
fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn parent_of(dir: &Path) -> &Path {
    dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn name_of(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "image".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_swaps_and_removes_the_old_directory() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("v"), "1").unwrap();
        let new = temp_dir(&dir).unwrap().keep();
        std::fs::write(new.join("v"), "2").unwrap();
        replace_dir(&new, &dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("v")).unwrap(), "2");
        assert!(!new.exists());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1, "nothing else left");
    }

    #[test]
    fn recover_restores_the_old_output_of_a_dead_writer_and_cleans_up() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("out");
        // A writer (pid 2^22+1: above pid_max's default, so not running)
        // killed between its two renames, and one killed while writing.
        let dead = 4_194_305;
        let old = t.path().join(format!(".out.old-{dead}"));
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("v"), "1").unwrap();
        std::fs::create_dir(t.path().join(format!(".out.tmp-{dead}-abc"))).unwrap();
        // A live writer's temporary directory (ours) stays.
        let live = temp_dir(&dir).unwrap();
        let done = recover(&dir);
        assert_eq!(done.len(), 2, "{done:?}");
        assert_eq!(std::fs::read_to_string(dir.join("v")).unwrap(), "1");
        assert!(live.path().exists());
        assert!(!old.exists());
    }
}
