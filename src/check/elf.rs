//! ELF closure: every dynamically linked ELF file in the image finds its
//! program interpreter and every `DT_NEEDED` library inside the image,
//! searched the way glibc's `ld.so` does (`ld.so(8)`):
//!
//! 1. `DT_RPATH`, when the object has no `DT_RUNPATH`;
//! 2. `DT_RUNPATH`;
//! 3. the directories of `/etc/ld.so.conf` (only when the image has an
//!    `/etc/ld.so.cache`, which is what makes them visible to `ld.so`);
//! 4. the default directories: the multiarch directories of the object's
//!    machine (`/lib/x86_64-linux-gnu`, `/usr/lib/x86_64-linux-gnu`), then
//!    `/lib`, `/usr/lib` (and `/lib64`, `/usr/lib64` for 64-bit objects).
//!
//! `$ORIGIN` expands to the directory of the object. A candidate counts only
//! when it is an ELF file of the same class, byte order and machine (a
//! 32-bit library does not satisfy a 64-bit program), as `ld.so` skips
//! the others and goes on searching.
//!
//! Only the ELF header, the program headers, `PT_INTERP` and the dynamic
//! string table are read (through `PT_LOAD` segments, as `ld.so` does; the
//! section headers are never needed). Files not starting with `\x7fELF` are
//! skipped after four bytes.
//!
//! Not modelled: `LD_LIBRARY_PATH`, `DT_RPATH` inherited from the loading
//! executable, `dlopen`ed plugins, `$LIB`/`$PLATFORM`, hwcaps
//! subdirectories, and relative search directories (relative to the
//! process's working directory; they are skipped).

use std::collections::HashMap;

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _};
use object::{Endianness, ReadRef};

use super::{package_of, Finding};
use crate::tree::{normalize, Content, Entry, Kind, Tree};

/// ELF class, byte order and machine: what must match between an object
/// and the libraries it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Abi {
    /// ELFCLASS64.
    pub class64: bool,
    /// ELFDATA2MSB.
    pub big_endian: bool,
    /// `e_machine`.
    pub machine: u16,
    /// For 32-bit ARM: `Some(true)` hard-float, `Some(false)` soft-float
    /// (EABI flags), `None` when unspecified or another machine.
    pub arm_hard_float: Option<bool>,
}

impl Abi {
    /// Whether a library with ABI `lib` can be loaded into an object of this ABI.
    pub fn accepts(&self, lib: &Abi) -> bool {
        self.class64 == lib.class64
            && self.big_endian == lib.big_endian
            && self.machine == lib.machine
            && match (self.arm_hard_float, lib.arm_hard_float) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Debian multiarch tuples searched by default for this ABI.
    pub fn multiarch(&self) -> Vec<&'static str> {
        let m = elf::Machine(self.machine);
        let (c64, be) = (self.class64, self.big_endian);
        let t: &[&'static str] = match m {
            elf::EM_X86_64 if c64 => &["x86_64-linux-gnu"],
            elf::EM_X86_64 => &["x86_64-linux-gnux32"],
            elf::EM_386 => &["i386-linux-gnu"],
            elf::EM_AARCH64 if be => &["aarch64_be-linux-gnu"],
            elf::EM_AARCH64 => &["aarch64-linux-gnu"],
            elf::EM_ARM => match self.arm_hard_float {
                Some(true) => &["arm-linux-gnueabihf"],
                Some(false) => &["arm-linux-gnueabi"],
                None => &["arm-linux-gnueabihf", "arm-linux-gnueabi"],
            },
            elf::EM_PPC64 if be => &["powerpc64-linux-gnu"],
            elf::EM_PPC64 => &["powerpc64le-linux-gnu"],
            elf::EM_PPC => &["powerpc-linux-gnu"],
            elf::EM_S390 if c64 => &["s390x-linux-gnu"],
            elf::EM_S390 => &["s390-linux-gnu"],
            elf::EM_RISCV if c64 => &["riscv64-linux-gnu"],
            elf::EM_MIPS if c64 && !be => &["mips64el-linux-gnuabi64"],
            elf::EM_MIPS if c64 => &["mips64-linux-gnuabi64"],
            elf::EM_MIPS if !be => &["mipsel-linux-gnu"],
            elf::EM_MIPS => &["mips-linux-gnu"],
            elf::EM_LOONGARCH if c64 => &["loongarch64-linux-gnu"],
            elf::EM_SPARCV9 => &["sparc64-linux-gnu"],
            elf::EM_ALPHA => &["alpha-linux-gnu"],
            elf::EM_68K => &["m68k-linux-gnu"],
            elf::EM_SH => &["sh4-linux-gnu"],
            elf::EM_PARISC => &["hppa-linux-gnu"],
            _ => &[],
        };
        t.to_vec()
    }

