use super::*;
use crate::tree::Entry;
use std::sync::OnceLock;
use std::time::Duration;

/// A static test program (gcc -static), or `None` when the host cannot
/// build one. Modes (argv[1]): write, random, net, env, sleep, fail, escape.
fn program() -> Option<&'static [u8]> {
    static BIN: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = tempfile::tempdir().ok()?;
        let src = dir.path().join("t.c");
        std::fs::write(&src, SOURCE).ok()?;
        let bin = dir.path().join("t");
        let ok = std::process::Command::new("gcc").args(["-static", "-O1", "-o"]).arg(&bin).arg(&src).status().ok()?;
        ok.success().then(|| std::fs::read(&bin).ok()).flatten()
    })
    .as_deref()
}

const SOURCE: &str = r#"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
extern char **environ;
static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); exit(2); }
  fputs(text, f);
  fclose(f);
}
int main(int argc, char **argv) {
  const char *m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "write")) {
    put("/out/hello.txt", "hello\n");
    put("/tmp/scratch", "ignored\n");
    put("/etc/kept.conf", "same\n");
    symlink("hello.txt", "/out/link");
    mkdir("/var", 0755);
    mkdir("/var/log", 0755);
    put("/var/log/run.log", "ignored\n");
    return 0;
  }
  if (!strcmp(m, "random")) {
    unsigned char b[16]; char hex[33];
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, b, 16) != 16) { perror("urandom"); return 2; }
    for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", b[i]);
    put("/out/random", hex);
    return 0;
  }
  if (!strcmp(m, "net")) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(443) };
    inet_pton(AF_INET, "1.1.1.1", &a.sin_addr);
    int r = s < 0 ? -1 : connect(s, (struct sockaddr *)&a, sizeof a);
    put("/out/net", r == 0 ? "connected" : strerror(errno));
    return 0;
  }
  if (!strcmp(m, "env")) {
    FILE *f = fopen("/out/env", "w");
    for (char **e = environ; *e; e++) fprintf(f, "%s\n", *e);
    fprintf(f, "pid=%d\n", (int)getpid());
    fclose(f);
    return 0;
  }
  if (!strcmp(m, "echo")) { puts("to stdout"); return 0; }
  if (!strcmp(m, "sleep")) { sleep(60); return 0; }
  if (!strcmp(m, "fail")) { fputs("cannot do it\n", stderr); return 3; }
  if (!strcmp(m, "escape")) {
    for (int i = 0; i < 10; i++) chdir("..");
    put(argv[2], "escaped\n");
    return 0;
  }
  return 1;
}
"#;

fn tree_with(bin: &[u8]) -> Tree {
    let mut t = Tree::new();
    t.insert("/usr/bin/t", Entry::file(0o755, bin.to_vec(), 1));
    t.insert("/out", Entry::dir(0o755));
    t.insert("/etc/kept.conf", Entry::file(0o644, b"same\n".to_vec(), 2));
    t.insert("/tmp", Entry::dir(0o1777));
    t
}

fn argv(args: &[&str]) -> Vec<String> {
    std::iter::once("/usr/bin/t").chain(args.iter().copied()).map(String::from).collect()
}

fn native() -> &'static str {
    host_arch().unwrap()
}

macro_rules! need_program {
    () => {
        match program() {
            Some(b) => b,
            None => {
                eprintln!("skipped: gcc -static is not available");
                return;
            }
        }
    };
}

#[test]
fn changes_are_new_files_and_links_outside_scratch_paths() {
    let bin = need_program!();
    let changes = run_in_image(&tree_with(bin), native(), &argv(&["write"]), &Options::default()).unwrap();
    assert_eq!(
        changes,
        vec![
            Change::File { path: "/out/hello.txt".into(), data: b"hello\n".to_vec(), mode: 0o644 },
            Change::Symlink { path: "/out/link".into(), target: "hello.txt".into() },
        ]
    );
    let mut t = tree_with(bin);
    apply(&mut t, &changes);
    let e = t.get("/out/hello.txt").unwrap();
    assert_eq!((e.uid, e.gid, e.mode, e.package.is_none()), (0, 0, 0o644, true));
}

#[test]
fn random_output_is_refused_as_non_deterministic() {
    let bin = need_program!();
    let err = run_in_image(&tree_with(bin), native(), &argv(&["random"]), &Options::default()).unwrap_err();
    assert!(matches!(&err, SandboxError::NonDeterministic { path, .. } if path == "/out/random"), "{err}");
    assert!(err.to_string().contains("/usr/bin/t") && err.to_string().contains("hint:"));
}

