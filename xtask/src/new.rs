//! `cargo xtask new <name> --kind <kind>`: the generator of `cargo iu new`
//! (the `cargo-iu` crate, templates in `cargo-iu/templates`), depending on
//! this checkout by path; and `cargo xtask test`'s check that an outsider
//! can use it: the `cargo-iu` binary, run as `cargo iu new` from a
//! directory outside the repository.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
pub use cargo_iu::Kind;
use cargo_iu::{IuSource, NewProject};
use clap::Args;

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The project's name (lower case, digits, `-`, `_`): the crates are
    /// `<name>`, `<name>-ebpf` and `<name>-common`.
    pub name: String,
    /// What the program attaches to.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The directory to create the project in (as `<path>/<name>`).
    #[arg(long, default_value = ".")]
    pub path: PathBuf,
}

pub fn run(args: &NewArgs) -> Result<()> {
    let dir = NewProject::new(&args.name, args.kind)
        .iu(IuSource::checkout(&crate::root())?)
        .generate(&args.path)?;
    eprintln!(
        "xtask: created {} ({} program). Next:\n  cd {}\n  cargo test   # builds the program (iu-build), host and kernel tests",
        dir.display(),
        args.kind.name(),
        dir.display(),
    );
    Ok(())
}

/// `cargo xtask test`'s check of the generator, as an outsider uses it:
/// the `cargo-iu` binary, installed into a temporary directory's `bin/`
/// (as `cargo install --path cargo-iu --root <dir>` would, without its
/// second build) and put on `PATH`, runs as `cargo iu new` there, outside
/// the repository (so that no config file of the repository applies). Each
/// kind's project is then built and tested with a plain `cargo test`
/// (build.rs and iu-build, the host unit tests, the kernel tests as root),
/// and its binary runs for a second.
///
/// The projects depend on this checkout as the binary's default (the
/// checkout it was built from), except the last kind's, which names it
/// with `--iu-path`.
///
/// The enclosing environment is that of a user's shell: nothing of the
/// repository's cargo config (`RUSTC_BOOTSTRAP`), and a host `RUSTFLAGS`
/// that bpf-linker refuses (`-Wl,...`). Cargo hands it to build scripts as
/// `CARGO_ENCODED_RUSTFLAGS`, which a nested cargo would apply to the BPF
/// build: with iu-build's removal of it undone, this step fails with
/// bpf-linker's "unexpected argument '-W'".
pub fn test(kinds: &[Kind]) -> Result<()> {
    let parent = std::env::temp_dir().join("iu-generated");
    if parent.exists() {
        std::fs::remove_dir_all(&parent)
            .with_context(|| format!("removing {}", parent.display()))?;
    }
    let bin = parent.join("bin");
    std::fs::create_dir_all(&bin)?;
    crate::run_cmd(crate::cargo().args(["build", "--quiet", "-p", "cargo-iu"]))?;
    let built = crate::root().join("target/debug/cargo-iu");
    std::fs::copy(&built, bin.join("cargo-iu"))
        .with_context(|| format!("copying {} to {}", built.display(), bin.display()))?;
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let target = crate::root().join("target/generated");
    // A user's shell: the tools on PATH, nothing of the repository's cargo.
    let user_command = |program: &str, args: &[&str], dir: &Path| {
        let mut cmd = std::process::Command::new(program);
        cmd.current_dir(dir)
            .args(args)
            .env("PATH", &path)
            .env("RUSTFLAGS", "-C link-arg=-Wl,--as-needed");
        for var in [
            "RUSTC_BOOTSTRAP",
            "RUSTC",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTUP_TOOLCHAIN",
            "CARGO",
            "CARGO_TARGET_DIR",
            "IU_OBJECT_DIR",
        ] {
            cmd.env_remove(var);
        }
        cmd
    };
    for &kind in kinds {
        let started = std::time::Instant::now();
        let name = format!("gen-{}", kind.name());
        let mut new = user_command(
            "cargo",
            &["iu", "new", &name, "--kind", kind.name()],
            &parent,
        );
        if Some(&kind) == kinds.last() && kinds.len() > 1 {
            new.arg("--iu-path").arg(crate::root());
        }
        crate::run_cmd(&mut new)?;
        let dir = parent.join(&name);
        let cargo = |args: &[&str]| {
            let mut cmd = user_command("cargo", &args[..1], &dir);
            // Every project shares one (warm) target directory.
            cmd.arg("--target-dir").arg(&target).args(&args[1..]);
            if !crate::toolchain::is_root() {
                cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
            }
            cmd
        };
        // First, as a user would: the program crate's lock is written
        // during this build.
        if kind == kinds[0] {
            check_reruns(&mut || cargo(&["build", "-v"]), &dir, &name)?;
        }
        crate::run_cmd(&mut cargo(&["test", "--quiet"]))?;
        if kind != Kind::Kprobe {
            // The binary loads and attaches for a second (kprobes: the host
            // kernel has none; the kernel test checks they are refused
            // as missing).
            crate::run_cmd(&mut cargo(&[
                "run",
                "--quiet",
                "-p",
                &name,
                "--",
                "--seconds",
                "1",
            ]))?;
        }
        eprintln!(
            "xtask: generated {} project built and tested in {:.1}s",
            kind.name(),
            started.elapsed().as_secs_f64()
        );
    }
    std::fs::remove_dir_all(&parent)?;
    Ok(())
}

/// The user crate's build script (and so iu-build) runs again when the
/// program crate's sources change, and only then.
fn check_reruns(
    build: &mut dyn FnMut() -> std::process::Command,
    dir: &Path,
    name: &str,
) -> Result<()> {
    let mut runs_build_script = || -> Result<bool> {
        let mut cmd = build();
        let output = cmd
            .output()
            .with_context(|| format!("cannot start {}", crate::describe(&cmd)))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("{} failed:\n{stderr}", crate::describe(&cmd));
        }
        Ok(stderr.lines().any(|l| {
            l.contains("Running")
                && l.contains(&format!("build/{name}-"))
                && l.contains("build-script-build")
        }))
    };
    // The project's first build, then one with nothing changed.
    runs_build_script()?;
    if runs_build_script()? {
        bail!("the build script of {name} ran again although nothing changed");
    }
    // A newer modification time, as an editor would leave.
    let lib = dir.join(format!("{name}-ebpf/src/lib.rs"));
    let text = std::fs::read_to_string(&lib)?;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&lib, text)?;
    if !runs_build_script()? {
        bail!(
            "the build script of {name} did not run again after {} changed",
            lib.display()
        );
    }
    Ok(())
}
