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

use indicatif::{ProgressBar, ProgressStyle};

use crate::{Error, Result};

/// The Debian packages of the BPF toolchain.
pub const DEBIAN_TOOLCHAIN: &[&str] = &["rustc-web", "libstd-rust-web-dev-bpf", "llvm-22-dev"];
/// The bpf-linker release iu is built and tested with.
pub const BPF_LINKER_VERSION: &str = "0.13.0";

/// How program crates are compiled.
///
/// ```no_run
/// if let Some(toolchain) = iu_build::toolchain::detect() {
///     println!("{toolchain}");
/// }
/// ```
#[derive(Debug, Clone)]
pub enum Toolchain {
    /// Debian's rustc with prebuilt BPF `core`.
    Debian {
        /// `/usr/bin/rustc`.
        rustc: PathBuf,
        /// `bpf-linker`.
        linker: PathBuf,
    },
    /// rustup nightly with `rust-src`, using `-Z build-std=core`.
    Nightly {
        /// `bpf-linker`.
        linker: PathBuf,
    },
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

/// Variables of an enclosing cargo build that must not reach the BPF
/// build: flags meant for the host (`RUSTFLAGS` would even replace the
/// target's `rustflags`), its target and target directory (the same
/// directory would deadlock on cargo's build lock when this runs inside a
/// build script), its compiler and wrappers.
const OUTER_BUILD_VARIABLES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "OUT_DIR",
    "TARGET",
    "HOST",
];

impl Toolchain {
    /// A `cargo` command that builds for `bpfel-unknown-none` with this
    /// toolchain. `args` go between `cargo` and the toolchain's own flags.
    /// Nothing of an enclosing cargo build leaks into it
    /// (`RUSTFLAGS`, `CARGO_TARGET_DIR`, `RUSTC`, ...).
    ///
    /// ```no_run
    /// let toolchain = iu_build::toolchain::ensure()?;
    /// let status = toolchain.cargo("check").arg("--target").arg("bpfel-unknown-none").status()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cargo(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new("cargo");
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if OUTER_BUILD_VARIABLES.contains(&name)
                || name.starts_with("CARGO_CFG_")
                || name.starts_with("CARGO_FEATURE_")
                || name.starts_with("CARGO_PKG_")
            {
                cmd.env_remove(name);
            }
        }
        match self {
            Self::Debian { rustc, linker } => {
                cmd.arg(subcommand)
                    .env("RUSTC", rustc)
                    // iu-ebpf's BPF side uses `asm_experimental_arch` and
                    // `core_intrinsics`, and the provenance lint needs
                    // `strict_provenance_lints` (docs/safety.md).
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env("PATH", path_with(linker));
            }
            Self::Nightly { linker } => {
                cmd.arg("+nightly")
                    .arg(subcommand)
                    .args(["-Z", "build-std=core"])
                    .env_remove("RUSTUP_TOOLCHAIN")
                    .env("PATH", path_with(linker));
            }
        }
        cmd
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

/// Where the logs of installation steps go, and the name that prefixes
/// messages (`xtask`, `iu-build`).
#[derive(Debug, Clone)]
pub struct Installer {
    /// The tool name in messages.
    pub tool: String,
    /// The directory of the installation steps' logs.
    pub log_dir: PathBuf,
}

impl Default for Installer {
    fn default() -> Self {
        Self {
            tool: "iu-build".to_owned(),
            log_dir: std::env::temp_dir().join("iu-build-logs"),
        }
    }
}

/// Finds the toolchain, installing what is missing where that is possible
/// (Debian/Ubuntu, as root); otherwise the error says how to install it.
///
/// ```no_run
/// let toolchain = iu_build::toolchain::ensure()?;
/// println!("{toolchain}");
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn ensure() -> Result<Toolchain> {
    ensure_with(&Installer::default())
}

