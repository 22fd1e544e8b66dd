//! `cargo iu`: cargo runs it as `cargo-iu iu ARGS` for `cargo iu ARGS`;
//! `cargo-iu ARGS` works too.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode};

use cargo_iu::{IuSource, Kind, NewProject};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo iu",
    bin_name = "cargo iu",
    version,
    about = "Projects of one's own with iu (safe-Rust eBPF)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a project: `<NAME>-ebpf` (the program, built for
    /// bpfel-unknown-none by the user crate's build.rs through iu-build),
    /// `<NAME>-common`, and `<NAME>` (loads and attaches it; host and
    /// kernel tests that `cargo test` runs).
    New(NewArgs),
}

#[derive(clap::Args)]
struct NewArgs {
    /// The project's name (lower case, digits, `-`, `_`): the crates are
    /// `<NAME>`, `<NAME>-ebpf` and `<NAME>-common`.
    name: String,
    /// What the program attaches to.
    #[arg(long, value_enum)]
    kind: Kind,
    /// The directory to create the project in (as `<PATH>/<NAME>`).
    #[arg(long, default_value = ".")]
    path: PathBuf,
    /// Depend on iu's crates by path, from this checkout of iu's
    /// repository [default: the checkout cargo-iu was built from, when it
    /// is still there; else crates.io at cargo-iu's version].
    #[arg(long, value_name = "DIR", conflicts_with = "iu_version")]
    iu_path: Option<PathBuf>,
    /// Depend on iu's crates from crates.io, at this version requirement.
    #[arg(long, value_name = "VERSION")]
    iu_version: Option<String>,
}

fn main() -> ExitCode {
    // `cargo iu new` runs `cargo-iu iu new`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "iu") {
        args.remove(1);
    }
    let Command::New(args) = Cli::parse_from(args).command;
    match new(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo iu: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn new(args: &NewArgs) -> Result<(), cargo_iu::Error> {
    let iu = match (&args.iu_path, &args.iu_version) {
        (Some(dir), _) => IuSource::checkout(dir)?,
        (None, Some(version)) => IuSource::Version(version.clone()),
        (None, None) => IuSource::default_for_this_binary(),
    };
    let project = NewProject::new(&args.name, args.kind).iu(iu.clone());
    let dir = project.generate(&args.path)?;
    eprintln!(
        "cargo iu: created {} (kind {}; {iu}). Next:\n  cd {}\n  cargo test   # builds the program (iu-build), runs the host and kernel tests",
        dir.display(),
        args.kind.name(),
        dir.display(),
    );
    Ok(())
}
