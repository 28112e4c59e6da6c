//! `distill inspect IMAGE [IMAGE2]`: where an image's bytes are (layers,
//! largest files, packages) and which layers two images share. The work is
//! [`distill::inspect`]; this module parses arguments and prints.

use std::fmt::Write as _;
use std::io::Write;

use clap::Args;

use distill::build::BuildError;
use distill::inspect::{self, Comparison, ImageReport, Options, PlatformReport, Report};
use distill::report::Reporter;

use super::split_image;

/// `distill inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// OCI image layout directory, optionally `DIR:TAG` [default tag: latest].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// A second image (`DIR[:TAG]`): also list, per platform, the layers both share.
    #[arg(value_name = "IMAGE2")]
    pub other: Option<String>,
    /// Print one JSON document (shape in `distill inspect --help`).
    #[arg(long)]
    pub json: bool,
    /// How many of the largest files to list.
    #[arg(long, default_value_t = inspect::DEFAULT_TOP, value_name = "N")]
    pub top: usize,
    /// Only this architecture's platform: a Debian name (amd64, arm64, armhf, i386 …) or
    /// `os/arch[/variant]` [default: every platform].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
}

/// Inspect the image(s) and print the report.
pub fn cmd_inspect(args: InspectArgs, report: &Reporter) -> Result<(), BuildError> {
    let images: Vec<_> = std::iter::once(&args.image).chain(args.other.as_ref()).map(|i| split_image(i)).collect();
    let started = std::time::Instant::now();
    for (dir, tag) in &images {
        report.step(&format!("reading {}:{tag}", dir.display()));
    }
    let opts = Options { top: args.top, arch: args.arch.clone() };
    let result = inspect::inspect(&images, &opts).map_err(|e| match e {
        inspect::InspectError::NoPlatform { .. } => BuildError::Usage(e.to_string()),
        e => BuildError::Other(e.to_string()),
    })?;
    report.step(&format!("read and verified in {:.2} s", started.elapsed().as_secs_f64()));
    let text = if args.json { serde_json::to_string_pretty(&result).expect("json") + "\n" } else { render(&result) };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(())
}

/// Bytes as MB (10^6) with one decimal.
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `tar+gzip` for the OCI layer media types, `docker tar.gzip` for
/// Docker's; anything else whole.
fn short_media_type(m: &str) -> String {
    if let Some(rest) = m.strip_prefix("application/vnd.oci.image.layer.v1.") {
        rest.to_string()
    } else if let Some(rest) = m.strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.") {
        format!("nondistributable {rest}")
    } else if let Some(rest) = m.strip_prefix("application/vnd.docker.image.rootfs.diff.") {
        format!("docker {rest}")
    } else {
        m.to_string()
    }
}

/// `words` joined by spaces, wrapped at `width` columns, each line
/// starting with `indent`.
fn wrap(words: &[String], indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for w in words {
        if !line.is_empty() && indent.len() + line.len() + 1 + w.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

/// The human-readable report.
fn render(r: &Report) -> String {
    let mut out = String::new();
    for (n, image) in r.images.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        render_image(&mut out, image);
    }
    if let Some(c) = &r.comparison {
        out.push('\n');
        render_comparison(&mut out, c);
    }
    out
}

fn render_image(out: &mut String, image: &ImageReport) {
    for (n, p) in image.platforms.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        render_platform(out, image, p);
    }
}