    /// Human-readable, e.g. `ELF64 x86-64`.
    pub fn describe(&self) -> String {
        let m = elf::Machine(self.machine);
        let name = match m {
            elf::EM_X86_64 => "x86-64".to_string(),
            elf::EM_386 => "i386".to_string(),
            elf::EM_AARCH64 => "aarch64".to_string(),
            elf::EM_ARM => match self.arm_hard_float {
                Some(true) => "arm (hard-float)".to_string(),
                Some(false) => "arm (soft-float)".to_string(),
                None => "arm".to_string(),
            },
            elf::EM_PPC64 => "ppc64".to_string(),
            elf::EM_PPC => "ppc".to_string(),
            elf::EM_S390 => "s390".to_string(),
            elf::EM_RISCV => "riscv".to_string(),
            elf::EM_MIPS => "mips".to_string(),
            elf::EM_LOONGARCH => "loongarch".to_string(),
            other => format!("machine {}", other.0),
        };
        format!(
            "ELF{} {}{}",
            if self.class64 { 64 } else { 32 },
            name,
            if self.big_endian { " big-endian" } else { "" }
        )
    }
}

/// What the loader needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// Class, byte order, machine.
    pub abi: Abi,
    /// `e_type` (`ET_EXEC`, `ET_DYN`, …).
    pub e_type: u16,
    /// `PT_INTERP`, if any.
    pub interp: Option<String>,
    /// Whether the file has a `PT_DYNAMIC` segment.
    pub dynamic: bool,
    /// `DT_NEEDED` entries in order.
    pub needed: Vec<String>,
    /// `DT_RUNPATH`.
    pub runpath: Option<String>,
    /// `DT_RPATH`.
    pub rpath: Option<String>,
    /// `DT_SONAME` (what `ldconfig` names the cache entry and link after).
    pub soname: Option<String>,
}

/// True when `data` starts with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(&elf::ELFMAG)
}

/// Parse the loader-relevant parts of an ELF file; `None` when `data` is not
/// ELF or is malformed.
pub fn parse(data: &[u8]) -> Option<ElfInfo> {
    if !is_elf(data) {
        return None;
    }
    parse_ref(data, *data.get(4)?)
}

/// [`parse`] for file contents, reading only the parts the loader needs
/// (headers, the dynamic segment and its string table), so a large library
/// is not read into memory.
pub fn parse_content(content: &Content) -> Option<ElfInfo> {
    match content {
        Content::Bytes(b) => parse(b),
        Content::Range { .. } => {
            let mut ident = [0u8; 5];
            std::io::Read::read_exact(&mut content.reader(), &mut ident).ok()?;
            if !is_elf(&ident) {
                return None;
            }
            let cache = object::ReadCache::new(RangeOps { content, pos: 0 });
            parse_ref(&cache, ident[4])
        }
    }
}

/// Random access to a [`Content`] for `object`'s read cache.
struct RangeOps<'a> {
    content: &'a Content,
    pos: u64,
}

impl object::read::ReadCacheOps for RangeOps<'_> {
    fn len(&mut self) -> Result<u64, ()> {
        Ok(self.content.len())
    }
    fn seek(&mut self, pos: u64) -> Result<u64, ()> {
        self.pos = pos;
        Ok(pos)
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        let n = self.content.read_at(self.pos, buf).map_err(|_| ())?;
        self.pos += n as u64;
        Ok(n)
    }
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read(&mut buf[done..])? {
                0 => return Err(()),
                n => done += n,
            }
        }
        Ok(())
    }
}