#[test]
fn the_program_has_no_network() {
    let bin = need_program!();
    let changes = run_in_image(&tree_with(bin), native(), &argv(&["net"]), &Options::default()).unwrap();
    let Change::File { data, .. } = &changes[0] else { panic!("{changes:?}") };
    assert_ne!(data.as_slice(), b"connected");
    assert_eq!(String::from_utf8_lossy(data), "Network is unreachable");
}

#[test]
fn the_environment_is_fixed_and_the_program_is_pid_1() {
    let bin = need_program!();
    std::env::set_var("DISTILL_SANDBOX_LEAK", "1");
    let opts = Options { source_date_epoch: 1700000000, ..Options::default() };
    let changes = run_in_image(&tree_with(bin), native(), &argv(&["env"]), &opts).unwrap();
    let Change::File { data, .. } = &changes[0] else { panic!("{changes:?}") };
    let mut env: Vec<&str> = std::str::from_utf8(data).unwrap().lines().collect();
    env.sort();
    assert_eq!(
        env,
        [
            "HOME=/nonexistent",
            "LC_ALL=C.UTF-8",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SOURCE_DATE_EPOCH=1700000000",
            "TMPDIR=/tmp",
            "TZ=UTC",
            "pid=1",
        ]
    );
}

#[test]
fn a_run_past_the_timeout_is_killed() {
    let bin = need_program!();
    let opts = Options { timeout: Duration::from_millis(500), package: Some("slowpkg".into()), ..Options::default() };
    let start = std::time::Instant::now();
    let err = run_in_image(&tree_with(bin), native(), &argv(&["sleep"]), &opts).unwrap_err();
    assert!(matches!(err, SandboxError::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains("(package slowpkg)"));
}

#[test]
fn a_failing_program_reports_its_status_and_stderr() {
    let bin = need_program!();
    let err = run_in_image(&tree_with(bin), native(), &argv(&["fail"]), &Options::default()).unwrap_err();
    let SandboxError::Failed { status, stderr, .. } = &err else { panic!("{err}") };
    assert_eq!((status.as_str(), stderr.as_str()), ("status 3", "cannot do it"));
}

#[test]
fn nothing_is_written_outside_the_sandbox() {
    let bin = need_program!();
    let host = std::env::temp_dir().join(format!("distill-escape-{}", std::process::id()));
    let path = host.to_str().unwrap();
    let changes = run_in_image(&tree_with(bin), native(), &argv(&["escape", path]), &Options::default()).unwrap();
    assert!(!host.exists(), "wrote {path} on the host");
    // Under /tmp inside the image: scratch, not a change.
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn forbidden_by_the_spec_runs_nothing() {
    let bin = need_program!();
    let opts = Options { allow: false, package: Some("libgdk-pixbuf-2.0-0".into()), ..Options::default() };
    let err = run_in_image(&tree_with(bin), native(), &argv(&["write"]), &opts).unwrap_err();
    assert!(matches!(err, SandboxError::Forbidden { .. }));
    assert!(err.to_string().contains("triggers.run"), "{err}");
}

#[test]
fn scripts_and_missing_programs_are_not_run() {
    let mut t = Tree::new();
    t.insert("/usr/bin/s", Entry::file(0o755, b"#!/bin/sh\ntouch /x\n".to_vec(), 1));
    let err = run_in_image(&t, native(), &["/usr/bin/s".to_string()], &Options::default()).unwrap_err();
    assert!(matches!(err, SandboxError::NotRunnable { .. }), "{err}");
    let err = run_in_image(&t, native(), &["/usr/bin/none".to_string()], &Options::default()).unwrap_err();
    assert!(err.to_string().contains("not in the image"), "{err}");
}

#[test]
fn stdout_goes_where_the_script_redirected_it() {
    let bin = need_program!();
    let opts = Options { stdout_to: Some("/etc/made.cache".into()), ..Options::default() };
    let changes = run_in_image(&tree_with(bin), native(), &argv(&["echo"]), &opts).unwrap();
    assert_eq!(
        changes,
        vec![Change::File { path: "/etc/made.cache".into(), data: b"to stdout\n".to_vec(), mode: 0o644 }]
    );
}
