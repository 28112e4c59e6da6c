//! Run a program the image ships against the image itself, in a sandbox,
//! and collect the files it writes: for trigger-made files only the
//! package's own code can produce (gdk-pixbuf's `loaders.cache` from
//! `gdk-pixbuf-query-loaders --update-cache`, GIO's `giomodule.cache` from
//! `gio-querymodules`). No maintainer script (shell) is ever run: only an
//! ELF program named by its absolute path in the image.
//!
//! Each run:
//!
//! - writes the [`Tree`] to a fresh private temporary directory ([`fs::materialize`]);
//! - starts the program in new mount, network (no interface but a down
//!   loopback), PID, IPC and UTS namespaces, plus a user namespace when
//!   distill does not run as root (then the caller's uid maps to 0), and
//!   `chroot`s into the directory (`unshare(2)`, `user_namespaces(7)`);
//!   the host's `/dev/null`, `/dev/zero` and `/dev/urandom` are bound
//!   in; nothing else of the host is visible;
//! - with a fixed environment ([`ENV`], `SOURCE_DATE_EPOCH`, the caller's
//!   extra variables) and no stdin; the clock is not faked (Linux time
//!   namespaces do not cover the real-time clock): the determinism check
//!   below catches a program that writes the time;
//! - for another architecture, through the host's static `qemu-<cpu>-static`
//!   (or `qemu-<cpu>`), copied into the directory and run explicitly, so
//!   no binfmt_misc registration is needed;
//! - bounded by [`Options::timeout`]; the whole namespace is killed after it.
//!
//! The program runs twice, in two fresh copies; the changes (new or changed
//! regular files and symlinks outside [`fs::IGNORED`]) must be identical,
//! else [`SandboxError::NonDeterministic`]. Nothing outside the temporary
//! directories is written; they are removed afterwards.

pub mod fs;
mod run;

use std::path::PathBuf;
use std::time::Duration;

pub use fs::{apply, Change};

use crate::tree::{Kind, Tree};

/// Directory (in the sandbox root) holding qemu for a foreign program.
pub const OWN_DIR: &str = "/.distill-sandbox";
/// Device files bound from the host into `/dev`.
pub const DEVICES: [&str; 3] = ["null", "zero", "urandom"];
/// The fixed environment of every run (plus `SOURCE_DATE_EPOCH` and
/// [`Options::env`]).
pub const ENV: [(&str, &str); 5] = [
    ("PATH", crate::build::assemble::DEFAULT_PATH),
    ("LC_ALL", "C.UTF-8"),
    ("TZ", "UTC"),
    ("HOME", "/nonexistent"),
    ("TMPDIR", "/tmp"),
];

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Whether executing image programs is allowed at all (the spec's
    /// `triggers.run`); `false` makes every call fail with
    /// [`SandboxError::Forbidden`].
    pub allow: bool,
    /// Wall-clock bound of one run.
    pub timeout: Duration,
    /// The package whose trigger this is, for messages.
    pub package: Option<String>,
    /// `SOURCE_DATE_EPOCH` given to the program (seconds).
    pub source_date_epoch: u64,
    /// Extra environment variables (after [`ENV`]; same names replace).
    pub env: Vec<(String, String)>,
    /// The qemu-user binary for a foreign architecture; `None` searches
    /// `PATH` for `qemu-<cpu>-static`, then `qemu-<cpu>`.
    pub qemu: Option<PathBuf>,
    /// An absolute image path the program's standard output is written to,
    /// as a script's `prog … > path` does (then it is one of the changes,
    /// mode 0644, and part of the determinism check); `None` discards it.
    pub stdout_to: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow: true,
            timeout: Duration::from_secs(120),
            package: None,
            source_date_epoch: 0,
            env: Vec::new(),
            qemu: None,
            stdout_to: None,
        }
    }
}

impl Options {
    /// The defaults, allowed or not as the spec's `triggers.run` says, with
    /// the image's epoch as `SOURCE_DATE_EPOCH`.
    pub fn for_spec(spec: &crate::spec::Spec, epoch: u64) -> Self {
        Options { allow: spec.triggers.run, source_date_epoch: epoch, ..Options::default() }
    }
}

