//! The QEMU test tier: runs iu's examples and kernel tests inside a guest
//! on a distribution kernel, so that nothing touches the host and features
//! the host lacks (kprobes, fentry/fexit, the BPF LSM) are still covered.
//!
//! - [`Kernel`]: Debian's 6.12 cloud kernel, fetched and cached, or any
//!   image;
//! - [`Initramfs`]: busybox, the guest init ([`INIT`]), binaries at their
//!   host paths with their shared libraries, BPF objects and modules, as a
//!   cpio archive rebuilt only when its inputs change;
//! - [`Vm`]: boots it in QEMU (KVM when it really works, else TCG), streams
//!   the serial console, and turns the guest's exit status, a panic or a
//!   hang into a result within a hard timeout.
//!
//! `cargo xtask run --vm`, `cargo xtask test --vm` and `cargo xtask vm
//! shell` drive it.

pub mod cpio;
mod initramfs;
mod kernel;
mod qemu;

use std::process::Command;

use anyhow::{Context, Result, bail};

pub use initramfs::{INIT, Initramfs, MODULES, with_files};
pub use kernel::{DEFAULT_FAMILY, KERNEL_FAMILIES, Kernel, KernelFamily};
pub use qemu::{
    Accel, AccelPolicy, Job, KvmFailure, KvmStatus, Outcome, QEMU, Step, StepResult, Vm, kvm_status,
};

/// Debian packages the tier needs on the host: QEMU, a static busybox for
/// the guest, `xz`/`zstd` to decompress modules, `strip` to shrink debug
/// binaries, and `cpio`, which this crate's tests use to check its archives.
pub const HOST_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "xz-utils",
    "zstd",
    "binutils",
    "cpio",
];

/// Whether this process runs as root (read from `/proc`, without libc).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Runs `cmd` with its output captured, which is shown only if it fails.
fn run_logged(cmd: &mut Command, what: &str) -> Result<()> {
    let output = cmd
        .output()
        .with_context(|| format!("cannot start {what}"))?;
    if !output.status.success() {
        let text =
            String::from_utf8_lossy(&output.stderr) + String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed ({}):\n{}", output.status, tail.join("\n"));
    }
    Ok(())
}
