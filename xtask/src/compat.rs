//! `cargo xtask compat`: iu's loader against libbpf on the objects the
//! kernel's own BPF selftests build (issue #22).
//!
//! The sources are `tools/testing/selftests/bpf/progs/*.c` of Debian's
//! `linux-source-6.12`, compiled with clang-22 and the selftests
//! Makefile's flags against a `vmlinux.h` of the running kernel. Each
//! object is loaded in its own process, with a timeout and nothing
//! attached, by the tree's own libbpf (`xtask/peers/compat_libbpf.c`,
//! linked with the libbpf built from `tools/lib/bpf`) and by iu
//! (`iu-loader load`). The report counts the objects libbpf loads, how
//! many of those iu loads, and groups iu's refusals by cause.
//!
//! `--subset` loads only the objects of `tests/compat/expected.txt` with iu
//! and compares each outcome with the verdict written there (part of
//! `cargo xtask test`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct CompatArgs {
    /// Only the regression subset of `tests/compat/expected.txt`, loaded
    /// with iu and compared with its expected verdicts.
    #[arg(long)]
    pub subset: bool,
    /// Only objects whose name contains this.
    pub filter: Option<String>,
    /// Seconds one load may take before it counts as a hang.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
const TREE: &str = "linux-source-6.12";
const PROGS: &str = "tools/testing/selftests/bpf/progs";
const EXPECTED: &str = "tests/compat/expected.txt";
/// Where the libbpf loader pins maps (bpffs allows directories).
const PIN_ROOT: &str = "/sys/fs/bpf/iu-compat";

/// Per-file flags of the selftests Makefile.
fn extra_flags(name: &str) -> &'static [&'static str] {
    match name {
        "bind4_prog" | "bind6_prog" | "dynptr_fail" | "linked_list_fail" | "map_kptr_fail"
        | "syscall" | "test_pkt_md_access" | "test_sk_lookup" | "timer_crash"
        | "test_global_func9" | "verifier_nocsr" => &["-fno-strict-aliasing"],
        "test_l4lb_noinline" | "test_xdp_noinline" => &["-fno-inline"],
        _ => &[],
    }
}

/// What one loader did with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Loaded,
    Refused(String),
    Hung,
    Crashed(String),
}

impl Outcome {
    fn loaded(&self) -> bool {
        *self == Outcome::Loaded
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Loaded => "loads".to_owned(),
            Outcome::Refused(why) => format!("refused: {why}"),
            Outcome::Hung => "hung (timeout)".to_owned(),
            Outcome::Crashed(how) => format!("crashed: {how}"),
        }
    }
}

