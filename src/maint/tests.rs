//! Scripts written the way Debian packages write them (debhelper snippets,
//! hand-written postinsts), run over small trees.

use super::*;
use crate::tree::{Entry, Kind, Tree};

fn file(t: &mut Tree, path: &str, text: &str, package: &str) {
    let inode = t.new_inode();
    let mut e = Entry::file(0o644, text.as_bytes().to_vec(), inode);
    e.package = Some(package.into());
    t.insert(path, e);
}

fn pkg(name: &str, postinst: &str) -> PackageScripts {
    PackageScripts { name: name.into(), arch: "amd64".into(), postinst: Some(postinst.into()), ..Default::default() }
}

fn text(t: &Tree, path: &str) -> String {
    String::from_utf8(commands::read_file(t, path).expect(path)).unwrap()
}

fn link(t: &Tree, path: &str) -> String {
    match &t.get(path).unwrap_or_else(|| panic!("{path} missing")).kind {
        Kind::Symlink(s) => s.clone(),
        k => panic!("{path} is {k:?}"),
    }
}

#[test]
fn an_alternative_registered_in_a_case_arm_with_continuations_is_linked() {
    let mut t = Tree::new();
    file(&mut t, "/usr/sbin/rmt-tar", "", "tar");
    file(&mut t, "/usr/share/man/man8/rmt-tar.8.gz", "", "tar");
    let tar = pkg(
        "tar",
        "#!/bin/sh\nset -e\n\ncase \"$1\" in\n    configure|abort-deconfigure|abort-remove)\n\tupdate-alternatives --install /usr/sbin/rmt rmt /usr/sbin/rmt-tar 50 \\\n\t\t--slave /usr/share/man/man8/rmt.8.gz rmt.8.gz \\\n\t\t\t/usr/share/man/man8/rmt-tar.8.gz \n    ;;\n    upgrade)\n    ;;\nesac\n",
    );
    let report = apply(&mut t, "amd64", &[tar], None);
    assert_eq!(report.alternatives, vec!["/usr/sbin/rmt", "/usr/share/man/man8/rmt.8.gz"]);
    assert_eq!(link(&t, "/usr/sbin/rmt"), "/etc/alternatives/rmt");
    assert_eq!(t.resolve("/usr/sbin/rmt").as_deref(), Some("/usr/sbin/rmt-tar"));
    assert_eq!(report.warnings().count(), 0);
}

