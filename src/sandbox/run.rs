//! One sandboxed run: materialize, unshare + chroot + exec, wait with a
//! bound, collect the changes.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{fs, Change, Options, SandboxError, DEVICES, ENV, OWN_DIR};
use crate::tree::Tree;

/// Run `argv` once in a fresh copy of `tree`; `qemu` runs a foreign program.
pub(super) fn once(
    tree: &Tree,
    argv: &[String],
    opts: &Options,
    qemu: Option<&Path>,
) -> Result<Vec<Change>, SandboxError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source: std::io::Error| SandboxError::Io {
            program: argv[0].clone(),
            package: opts.package.clone(),
            what,
            source,
        }
    };
    let tmp = tempfile::Builder::new().prefix("distill-sandbox-").tempdir().map_err(io("temporary directory"))?;
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).map_err(io("temporary directory"))?;
    fs::materialize(tree, &root).map_err(io("writing the image"))?;
    let mut cmd = match qemu {
        Some(q) => {
            let own = root.join(&OWN_DIR[1..]);
            std::fs::create_dir_all(&own).map_err(io("copying qemu"))?;
            std::fs::copy(q, own.join("qemu")).map_err(io("copying qemu"))?;
            let mut c = Command::new(format!("{OWN_DIR}/qemu"));
            c.arg("-0").arg(&argv[0]).args(argv);
            c
        }
        None => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    cmd.env_clear();
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    cmd.env("SOURCE_DATE_EPOCH", opts.source_date_epoch.to_string());
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let out_path = tmp.path().join("stdout");
    let err_path = tmp.path().join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).map_err(io("output file"))?)
        .stderr(std::fs::File::create(&err_path).map_err(io("output file"))?);
    let setup = Setup::new(&root).map_err(io("namespace setup"))?;
    // SAFETY: the closure only makes async-signal-safe system calls on
    // memory prepared before the fork (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || setup.enter());
    }
    let mut child = cmd.spawn().map_err(io("starting the program"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(io("waiting"))? {
            break s;
        }
        if start.elapsed() >= opts.timeout {
            // Killing the namespace's parent kills the program (PDEATHSIG).
            let _ = child.kill();
            let _ = child.wait();
            return Err(SandboxError::Timeout {
                program: argv[0].clone(),
                package: opts.package.clone(),
                secs: opts.timeout.as_secs(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    if !status.success() {
        let mut stderr = std::fs::read(&err_path).unwrap_or_default();
        stderr.truncate(4096);
        let status = match (status.code(), status.signal()) {
            (Some(c), _) if c > 128 => format!("signal {} (status {c})", c - 128),
            (Some(c), _) => format!("status {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => status.to_string(),
        };
        return Err(SandboxError::Failed {
            program: argv[0].clone(),
            package: opts.package.clone(),
            status,
            stderr: String::from_utf8_lossy(&stderr).trim_end().to_string(),
        });
    }
    let mut changes = fs::changes(tree, &root).map_err(io("reading the results"))?;
    if let Some(to) = &opts.stdout_to {
        let data = std::fs::read(&out_path).map_err(io("reading the output"))?;
        changes.retain(|c| c.path() != to);
        changes.push(Change::File { path: to.clone(), data, mode: 0o644 });
        changes.sort_by(|a, b| a.path().cmp(b.path()));
    }
    // Directories the image made read-only must be writable to remove.
    make_writable(&root);
    Ok(changes)
}

/// Give every directory below `root` owner write permission (best effort).
fn make_writable(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(rd) = std::fs::read_dir(root) else { return };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            if let Ok(m) = std::fs::metadata(&p) {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m.permissions().mode() | 0o700));
            }
            make_writable(&p);
        }
    }
}

/// Everything the child needs, prepared before the fork.
struct Setup {
    root: CString,
    devices: Vec<(CString, CString)>,
    /// `None` when running as root (no user namespace needed).
    maps: Option<(CString, CString)>,
    slash: CString,
}

impl Setup {
    fn new(root: &Path) -> std::io::Result<Self> {
        let c = |b: &[u8]| CString::new(b).map_err(std::io::Error::other);
        let devices = DEVICES
            .iter()
            .map(|d| Ok((c(format!("/dev/{d}").as_bytes())?, c(root.join("dev").join(d).as_os_str().as_bytes())?)))
            .collect::<std::io::Result<Vec<_>>>()?;
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let maps = (uid != 0).then(|| (c(format!("0 {uid} 1").as_bytes()), c(format!("0 {gid} 1").as_bytes())));
        let maps = match maps {
            Some((a, b)) => Some((a?, b?)),
            None => None,
        };
        Ok(Setup { root: c(root.as_os_str().as_bytes())?, devices, maps, slash: c(b"/")? })
    }

    /// In the forked child: new namespaces, device binds, a second fork so
    /// the program is PID 1 of its namespace, chroot.
    fn enter(&self) -> std::io::Result<()> {
        let err = std::io::Error::last_os_error;
        let mut flags =
            libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if self.maps.is_some() {
            flags |= libc::CLONE_NEWUSER;
        }
        // SAFETY: system calls on prepared C strings; see `once`.
        unsafe {
            if libc::unshare(flags) != 0 {
                return Err(err());
            }
            if let Some((uid_map, gid_map)) = &self.maps {
                write_file(c"/proc/self/setgroups", b"deny")?;
                write_file(c"/proc/self/uid_map", uid_map.as_bytes())?;
                write_file(c"/proc/self/gid_map", gid_map.as_bytes())?;
            }
            let none = std::ptr::null();
            if libc::mount(none, self.slash.as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
                return Err(err());
            }
            for (src, dst) in &self.devices {
                // A missing mount point (the image's /dev is a link) is skipped.
                let _ = libc::mount(src.as_ptr(), dst.as_ptr(), none, libc::MS_BIND, std::ptr::null());
            }
            let pid = libc::fork();
            if pid < 0 {
                return Err(err());
            }
            if pid > 0 {
                // The namespace's parent: close everything but stdio (so
                // spawn() sees the exec), wait, pass the status on.
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                let mut status = 0;
                while libc::waitpid(pid, &mut status, 0) < 0 {
                    if *libc::__errno_location() != libc::EINTR {
                        libc::_exit(127);
                    }
                }
                let code =
                    if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
                libc::_exit(code);
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            if libc::chroot(self.root.as_ptr()) != 0 || libc::chdir(self.slash.as_ptr()) != 0 {
                return Err(err());
            }
        }
        Ok(())
    }
}

/// Write `data` to `path` with raw system calls (async-signal-safe).
unsafe fn write_file(path: &std::ffi::CStr, data: &[u8]) -> std::io::Result<()> {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let n = libc::write(fd, data.as_ptr().cast(), data.len());
    libc::close(fd);
    if n != data.len() as isize {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