fn render_platform(out: &mut String, image: &ImageReport, p: &PlatformReport) {
    let _ = writeln!(out, "{}:{}  {}", image.image, image.tag, p.platform);
    let _ = writeln!(out, "  manifest {}", p.manifest);
    let _ = writeln!(
        out,
        "  {} layer(s): {} compressed, {} uncompressed; {} entries, {} files, {} in files",
        p.layers.len(),
        mb(p.compressed_size),
        mb(p.uncompressed_size),
        p.filesystem.entries,
        p.filesystem.files,
        mb(p.filesystem.file_bytes)
    );

    let _ = writeln!(out, "\n  layers");
    let _ = writeln!(
        out,
        "  {:>3}  {:>10}  {:>12}  {:>7}  {:<10}  digest",
        "#", "compressed", "uncompressed", "entries", "type"
    );
    for l in &p.layers {
        let _ = writeln!(
            out,
            "  {:>3}  {:>10}  {:>12}  {:>7}  {:<10}  {}",
            l.index,
            mb(l.compressed_size),
            mb(l.uncompressed_size),
            l.entries,
            short_media_type(&l.media_type),
            l.digest
        );
        let _ = writeln!(out, "       diff_id {}", l.diff_id);
        if l.whiteouts > 0 {
            let _ = writeln!(out, "       {} whiteout(s)", l.whiteouts);
        }
        if l.packages.is_empty() {
            let _ = writeln!(out, "       no packages");
        } else {
            let _ = writeln!(out, "       {} package(s):", l.packages.len());
            out.push_str(&wrap(&l.packages, "         ", 100));
        }
    }

    let _ = writeln!(out, "\n  largest files ({} of {})", p.largest_files.len(), p.filesystem.files);
    if !p.largest_files.is_empty() {
        let width =
            p.largest_files.iter().filter_map(|f| f.package.as_ref()).map(String::len).max().unwrap_or(0).max(7);
        let _ = writeln!(out, "  {:>10}  {:>5}  {:<width$}  path", "size", "layer", "package");
        for f in &p.largest_files {
            let _ = write!(
                out,
                "  {:>10}  {:>5}  {:<width$}  {}",
                mb(f.size),
                f.layer,
                f.package.as_deref().unwrap_or("-"),
                f.path
            );
            if !f.hardlinks.is_empty() {
                let _ = write!(out, " (also {})", f.hardlinks.join(", "));
            }
            out.push('\n');
        }
    }

    let s = &p.packages;
    let _ = writeln!(out, "\n  installed size by package ({} installed)", s.installed);
    let width = s.packages.iter().map(|x| x.name.len()).max().unwrap_or(0).max(7);
    let _ = writeln!(out, "  {:>10}  {:>6}  {:<width$}  via", "size", "files", "package");
    for x in &s.packages {
        let _ = writeln!(out, "  {:>10}  {:>6}  {:<width$}  {}", mb(x.size), x.files, x.name, x.source);
    }
    if s.packages.is_empty() {
        let _ = writeln!(out, "  {:>10}  {:>6}  (no package owns a known file)", "-", "-");
    }
    let owned_files: u64 = s.packages.iter().map(|x| x.files).sum();
    let _ = writeln!(out, "  {:>10}  {:>6}  owned by packages", mb(s.owned_bytes), owned_files);
    let _ = writeln!(out, "  {:>10}  {:>6}  generated/unattributed", mb(s.unattributed_bytes), s.unattributed_files);
    let _ = writeln!(out, "  {:>10}  {:>6}  total", mb(s.total_bytes), p.filesystem.files);
    if !s.without_ownership.is_empty() {
        let _ = writeln!(
            out,
            "  {} package(s) without file ownership (no md5sums, and their layer holds several packages):",
            s.without_ownership.len()
        );
        out.push_str(&wrap(&s.without_ownership, "    ", 100));
    }
}

fn render_comparison(out: &mut String, c: &Comparison) {
    let _ = writeln!(out, "shared layers: A = {}, B = {}", c.a, c.b);
    for p in &c.platforms {
        let _ = writeln!(
            out,
            "  {}: {} shared layer(s), {} compressed ({} uncompressed)",
            p.platform,
            p.shared.len(),
            mb(p.shared_compressed_size),
            mb(p.shared_uncompressed_size)
        );
        let _ = writeln!(out, "    {:<7}  {:>10}  {:>12}  digest", "in", "compressed", "uncompressed");
        let rows = p
            .shared
            .iter()
            .map(|l| ("A and B", l))
            .chain(p.only_in_a.iter().map(|l| ("A only", l)))
            .chain(p.only_in_b.iter().map(|l| ("B only", l)));
        for (place, l) in rows {
            let _ = writeln!(
                out,
                "    {place:<7}  {:>10}  {:>12}  {}",
                mb(l.compressed_size),
                mb(l.uncompressed_size),
                l.digest
            );
        }
    }
    for p in &c.platforms_only_in_a {
        let _ = writeln!(out, "  {p}: only in A");
    }
    for p in &c.platforms_only_in_b {
        let _ = writeln!(out, "  {p}: only in B");
    }
    if c.platforms.is_empty() {
        let _ = writeln!(out, "  no platform in common");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_megabytes_with_one_decimal() {
        assert_eq!(mb(0), "0.0 MB");
        assert_eq!(mb(40_325_918), "40.3 MB");
        assert_eq!(mb(49_999), "0.0 MB");
        assert_eq!(mb(50_001), "0.1 MB");
    }

    #[test]
    fn media_types_are_shortened() {
        assert_eq!(short_media_type("application/vnd.oci.image.layer.v1.tar+gzip"), "tar+gzip");
        assert_eq!(short_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"), "docker tar.gzip");
        assert_eq!(short_media_type("application/x-other"), "application/x-other");
    }

    #[test]
    fn package_lists_wrap() {
        let words: Vec<String> = ["aaaa", "bbbb", "cccc"].iter().map(|s| s.to_string()).collect();
        assert_eq!(wrap(&words, "  ", 11), "  aaaa bbbb\n  cccc\n");
        assert_eq!(wrap(&[], "  ", 11), "");
    }
}
