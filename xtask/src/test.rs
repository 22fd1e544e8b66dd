//! `cargo xtask test`: format and lint checks, unit tests, and the kernel
//! integration tests on the host kernel.

use anyhow::Result;
use clap::Args;

use crate::{build, toolchain};

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and clippy.
    #[arg(long)]
    pub no_lint: bool,
    /// Only run tests whose name contains this.
    pub filter: Option<String>,
}

pub fn run(args: &TestArgs) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    eprintln!("xtask: {toolchain}");
    if !args.no_lint {
        step("cargo fmt --check");
        crate::run_cmd(crate::cargo().args(["fmt", "--all", "--check"]))?;
        for krate in build::program_crates()? {
            crate::run_cmd(
                crate::cargo()
                    .args(["fmt", "--check", "--manifest-path"])
                    .arg(krate.join("Cargo.toml")),
            )?;
        }
        step("cargo clippy -D warnings");
        crate::run_cmd(crate::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    step("building BPF programs");
    build::build_programs(&toolchain, None)?;

    step("unit and host-kernel integration tests");
    let mut cmd = crate::cargo();
    cmd.args(["test", "--workspace"])
        .env("IU_OBJECT_DIR", build::object_dir());
    if !toolchain::is_root() {
        // Kernel tests load programs: run the test binaries as root.
        cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
    }
    if let Some(filter) = &args.filter {
        cmd.args(["--", filter]);
    }
    crate::run_cmd(&mut cmd)
}

fn step(what: &str) {
    eprintln!("xtask: == {what}");
}