/// Why a run failed. Every message names the program (and package, when
/// known) and ends with a hint.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The spec forbids running image programs.
    #[error("{program}{pkg}: not run: the spec forbids executing image programs (triggers.run: false)\n  hint: the file it would make is listed as an omission; set triggers.run: true to generate it", pkg = pkg(.package))]
    Forbidden {
        /// Program path in the image.
        program: String,
        /// Package, if known.
        package: Option<String>,
    },
    /// The program is not an ELF executable in the image.
    #[error("{program}{pkg}: {reason}\n  hint: only ELF programs the image ships run in the sandbox (never a shell script); is the package that ships it installed and not filtered out by paths?", pkg = pkg(.package))]
    NotRunnable {
        /// Program path.
        program: String,
        /// Package, if known.
        package: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// No qemu-user for the architecture.
    #[error("{program}{pkg}: is a {arch} program and this host is {host}, and no {wanted} was found on PATH\n  hint: install qemu-user-static (Debian) or set the qemu path", pkg = pkg(.package))]
    NoQemu {
        /// Program path.
        program: String,
        /// Package, if known.
        package: Option<String>,
        /// Image architecture.
        arch: String,
        /// Host architecture.
        host: String,
        /// Binary looked for.
        wanted: String,
    },
    /// Setting up or reading the sandbox failed.
    #[error("{program}{pkg}: sandbox: {what}: {source}\n  hint: the sandbox needs unshare(2) (root, or unprivileged user namespaces enabled: sysctl kernel.unprivileged_userns_clone=1) and space in the temporary directory", pkg = pkg(.package))]
    Io {
        /// Program path.
        program: String,
        /// Package, if known.
        package: Option<String>,
        /// The step.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The run exceeded the time bound.
    #[error("{program}{pkg}: still running after {secs} s; killed\n  hint: a trigger program should finish in seconds; raise the timeout only if the image is very large", pkg = pkg(.package))]
    Timeout {
        /// Program path.
        program: String,
        /// Package, if known.
        package: Option<String>,
        /// The bound.
        secs: u64,
    },
    /// The program exited unsuccessfully.
    #[error("{program}{pkg}: exited with {status}; stderr:\n{stderr}\n  hint: the program may need a file the path filters removed, or a device or /proc the sandbox does not provide", pkg = pkg(.package))]
    Failed {
        /// Program path.
        program: String,
        /// Package, if known.
        package: Option<String>,
        /// Exit status as text.
        status: String,
        /// Its standard error (at most 4 KiB).
        stderr: String,
    },
    /// Two runs wrote different results.
    #[error("{program}{pkg}: two runs gave different results at {path}: {detail}\n  hint: the program writes something run-dependent (time, randomness, addresses); its output cannot go into a reproducible image — list it as an omission", pkg = pkg(.package))]
    NonDeterministic {
        /// Program path.
        program: String,
        /// Package, if known.
        package: Option<String>,
        /// First differing path.
        path: String,
        /// What differs.
        detail: String,
    },
}

fn pkg(p: &Option<String>) -> String {
    p.as_ref().map(|p| format!(" (package {p})")).unwrap_or_default()
}

/// Debian architecture of the host (`None` when unknown).
pub fn host_arch() -> Option<&'static str> {
    Some(match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        _ => return None,
    })
}

/// The qemu-user CPU name of a Debian architecture.
pub fn qemu_cpu(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "i386" => "i386",
        "armhf" | "armel" => "arm",
        "ppc64el" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64el" => "mips64el",
        _ => return None,
    })
}

/// Run `argv` (argv[0]: an absolute path of an ELF program in `tree`) in
/// the sandbox for Debian architecture `arch`, twice, and return the
/// changes it made to the image (sorted by path) once both runs agree.
///
/// Errors: [`SandboxError::Forbidden`] when `opts.allow` is false, and the
/// others as documented on [`SandboxError`].
pub fn run_in_image(tree: &Tree, arch: &str, argv: &[String], opts: &Options) -> Result<Vec<Change>, SandboxError> {
    let program = argv.first().cloned().unwrap_or_default();
    let package = opts.package.clone();
    if !opts.allow {
        return Err(SandboxError::Forbidden { program, package });
    }
    let not_runnable =
        |reason: String| SandboxError::NotRunnable { program: program.clone(), package: package.clone(), reason };
    if !program.starts_with('/') {
        return Err(not_runnable("not an absolute path".into()));
    }
    let real = tree.resolve(&program).ok_or_else(|| not_runnable("not in the image".into()))?;
    let Some(Kind::File { data, .. }) = tree.get(&real).map(|e| &e.kind) else {
        return Err(not_runnable(format!("{real} is not a regular file")));
    };
    let mut head = [0u8; 4];
    let _ = data.read_at(0, &mut head);
    if !crate::check::elf::is_elf(&head) {
        return Err(not_runnable("not an ELF program (scripts are never run)".into()));
    }
    let qemu = foreign_qemu(arch, opts, &program)?;
    let first = run::once(tree, argv, opts, qemu.as_deref())?;
    let second = run::once(tree, argv, opts, qemu.as_deref())?;
    if let Some((path, detail)) = first_difference(&first, &second) {
        return Err(SandboxError::NonDeterministic { program, package, path, detail });
    }
    Ok(first)
}

/// The qemu binary when `arch` is not the host's; `None` when native.
fn foreign_qemu(arch: &str, opts: &Options, program: &str) -> Result<Option<PathBuf>, SandboxError> {
    let host = host_arch().unwrap_or(std::env::consts::ARCH);
    if arch == host {
        return Ok(None);
    }
    if let Some(q) = &opts.qemu {
        return Ok(Some(q.clone()));
    }
    let cpu = qemu_cpu(arch).unwrap_or(arch);
    let names = [format!("qemu-{cpu}-static"), format!("qemu-{cpu}")];
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in &names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(Some(p));
            }
        }
    }
    Err(SandboxError::NoQemu {
        program: program.into(),
        package: opts.package.clone(),
        arch: arch.into(),
        host: host.into(),
        wanted: names[0].clone(),
    })
}

/// The first path where two change lists differ, with what differs.
fn first_difference(a: &[Change], b: &[Change]) -> Option<(String, String)> {
    let mut ia = a.iter().peekable();
    let mut ib = b.iter().peekable();
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return None,
            (Some(x), None) => return Some((x.path().into(), "only the first run wrote it".into())),
            (None, Some(y)) => return Some((y.path().into(), "only the second run wrote it".into())),
            (Some(x), Some(y)) if x.path() != y.path() => {
                let p = x.path().min(y.path());
                return Some((p.into(), "only one run wrote it".into()));
            }
            (Some(x), Some(y)) if x != y => {
                let detail = match (x, y) {
                    (Change::File { data: d1, .. }, Change::File { data: d2, .. }) => {
                        let at = d1.iter().zip(d2.iter()).position(|(p, q)| p != q).unwrap_or(d1.len().min(d2.len()));
                        format!("contents differ from byte {at} ({} vs {} bytes)", d1.len(), d2.len())
                    }
                    _ => "kind or target differs".into(),
                };
                return Some((x.path().into(), detail));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