/// Runs `command` with a timeout: loaded when it exits 0, refused (with
/// its last meaningful stderr line) when it exits 1, otherwise a hang or
/// a crash.
fn outcome(command: &mut Command, timeout: u64) -> Result<Outcome> {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let output = Command::new("timeout")
        .args(["-k", "5", &timeout.to_string()])
        .arg(&program)
        .args(&args)
        .output()
        .with_context(|| format!("cannot run {}", Path::new(&program).display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    Ok(match output.status.code() {
        Some(0) => Outcome::Loaded,
        Some(1) => Outcome::Refused(reason(&stderr)),
        Some(124) | Some(137) => Outcome::Hung,
        Some(code) => Outcome::Crashed(format!("exit status {code}: {}", reason(&stderr))),
        None => Outcome::Crashed("killed by a signal".to_owned()),
    })
}

/// The line of a loader's stderr that says why: iu's error, or libbpf's
/// last warning.
fn reason(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let libbpf = |l: &&&str| l.starts_with("libbpf: ") && !l.contains("failed to load object");
    lines
        .iter()
        .find(|l| l.starts_with("iu-loader: "))
        .or_else(|| {
            // libbpf's first error, not its closing "failed to load object".
            lines
                .iter()
                .filter(libbpf)
                .find(|l| l.contains("failed") || l.contains("invalid") || l.contains("error"))
        })
        .or_else(|| lines.iter().rev().find(libbpf))
        .or(lines.last())
        .map(|l| {
            l.trim_start_matches("iu-loader: ")
                .chars()
                .take(300)
                .collect()
        })
        .unwrap_or_default()
}

/// A refusal reduced to its cause, for grouping: names in backticks,
/// numbers and paths left out.
fn cause(why: &str) -> String {
    let mut out = String::new();
    let mut in_name = false;
    for c in why.chars() {
        match c {
            '`' => {
                in_name = !in_name;
                if in_name {
                    out.push_str("`…`");
                }
            }
            _ if in_name => {}
            '0'..='9' => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            _ => out.push(c),
        }
    }
    let first = out.split(['\n', ':']).take(2).collect::<Vec<_>>().join(":");
    first.chars().take(140).collect()
}

struct Workspace {
    dir: PathBuf,
    tree: PathBuf,
}

impl Workspace {
    /// Installs what the run needs and unpacks the kernel tree's tools
    /// (once).
    fn prepare(with_libbpf: bool) -> Result<Self> {
        crate::toolchain::apt_install(&[
            "linux-source-6.12",
            "clang-22",
            "bpftool",
            "make",
            "libelf-dev",
            "zlib1g-dev",
        ])?;
        let dir = crate::root().join("target/compat");
        let tree = dir.join(TREE);
        if !tree.join(PROGS).is_dir() {
            std::fs::create_dir_all(&dir)?;
            eprintln!("xtask: compat: unpacking the selftests and libbpf from {SOURCE_TARBALL}");
            crate::run_cmd(
                Command::new("tar")
                    .arg("-xJf")
                    .arg(SOURCE_TARBALL)
                    .arg("-C")
                    .arg(&dir)
                    .arg(format!("{TREE}/tools"))
                    .arg(format!("{TREE}/scripts/bpf_doc.py"))
                    .arg(format!("{TREE}/include/uapi/linux/bpf.h")),
            )?;
        }
        let ws = Self { dir, tree };
        let include = ws.out().join("include");
        // libbpf's headers (bpf_helpers.h, ...) come from its install step.
        if !include.join("bpf/bpf_helpers.h").exists() || with_libbpf && !ws.libbpf().exists() {
            eprintln!("xtask: compat: building the tree's libbpf");
            crate::run_cmd(
                Command::new("make")
                    .current_dir(ws.tree.join("tools/lib/bpf"))
                    .args(["-s", "-j2", "BUILD_STATIC_ONLY=1", "prefix="])
                    .arg(format!(
                        "OBJDIR={}",
                        ws.out().join("libbpf-build").display()
                    ))
                    .arg(format!("DESTDIR={}", ws.out().display()))
                    .args(["install_headers", "install"]),
            )?;
        }
        let vmlinux = include.join("vmlinux.h");
        if !vmlinux.exists() {
            crate::build::write_vmlinux_h(&vmlinux)?;
        }
        Ok(ws)
    }

    fn out(&self) -> PathBuf {
        self.dir.join("out")
    }

    fn libbpf(&self) -> PathBuf {
        self.out().join("lib64/libbpf.a")
    }

    fn objects(&self) -> PathBuf {
        self.dir.join("objects")
    }

    /// Every source file of the selftests' programs, by name.
    fn sources(&self) -> Result<BTreeMap<String, PathBuf>> {
        let mut sources = BTreeMap::new();
        for entry in std::fs::read_dir(self.tree.join(PROGS))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "c")
                && let Some(name) = path.file_stem().and_then(|s| s.to_str())
            {
                sources.insert(name.to_owned(), path);
            }
        }
        Ok(sources)
    }

    /// Compiles `names` (two at a time; an object newer than its source is
    /// kept): the objects that compiled, by name.
    fn compile(&self, names: &[(String, PathBuf)]) -> Result<BTreeMap<String, PathBuf>> {
        std::fs::create_dir_all(self.objects())?;
        let system = system_includes()?;
        let selftests = self.tree.join("tools/testing/selftests/bpf");
        let include = self.out().join("include");
        let uapi = self.tree.join("tools/include/uapi");
        let queue = Mutex::new(names.iter());
        let built = Mutex::new(BTreeMap::new());
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    loop {
                        let next = queue.lock().map(|mut q| q.next().cloned());
                        let Ok(Some((name, source))) = next else {
                            return;
                        };
                        let object = self.objects().join(format!("{name}.bpf.o"));
                        let fresh = modified(&object)
                            .is_some_and(|o| modified(&source).is_some_and(|s| o >= s));
                        let ok = fresh
                            || Command::new("clang-22")
                                .args(["-g", "-O2", "-target", "bpf", "-mcpu=v3"])
                                .args(["-D__TARGET_ARCH_x86", "-mlittle-endian"])
                                .args(["-Wno-compare-distinct-pointer-types"])
                                .arg("-DENABLE_ATOMICS_TESTS")
                                .arg("-I")
                                .arg(&include)
                                .arg("-I")
                                .arg(&selftests)
                                .arg("-I")
                                .arg(&uapi)
                                .args(extra_flags(&name))
                                .args(&system)
                                .arg("-c")
                                .arg(&source)
                                .arg("-o")
                                .arg(&object)
                                .output()
                                .is_ok_and(|o| o.status.success());
                        if ok && let Ok(mut built) = built.lock() {
                            built.insert(name, object);
                        }
                    }
                });
            }
        });
        built
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a compile thread panicked"))
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// clang's system include directories as `-idirafter` flags, as the
/// selftests Makefile passes them (the BPF target has none of its own).
fn system_includes() -> Result<Vec<String>> {
    let output = Command::new("clang-22")
        .args(["-v", "-E", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run clang-22")?;
    let text = String::from_utf8_lossy(&output.stderr);
    Ok(text
        .lines()
        .skip_while(|l| !l.starts_with("#include <...> search starts here:"))
        .skip(1)
        .take_while(|l| !l.starts_with("End of search list."))
        .flat_map(|l| ["-idirafter".to_owned(), l.trim().to_owned()])
        .collect())
}

/// Builds `iu-loader` (the test profile's build, which `cargo xtask test`
/// shares) and returns its path.
fn iu_loader() -> Result<PathBuf> {
    crate::run_cmd(crate::cargo().args(["build", "-q", "-p", "iu-loader"]))?;
    Ok(crate::root().join("target/debug/iu-loader"))
}

/// Builds the libbpf loader against the tree's libbpf.
fn libbpf_loader(ws: &Workspace) -> Result<PathBuf> {
    let binary = ws.dir.join("compat_libbpf");
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-O2", "-Wall", "-I"])
            .arg(ws.out().join("include"))
            .arg("-o")
            .arg(&binary)
            .arg(crate::root().join("xtask/peers/compat_libbpf.c"))
            .arg(ws.libbpf())
            .args(["-lelf", "-lz"]),
    )?;
    Ok(binary)
}

pub fn run(args: &CompatArgs) -> Result<()> {
    if !crate::toolchain::is_root() {
        bail!("loading BPF objects needs root: run `sudo -E cargo xtask compat`");
    }
    if args.subset {
        return subset(args);
    }
    let ws = Workspace::prepare(true)?;
    let sources: Vec<(String, PathBuf)> = ws
        .sources()?
        .into_iter()
        .filter(|(name, _)| {
            args.filter
                .as_ref()
                .is_none_or(|f| name.contains(f.as_str()))
        })
        .collect();
    eprintln!(
        "xtask: compat: compiling {} selftest programs",
        sources.len()
    );
    let objects = ws.compile(&sources)?;
    let libbpf = libbpf_loader(&ws)?;
    let iu = iu_loader()?;
    // libbpf pins maps marked `LIBBPF_PIN_BY_NAME`: here, removed after.
    let pins = PathBuf::from(PIN_ROOT);
    let _ = std::fs::remove_dir_all(&pins);
    std::fs::create_dir_all(&pins).with_context(|| format!("cannot create {PIN_ROOT}"))?;
    let mut rows = vec![];
    for (i, (name, object)) in objects.iter().enumerate() {
        if i % 50 == 0 {
            eprintln!("xtask: compat: loading {}/{}", i + 1, objects.len());
        }
        let by_libbpf = outcome(Command::new(&libbpf).arg(object).arg(&pins), args.timeout)?;
        let by_iu = outcome(Command::new(&iu).arg("load").arg(object), args.timeout)?;
        rows.push((name.clone(), by_libbpf, by_iu));
    }
    std::fs::remove_dir_all(&pins).with_context(|| format!("cannot remove {PIN_ROOT}"))?;
    report(&ws, sources.len(), &rows)
}

fn report(ws: &Workspace, sources: usize, rows: &[(String, Outcome, Outcome)]) -> Result<()> {
    let mut tsv = String::from("object\tlibbpf\tiu\n");
    for (name, libbpf, iu) in rows {
        tsv.push_str(&format!(
            "{name}\t{}\t{}\n",
            libbpf.describe(),
            iu.describe()
        ));
    }
    let results = ws.dir.join("results.tsv");
    std::fs::write(&results, tsv)?;

    let libbpf_loads = rows.iter().filter(|(_, l, _)| l.loaded()).count();
    let both = rows
        .iter()
        .filter(|(_, l, i)| l.loaded() && i.loaded())
        .count();
    let iu_only: Vec<&str> = rows
        .iter()
        .filter(|(_, l, i)| !l.loaded() && i.loaded())
        .map(|(n, ..)| n.as_str())
        .collect();
    let broken: Vec<String> = rows
        .iter()
        .filter(|(_, _, i)| matches!(i, Outcome::Hung | Outcome::Crashed(_)))
        .map(|(n, _, i)| format!("{n} ({})", i.describe()))
        .collect();
    let mut causes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, _, iu) in rows.iter().filter(|(_, l, i)| l.loaded() && !i.loaded()) {
        let key = match iu {
            Outcome::Refused(why) => cause(why),
            other => other.describe(),
        };
        causes.entry(key).or_default().push(name);
    }
    let mut causes: Vec<(String, Vec<&str>)> = causes.into_iter().collect();
    causes.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));

    println!(
        "\nThe Linux 6.12 BPF selftests on kernel {}: {sources} sources, {} compiled with clang-22.\n",
        kernel_release(),
        rows.len()
    );
    println!("| | objects |\n|---|---:|");
    println!("| libbpf 1.5 loads | {libbpf_loads} |");
    println!(
        "| iu loads, of those | {both} ({:.1}%) |",
        100.0 * both as f64 / libbpf_loads.max(1) as f64
    );
    println!("| iu loads, libbpf refuses | {} |", iu_only.len());
    println!("| iu hangs or crashes | {} |", broken.len());
    println!(
        "\nWhat iu says of the {} objects libbpf loads and iu does not:\n",
        libbpf_loads - both
    );
    println!("| objects | cause (iu's message, names left out) | examples |\n|---:|---|---|");
    for (cause, names) in &causes {
        let examples: Vec<&str> = names.iter().take(3).copied().collect();
        println!(
            "| {} | {} | {} |",
            names.len(),
            cause.replace('|', "\\|"),
            examples.join(", ")
        );
    }
    if !iu_only.is_empty() {
        println!("\niu loads, libbpf refuses: {}", iu_only.join(", "));
    }
    if !broken.is_empty() {
        println!("\nHangs and crashes: {}", broken.join("; "));
    }
    println!("\nEvery verdict: {}", results.display());
    if !broken.is_empty() {
        bail!("iu hung or crashed on {} objects", broken.len());
    }
    Ok(())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The regression subset: iu's verdict on each object of `tests/compat/expected.txt`.
