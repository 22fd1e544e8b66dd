//! Building program crates for `bpfel-unknown-none`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::toolchain::{self, Toolchain};

/// Where BPF objects land: `target/bpf/bpfel-unknown-none/release/<name>`.
pub fn object_dir() -> PathBuf {
    crate::root().join("target/bpf/bpfel-unknown-none/release")
}

#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Only build this example's program crate (`examples/<name>/<name>-ebpf`).
    #[arg(long)]
    pub example: Option<String>,
    /// Fail if a program can panic at all (a panic otherwise returns the
    /// program's `on_panic` value).
    #[arg(long)]
    pub deny_panics: bool,
}

pub fn run(args: &BuildArgs) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    let panicking = build_programs(&toolchain, args.example.as_deref())?;
    if args.deny_panics && !panicking.is_empty() {
        bail!(
            "{} program(s) can panic: {} (the lines are above; use checked operations there)",
            panicking.len(),
            panicking.join(", ")
        );
    }
    crate::run_cmd(crate::cargo().args(["build", "--workspace"]))
}

/// Every program crate: `examples/*/*-ebpf` and the integration tests'
/// `iu/tests/programs`, and the verifier-gap corpus in `tests/verifier-gap`.
pub fn program_crates() -> Result<Vec<PathBuf>> {
    let root = crate::root();
    let mut crates = vec![];
    for example in std::fs::read_dir(root.join("examples"))? {
        let example = example?.path();
        let Some(name) = example.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let program = example.join(format!("{name}-ebpf"));
        if program.join("Cargo.toml").exists() {
            crates.push(program);
        }
    }
    crates.push(root.join("iu/tests/programs"));
    crates.push(root.join("tests/verifier-gap"));
    crates.sort();
    Ok(crates)
}