/// [`ensure`], with the installation steps' messages and logs as
/// `installer` says.
///
/// ```no_run
/// let installer = iu_build::toolchain::Installer {
///     tool: "my-xtask".into(),
///     log_dir: "target/logs".into(),
/// };
/// let toolchain = iu_build::toolchain::ensure_with(&installer)?;
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn ensure_with(installer: &Installer) -> Result<Toolchain> {
    if let Some(t) = detect() {
        return Ok(t);
    }
    if !can_install() {
        return Err(Error::Setup(format!(
            "the BPF toolchain is missing, and this is not a Debian/Ubuntu machine where {} runs as root.\n\
             Install it with either:\n\
             \n  # Debian/Ubuntu (as root):\n  apt-get update\n  apt-get install -y {}\n  \
             LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 LLVM_PREFIX=/usr/lib/llvm-22 cargo install bpf-linker --version {BPF_LINKER_VERSION} --locked --no-default-features --features llvm-22\n\
             \n  # anywhere else, with rustup:\n  rustup toolchain install nightly --component rust-src\n  cargo install bpf-linker --version {BPF_LINKER_VERSION} --locked",
            installer.tool,
            DEBIAN_TOOLCHAIN.join(" ")
        )));
    }
    if debian_rustc().is_none() {
        apt_install_with(installer, DEBIAN_TOOLCHAIN)?;
    }
    if find_linker().is_none() {
        install_linker(installer)?;
    }
    detect().ok_or_else(|| {
        Error::Setup("the BPF toolchain is still incomplete after installing it".to_owned())
    })
}

/// The toolchain, if it is installed (looks at files only).
///
/// ```no_run
/// assert!(iu_build::toolchain::detect().is_some(), "run `cargo xtask toolchain`");
/// ```
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

/// `bpf-linker` in `$CARGO_HOME/bin` or on `PATH`.
///
/// ```no_run
/// println!("{:?}", iu_build::toolchain::find_linker());
/// ```
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

/// Whether this process runs as root (read from `/proc`, to avoid a libc
/// call).
///
/// ```
/// let _ = iu_build::toolchain::is_root();
/// ```
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
///
/// ```no_run
/// println!("{:?}", iu_build::toolchain::missing_packages(&["bpftool"]));
/// ```
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
///
/// ```no_run
/// let installer = iu_build::toolchain::Installer::default();
/// iu_build::toolchain::apt_install_with(&installer, &["bpftool"])?;
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn apt_install_with(installer: &Installer, packages: &[&str]) -> Result<()> {
    let missing = missing_packages(packages);
    if missing.is_empty() {
        return Ok(());
    }
    if !can_install() {
        return Err(Error::Setup(format!(
            "missing Debian packages: {0}. Install them with `sudo apt-get update && sudo apt-get install -y {0}`",
            missing.join(" ")
        )));
    }
    long_step(
        installer,
        "apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
    )?;
    long_step(
        installer,
        &format!("apt-get install {}", missing.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn install_linker(installer: &Installer) -> Result<()> {
    long_step(
        installer,
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
/// (in `installer.log_dir`) that is shown if it fails.
///
/// ```no_run
/// let installer = iu_build::toolchain::Installer::default();
/// iu_build::toolchain::long_step(&installer, "sleep", std::process::Command::new("sleep").arg("3"))?;
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn long_step(installer: &Installer, what: &str, cmd: &mut Command) -> Result<()> {
    let log_dir = &installer.log_dir;
    std::fs::create_dir_all(log_dir).map_err(|e| Error::io(log_dir, "creating", e))?;
    let log_path = log_dir.join(format!(
        "{}.log",
        what.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join("-")
    ));
    let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, "creating", e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io(&log_path, "opening", e))?;
    let spinner = spinner(what);
    let status = cmd
        .stdout(log2)
        .stderr(log)
        .status()
        .map_err(|e| Error::Start {
            command: crate::describe(cmd),
            source: e,
        })?;
    spinner.finish_and_clear();
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::Setup(format!(
            "{what} failed ({status}); last lines of {}:\n{}",
            log_path.display(),
            tail.join("\n")
        )));
    }
    eprintln!("{}: done: {what}", installer.tool);
    Ok(())
}

/// A spinner with elapsed time, for steps that take more than a few seconds.
///
/// ```no_run
/// let bar = iu_build::toolchain::spinner("waiting");
/// bar.finish_and_clear();
/// ```
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