fn parse_ref<'a, R: ReadRef<'a>>(data: R, class: u8) -> Option<ElfInfo> {
    match elf::FileClass(class) {
        elf::ELFCLASS32 => parse_as::<elf::FileHeader32<Endianness>, R>(data),
        elf::ELFCLASS64 => parse_as::<elf::FileHeader64<Endianness>, R>(data),
        _ => None,
    }
}

fn parse_as<'a, H: FileHeader<Endian = Endianness>, R: ReadRef<'a>>(data: R) -> Option<ElfInfo> {
    let header = H::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let machine = header.e_machine(endian);
    let arm_hard_float = if machine == elf::EM_ARM {
        let flags = header.e_flags(endian).0;
        if flags & elf::EF_ARM_ABI_FLOAT_HARD != 0 {
            Some(true)
        } else if flags & elf::EF_ARM_ABI_FLOAT_SOFT != 0 {
            Some(false)
        } else {
            None
        }
    } else {
        None
    };
    let abi =
        Abi { class64: header.is_class_64(), big_endian: header.is_big_endian(), machine: machine.0, arm_hard_float };
    let phdrs = header.program_headers(endian, data).ok()?;
    let mut info = ElfInfo {
        abi,
        e_type: header.e_type(endian).0,
        interp: None,
        dynamic: false,
        needed: Vec::new(),
        runpath: None,
        rpath: None,
        soname: None,
    };
    let mut dynamic = None;
    for ph in phdrs {
        if let Some(i) = ph.interpreter(endian, data).ok()? {
            info.interp = Some(String::from_utf8_lossy(i).into_owned());
        }
        if let Some(d) = ph.dynamic(endian, data).ok()? {
            dynamic = Some(d);
        }
    }
    let Some(dyns) = dynamic else { return Some(info) };
    info.dynamic = true;
    let (mut strtab, mut strsz) = (None, None);
    let (mut needed, mut runpath, mut rpath, mut soname) = (Vec::new(), None, None, None);
    for d in dyns {
        let (tag, val) = (d.tag(endian), d.val(endian));
        match tag {
            elf::DT_NULL => break,
            elf::DT_STRTAB => strtab = Some(val),
            elf::DT_STRSZ => strsz = Some(val),
            elf::DT_NEEDED => needed.push(val),
            elf::DT_RUNPATH => runpath = Some(val),
            elf::DT_RPATH => rpath = Some(val),
            elf::DT_SONAME => soname = Some(val),
            _ => {}
        }
    }
    if needed.is_empty() && runpath.is_none() && rpath.is_none() && soname.is_none() {
        return Some(info);
    }
    // The dynamic string table, found through the PT_LOAD segments.
    let (addr, size) = (strtab?, strsz?);
    let strings = phdrs
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .find_map(|p| p.data_range(endian, data, addr, size).ok().flatten())?;
    let string = |off: u64| -> Option<String> {
        let rest = strings.get(usize::try_from(off).ok()?..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    info.needed = needed.into_iter().map(string).collect::<Option<_>>()?;
    info.runpath = match runpath {
        Some(o) => Some(string(o)?),
        None => None,
    };
    info.rpath = match rpath {
        Some(o) => Some(string(o)?),
        None => None,
    };
    info.soname = match soname {
        Some(o) => Some(string(o)?),
        None => None,
    };
    Some(info)
}

/// Paths whose ELF files are not loaded by anything (separate debug info
/// keeps the program headers of the original, without their contents).
fn skipped(path: &str) -> bool {
    path.starts_with("/usr/lib/debug/")
}

/// The parsed ELF files of a tree, by path (regular files only).
pub fn elf_files(tree: &Tree) -> HashMap<&str, ElfInfo> {
    let mut out = HashMap::new();
    for (path, e) in tree.iter() {
        if let Kind::File { data, .. } = &e.kind {
            if skipped(path) || data.len() < 4 {
                continue;
            }
            if let Some(info) = parse_content(data) {
                out.insert(path.as_str(), info);
            }
        }
    }
    out
}

/// Directories of `/etc/ld.so.conf` and `/etc/ld.so.conf.d/*.conf` (one
/// level of `include` of that directory), when the image has an
/// `/etc/ld.so.cache`.
pub(crate) fn ld_so_conf_dirs(tree: &Tree) -> Vec<String> {
    let file_text = |p: &str| -> Option<String> {
        let real = tree.resolve(p)?;
        match &tree.get(&real)?.kind {
            Kind::File { data, .. } => Some(String::from_utf8_lossy(&data.read_lossy()).into_owned()),
            _ => None,
        }
    };
    if file_text("/etc/ld.so.cache").is_none() {
        return Vec::new();
    }
    let mut texts: Vec<String> = file_text("/etc/ld.so.conf").into_iter().collect();
    if let Some(d) = tree.resolve("/etc/ld.so.conf.d") {
        let confs: Vec<String> = tree
            .children(&d)
            .filter(|(p, _)| p.ends_with(".conf") && !p[d.len() + 1..].contains('/'))
            .map(|(p, _)| p.clone())
            .collect();
        texts.extend(confs.iter().filter_map(|p| file_text(p)));
    }
    let mut dirs = Vec::new();
    for t in texts {
        for line in t.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with("include") || !line.starts_with('/') {
                continue;
            }
            if let Some(n) = normalize(line) {
                if !dirs.contains(&n) {
                    dirs.push(n);
                }
            }
        }
    }
    dirs
}

/// Expand `$ORIGIN` / `${ORIGIN}` in a search path list and split it.
fn expand(list: &str, origin: &str) -> Vec<String> {
    list.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        .filter(|d| d.starts_with('/'))
        .filter_map(|d| normalize(&d))
        .collect()
}

/// One search directory with where it came from (for messages).
struct SearchDir {
    dir: String,
    from: &'static str,
}

fn search_dirs(path: &str, info: &ElfInfo, conf_dirs: &[String]) -> Vec<SearchDir> {
    let origin = path.rsplit_once('/').map(|(d, _)| if d.is_empty() { "/" } else { d }).unwrap_or("/");
    let mut out = Vec::new();
    match (&info.runpath, &info.rpath) {
        (Some(rp), _) => out.extend(expand(rp, origin).into_iter().map(|dir| SearchDir { dir, from: "RUNPATH" })),
        (None, Some(rp)) => out.extend(expand(rp, origin).into_iter().map(|dir| SearchDir { dir, from: "RPATH" })),
        (None, None) => {}
    }
    out.extend(conf_dirs.iter().map(|d| SearchDir { dir: d.clone(), from: "ld.so.conf" }));
    out.extend(default_dirs(&info.abi, &[]).into_iter().map(|dir| SearchDir { dir, from: "" }));
    out
}

/// The loader's search directories for objects of `abi` without
/// `DT_RPATH`/`DT_RUNPATH`: `conf_dirs` (from [`ld_so_conf_dirs`]), the
/// multiarch directories, `/lib`, `/usr/lib` (and `/lib64`, `/usr/lib64`
/// for 64-bit), as `ld.so(8)` searches them.
pub(crate) fn default_dirs(abi: &Abi, conf_dirs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = conf_dirs.to_vec();
    for t in abi.multiarch() {
        out.push(format!("/lib/{t}"));
        out.push(format!("/usr/lib/{t}"));
    }
    out.extend(["/lib".to_string(), "/usr/lib".to_string()]);
    if abi.class64 {
        out.extend(["/lib64".to_string(), "/usr/lib64".to_string()]);
    }
    out
}

fn describe_dirs(dirs: &[SearchDir]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut last_from = "";
    for d in dirs {
        if !d.from.is_empty() && d.from != last_from {
            parts.push(format!("{} {}", d.from, d.dir));
        } else {
            parts.push(d.dir.clone());
        }
        last_from = d.from;
    }
    parts.join(", ")
}

/// What is at `path` for a loader wanting `abi`.
enum Candidate {
    Ok,
    Missing,
    Wrong(String),
}

fn candidate(tree: &Tree, elves: &HashMap<&str, ElfInfo>, path: &str, abi: &Abi) -> Candidate {
    let Some(real) = tree.resolve(path) else { return Candidate::Missing };
    match tree.get(&real).map(|e| &e.kind) {
        Some(Kind::File { .. }) => match elves.get(real.as_str()) {
            Some(i) if abi.accepts(&i.abi) => Candidate::Ok,
            Some(i) => Candidate::Wrong(format!("{path} is {}", i.abi.describe())),
            None => Candidate::Wrong(format!("{path} is not an ELF file")),
        },
        Some(Kind::Dir) => Candidate::Wrong(format!("{path} is a directory")),
        _ => Candidate::Missing,
    }
}

/// The library file name a finding of [`elf_closure`] says is missing
/// (`needs LIB, which is not in the image …`); `None` for other findings
/// and for `DT_NEEDED` entries that are paths.
pub fn missing_library(problem: &str) -> Option<&str> {
    let (lib, _) = problem.strip_prefix("needs ")?.split_once(", which is not in the image")?;
    (!lib.contains('/')).then_some(lib)
}

/// Findings for interpreters and `DT_NEEDED` libraries that do not resolve
/// inside the image.
pub fn elf_closure(tree: &Tree) -> Vec<Finding> {
    elf_closure_in(tree, &elf_files(tree))
}

/// [`elf_closure`] over the ELF files already parsed by [`elf_files`].
pub fn elf_closure_in(tree: &Tree, elves: &HashMap<&str, ElfInfo>) -> Vec<Finding> {
    if elves.is_empty() {
        return Vec::new();
    }
    let conf_dirs = ld_so_conf_dirs(tree);
    // File name → ELF files of that name anywhere in the image. A shared
    // library's NEEDED is also met by a library the process loaded before
    // it, by path: the JVM's launcher loads lib/server/libjvm.so, and the
    // JDK's other libraries then name only `libjvm.so`.
    let mut by_name: HashMap<&str, Vec<&ElfInfo>> = HashMap::new();
    for (p, i) in elves {
        by_name.entry(p.rsplit('/').next().unwrap_or(p)).or_default().push(i);
    }
    let mut out = Vec::new();
    let mut paths: Vec<&&str> = elves.keys().collect();
    paths.sort();
    for path in paths {
        let info = &elves[*path];
        let entry: &Entry = tree.get(path).expect("path from the tree");
        let mut finding =
            |problem: String| out.push(Finding { path: path.to_string(), package: package_of(entry), problem });
        if let Some(interp) = &info.interp {
            match candidate(tree, elves, interp, &info.abi) {
                Candidate::Ok => {}
                Candidate::Missing => finding(format!("program interpreter {interp} is not in the image")),
                Candidate::Wrong(why) => {
                    finding(format!("program interpreter {interp} is not usable: {why}, not {}", info.abi.describe()))
                }
            }
        }
        if info.needed.is_empty() {
            continue;
        }
        let dirs = search_dirs(path, info, &conf_dirs);
        for lib in &info.needed {
            let mut skipped = Vec::new();
            let found = if lib.contains('/') {
                let p = if lib.starts_with('/') { normalize(lib) } else { normalize(&format!("/{lib}")) };
                match p.map(|p| candidate(tree, elves, &p, &info.abi)) {
                    Some(Candidate::Ok) => true,
                    Some(Candidate::Wrong(w)) => {
                        skipped.push(w);
                        false
                    }
                    _ => false,
                }
            } else {
                dirs.iter().any(|d| {
                    match candidate(tree, elves, &format!("{}/{lib}", d.dir.trim_end_matches('/')), &info.abi) {
                        Candidate::Ok => true,
                        Candidate::Missing => false,
                        Candidate::Wrong(w) => {
                            skipped.push(w);
                            false
                        }
                    }
                })
            };
            let preloaded = || {
                info.interp.is_none()
                    && by_name.get(lib.as_str()).is_some_and(|v| v.iter().any(|l| info.abi.accepts(&l.abi)))
            };
            if !found && !preloaded() {
                let mut problem = if lib.contains('/') {
                    format!("needs {lib}, which is not in the image")
                } else {
                    format!("needs {lib}, which is not in the image (searched {})", describe_dirs(&dirs))
                };
                if !skipped.is_empty() {
                    problem.push_str(&format!(
                        "; skipped {} (this file is {})",
                        skipped.join(", "),
                        info.abi.describe()
                    ));
                }
                finding(problem);
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testelf {
    //! Minimal ELF images for tests: one `PT_LOAD` over the whole file,
    //! optional `PT_INTERP`, and a `PT_DYNAMIC` with `DT_NEEDED` /
    //! `DT_RUNPATH` entries.

    /// Build a little-endian ELF (`class64`, `machine`) of type ET_DYN.
    pub fn build(class64: bool, machine: u16, interp: Option<&str>, needed: &[&str], runpath: Option<&str>) -> Vec<u8> {
        let (ehsize, phentsize, dynsize) = if class64 { (64usize, 56usize, 16usize) } else { (52, 32, 8) };
        let nph = 2 + usize::from(interp.is_some());
        let mut strtab = vec![0u8];
        let mut dyns: Vec<(u64, u64)> = Vec::new();
        for n in needed {
            dyns.push((1, strtab.len() as u64)); // DT_NEEDED
            strtab.extend_from_slice(n.as_bytes());
            strtab.push(0);
        }
        if let Some(r) = runpath {
            dyns.push((29, strtab.len() as u64)); // DT_RUNPATH
            strtab.extend_from_slice(r.as_bytes());
            strtab.push(0);
        }
        let interp_off = ehsize + nph * phentsize;
        let interp_bytes: Vec<u8> = interp.map(|i| [i.as_bytes(), &[0]].concat()).unwrap_or_default();
        let str_off = interp_off + interp_bytes.len();
        let mut dyn_off = str_off + strtab.len();
        dyn_off = dyn_off.div_ceil(8) * 8;
        dyns.push((5, str_off as u64)); // DT_STRTAB
        dyns.push((10, strtab.len() as u64)); // DT_STRSZ
        dyns.push((0, 0)); // DT_NULL
        let total = dyn_off + dyns.len() * dynsize;

        let mut out = Vec::with_capacity(total);
        let w = |out: &mut Vec<u8>, v: u64, n: usize| out.extend_from_slice(&v.to_le_bytes()[..n]);
        let word = if class64 { 8 } else { 4 };
        // e_ident
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', if class64 { 2 } else { 1 }, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        w(&mut out, 3, 2); // e_type ET_DYN
        w(&mut out, machine.into(), 2);
        w(&mut out, 1, 4); // e_version
        w(&mut out, 0, word); // e_entry
        w(&mut out, ehsize as u64, word); // e_phoff
        w(&mut out, 0, word); // e_shoff
        w(&mut out, 0, 4); // e_flags
        w(&mut out, ehsize as u64, 2);
        w(&mut out, phentsize as u64, 2);
        w(&mut out, nph as u64, 2);
        w(&mut out, 0, 2); // e_shentsize
        w(&mut out, 0, 2); // e_shnum
        w(&mut out, 0, 2); // e_shstrndx
        assert_eq!(out.len(), ehsize);
        let ph = |out: &mut Vec<u8>, p_type: u32, off: usize, size: usize| {
            if class64 {
                w(out, p_type.into(), 4);
                w(out, 4, 4); // flags
                w(out, off as u64, 8);
                w(out, off as u64, 8); // vaddr
                w(out, off as u64, 8); // paddr
                w(out, size as u64, 8);
                w(out, size as u64, 8);
                w(out, 8, 8);
            } else {
                w(out, p_type.into(), 4);
                w(out, off as u64, 4);
                w(out, off as u64, 4);
                w(out, off as u64, 4);
                w(out, size as u64, 4);
                w(out, size as u64, 4);
                w(out, 4, 4); // flags
                w(out, 4, 4);
            }
        };
        if interp.is_some() {
            ph(&mut out, 3, interp_off, interp_bytes.len()); // PT_INTERP
        }
        ph(&mut out, 1, 0, total); // PT_LOAD
        ph(&mut out, 2, dyn_off, dyns.len() * dynsize); // PT_DYNAMIC
        out.extend_from_slice(&interp_bytes);
        out.extend_from_slice(&strtab);
        out.resize(dyn_off, 0);
        for (tag, val) in dyns {
            w(&mut out, tag, word);
            w(&mut out, val, word);
        }
        assert_eq!(out.len(), total);
        out
    }

    /// x86-64 `e_machine`.
    pub const X86_64: u16 = 62;
    /// i386 `e_machine`.
    pub const I386: u16 = 3;
}

#[cfg(test)]
mod tests {
    use super::testelf::{build, I386, X86_64};
    use super::*;

    fn file(t: &mut Tree, path: &str, data: Vec<u8>) {
        let inode = t.new_inode();
        t.insert(path, Entry::file(0o755, data, inode));
    }

    /// A merged-/usr x86-64 base: `/lib` → `usr/lib`, `/lib64` →
    /// `usr/lib64`, the loader in the multiarch dir with the `/lib64` link.
    fn base() -> Tree {
        let mut t = Tree::new();
        t.insert("/usr/lib/x86_64-linux-gnu", Entry::dir(0o755));
        t.insert("/usr/lib64", Entry::dir(0o755));
        t.insert("/lib", Entry::symlink("usr/lib"));
        t.insert("/lib64", Entry::symlink("usr/lib64"));
        file(&mut t, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", build(true, X86_64, None, &[], None));
        t.insert("/usr/lib64/ld-linux-x86-64.so.2", Entry::symlink("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
        file(
            &mut t,
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            build(true, X86_64, Some("/lib64/ld-linux-x86-64.so.2"), &["ld-linux-x86-64.so.2"], None),
        );
        t
    }

    const INTERP: Option<&str> = Some("/lib64/ld-linux-x86-64.so.2");

    #[test]
    fn parses_interp_needed_and_runpath() {
        let data = build(true, X86_64, INTERP, &["libfoo.so.1", "libc.so.6"], Some("$ORIGIN/../lib"));
        let i = parse(&data).unwrap();
        assert_eq!(i.interp.as_deref(), INTERP);
        assert_eq!(i.needed, ["libfoo.so.1", "libc.so.6"]);
        assert_eq!(i.runpath.as_deref(), Some("$ORIGIN/../lib"));
        assert!(i.abi.class64);
        let i32 = parse(&build(false, I386, None, &["libc.so.6"], None)).unwrap();
        assert!(!i32.abi.class64);
        assert_eq!(i32.needed, ["libc.so.6"]);
        assert!(parse(b"\x7fELF garbage").is_none());
        assert!(parse(b"not elf").is_none());
    }

    #[test]
    fn complete_closure_passes_through_lib64_link() {
        let mut t = base();
        file(&mut t, "/usr/bin/app", build(true, X86_64, INTERP, &["libc.so.6"], None));
        assert_eq!(elf_closure(&t), vec![]);
    }

    #[test]
    fn missing_needed_is_reported_with_search_path() {
        let mut t = base();
        file(&mut t, "/usr/bin/app", build(true, X86_64, INTERP, &["libfoo.so.1", "libc.so.6"], None));
        let f = elf_closure(&t);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "/usr/bin/app");
        assert!(f[0].problem.starts_with("needs libfoo.so.1, which is not in the image (searched /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib, /lib64, /usr/lib64)"), "{}", f[0].problem);
    }

    #[test]
    fn missing_interpreter_is_reported() {
        let mut t = Tree::new();
        file(&mut t, "/app", build(true, X86_64, INTERP, &[], None));
        let f = elf_closure(&t);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].problem, "program interpreter /lib64/ld-linux-x86-64.so.2 is not in the image");
        // A link to a directory is no interpreter either.
        t.insert("/lib64/ld-linux-x86-64.so.2", Entry::dir(0o755));
        assert!(elf_closure(&t)[0].problem.contains("is a directory"));
    }

    #[test]
    fn runpath_with_origin_is_honoured() {
        let mut t = base();
        file(
            &mut t,
            "/opt/app/bin/app",
            build(true, X86_64, INTERP, &["libapp.so.1", "libc.so.6"], Some("$ORIGIN/../lib")),
        );
        let f = elf_closure(&t);
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains("(searched RUNPATH /opt/app/lib, /lib/x86_64-linux-gnu"), "{}", f[0].problem);
        file(&mut t, "/opt/app/lib/libapp.so.1.2", build(true, X86_64, None, &["libc.so.6"], None));
        t.insert("/opt/app/lib/libapp.so.1", Entry::symlink("libapp.so.1.2"));
        assert_eq!(elf_closure(&t), vec![]);
    }

    #[test]
    fn shared_library_needs_are_checked() {
        let mut t = base();
        file(&mut t, "/usr/lib/x86_64-linux-gnu/libx.so.1", build(true, X86_64, None, &["libmissing.so.2"], None));
        let f = elf_closure(&t);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, "/usr/lib/x86_64-linux-gnu/libx.so.1");
        assert!(f[0].problem.starts_with("needs libmissing.so.2"));
    }

    #[test]
    fn a_32_bit_library_does_not_satisfy_a_64_bit_program() {
        let mut t = base();
        file(&mut t, "/usr/lib/libfoo.so.1", build(false, I386, None, &[], None));
        file(&mut t, "/usr/bin/app", build(true, X86_64, INTERP, &["libfoo.so.1"], None));
        let f = elf_closure(&t);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].problem.contains("skipped /lib/libfoo.so.1 is ELF32 i386"), "{}", f[0].problem);
        // The right one further down the path is found.
        file(&mut t, "/usr/lib64/libfoo.so.1", build(true, X86_64, None, &[], None));
        assert_eq!(elf_closure(&t), vec![]);
    }

    #[test]
    fn non_elf_files_are_not_parsed_and_not_candidates() {
        let mut t = base();
        file(&mut t, "/usr/share/icu/data.dat", vec![0u8; 1 << 16]);
        file(&mut t, "/usr/lib/x86_64-linux-gnu/libfoo.so.1", b"INPUT(-lfoo)".to_vec());
        file(&mut t, "/usr/bin/app", build(true, X86_64, INTERP, &["libfoo.so.1"], None));
        let f = elf_closure(&t);
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains("is not an ELF file"));
    }

    #[test]
    fn ld_so_conf_dirs_count_only_with_a_cache() {
        let mut t = base();
        file(&mut t, "/opt/lib/libfoo.so.1", build(true, X86_64, None, &[], None));
        file(&mut t, "/usr/bin/app", build(true, X86_64, INTERP, &["libfoo.so.1"], None));
        file(&mut t, "/etc/ld.so.conf.d/opt.conf", b"# opt\n/opt/lib\n".to_vec());
        assert_eq!(elf_closure(&t).len(), 1);
        file(&mut t, "/etc/ld.so.cache", b"cache".to_vec());
        assert_eq!(elf_closure(&t), vec![]);
    }

    #[test]
    fn host_binaries_parse_when_present() {
        // Real files, when the host has them: /bin/true needs libc.so.6 and
        // names the x86-64 loader.
        let Ok(data) = std::fs::read("/bin/true") else { return };
        let Some(i) = parse(&data) else { return };
        if i.abi.machine == X86_64 && i.abi.class64 {
            assert_eq!(i.interp.as_deref(), INTERP);
            assert!(i.needed.iter().any(|n| n == "libc.so.6"));
        }
    }
}
