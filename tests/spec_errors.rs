//! Every spec mistake ends with a one-screen error naming the file, the
//! line and the field, with a `hint:` (issue 9, "Hostile input and
//! failures"): unknown field, wrong type, missing field, invalid value,
//! unknown package (also in a spec it extends, and as a dependency),
//! unknown suite, unknown component, missing key file, and a
//! `paths.exclude` that removes a file the image needs. Plus the command
//! line: `--arch` naming no architecture (build, inspect, push) and
//! `--jobs 0`.
//!
//! Each runs the real `distill` against the hermetic signed archive on
//! loopback (tests/common) and checks the exit code, the text, the size
//! of the message and that no output directory was made.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const SUITE: &str = "testing";

/// A screen: at most this many lines of stderr…
const MAX_LINES: usize = 24;
/// …of at most this many columns.
const MAX_COLUMNS: usize = 100;

// ---------------------------------------------------------------------------
// Minimal x86-64 ELF files (one PT_LOAD, optional PT_INTERP, PT_DYNAMIC
// with DT_NEEDED), enough for the image's ELF closure check.
// ---------------------------------------------------------------------------

const LOADER: &str = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

fn elf(interp: Option<&str>, needed: &[&str]) -> Vec<u8> {
    let (ehsize, phentsize) = (64usize, 56usize);
    let nph = 2 + usize::from(interp.is_some());
    let mut strtab = vec![0u8];
    let mut dyns: Vec<(u64, u64)> = Vec::new();
    for n in needed {
        dyns.push((1, strtab.len() as u64)); // DT_NEEDED
        strtab.extend_from_slice(n.as_bytes());
        strtab.push(0);
    }
    let interp_off = ehsize + nph * phentsize;
    let interp_bytes: Vec<u8> = interp.map(|i| [i.as_bytes(), &[0]].concat()).unwrap_or_default();
    let str_off = interp_off + interp_bytes.len();
    let dyn_off = (str_off + strtab.len()).div_ceil(8) * 8;
    dyns.push((5, str_off as u64)); // DT_STRTAB
    dyns.push((10, strtab.len() as u64)); // DT_STRSZ
    dyns.push((0, 0)); // DT_NULL
    let total = dyn_off + dyns.len() * 16;
    let mut out = Vec::with_capacity(total);
    let w = |out: &mut Vec<u8>, v: u64, n: usize| out.extend_from_slice(&v.to_le_bytes()[..n]);
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    w(&mut out, 3, 2); // ET_DYN
    w(&mut out, 62, 2); // EM_X86_64
    w(&mut out, 1, 4);
    w(&mut out, 0, 8); // e_entry
    w(&mut out, ehsize as u64, 8); // e_phoff
    w(&mut out, 0, 8); // e_shoff
    w(&mut out, 0, 4); // e_flags
    for v in [ehsize, phentsize, nph, 0, 0, 0] {
        w(&mut out, v as u64, 2);
    }
    let ph = |out: &mut Vec<u8>, p_type: u64, off: usize, size: usize| {
        w(out, p_type, 4);
        w(out, 4, 4);
        for v in [off, off, off, size, size, 8] {
            w(out, v as u64, 8);
        }
    };
    if interp.is_some() {
        ph(&mut out, 3, interp_off, interp_bytes.len()); // PT_INTERP
    }
    ph(&mut out, 1, 0, total); // PT_LOAD
    ph(&mut out, 2, dyn_off, dyns.len() * 16); // PT_DYNAMIC
    out.extend_from_slice(&interp_bytes);
    out.extend_from_slice(&strtab);
    out.resize(dyn_off, 0);
    for (tag, val) in dyns {
        w(&mut out, tag, 8);
        w(&mut out, val, 8);
    }
    out
}

/// `hello` (an ELF program needing `libgreet.so.1` and the loader) →
/// `libgreet1` → `libmini` (the loader), plus `greet-data` (arch all).
fn repo() -> RepoBuilder {
    RepoBuilder::new()
        .add(
            SUITE,
            DebBuilder::new("hello", "1.0-1")
                .depends("libgreet1, greet-data")
                .dir("./usr/", 0o755)
                .dir("./usr/bin/", 0o755)
                .file("./usr/bin/hello", 0o755, &elf(Some(LOADER), &["libgreet.so.1"]))
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("libgreet1", "1.2-3")
                .depends("libmini")
                .dir("./usr/lib/x86_64-linux-gnu/", 0o755)
                .file("./usr/lib/x86_64-linux-gnu/libgreet.so.1.2", 0o644, &elf(None, &[]))
                .symlink("./usr/lib/x86_64-linux-gnu/libgreet.so.1", "libgreet.so.1.2")
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("libmini", "2.36")
                .dir("./usr/lib/x86_64-linux-gnu/", 0o755)
                .file(&format!(".{LOADER}"), 0o755, &elf(None, &[]))
                .build(),
        )
        .add(
            SUITE,
            DebBuilder::new("greet-data", "2024.1")
                .arch("all")
                .file("./usr/share/greet/words.txt", 0o644, b"hello\nworld\n")
                .build(),
        )
        .add(SUITE, DebBuilder::new("needs-ghost", "1").depends("greet-data, ghost-lib (>= 2)").build())
}

