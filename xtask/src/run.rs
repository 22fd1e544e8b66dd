//! `cargo xtask run [--vm] --example <name> [-- args]`.

use std::process::Command;

use anyhow::{Result, bail};
use clap::Args;

use crate::{build, toolchain, vm};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The example to run (a directory under `examples/`).
    #[arg(long)]
    pub example: String,
    /// Run it inside a QEMU guest on Debian's 6.12 kernel instead of on
    /// this kernel.
    #[arg(long)]
    pub vm: bool,
    #[command(flatten)]
    pub vm_options: vm::VmOptions,
    /// Arguments for the example's program.
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn run(args: &RunArgs) -> Result<()> {
    if !args.vm && (args.vm_options.kernel.is_some() || args.vm_options.timeout.is_some()) {
        bail!("--kernel, --modules and --timeout only apply with --vm");
    }
    let toolchain = toolchain::ensure()?;
    build::build_programs(&toolchain, Some(&args.example))?;
    crate::run_cmd(crate::cargo().args(["build", "--package", &args.example]))?;
    let binary = crate::root().join("target/debug").join(&args.example);
    if args.vm {
        return vm::run_example(&args.example, &binary, &args.args, &args.vm_options);
    }
    let mut cmd = if toolchain::is_root() {
        Command::new(&binary)
    } else {
        // Loading programs needs CAP_BPF and CAP_PERFMON.
        let mut sudo = Command::new("sudo");
        sudo.arg("--preserve-env=IU_OBJECT_DIR,RUST_LOG")
            .arg(&binary);
        sudo
    };
    cmd.args(&args.args)
        .env("IU_OBJECT_DIR", build::object_dir());
    let status = cmd.status()?;
    if !status.success() {
        bail!("example `{}` failed ({status})", args.example);
    }
    Ok(())
}
