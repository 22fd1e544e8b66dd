//! `cargo xtask`: builds iu's BPF programs, runs the examples, the tests and
//! the benchmarks. Every command first makes sure the BPF toolchain is
//! there, installing it on Debian/Ubuntu when it is not.

mod bench;
mod book;
mod build;
mod codegen;
mod codegen_vmlinux;
mod compat;
mod compile_fail;
mod doctor;
mod fuzz;
mod new;
mod public_api;
mod run;
mod stable;
mod test;
mod toolchain;
mod vm;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Build, run, test and benchmark iu")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build every BPF program crate (and the host crates).
    Build(build::BuildArgs),
    /// Build and run an example's user-space program (here, or in a QEMU
    /// guest with --vm).
    Run(run::RunArgs),
    /// Format and lint checks, unit tests, kernel integration tests on this
    /// kernel and in a QEMU guest.
    Test(test::TestArgs),
    /// The QEMU guest of the VM tier (`vm shell`).
    Vm(vm::VmArgs),
    /// Compare iu with C libbpf (and aya where it applies) in one run.
    Bench(bench::BenchArgs),
    /// Load the kernel's BPF selftests with libbpf and with iu, and report
    /// how many iu loads of those libbpf loads (`--subset`: the regression
    /// set of tests/compat/expected.txt, part of `test`).
    Compat(compat::CompatArgs),
    /// Check for (and install) the BPF toolchain only.
    Toolchain,
    /// Report what this host offers iu (toolchain, BTF, JIT, lockdown,
    /// kprobes, KVM, QEMU, cached VM kernels), changing nothing.
    Doctor,
    /// Only the compile-fail cases of `tests/compile-fail` (part of `test`).
    CompileFail {
        /// Only cases whose name contains this.
        filter: Option<String>,
    },
    /// Run the fuzz targets of `fuzz/` for a bounded time each (installs
    /// cargo-fuzz if missing; part of `test`, 60 s per target).
    Fuzz(fuzz::FuzzArgs),
    /// Create a project of one's own (program, common and user crates,
    /// with host and kernel tests) that builds with iu-build.
    New(new::NewArgs),
    /// Only the generated-project step of `test`: generate, build and test
    /// a project of each kind given (all when none).
    TestNew {
        #[arg(value_enum)]
        kinds: Vec<new::Kind>,
    },
    /// Compare the library crates' public API with the snapshots in
    /// `docs/public-api` (part of `test`); `--bless` rewrites them.
    PublicApi(public_api::PublicApiArgs),
    /// Check that the book's code blocks (docs/book) are copies of the
    /// repository's files they name (part of `test`); `--bless` copies them.
    Book(book::BookArgs),
    /// Generate Rust code from the running kernel: `codegen tracepoint
    /// <category/name>...` writes tracepoint record structs.
    #[command(subcommand)]
    Codegen(Codegen),
}

#[derive(Subcommand)]
enum Codegen {
    /// Record structs for `TracePointContext<T>` from tracepoint format files.
    Tracepoint(codegen::CodegenArgs),
    /// Typed CO-RE handles on kernel structs, unions and enums, from the
    /// kernel's BTF (`iu_ebpf::kernel`).
    Vmlinux(codegen_vmlinux::VmlinuxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Build(args) => build::run(&args),
        Cmd::Run(args) => run::run(&args),
        Cmd::Test(args) => test::run(&args),
        Cmd::Vm(args) => vm::run(&args),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Compat(args) => compat::run(&args),
        Cmd::Toolchain => toolchain::ensure().map(|t| println!("{t}")),
        Cmd::Doctor => doctor::run(),
        Cmd::CompileFail { filter } => {
            toolchain::ensure().and_then(|t| compile_fail::run(&t, filter.as_deref()))
        }
        Cmd::Fuzz(args) => fuzz::run(&args),
        Cmd::New(args) => new::run(&args),
        Cmd::TestNew { kinds } => new::test(if kinds.is_empty() {
            &new::Kind::ALL
        } else {
            &kinds
        }),
        Cmd::PublicApi(args) => public_api::run(&args),
        Cmd::Book(args) => book::run(&args),
        Cmd::Codegen(Codegen::Tracepoint(args)) => codegen::run(&args),
        Cmd::Codegen(Codegen::Vmlinux(args)) => codegen_vmlinux::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command to completion, failing with its command line when it
/// fails.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// `program arg1 arg2 ...` of a command, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The host's `cargo` (the one running xtask).
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}