/// The source block of a spec over the fixture's archive.
fn source(fx: &Fixture, suite: &str) -> String {
    format!("  - suite: {suite}\n    url: \"{}\"\n    keys: [\"{}\"]\n", fx.server.url(), fx.key_file.display())
}

/// A working spec, `extra` appended.
fn good(fx: &Fixture, extra: &str) -> String {
    format!(
        "# spec_errors.rs\nname: hello\nsources:\n{}archs: [amd64]\npackages: [hello]\nimage:\n  entrypoint: [/usr/bin/hello]\n{extra}",
        source(fx, SUITE)
    )
}

fn write(fx: &Fixture, name: &str, yaml: &str) -> PathBuf {
    let p = fx.path(name);
    std::fs::write(&p, yaml).unwrap();
    p
}

/// 1-based line of the first line of `yaml` containing `needle`.
fn line_of(yaml: &str, needle: &str) -> usize {
    yaml.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} not in\n{yaml}")) + 1
}

/// Build `spec` into `<tmp>/out`; the run must fail with `code`, name
/// `file` at `line` with `field`, contain every needle, end with a hint,
/// fit one screen and leave no output directory.
#[track_caller]
fn fails(fx: &Fixture, spec: &Path, code: i32, file: &Path, line: usize, field: &str, needles: &[&str]) -> Outcome {
    let run = fx.build(spec);
    run.expect_code(code);
    let err = &run.stderr;
    let at = format!("{} line {line} ", file.display());
    assert!(err.contains(&at), "stderr does not name {at:?}\n{err}");
    assert!(err.contains(&format!("field `{field}`")), "stderr does not name field `{field}`\n{err}");
    // Wrapped hint lines continue with two spaces: read them as one.
    let flat = err.replace("\n  ", " ");
    for n in needles {
        assert!(flat.contains(n), "stderr lacks {n:?}\n{err}");
    }
    one_screen(err);
    assert!(err.lines().any(|l| l.starts_with("hint: ")), "no hint line\n{err}");
    assert!(!fx.path("out").exists(), "an output directory was created");
    run
}

#[track_caller]
fn one_screen(err: &str) {
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() <= MAX_LINES, "{} lines (more than a screen)\n{err}", lines.len());
    for l in &lines {
        assert!(l.chars().count() <= MAX_COLUMNS, "line wider than {MAX_COLUMNS} columns: {l:?}\n{err}");
    }
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn the_fixture_builds() {
    // The mistakes below are made in a spec that otherwise builds.
    let fx = Fixture::new(repo());
    let spec = write(&fx, "s.yaml", &good(&fx, ""));
    fx.build(&spec).expect_code(0);
}

#[test]
fn unknown_field_suggests_the_closest_name() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "").replace("packages:", "pakages:");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "pakages:"),
        "pakages",
        &["unknown field `pakages`", "hint: did you mean `packages`?", "fields allowed in the top level: version"],
    );
    // Nested: the dotted path of the mapping it is in.
    let yaml = good(&fx, "").replace("    keys:", "    compnents: [main]\n    keys:");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "compnents:"),
        "sources[0].compnents",
        &[" column 5, ", "hint: did you mean `components`?", "fields allowed in `sources[0]`: suite, components"],
    );
}

#[test]
fn wrong_type_shows_how_to_write_it() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "").replace("packages: [hello]", "packages: hello");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "packages:"),
        "packages",
        &["wrong type for `packages`: got string \"hello\", expected a list", "`packages: [hello]`"],
    );
    let yaml = good(&fx, "").replace("archs: [amd64]", "archs: amd64");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(&fx, &spec, 2, &spec, line_of(&yaml, "archs:"), "archs", &["expected a list", "`archs: [amd64]`"]);
}

