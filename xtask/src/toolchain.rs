//! Finding, and where possible installing, the BPF toolchain: a rustc that
//! can target `bpfel-unknown-none`, and `bpf-linker`.
//!
//! Two toolchains are supported:
//! - Debian's `rustc-web` with `libstd-rust-web-dev-bpf`, which ships a
//!   prebuilt `core` for the BPF targets (what CI and these machines use);
//! - rustup's nightly with `rust-src`, building `core` with `-Z build-std`.
//!
//! Detection only looks at files, so that it takes milliseconds when
//! everything is installed.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// The Debian packages of the BPF toolchain.
const DEBIAN_TOOLCHAIN: &[&str] = &["rustc-web", "libstd-rust-web-dev-bpf", "llvm-22-dev"];
const BPF_LINKER_VERSION: &str = "0.13.0";

/// How program crates are compiled.
#[derive(Debug, Clone)]
pub enum Toolchain {
    /// Debian's rustc with prebuilt BPF `core`.
    Debian { rustc: PathBuf, linker: PathBuf },
    /// rustup nightly with `rust-src`, using `-Z build-std=core`.
    Nightly { linker: PathBuf },
}

impl fmt::Display for Toolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Debian { rustc, linker } => write!(
                f,
                "BPF toolchain: {} (Debian, prebuilt core for bpfel-unknown-none), {}",
                rustc.display(),
                linker.display()
            ),
            Self::Nightly { linker } => write!(
                f,
                "BPF toolchain: rustup nightly with rust-src (-Z build-std=core), {}",
                linker.display()
            ),
        }
    }
}

impl Toolchain {
    /// A `cargo` command that builds for `bpfel-unknown-none` with this
    /// toolchain. `args` go between `cargo` and the toolchain's own flags.
    pub fn cargo(&self, subcommand: &str) -> Command {
        match self {
            Self::Debian { rustc, linker } => {
                let mut cmd = Command::new("cargo");
                cmd.arg(subcommand)
                    .env("RUSTC", rustc)
                    // iu-ebpf's BPF side uses `asm_experimental_arch` and
                    // `core_intrinsics`, and the provenance lint needs
                    // `strict_provenance_lints` (docs/safety.md).
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env("PATH", path_with(linker));
                cmd
            }
            Self::Nightly { linker } => {
                let mut cmd = Command::new("cargo");
                cmd.arg("+nightly")
                    .arg(subcommand)
                    .args(["-Z", "build-std=core"])
                    .env("PATH", path_with(linker));
                cmd
            }
        }
    }
}

/// `PATH` with the linker's directory first, so that rustc finds
/// `bpf-linker`.
fn path_with(linker: &Path) -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = linker.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// Finds the toolchain, installing what is missing where that is possible.
pub fn ensure() -> Result<Toolchain> {
    if let Some(t) = detect() {
        return Ok(t);
    }
    if !can_install() {
        bail!(
            "the BPF toolchain is missing, and this is not a Debian/Ubuntu machine where xtask runs as root.\n\
             Install it with either:\n\
             \n  # Debian/Ubuntu (as root):\n  apt-get update\n  apt-get install -y {}\n  \
             LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 LLVM_PREFIX=/usr/lib/llvm-22 cargo install bpf-linker --version {BPF_LINKER_VERSION} --locked --no-default-features --features llvm-22\n\
             \n  # anywhere else, with rustup:\n  rustup toolchain install nightly --component rust-src\n  cargo install bpf-linker --version {BPF_LINKER_VERSION} --locked",
            DEBIAN_TOOLCHAIN.join(" ")
        );
    }
    if debian_rustc().is_none() {
        apt_install(DEBIAN_TOOLCHAIN)?;
    }
    if find_linker().is_none() {
        install_linker()?;
    }
    detect().context("the BPF toolchain is still incomplete after installing it")
}

pub fn detect() -> Option<Toolchain> {
    let linker = find_linker()?;
    if let Some(rustc) = debian_rustc() {
        return Some(Toolchain::Debian { rustc, linker });
    }
    nightly_has_rust_src().then_some(Toolchain::Nightly { linker })
}

/// Debian's rustc, if its prebuilt `core` for `bpfel-unknown-none` is there.
fn debian_rustc() -> Option<PathBuf> {
    let rustc = PathBuf::from("/usr/bin/rustc");
    let lib = Path::new("/usr/lib/rustlib/bpfel-unknown-none/lib");
    let has_core = std::fs::read_dir(lib).ok()?.flatten().any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("libcore-") && n.ends_with(".rlib"))
    });
    (rustc.exists() && has_core).then_some(rustc)
}

fn nightly_has_rust_src() -> bool {
    let Some(home) = rustup_home() else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(home.join("toolchains")) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("nightly")
            && e.path().join("lib/rustlib/src/rust/library/core").exists()
    })
}

fn rustup_home() -> Option<PathBuf> {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

pub fn find_linker() -> Option<PathBuf> {
    let in_cargo_home = cargo_home().map(|h| h.join("bin/bpf-linker"));
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|p| p.join("bpf-linker"))
            .find(|p| p.exists())
    });
    in_cargo_home.filter(|p| p.exists()).or(on_path)
}

fn can_install() -> bool {
    Path::new("/usr/bin/apt-get").exists() && is_root()
}

/// Whether xtask runs as root (read from `/proc`, to avoid a libc call).
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

/// Debian packages among `packages` that are not installed.
pub fn missing_packages(packages: &[&str]) -> Vec<String> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Status}\n"])
        .args(packages)
        .stderr(Stdio::null())
        .output();
    let installed: Vec<String> = output
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.ends_with(" installed"))
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    packages
        .iter()
        .filter(|p| !installed.iter().any(|i| i == *p))
        .map(|p| (*p).to_owned())
        .collect()
}

/// Installs the Debian packages that are missing (after `apt-get update`,
/// since a stale package index offers old versions or none).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let missing = missing_packages(packages);
    if missing.is_empty() {
        return Ok(());
    }
    if !can_install() {
        bail!(
            "missing Debian packages: {0}. Install them with `sudo apt-get update && sudo apt-get install -y {0}`",
            missing.join(" ")
        );
    }
    long_step(
        "apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
    )?;
    long_step(
        &format!("apt-get install {}", missing.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn install_linker() -> Result<()> {
    long_step(
        &format!("cargo install bpf-linker {BPF_LINKER_VERSION} (about 4 minutes on 2 cores)"),
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
                "--no-default-features",
                "--features",
                "llvm-22",
            ])
            .env("LLVM_SYS_221_PREFIX", "/usr/lib/llvm-22")
            .env("LLVM_PREFIX", "/usr/lib/llvm-22"),
    )
}

/// Runs a long command behind a spinner, keeping its output in a log file
/// that is shown if it fails.
pub fn long_step(what: &str, cmd: &mut Command) -> Result<()> {
    let log_dir = crate::root().join("target/xtask-logs");
    std::fs::create_dir_all(&log_dir)?;
    let log_path = log_dir.join(format!(
        "{}.log",
        what.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join("-")
    ));
    let log = std::fs::File::create(&log_path)?;
    let spinner = spinner(what);
    let status = cmd
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("cannot start {}", crate::describe(cmd)))?;
    spinner.finish_and_clear();
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{what} failed ({status}); last lines of {}:\n{}",
            log_path.display(),
            tail.join("\n")
        );
    }
    eprintln!("xtask: done: {what}");
    Ok(())
}

/// A spinner with elapsed time, for steps that take more than a few seconds.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
