//! `distill push IMAGE REFERENCE` and the registry options shared with
//! `distill build --push`. The work is [`distill::registry`]; this module
//! reads the environment (credentials), parses options and prints.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use distill::build::BuildError;
use distill::registry::auth::{Credentials, Environment, Found, Secret};
use distill::registry::client::ClientOptions;
use distill::registry::push::{Format, PushOptions, PushReport, DEFAULT_CHUNK_SIZE};
use distill::registry::{ErrorClass, Reference, RegistryError};
use distill::report::Reporter;

use super::split_image;

/// Manifest media types to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// OCI image index and manifests, as in the layout.
    Oci,
    /// Docker manifest list and image manifest v2 schema 2 (new digests; zstd layers cannot be expressed).
    Docker,
}

/// Registry options (`push`, `build --push`).
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Allow plain HTTP and TLS certificates that do not verify, for any
    /// registry (a loopback registry may use plain HTTP without it).
    #[arg(long)]
    pub insecure: bool,
    /// Registry user name; the password (or token) is read from standard
    /// input with --password-stdin [else DISTILL_REGISTRY_USERNAME /
    /// DISTILL_REGISTRY_PASSWORD, else the Docker/podman auth files].
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password for --username from standard input (one line).
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Upload blobs larger than this in chunks of this size; smaller ones in
    /// one request. Bytes, or with a K, M or G suffix (KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_size)]
    pub chunk_size: u64,
    /// A repository of the same registry whose blobs may be mounted instead
    /// of uploaded (cross-repository mount); repeatable.
    #[arg(long = "mount-from", value_name = "REPO")]
    pub mount_from: Vec<String>,
    /// Manifest media types: oci (as built) or docker (schema 2, for
    /// registries that refuse OCI; changes the manifest digests).
    #[arg(long, value_enum, default_value_t = FormatArg::Oci)]
    pub format: FormatArg,
    /// Retries of a failed request (connection drop, HTTP 5xx or 429), with
    /// exponential backoff from 0.5 s.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub retries: u32,
    /// Do not attach the SBOMs of `<layout>.sbom/` to the pushed platform
    /// manifests (by default each `<arch>.spdx.json` / `<arch>.cdx.json`
    /// is pushed as an OCI artifact whose subject is that platform's manifest).
    #[arg(long)]
    pub no_sbom: bool,
}

/// `distill push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// OCI image layout directory, optionally `DIR:TAG` [default tag: latest].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Where to push: `REGISTRY/REPOSITORY[:TAG]` [default tag: latest], e.g.
    /// `registry.example/base/nodejs:18` or `localhost:5000/nodejs`.
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    /// Push only this platform, as a plain image manifest: a Debian
    /// architecture (amd64, arm64 …) or `os/arch[/variant]`.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Print a JSON report on stdout instead of the digest (shape in `--help`).
    #[arg(long)]
    pub json: bool,
    /// Parallel blob uploads (1 or more).
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = super::jobs_parser())]
    pub jobs: usize,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `4194304`, `512K`, `8M`, `8MiB`, `1G`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (num, mult) = [
        ("kib", 1u64 << 10),
        ("mib", 1 << 20),
        ("gib", 1 << 30),
        ("k", 1 << 10),
        ("m", 1 << 20),
        ("g", 1 << 30),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.trim().to_string(), *m)))
    .unwrap_or((lower.clone(), 1));
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size (bytes, or a number with K, M or G)"))?;
    let v = n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))?;
    if v == 0 {
        return Err("the chunk size must be at least 1 byte".into());
    }
    Ok(v)
}

/// The exit code for a registry error (README "Exit codes").
pub fn exit_code(e: &RegistryError) -> u8 {
    match e.class() {
        ErrorClass::Usage => super::exit::USAGE,
        ErrorClass::Local => super::exit::FAILURE,
        ErrorClass::Network | ErrorClass::Auth => super::exit::NETWORK,
    }
}

/// Print `error: …` (as `main` does) and exit with the error's code.
pub fn exit_with(e: &RegistryError) -> ! {
    let _ = std::io::stdout().flush();
    eprintln!("error: {e}");
    std::process::exit(i32::from(exit_code(e)));
}

/// Parse a reference or exit 2.
pub fn reference_or_exit(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| exit_with(&e))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The credential sources of the environment.
fn environment() -> Environment {
    Environment {
        username: std::env::var("DISTILL_REGISTRY_USERNAME").ok().filter(|v| !v.is_empty()),
        password: std::env::var("DISTILL_REGISTRY_PASSWORD").ok().filter(|v| !v.is_empty()).map(Secret::new),
        registry_auth_file: env_path("REGISTRY_AUTH_FILE"),
        xdg_runtime_dir: env_path("XDG_RUNTIME_DIR"),
        xdg_config_home: env_path("XDG_CONFIG_HOME"),
        docker_config: env_path("DOCKER_CONFIG"),
        home: env_path("HOME"),
    }
}

/// Push options from the command line and environment (reads the password
/// from stdin for --password-stdin).
fn options(args: &RegistryArgs, arch: Option<String>, jobs: usize) -> Result<PushOptions, RegistryError> {
    let credentials = match &args.username {
        Some(user) => {
            let mut pw = String::new();
            std::io::stdin()
                .read_to_string(&mut pw)
                .map_err(|e| RegistryError::Usage(format!("--password-stdin: cannot read standard input: {e}")))?;
            let pw = pw.lines().next().unwrap_or("").to_string();
            if pw.is_empty() {
                return Err(RegistryError::Usage("--password-stdin: standard input holds no password".into()));
            }
            Some(Found {
                credentials: Credentials::Basic { username: user.clone(), password: Secret::new(pw) },
                source: "--username/--password-stdin".into(),
            })
        }
        None => None,
    };
    Ok(PushOptions {
        arch,
        format: match args.format {
            FormatArg::Oci => Format::Oci,
            FormatArg::Docker => Format::Docker,
        },
        chunk_size: if args.chunk_size == 0 { DEFAULT_CHUNK_SIZE } else { args.chunk_size },
        mount_from: args.mount_from.clone(),
        jobs: jobs.max(1),
        client: ClientOptions { insecure: args.insecure, retries: args.retries, ..ClientOptions::default() },
        credentials,
        env: environment(),
        sbom: !args.no_sbom,
    })
}

/// Push `dir:tag` to `target`; exits on failure.
pub fn push_layout(
    dir: &Path,
    tag: &str,
    target: &Reference,
    args: &RegistryArgs,
    arch: Option<String>,
    jobs: usize,
    report: &Reporter,
) -> PushReport {
    let result = options(args, arch, jobs).and_then(|opts| distill::registry::push(dir, tag, target, &opts, report));
    result.unwrap_or_else(|e| exit_with(&e))
}

/// `distill push`.
pub fn cmd_push(args: PushArgs, report: &Reporter) -> Result<(), BuildError> {
    let target = reference_or_exit(&args.reference);
    let (dir, tag) = split_image(&args.image);
    let out = push_layout(&dir, &tag, &target, &args.registry, args.arch.clone(), args.jobs, report);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&out.to_json()).expect("json"));
    } else {
        let _ = writeln!(stdout, "{}", out.digest);
    }
    let _ = stdout.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("4194304"), Ok(4 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }
}