#[test]
fn missing_required_field_names_where_it_belongs() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "").replace(&format!("    keys: [\"{}\"]\n", fx.key_file.display()), "");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "- suite:"),
        "sources[0].keys",
        &["missing required field `keys` in `sources[0]`", "keys/README.md"],
    );
    let yaml = good(&fx, "").replace("name: hello\n", "");
    let spec = write(&fx, "s.yaml", &yaml);
    let run = fx.build(&spec);
    run.expect_code(2).stderr_has(&["missing required field `name`", "field `name`", "hint: add `name:"]);
    one_screen(&run.stderr);
}

#[test]
fn invalid_values_name_the_field_and_the_allowed_values() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "layering:\n  budget: 0\n");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "budget:"),
        "layering.budget",
        &["layer budget 0 is outside 1..=127", "hint: set `layering.budget` to 1..=127 (default 10)"],
    );
    let yaml = good(&fx, "").replace("archs: [amd64]", "archs: [x86_64]");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "archs:"),
        "archs[0]",
        &["\"x86_64\" is not a Debian architecture", "hint: Debian calls it `amd64`"],
    );
    let yaml = good(&fx, "").replace("name: hello", "name: Hello World");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(&fx, &spec, 2, &spec, line_of(&yaml, "name:"), "name", &["\"Hello World\" is not a valid image name"]);
    let yaml = good(&fx, "variants: [nonrot]\n");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(&fx, &spec, 2, &spec, line_of(&yaml, "variants:"), "variants[0]", &["hint: did you mean `nonroot`?"]);
    assert!(!fx.path("cache").exists(), "spec errors stop before the cache is touched");
}

#[test]
fn unknown_package_names_its_entry_and_close_names() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "").replace("packages: [hello]", "packages:\n  - greet-data\n  - helo");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        5,
        &spec,
        line_of(&yaml, "- helo"),
        "packages[1]",
        &[
            "unknown package `helo`: no package or provider of that name for amd64",
            "line 10 column 5",
            "hint: did you mean `hello`? Check the spelling, or add a source that has it (searched: testing (main))",
        ],
    );
    assert!(!fx.server.requests().iter().any(|r| r.contains("pool/")), "nothing fetched");
}

#[test]
fn unknown_package_in_an_extended_spec_names_that_spec() {
    let fx = Fixture::new(repo());
    let base = good(&fx, "").replace("packages: [hello]", "packages: [greet-dta]");
    let base_path = write(&fx, "base.yaml", &base);
    let child = "name: child\nextends: base.yaml\npackages: [hello]\n";
    let spec = write(&fx, "child.yaml", child);
    fails(
        &fx,
        &spec,
        5,
        &base_path,
        line_of(&base, "packages:"),
        "packages[0]",
        &["unknown package `greet-dta`", "did you mean `greet-data`?"],
    );
}

#[test]
fn unsatisfiable_dependency_names_the_chain_and_the_entry() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "").replace("packages: [hello]", "packages: [hello, needs-ghost]");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        5,
        &spec,
        line_of(&yaml, "packages:"),
        "packages[1]",
        &[
            "cannot satisfy ghost-lib (>= 2) for amd64",
            "required by: spec → needs-ghost (from this entry)",
            "ghost-lib: no package or provider of that name for amd64",
            "hint: ghost-lib is in none of the sources (testing (main))",
        ],
    );
}

#[test]
fn unknown_suite_names_the_url_tried() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "").replace("- suite: testing", "- suite: testin");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "suite:"),
        "sources[0].suite",
        &[
            "unknown suite `testin`: its InRelease is not on the mirror",
            "did you mean `testing`?",
            &format!("{}/dists/testin/InRelease", fx.server.url()),
            "bookworm, trixie, bookworm-updates",
        ],
    );
}

#[test]
fn unknown_component_lists_the_release_components() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "").replace("    keys:", "    components: [main, contrb]\n    keys:");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "components:"),
        "sources[0].components[1]",
        &["unknown component `contrb` of suite testing", "InRelease of testing lists the components main"],
    );
}

#[test]
fn missing_key_file_points_at_keys_readme() {
    let fx = Fixture::new(repo());
    std::fs::create_dir_all(fx.path("keys")).unwrap();
    std::fs::copy(&fx.key_file, fx.path("keys/debian-12-archive.asc")).unwrap();
    let yaml = good(&fx, "").replace(&fx.key_file.display().to_string(), "keys/debian-12-archiv.asc");
    let spec = write(&fx, "s.yaml", &yaml);
    let run = fails(
        &fx,
        &spec,
        2,
        &spec,
        line_of(&yaml, "keys:"),
        "sources[0].keys[0]",
        &["key file keys/debian-12-archiv.asc not found", "did you mean `debian-12-archive.asc`?", "keys/README.md"],
    );
    assert!(!fx.server.requests().iter().any(|r| r.contains("InRelease")), "{}", run.stderr);
}

