//! The BPF toolchain, found or installed by `iu-build` (one recipe for
//! xtask and for users' build scripts), with xtask's messages and logs.

use std::process::Command;

use anyhow::Result;
pub use iu_build::toolchain::{Toolchain, detect, find_linker, is_root};

/// Where xtask's installation steps log, and its name in their messages.
fn installer() -> iu_build::toolchain::Installer {
    iu_build::toolchain::Installer {
        tool: "xtask".to_owned(),
        log_dir: crate::root().join("target/xtask-logs"),
    }
}

/// Finds the toolchain, installing what is missing where that is possible.
pub fn ensure() -> Result<Toolchain> {
    Ok(iu_build::toolchain::ensure_with(&installer())?)
}

/// Installs the Debian packages that are missing (after `apt-get update`,
/// since a stale package index offers old versions or none).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    Ok(iu_build::toolchain::apt_install_with(
        &installer(),
        packages,
    )?)
}

/// Runs a long command behind a spinner, keeping its output in a log file
/// that is shown if it fails.
pub fn long_step(what: &str, cmd: &mut Command) -> Result<()> {
    Ok(iu_build::toolchain::long_step(&installer(), what, cmd)?)
}
