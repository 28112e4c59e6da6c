//! `distill check IMAGE`: read an OCI image layout back (verifying every
//! blob, layer digest and diff_id) and run the image checks on each
//! platform's filesystem.

use std::io::Write;

use clap::Args;

use distill::build::BuildError;
use distill::check::{self, CheckOptions, Finding};
use distill::report::Reporter;

use super::split_image;

/// `distill check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// OCI image layout directory, optionally `DIR:TAG` [default tag: latest].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Print a JSON document with the findings per platform.
    #[arg(long)]
    pub json: bool,
    /// Allow a shell (for debug variants of an image).
    #[arg(long)]
    pub allow_shell: bool,
    /// Allow setuid/setgid files (images built with `paths.setuid: keep`).
    #[arg(long)]
    pub allow_setuid: bool,
}

fn finding_line(f: &Finding) -> String {
    // Trees read back from a layer carry no package ownership.
    if f.package == "generated" {
        format!("{}: {}", f.path, f.problem)
    } else {
        format!("{} (from {}): {}", f.path, f.package, f.problem)
    }
}

/// Run the checks; exits with the CHECK code when anything is found.
pub fn cmd_check(args: CheckArgs, report: &Reporter) -> Result<(), BuildError> {
    let (dir, tag) = split_image(&args.image);
    let started = std::time::Instant::now();
    report.step(&format!("reading {}:{tag}", dir.display()));
    let images = check::read::read_layout(&dir, &tag).map_err(|e| BuildError::Other(e.to_string()))?;
    let read_secs = started.elapsed().as_secs_f64();
    let opts = CheckOptions { allow_shell: args.allow_shell, allow_setuid: args.allow_setuid };
    let results: Vec<(String, usize, check::Checked)> =
        images.iter().map(|(platform, tree)| (platform.clone(), tree.len(), check::classify(tree, &opts))).collect();
    report.step(&format!(
        "checked {} platform(s) in {:.2} s (reading and verifying {:.2} s)",
        results.len(),
        started.elapsed().as_secs_f64(),
        read_secs
    ));
    let failed = results.iter().any(|(_, _, c)| !c.errors.is_empty());
    let json_findings = |list: &[Finding]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|f| {
                let mut v = serde_json::json!({ "path": f.path, "problem": f.problem });
                if f.package != "generated" {
                    v["package"] = serde_json::Value::from(f.package.clone());
                }
                v
            })
            .collect()
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({
            "image": dir,
            "tag": tag,
            "ok": !failed,
            "platforms": results.iter().map(|(platform, entries, checked)| serde_json::json!({
                "platform": platform,
                "entries": entries,
                "ok": checked.errors.is_empty(),
                "findings": json_findings(&checked.errors),
                "warnings": json_findings(&checked.warnings),
            })).collect::<Vec<_>>(),
        });
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        for (platform, _, checked) in &results {
            if checked.errors.is_empty() {
                let _ = writeln!(out, "{platform}: ok");
            } else {
                let _ = writeln!(out, "{platform}: {} finding(s)", checked.errors.len());
                for f in &checked.errors {
                    let _ = writeln!(out, "  - {}", finding_line(f));
                }
            }
            for f in &checked.warnings {
                let _ = writeln!(out, "  warning: {}", finding_line(f));
            }
        }
    }
    let _ = out.flush();
    if failed {
        drop(out);
        std::process::exit(i32::from(super::exit::CHECK));
    }
    Ok(())
}