#[test]
fn path_exclude_that_removes_a_needed_library_is_named() {
    let fx = Fixture::new(repo());
    let yaml = good(&fx, "paths:\n  exclude:\n    - /usr/share/doc\n    - /usr/lib/*/libgreet*\n");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        6,
        &spec,
        line_of(&yaml, "libgreet*"),
        "paths.exclude[1]",
        &[
            "a paths.exclude pattern removes a file the image needs",
            "`/usr/lib/*/libgreet*` removes /usr/lib/x86_64-linux-gnu/libgreet.so.1.2",
            "/usr/bin/hello (from hello) needs libgreet.so.1 (DT_NEEDED)",
            "hint: narrow the pattern",
            "`paths.keep`",
        ],
    );
}

#[test]
fn path_exclude_in_an_extended_spec_that_removes_the_loader_or_entrypoint() {
    let fx = Fixture::new(repo());
    // The loader, excluded by the spec this one extends.
    let base = good(&fx, "paths:\n  exclude: [/usr/share/doc, /usr/lib/x86_64-linux-gnu/ld-*]\n")
        .replace("packages: [hello]", "packages: [greet-data]");
    let base_path = write(&fx, "base.yaml", &base);
    let spec = write(&fx, "child.yaml", "name: child\nextends: base.yaml\npackages: [hello]\n");
    fails(
        &fx,
        &spec,
        6,
        &base_path,
        line_of(&base, "ld-*"),
        "paths.exclude[1]",
        &[&format!("removes {LOADER}"), &format!("/usr/bin/hello (from hello) needs {LOADER}")],
    );
    // The entrypoint itself (no ELF needs it, so only the entrypoint tells).
    let yaml = good(&fx, "paths:\n  exclude: [/usr/share/doc, /usr/bin]\n");
    let spec = write(&fx, "s.yaml", &yaml);
    fails(
        &fx,
        &spec,
        6,
        &spec,
        line_of(&yaml, "/usr/bin]"),
        "paths.exclude[1]",
        &["removes /usr/bin/hello", "image.entrypoint[0] /usr/bin/hello (from hello)"],
    );
}

#[test]
fn arch_option_names_the_option_and_the_allowed_values() {
    let fx = Fixture::new(repo());
    let spec = write(&fx, "s.yaml", &good(&fx, ""));
    let out = fx.path("out");
    let cache = fx.path("cache");
    let run = run_distill(&[
        "build".as_ref(),
        spec.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
        "--arch".as_ref(),
        "riscv64".as_ref(),
        "-q".as_ref(),
    ]);
    run.expect_code(2).stderr_has(&["--arch riscv64: not an architecture of spec", "allowed: amd64"]);
    assert!(!run.stderr.contains("invalid spec"), "{}", run.stderr);
    one_screen(&run.stderr);
    assert!(!out.exists());

    // The same words from inspect and push, over a built layout.
    fx.build(&spec).expect_code(0);
    let layout = out.to_str().unwrap();
    for args in [
        vec!["inspect", layout, "--arch", "riscv64", "-q"],
        vec!["push", layout, "127.0.0.1:9/hello:1", "--arch", "riscv64", "-q"],
        vec!["export", layout, "--docker-archive", fx.path("x.tar").to_str().unwrap(), "--arch", "riscv64"],
    ] {
        let os: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let run = run_distill(&os);
        run.expect_code(2)
            .stderr_has(&[&format!("--arch riscv64: not an architecture of {layout}:latest"), "allowed: linux/amd64"]);
        one_screen(&run.stderr);
    }
}

#[test]
fn jobs_zero_is_refused() {
    let fx = Fixture::new(repo());
    let spec = write(&fx, "s.yaml", &good(&fx, ""));
    let out = fx.path("out");
    for cmd in ["build", "lock", "resolve"] {
        let run = run_distill(&[cmd.as_ref(), spec.as_os_str(), "--jobs".as_ref(), "0".as_ref()]);
        run.expect_code(2).stderr_has(&["--jobs <N>", "0 is not in 1..=1024"]);
    }
    let run = run_distill(&["push".as_ref(), "x".as_ref(), "127.0.0.1:9/x".as_ref(), "--jobs".as_ref(), "0".as_ref()]);
    run.expect_code(2).stderr_has(&["--jobs", "0 is not in 1..=1024"]);
    assert!(!out.exists());
}
