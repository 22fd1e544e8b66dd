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
    /// Only build this binary of the test programs (`iu/tests/programs/src/bin/<name>.rs`),
    /// without the host crates: quick while tuning a program's code.
    #[arg(long, conflicts_with = "example")]
    pub test_program: Option<String>,
}

pub fn run(args: &BuildArgs) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    if let Some(bin) = &args.test_program {
        return build_binary(&toolchain, &crate::root().join("iu/tests/programs"), bin);
    }
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

/// Writes the running kernel's `vmlinux.h` (`bpftool btf dump ... format
/// c`) to `path`.
pub fn write_vmlinux_h(path: &Path) -> Result<()> {
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
    std::fs::write(path, out.stdout)?;
    Ok(())
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
        write_vmlinux_h(&vmlinux_h)?;
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
    build_usdt_target()
}

/// The target of `iu/tests/usdt.rs`: a small C program with USDT probes
/// (`iu/tests/c/usdt_target/*.c`, `sys/sdt.h` from systemtap-sdt-dev),
/// into [`object_dir`] as `usdt_target` (and `usdt_target_stripped`), so
/// that the VM tier ships it with the objects. `main.c` and `guarded.c` are built with -O2
/// (arguments in registers and constants), `stack.c` with -O0 (arguments
/// in memory).
fn build_usdt_target() -> Result<()> {
    toolchain::apt_install(&["gcc", "libc6-dev", "systemtap-sdt-dev"])?;
    let dir = crate::root().join("iu/tests/c/usdt_target");
    let build = object_dir().join("usdt_target.o");
    std::fs::create_dir_all(&build)?;
    let mut objects = vec![];
    for (source, level) in [("main.c", "-O2"), ("stack.c", "-O0"), ("guarded.c", "-O2")] {
        let object = build.join(source.replace(".c", ".o"));
        crate::run_cmd(
            std::process::Command::new("gcc")
                .args([level, "-g", "-Wall", "-c"])
                .arg(dir.join(source))
                .arg("-o")
                .arg(&object),
        )?;
        objects.push(object);
    }
    // And a stripped copy, whose `symbol(%rip)` arguments cannot be read.
    for (name, strip) in [("usdt_target", None), ("usdt_target_stripped", Some("-s"))] {
        crate::run_cmd(
            std::process::Command::new("gcc")
                .args(&objects)
                .args(strip)
                .arg("-o")
                .arg(object_dir().join(name)),
        )?;
    }
    std::fs::remove_dir_all(&build)?;
    Ok(())
}

/// `iu/tests/c/<name>.bpf.c` is object `<name>`.
fn c_object_name(source: &Path) -> Option<String> {
    let file = source.file_name()?.to_str()?;
    Some(file.strip_suffix(".bpf.c")?.to_owned())
}

/// The builder of every program object: `iu-build` (the same code users'
/// build scripts run), into `target/bpf`, with xtask's messages.
fn builder(toolchain: &Toolchain) -> iu_build::Builder {
    iu_build::Builder::new(toolchain.clone(), crate::root().join("target/bpf")).tool("xtask")
}

/// The source checks of a program crate's `src`, before any build. There
/// is no scan for `mem::forget` and the like: leaks are harmless or refused
/// on the compiled code (docs/safety.md, "Leaks and tail calls").
pub fn check_sources(src: &Path) -> Result<()> {
    Ok(iu_build::provenance::check_sources(src)?)
}

/// Checks and builds every binary of a program crate; returns the programs
/// that can panic, after printing where.
fn build_one(toolchain: &Toolchain, krate: &Path) -> Result<Vec<String>> {
    Ok(builder(toolchain)
        .build(&iu_build::ProgramCrate::new(krate))?
        .panicking)
}

pub fn build_binary(toolchain: &Toolchain, krate: &Path, bin: &str) -> Result<()> {
    Ok(builder(toolchain).build_binary(krate, bin)?)
}

/// The command [`build_binary`] runs: exactly the flags every program
/// object is built with (the compile-fail cases use it too).
pub fn binary_command(toolchain: &Toolchain, krate: &Path, bin: &str) -> std::process::Command {
    builder(toolchain).binary_command(krate, bin)
}