#[test]
fn loops_variables_and_dpkg_architecture_expand_like_sh() {
    // openjdk's shape: tools in a variable, slaves only when the man page exists.
    let mut t = Tree::new();
    for tool in ["java", "keytool"] {
        file(&mut t, &format!("/usr/lib/jvm/j/bin/{tool}"), "", "jre");
    }
    file(&mut t, "/usr/lib/jvm/j/man/man1/java.1.gz", "", "jre");
    file(&mut t, "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "", "libblas3");
    t.insert("/usr/share/man/man1", Entry::dir(0o755));
    let jre = pkg(
        "jre",
        "basedir=/usr/lib/jvm/j\nmandir=$basedir/man\njre_tools='java keytool'\npriority=1711\n\
         if [ -z \"$2\" ]; then update_alternatives=y; fi\n\
         if [ \"$update_alternatives\" = y ]; then\n\
         for i in $jre_tools; do\n  unset slave1 || true\n  if [ -e $mandir/man1/$i.1.gz ]; then\n    slave1=\"--slave /usr/share/man/man1/$i.1.gz $i.1.gz $mandir/man1/$i.1.gz\"\n  fi\n\
           update-alternatives --install /usr/bin/$i $i $basedir/bin/$i $priority $slave1\ndone\nfi\n",
    );
    let blas = pkg(
        "libblas3",
        "multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)\nupdate-alternatives --install /usr/lib/${multiarch}/libblas.so.3 \\\n  libblas.so.3-${multiarch} /usr/lib/${multiarch}/blas/libblas.so.3 10\n",
    );
    let report = apply(&mut t, "amd64", &[jre, blas], None);
    assert_eq!(
        report.alternatives,
        vec![
            "/usr/bin/java",
            "/usr/bin/keytool",
            "/usr/lib/x86_64-linux-gnu/libblas.so.3",
            "/usr/share/man/man1/java.1.gz"
        ]
    );
    assert_eq!(
        t.resolve("/usr/lib/x86_64-linux-gnu/libblas.so.3").as_deref(),
        Some("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3")
    );
}

#[test]
fn heredocs_and_functions_write_configuration_files() {
    let mut t = Tree::new();
    let p = pkg(
        "python3",
        "new_config_file()\n{\n    cat > /etc/python3/debian_config <<-EOF\n\t[DEFAULT]\n\tbyte-compile = standard\n\tEOF\n}\n\
         case \"$1\" in\n    configure)\n\t[ -d /etc/python3 ] || mkdir /etc/python3\n\t[ -f /etc/python3/debian_config ] || new_config_file\n    ;;\nesac\n",
    );
    apply(&mut t, "amd64", &[p], None);
    assert_eq!(text(&t, "/etc/python3/debian_config"), "[DEFAULT]\nbyte-compile = standard\n");
    // An existing file is left alone, as `[ -f … ] ||` says.
    let mut t2 = Tree::new();
    file(&mut t2, "/etc/python3/debian_config", "mine\n", "admin");
    let p = pkg("python3", "[ -f /etc/python3/debian_config ] || echo new > /etc/python3/debian_config\n");
    apply(&mut t2, "amd64", &[p], None);
    assert_eq!(text(&t2, "/etc/python3/debian_config"), "mine\n");
}

#[test]
fn system_accounts_get_the_lowest_free_ids_and_static_groups_come_from_base_passwd() {
    let mut t = Tree::new();
    file(
        &mut t,
        "/etc/passwd",
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
        "gen",
    );
    file(&mut t, "/etc/group", "root:x:0:\nnogroup:x:65534:\n", "gen");
    file(&mut t, "/usr/lib/dbus-1.0/dbus-daemon-launch-helper", "", "dbus");
    t.insert("/var/log", Entry::dir(0o755));
    let dbus = pkg(
        "dbus",
        "if ! getent passwd messagebus >/dev/null; then\n  adduser --system --home /nonexistent --no-create-home --group messagebus\nfi\n\
         if ! dpkg-statoverride --list /usr/lib/dbus-1.0/dbus-daemon-launch-helper >/dev/null; then\n  dpkg-statoverride --update --add root messagebus 4754 /usr/lib/dbus-1.0/dbus-daemon-launch-helper\nfi\n",
    );
    let tcpdump =
        pkg("tcpdump", "adduser --force-badname --system --home /nonexistent --no-create-home --quiet _tcpdump\n");
    let base = pkg(
        "base-files",
        "for f in wtmp btmp; do touch /var/log/$f; chown root:utmp /var/log/$f; chmod 664 /var/log/$f; done\n",
    );
    let report = apply(&mut t, "amd64", &[dbus, tcpdump, base], None);
    let passwd = text(&t, "/etc/passwd");
    let group = text(&t, "/etc/group");
    // 100 is base-passwd's `users` group: the first free system id is 101.
    assert!(passwd.contains("messagebus:x:101:101::/nonexistent:/usr/sbin/nologin\n"), "{passwd}");
    assert!(group.contains("messagebus:x:101:\n"), "{group}");
    assert!(passwd.contains("_tcpdump:x:102:65534::/nonexistent:/usr/sbin/nologin\n"), "{passwd}");
    assert!(group.contains("utmp:x:43:\n"), "{group}");
    let helper = t.get("/usr/lib/dbus-1.0/dbus-daemon-launch-helper").unwrap();
    assert_eq!((helper.uid, helper.gid, helper.mode), (0, 101, 0o4754));
    let wtmp = t.get("/var/log/wtmp").unwrap();
    assert_eq!((wtmp.gid, wtmp.mode), (43, 0o664));
    assert_eq!(report.warnings().count(), 0, "{:?}", report.records);
    // The same scripts again: the same ids (nothing depends on the host).
    let mut t3 = Tree::new();
    file(&mut t3, "/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n", "gen");
    file(&mut t3, "/etc/group", "root:x:0:\n", "gen");
    apply(&mut t3, "amd64", &[pkg("dbus", "adduser --system --group messagebus\n")], None);
    assert!(text(&t3, "/etc/passwd").contains("messagebus:x:101:101:"));
}

#[test]
fn debconf_answers_are_the_template_defaults_and_config_scripts_set_them() {
    let mut t = Tree::new();
    file(&mut t, "/usr/share/fontconfig/conf.avail/70-no-bitmaps.conf", "", "fontconfig-config");
    t.insert("/etc/fonts/conf.d", Entry::dir(0o755));
    let mut p = pkg(
        "fontconfig-config",
        ". /usr/share/debconf/confmodule\nCONFAVAIL=/usr/share/fontconfig/conf.avail\nCONFDIR=/etc/fonts/conf.d\n\
         db_get fontconfig/enable_bitmaps\nenable_bitmaps=\"$RET\"\nno_bitmaps=\"70-no-bitmaps.conf\"\n\
         case \"$enable_bitmaps\" in\n\"true\")\n\tln -s $CONFAVAIL/70-yes-bitmaps.conf $CONFDIR/70-yes-bitmaps.conf\n\t;;\n*)\n\tln -s $CONFAVAIL/$no_bitmaps $CONFDIR/$no_bitmaps\n\t;;\nesac\n\
         db_get tz/area\necho \"$RET\" > /etc/area\n",
    );
    p.templates = Some("Template: fontconfig/enable_bitmaps\nType: boolean\nDefault: false\nDescription: x\n\nTemplate: tz/area\nType: select\nChoices: Etc, Europe\n".into());
    p.config = Some(". /usr/share/debconf/confmodule\ndb_set tz/area Etc\n".into());
    apply(&mut t, "amd64", &[p], None);
    assert_eq!(link(&t, "/etc/fonts/conf.d/70-no-bitmaps.conf"), "/usr/share/fontconfig/conf.avail/70-no-bitmaps.conf");
    assert!(t.get("/etc/fonts/conf.d/70-yes-bitmaps.conf").is_none());
    assert_eq!(text(&t, "/etc/area"), "Etc\n");
}

#[test]
fn ucf_installs_the_template_and_phpenmod_links_modules_by_priority() {
    let mut t = Tree::new();
    file(&mut t, "/usr/lib/php/8.2/php.ini-production.cli", "memory_limit = -1\n", "php8.2-cli");
    file(
        &mut t,
        "/etc/php/8.2/mods-available/opcache.ini",
        "; configuration for php opcache module\n; priority=10\nzend_extension=opcache.so\n",
        "php8.2-opcache",
    );
    file(&mut t, "/etc/php/8.2/mods-available/ctype.ini", "extension=ctype.so\n", "php8.2-common");
    t.insert("/etc/php/8.2/cli/conf.d", Entry::dir(0o755));
    let cli = pkg(
        "php8.2-cli",
        "if [ \"$1\" = \"configure\" ]; then\n    phpini=\"/etc/php/8.2/cli/php.ini\"\n    ucf /usr/lib/php/8.2/php.ini-production.cli $phpini\n    ucfr php8.2-cli $phpini\n\
         \tmods=$(phpquery -M -v 8.2)\n\tfor mod in $mods; do\n\t    phpenmod -m -v 8.2 -s cli -q $mod\n\tdone\nfi\n",
    );
    let report = apply(&mut t, "amd64", &[cli], None);
    assert_eq!(text(&t, "/etc/php/8.2/cli/php.ini"), "memory_limit = -1\n");
    assert_eq!(link(&t, "/etc/php/8.2/cli/conf.d/10-opcache.ini"), "/etc/php/8.2/mods-available/opcache.ini");
    assert_eq!(link(&t, "/etc/php/8.2/cli/conf.d/20-ctype.ini"), "/etc/php/8.2/mods-available/ctype.ini");
    assert!(t.get("/var/lib/php/modules/8.2/cli/enabled_by_maint/ctype").is_some());
    assert_eq!(report.warnings().count(), 0);
}

#[test]
fn file_triggers_run_the_interested_postinst_once_with_triggered() {
    let mut t = Tree::new();
    file(
        &mut t,
        "/usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/2.10.0/loaders/libpixbufloader-svg.so",
        "",
        "librsvg2-common",
    );
    let mut p = pkg(
        "libgdk-pixbuf-2.0-0",
        "if [ \"$1\" = triggered ]; then\n    for trigger in $2; do\n        echo \"$trigger\" >> /etc/triggered\n    done\n    exit 0\nfi\n",
    );
    p.triggers = Some("interest-noawait /usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/2.10.0/loaders\ninterest-noawait /usr/lib/gdk-pixbuf-2.0/2.10.0/loaders\n".into());
    let mut libc = pkg("libc-bin", "if [ \"$1\" = triggered ]; then echo ldconfig > /etc/libc-triggered; fi\n");
    libc.triggers = Some("interest-await ldconfig\n".into());
    let mut other = pkg("libfoo", "true\n");
    other.triggers = Some("# Triggers added by dh_makeshlibs\nactivate-noawait ldconfig\n".into());
    apply(&mut t, "amd64", &[p, libc, other], None);
    assert_eq!(text(&t, "/etc/triggered"), "/usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/2.10.0/loaders\n");
    assert_eq!(text(&t, "/etc/libc-triggered"), "ldconfig\n");
}

#[test]
fn unknown_commands_on_system_paths_are_warnings_and_nothing_is_silent() {
    let mut t = Tree::new();
    let p = pkg(
        "x",
        "frobnicate --install /etc/x.conf\nsomething-harmless --version\npy3compile -p x\ndeb-systemd-helper enable x.service\n\
         if dpkg --compare-versions \"$2\" lt 1.0; then echo first-install > /etc/x-first; fi\n",
    );
    let report = apply(&mut t, "amd64", &[p], None);
    let warnings: Vec<&str> = report.warnings().map(|r| r.command.as_str()).collect();
    assert_eq!(warnings, vec!["frobnicate --install /etc/x.conf"]);
    let not: Vec<&str> = report.not_reproduced().map(|r| r.command.as_str()).collect();
    assert_eq!(not, vec!["frobnicate --install /etc/x.conf", "something-harmless --version", "py3compile -p x"]);
    assert!(report
        .records
        .iter()
        .any(|r| r.command.starts_with("deb-systemd-helper") && matches!(r.handling, Handling::NoEffect(_))));
    // An empty old version is older than any version (dpkg(1)).
    assert_eq!(text(&t, "/etc/x-first"), "first-install\n");
    assert_eq!(report.counts().3, 2);
}

#[test]
fn a_script_that_cannot_be_read_is_reported_not_half_run() {
    let mut t = Tree::new();
    let report = apply(&mut t, "amd64", &[pkg("broken", "if true; then\n  echo x > /etc/x\n")], None);
    assert_eq!(report.unreadable.len(), 1);
    assert!(report.unreadable[0].2.contains("line 3"), "{:?}", report.unreadable);
    assert!(t.get("/etc/x").is_none());
}

#[test]
fn diversions_with_rename_move_another_packages_file() {
    let mut t = Tree::new();
    file(&mut t, "/usr/bin/tool", "theirs", "other");
    let mut p = pkg("diverter", "true\n");
    p.preinst =
        Some("dpkg-divert --package diverter --add --rename --divert /usr/bin/tool.real /usr/bin/tool\n".into());
    apply(&mut t, "amd64", &[p], None);
    assert!(t.get("/usr/bin/tool").is_none());
    assert_eq!(text(&t, "/usr/bin/tool.real"), "theirs");
}

#[test]
fn scripts_never_write_outside_the_image_root() {
    let mut t = Tree::new();
    t.insert("/etc/up", Entry::symlink("../../../.."));
    let p = pkg("evil", "echo x > /etc/up/escape\nln -s /x /../../y\nmkdir -p /etc/up/dir\n");
    apply(&mut t, "amd64", &[p], None);
    assert!(t.iter().all(|(p, _)| !p.contains("..")));
}