fn subset(args: &CompatArgs) -> Result<()> {
    let path = crate::root().join(EXPECTED);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut expected = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(name), Some(verdict), None) = (words.next(), words.next(), words.next()) else {
            bail!(
                "{}:{}: expected `OBJECT loads|refused`",
                path.display(),
                n + 1
            );
        };
        if verdict != "loads" && verdict != "refused" {
            bail!(
                "{}:{}: the verdict is `loads` or `refused`, not `{verdict}`",
                path.display(),
                n + 1
            );
        }
        if args
            .filter
            .as_ref()
            .is_none_or(|f| name.contains(f.as_str()))
        {
            expected.push((name.to_owned(), verdict == "loads"));
        }
    }
    let ws = Workspace::prepare(false)?;
    let sources = ws.sources()?;
    let mut wanted = vec![];
    for (name, _) in &expected {
        let source = sources
            .get(name)
            .with_context(|| format!("{EXPECTED}: no selftest program `{name}`"))?;
        wanted.push((name.clone(), source.clone()));
    }
    let objects = ws.compile(&wanted)?;
    let iu = iu_loader()?;
    let mut wrong = vec![];
    for (name, loads) in &expected {
        let object = objects
            .get(name)
            .with_context(|| format!("`{name}` did not compile with clang-22"))?;
        let got = outcome(Command::new(&iu).arg("load").arg(object), args.timeout)?;
        let ok = match &got {
            Outcome::Loaded => *loads,
            Outcome::Refused(_) => !*loads,
            Outcome::Hung | Outcome::Crashed(_) => false,
        };
        eprintln!(
            "xtask: compat: {name}: {}{}",
            got.describe(),
            if ok { "" } else { "  <-- not as expected" }
        );
        if !ok {
            wrong.push(format!(
                "{name}: expected {}, got {}",
                if *loads { "loads" } else { "refused" },
                got.describe()
            ));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "compat subset: {} of {} objects differ from {EXPECTED}:\n  {}",
            wrong.len(),
            expected.len(),
            wrong.join("\n  ")
        );
    }
    eprintln!(
        "xtask: compat: the {} objects of the subset are as expected",
        expected.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_leave_out_names_and_numbers() {
        assert_eq!(
            cause("program `foo` has unsupported section `tc/ingress`: reason 12"),
            "program `…` has unsupported section `…`: reason N"
        );
    }

    #[test]
    fn the_reason_is_iu_s_error_or_libbpf_s_last_warning() {
        assert_eq!(reason("log\niu-loader: bad object\n"), "bad object");
        assert_eq!(
            reason("libbpf: first\nlibbpf: second\nload: Invalid argument\n"),
            "libbpf: second"
        );
        assert_eq!(
            reason(
                "libbpf: prog 'p': BPF program load failed: EPERM\nlibbpf: failed to load object 'x'\n"
            ),
            "libbpf: prog 'p': BPF program load failed: EPERM"
        );
    }
}