/// Builds program crates (all, or one example's) into [`object_dir`].
///
/// Each crate is compiled with `unsafe_code` forbidden, whatever the crate
/// says, with debug info so that bpf-linker emits BTF (for BTF maps, and for
/// source lines in verifier errors).
///
/// Returns the programs that can panic (`object/program`), after printing
/// where. A panic returns the program's `on_panic` value; one inside a
/// function that was not inlined needs `bpf_throw` (see
/// [`report_panics`]).
pub fn build_programs(toolchain: &Toolchain, example: Option<&str>) -> Result<Vec<String>> {
    let crates = program_crates()?;
    let selected: Vec<&PathBuf> = match example {
        Some(name) => crates
            .iter()
            .filter(|c| c.ends_with(format!("{name}/{name}-ebpf")))
            .collect(),
        None => crates.iter().collect(),
    };
    if selected.is_empty() {
        bail!(
            "no program crate for example `{}`; examples are: {}",
            example.unwrap_or_default(),
            crates
                .iter()
                .filter(|c| c.starts_with(crate::root().join("examples")))
                .filter_map(|c| c.parent()?.file_name()?.to_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut panicking = vec![];
    for krate in selected {
        panicking.extend(build_one(toolchain, krate)?);
    }
    if example.is_none() {
        build_c_objects()?;
    }
    Ok(panicking)
}

/// The C objects of iu's tests (`iu/tests/c/*.bpf.c`): libbpf-tools style
/// CO-RE programs, built with clang-22 against the host's `vmlinux.h`, into
/// [`object_dir`] as `<name>` for `<name>.bpf.c`. clang missing is an
/// error, not a skip.
pub fn build_c_objects() -> Result<()> {
    toolchain::apt_install(&["clang-22", "libbpf-dev", "bpftool"])?;
    let root = crate::root();
    let include = root.join("target/bpf/include");
    std::fs::create_dir_all(&include)?;
    let vmlinux_h = include.join("vmlinux.h");
    if !vmlinux_h.exists() {
        let bpftool = ["/usr/sbin/bpftool", "/usr/bin/bpftool"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("bpftool");
        let out = std::process::Command::new(bpftool)
            .args([
                "btf",
                "dump",
                "file",
                "/sys/kernel/btf/vmlinux",
                "format",
                "c",
            ])
            .output()
            .context("running bpftool to generate vmlinux.h")?;
        if !out.status.success() {
            bail!(
                "bpftool btf dump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(&vmlinux_h, out.stdout)?;
    }
    std::fs::create_dir_all(object_dir())?;
    let dir = root.join("iu/tests/c");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    for source in sources {
        let Some(name) = c_object_name(&source) else {
            continue;
        };
        crate::run_cmd(
            std::process::Command::new("clang-22")
                .args(["-g", "-O2", "-target", "bpf", "-mcpu=v3"])
                .args(["-D__TARGET_ARCH_x86", "-mlittle-endian", "-Wall", "-I"])
                .arg(&include)
                .arg("-c")
                .arg(&source)
                .arg("-o")
                .arg(object_dir().join(name)),
        )?;
    }
    Ok(())
}

/// `iu/tests/c/<name>.bpf.c` is object `<name>`.
fn c_object_name(source: &Path) -> Option<String> {
    let file = source.file_name()?.to_str()?;
    Some(file.strip_suffix(".bpf.c")?.to_owned())
}

/// Program types whose programs the kernel refuses `bpf_throw` in
/// (measured on Linux 6.18, 6.12 and 6.1: "calling kernel function
/// bpf_throw is not allowed"), by ELF section prefix. A panic inside a
/// function that was not inlined into such a program cannot abort it.
const THROW_REFUSED: &[&str] = &[
    "raw_tp",
    "raw_tracepoint",
    "kprobe",
    "kretprobe",
    "uprobe",
    "uretprobe",
    "socket",
];

/// Prints the panic paths of object `bin` and returns its programs that
/// have any. A panic inside a function that was not inlined into a program
/// of a type that cannot throw (`THROW_REFUSED`) is a warning: the loader
/// refuses that program (`Error::PanicNotInlined`), and the object's other
/// programs still load when it is left out (`EbpfLoader::autoload`).
fn report_panics(bin: &str) -> Result<Vec<String>> {
    let path = object_dir().join(bin);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let paths = iu::panic_paths(&bytes).with_context(|| format!("analysing {}", path.display()))?;
    let nested =
        iu::nested_panic_paths(&bytes).with_context(|| format!("analysing {}", path.display()))?;
    let mut programs = vec![];
    for (program, sites) in paths {
        match nested.iter().find(|(p, ..)| *p == program) {
            None => eprintln!(
                "xtask: note: `{bin}/{program}` can panic; a panic returns its `on_panic` value (any kernel). Panic paths:"
            ),
            Some((_, section, nested_sites)) => {
                let cannot = THROW_REFUSED
                    .iter()
                    .any(|t| section.split(['/', '.']).next() == Some(t));
                eprintln!(
                    "xtask: {}: `{bin}/{program}` ({section}) can panic inside a function the compiler did not inline into it; {}. Mark that function `#[inline(always)]` or use a checked operation at:",
                    if cannot { "warning" } else { "note" },
                    if cannot {
                        "the kernel does not allow bpf_throw in this program type, so that panic cannot abort it, and loading the program fails"
                    } else {
                        "that needs bpf_throw (Linux 6.7+), and older kernels refuse the program"
                    }
                );
                for site in nested_sites {
                    eprintln!("    {site}");
                }
                eprintln!("  All panic paths:");
            }
        }
        for site in sites {
            eprintln!("    {site}");
        }
        programs.push(format!("{bin}/{program}"));
    }
    Ok(programs)
}

/// The binaries (one BPF object each) of a program crate: its `[[bin]]`
/// entries and `src/bin/*.rs`.
fn binaries(krate: &Path) -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml"))?;
    let mut bins = vec![];
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(name) = line.strip_prefix("name") {
            let name = name.trim().trim_start_matches('=').trim();
            bins.push(name.trim_matches('"').to_owned());
        }
    }
    if let Ok(entries) = std::fs::read_dir(krate.join("src/bin")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                bins.push(stem.to_owned());
            }
        }
    }
    bins.sort();
    Ok(bins)
}

/// The source checks of a program crate's `src`, before any build. There
/// is no scan for `mem::forget` and the like: leaks are harmless or refused
/// on the compiled code (docs/safety.md, "Leaks and tail calls").
pub fn check_sources(src: &Path) -> Result<()> {
    crate::provenance::check_sources(src)
}

fn build_one(toolchain: &Toolchain, krate: &Path) -> Result<Vec<String>> {
    check_sources(&krate.join("src"))?;
    // Programs may live in the crate's library (so that host tests and
    // other crates can call them), with a binary that links it into the
    // object. `cargo rustc` passes flags to one target only, so the
    // library is first checked on its own with `unsafe_code` forbidden.
    if krate.join("src/lib.rs").exists() {
        check_library(toolchain, krate)?;
    }
    let mut panicking = vec![];
    for bin in binaries(krate)? {
        build_binary(toolchain, krate, &bin)?;
        panicking.extend(report_panics(&bin)?);
    }
    Ok(panicking)
}

/// Type-checks a program crate's library for BPF with `unsafe_code`
/// forbidden (a `check` build: no code is generated, and its fingerprint
/// stays apart from the release build's).
fn check_library(toolchain: &Toolchain, krate: &Path) -> Result<()> {
    run_program_build(&mut library_command(toolchain, krate), krate, "the library")
}

/// The command [`check_library`] runs.
fn library_command(toolchain: &Toolchain, krate: &Path) -> std::process::Command {
    let mut cmd = toolchain.cargo("rustc");
    cmd.current_dir(krate)
        .args([
            "--lib",
            "--profile",
            "check",
            "--target",
            "bpfel-unknown-none",
            "--target-dir",
        ])
        .arg(crate::root().join("target/bpf"))
        .args(["--", "-F", "unsafe_code"])
        .args(crate::provenance::RUSTC_FLAGS);
    cmd
}

pub fn build_binary(toolchain: &Toolchain, krate: &Path, bin: &str) -> Result<()> {
    run_program_build(&mut binary_command(toolchain, krate, bin), krate, bin)
}

/// The command [`build_binary`] runs: exactly the flags every program
/// object is built with (the compile-fail cases use it too).
pub fn binary_command(toolchain: &Toolchain, krate: &Path, bin: &str) -> std::process::Command {
    let mut cmd = toolchain.cargo("rustc");
    cmd.current_dir(krate)
        // MIR optimizations at the level of debug builds, for every crate of
        // the object (the programs may be in the crate's library, and
        // iu-ebpf's inlined functions are optimized in iu-ebpf); LLVM still
        // optimizes at -O3. At the release default (2), rustc's MIR jump
        // threading copied a call that sat between two branches on the
        // same condition: `xdp_firewall`'s `if blocked` got two inlined
        // copies of `HashMap::add` (89 instructions; 58 at level 1, and 61
        // for the same program in C). Over all the program objects of the
        // repository, level 1 also gives fewer instructions in total than
        // level 2 (docs/benchmarks.md, "Programs").
        //
        // `-disable-loop-idiom-all`: LLVM turns a copy or fill loop whose
        // length is only known at run time (`zip` over a string the kernel
        // returned) into a call of memcpy or memset, which BPF cannot call
        // and LLVM cannot expand without a constant length. Kept as a loop,
        // it has the bound the verifier needs. Given to rustc for every
        // crate and to bpf-linker for the LTO pipeline.
        .args([
            "--config",
            "target.bpfel-unknown-none.rustflags=[\"-Z\", \"mir-opt-level=1\", \"-C\", \"llvm-args=-disable-loop-idiom-all\"]",
        ])
        .args([
            "--release",
            "--bin",
            bin,
            "--target",
            "bpfel-unknown-none",
            "--target-dir",
        ])
        .arg(crate::root().join("target/bpf"))
        .arg("--")
        .args(["-F", "unsafe_code"])
        .args(crate::provenance::RUSTC_FLAGS)
        // v3: 32-bit jumps and atomic fetch operations (Linux 5.12+).
        .args(["-C", "target-cpu=v3"])
        .args(["-C", "link-arg=--btf"])
        // bpf-linker passes `-bpf-expand-memcpy-in-order` by default, which
        // turns off LLVM's inline expansion of memset: every zero-filled
        // array became a call to a byte-by-byte routine. Without it, LLVM
        // stores 8 bytes at a time.
        .args(["-C", "link-arg=--disable-expand-memcpy-in-order"])
        // No `--disable-memory-builtins`: bpf-linker then keeps memcpy,
        // memmove, memset, memcmp and bcmp in the object, iu-ebpf's BPF
        // versions (`iu-ebpf/src/builtins.rs`), for the copies, fills and
        // compares whose length LLVM only knows at run time.
        // Cold functions (core's panic paths) stay in `.text` instead of
        // `.text.unlikely.`: aya-obj links functions by their offset within
        // their section, so a second text section makes its first function
        // collide with the panic handler at offset 0 of `.text`.
        .args([
            "-C",
            "link-arg=--llvm-args=-profile-guided-section-prefix=false",
        ])
        .args(["-C", "link-arg=--llvm-args=-disable-loop-idiom-all"]);
    cmd
}

/// Runs a program-crate build, turning an `unsafe_code` refusal into an
/// error that says why.
fn run_program_build(cmd: &mut std::process::Command, krate: &Path, what: &str) -> Result<()> {
    let output = cmd
        .stderr(std::process::Stdio::piped())
        .output()
        .with_context(|| format!("cannot start {}", crate::describe(cmd)))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    if output.status.success() {
        return Ok(());
    }
    if stderr.contains("-F unsafe-code") || stderr.contains("forbid(unsafe_code)") {
        bail!(
            "{what} in {} contains unsafe code. Program crates are built with `unsafe_code` forbidden: \
             iu-ebpf's safe APIs (contexts, maps, helpers) cover what programs need; if one is missing, \
             that is a gap in iu-ebpf, not a reason for `unsafe`",
            krate.display()
        );
    }
    if let Some((operation, location)) = unselectable_atomic(&stderr) {
        bail!(
            "{what} in {}: {operation} at {location}: `core::sync::atomic` loads and stores cannot be \
             compiled for BPF (LLVM's BPF backend has no instruction for them, and bpf-linker aborted). \
             Keep shared values in a map instead: `#[map] static X: Array<u64, 1>` with `X.get(0)`, \
             `X.set(0, &v)` and the atomic `X.add(0, n)` (which returns the new value), or a \
             `PerCpuArray` for per-CPU values",
            krate.display()
        );
    }
    if let Some(function) = stack_overflow_function(&stderr) {
        bail!(
            "{what} in {}: function {function} needs more than the 512 bytes of stack BPF programs get. \
             Keep large values in `iu_ebpf::maps::PerCpuScratch` (per-CPU room for one value, borrowed as `&mut`) or in a map value instead of local variables, \
             and update large map values in place instead of `get` and `set` (which copy the whole value to the stack): \
             `add_at`/`add_at_offset` on `Array` and `HashMap` values (atomic adds), `lock()` on `SpinLocked` values, \
             `with` on `PerCpuArray`/`PerCpuHashMap` values of type `PerCpuCell<T>`",
            krate.display()
        );
    }
    bail!(
        "building {what} in {} failed ({}); the compiler's messages are above",
        krate.display(),
        output.status
    )
}

/// An atomic operation LLVM's BPF backend could not select, from
/// bpf-linker's abort ("Cannot select: ... AtomicStore<...> ...,
/// library/core/src/sync/atomic.rs:3889:24 @[ src/main.rs:14:10 @[ ... ] ]"):
/// the operation and the first location of the inlining chain outside the
/// standard library, which is the program's own line. This looks at what
/// the compiler could not compile, so renaming the type (`use
/// core::sync::atomic::AtomicU64 as A`) changes nothing.
fn unselectable_atomic(stderr: &str) -> Option<(String, String)> {
    let start = stderr.find("Cannot select:")?;
    // The message is quoted, its lines joined by `\n`: the first line is
    // the node that failed.
    let node = stderr[start..].split(['\n', '\\']).next()?;
    let (_, after) = node.split_once("= ")?;
    let operation: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    if !operation.starts_with("Atomic") {
        return None;
    }
    let location = node
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '@')
        .filter(|w| w.contains(".rs:"))
        .find(|w| !w.starts_with("library/") && !w.contains("/rustc/"))
        .unwrap_or("an unknown line (build with debug info)")
        .to_owned();
    Some((operation, location))
}

/// The function (and source location, where LLVM gives one) that exceeds
/// the BPF stack, from LLVM's "Looks like the BPF stack limit is exceeded".
fn stack_overflow_function(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("stack limit"))
        .collect();
    let line = lines
        .iter()
        .find(|l| !l.contains(":0:0:"))
        .or(lines.first())?;
    let (before, after) = line.split_once("in function ")?;
    let name = after.split_whitespace().next()?.trim_end_matches(':');
    let location = before
        .split_whitespace()
        .last()
        .map(|l| l.trim_end_matches(':'))
        .filter(|l| l.contains(".rs:") && !l.ends_with(":0:0"));
    Some(match location {
        Some(location) => format!("`{name}` (at {location})"),
        None => format!("`{name}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_program_line_of_an_atomic_llvm_cannot_select() {
        let linker = r#"  = note: ERROR fatal error: "Cannot select: 0x55: ch = AtomicStore<(store monotonic (s64) into @_RNvCs9_1k4KEEP.0)> 0x5:1, 0x7, library/core/src/sync/atomic.rs:3889:24 @[ library/core/src/sync/atomic.rs:2898:26 @[ src/main.rs:14:10 @[ src/macros.rs:77:57 ] ] ]
  0x7: i64 = add 0x7, src/main.rs:13:1""#;
        assert_eq!(
            unselectable_atomic(linker),
            Some(("AtomicStore".to_owned(), "src/main.rs:14:10".to_owned()))
        );
        assert_eq!(
            unselectable_atomic("Cannot select: 0x1: i64 = FrameIndex<0>"),
            None
        );
    }

    /// A static `core::sync::atomic` value, renamed so that no word gives
    /// it away, is refused with the program's line and the map
    /// alternative (it used to abort bpf-linker: "signal: 6"). Needs the
    /// BPF toolchain.
    #[test]
    fn an_atomic_static_is_refused_with_its_line() {
        let toolchain = crate::toolchain::ensure().unwrap();
        let dir = std::env::temp_dir().join(format!("iu-atomic-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[workspace]\n[package]\nname = \"keep\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\niu-ebpf = {{ path = {:?} }}\n\n[profile.release]\npanic = \"abort\"\ndebug = 2\n",
                crate::root().join("iu-ebpf")
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("src/main.rs"),
            "#![no_std]\n#![no_main]\n\nuse core::sync::atomic::{AtomicU64 as Cell, Ordering as O};\n\
             use iu_ebpf::{helpers, programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter};\n\n\
             iu_ebpf::license!(\"GPL\");\n\nstatic KEEP: Cell = Cell::new(0);\n\n#[tracepoint]\n\
             fn keep(_ctx: TracePointContext<SysEnter>) -> u32 {\n    \
             let old = KEEP.load(O::Relaxed);\n    KEEP.store(old + u64::from(helpers::pid()), O::Relaxed);\n    0\n}\n",
        )
        .unwrap();
        let err = build_binary(&toolchain, &dir, "keep")
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(err.contains("src/main.rs:14:"), "{err}");
        assert!(err.contains("core::sync::atomic"), "{err}");
        assert!(err.contains("X.add(0, n)"), "{err}");
    }

    #[test]
    fn names_the_function_that_overflows_the_stack() {
        let llvm = "ERROR llvm: src/macros.rs:0:0: in function big i32 (ptr): Looks like the BPF stack limit is exceeded.\n\
                    ERROR llvm: src/main.rs:9:19: in function big i32 (ptr): Looks like the BPF stack limit is exceeded.";
        assert_eq!(
            stack_overflow_function(llvm).as_deref(),
            Some("`big` (at src/main.rs:9:19)")
        );
        assert_eq!(stack_overflow_function("error: something else"), None);
    }

    /// A program crate with an `unsafe` block must not build, and the error
    /// must say why. Needs the BPF toolchain (`cargo xtask test` has it).
    #[test]
    fn unsafe_code_in_a_program_crate_is_refused_with_a_clear_message() {
        let toolchain = crate::toolchain::ensure().unwrap();
        let dir = std::env::temp_dir().join(format!("iu-unsafe-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let iu_ebpf = crate::root().join("iu-ebpf");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[workspace]\n[package]\nname = \"sneaky\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\niu-ebpf = {{ path = {:?} }}\n\n[profile.release]\npanic = \"abort\"\n",
                iu_ebpf
            ),
        )
        .unwrap();
        // No `forbid` in the crate: the build adds it.
        std::fs::write(
            dir.join("src/main.rs"),
            "#![no_std]\n#![no_main]\n\nuse iu_ebpf::{programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter};\n\n\
             iu_ebpf::license!(\"GPL\");\n\n#[tracepoint]\nfn sneaky(_ctx: TracePointContext<SysEnter>) -> u32 {\n    \
             let x = 1u32;\n    unsafe { core::ptr::read_volatile(&x) }\n}\n",
        )
        .unwrap();
        let err = build_binary(&toolchain, &dir, "sneaky")
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(err.contains("contains unsafe code"), "{err}");
    }
}
