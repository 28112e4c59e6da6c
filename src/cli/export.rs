//! `distill export IMAGE --docker-archive FILE`: one platform as a
//! `docker load` / `podman load` tarball. The work is [`distill::export`].

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use distill::build::BuildError;
use distill::export::{self, ExportOptions};
use distill::report::Reporter;

use super::push::exit_with;
use super::split_image;

/// `distill export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// OCI image layout directory, optionally `DIR:TAG` [default tag: latest].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Write a docker-archive (the `docker save` format) to FILE.
    #[arg(long, value_name = "FILE", required = true)]
    pub docker_archive: PathBuf,
    /// The platform: a Debian architecture (amd64, arm64 …) or
    /// `os/arch[/variant]` [default: the image's only platform, else this
    /// machine's].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Name and tag the image gets in `docker images` after `docker load`
    /// (`RepoTags`) [default: the layout directory's name and the tag].
    #[arg(long, value_name = "NAME[:TAG]")]
    pub tag: Option<String>,
    /// Print a JSON report (file, platform, repo_tag, manifest, config, layers, size).
    #[arg(long)]
    pub json: bool,
}

/// Write the archive; prints the config digest (Docker's image ID) last.
pub fn cmd_export(args: ExportArgs, report: &Reporter) -> Result<(), BuildError> {
    let (dir, tag) = split_image(&args.image);
    let opts = ExportOptions { arch: args.arch.clone(), repo_tag: args.tag.clone() };
    let started = std::time::Instant::now();
    let out = export::docker_archive(&dir, &tag, &args.docker_archive, &opts).unwrap_or_else(|e| exit_with(&e));
    report.step(&format!(
        "wrote {} ({}, {}, {} layer(s), {:.1} MB) in {:.1} s",
        out.file.display(),
        out.repo_tag,
        out.platform,
        out.layers.len(),
        out.size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({
            "file": out.file,
            "platform": out.platform,
            "repo_tag": out.repo_tag,
            "manifest": out.manifest,
            "config": out.config,
            "layers": out.layers.iter().map(|(d, s)| serde_json::json!({"digest": d, "size": s})).collect::<Vec<_>>(),
            "size": out.size,
        });
        let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        let _ = writeln!(stdout, "{}", out.config);
    }
    Ok(())
}
