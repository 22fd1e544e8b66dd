//! `cargo xtask fuzz`: the fuzz targets of `fuzz/` (issue #17), each for a
//! bounded time on its corpus, seeded from the built objects. It installs
//! cargo-fuzz from crates.io when missing (once; about a minute), and
//! builds with `RUSTC_BOOTSTRAP=1` on the stable toolchain and without a
//! sanitizer (iu's loader stages are safe Rust; a panic or an abort is
//! what the targets look for). `cargo xtask test` runs every target for
//! 60 s.

use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

/// Every target in `fuzz/Cargo.toml`.
pub const TARGETS: [&str; 7] = [
    "object",
    "btf",
    "section_renamer",
    "placeholder_patcher",
    "source_map",
    "verifier_log",
    "usdt_notes",
];

#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    pub secs: u64,
    /// Count an aya-obj panic that iu caught (a typed error for the user)
    /// as a pass, not a crash: what `cargo xtask test` runs, so that its
    /// bounded run fails only on what would crash a user's process.
    #[arg(long)]
    pub caught_ok: bool,
    /// Only these targets (all when none).
    pub targets: Vec<String>,
}

/// Installs cargo-fuzz if `cargo fuzz` is not there.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = crate::cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("xtask: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
        crate::run_cmd(crate::cargo().args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            "0.13.2",
        ]))?;
    }
    Ok(())
}

pub fn run(args: &FuzzArgs) -> Result<()> {
    let targets: Vec<&str> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in &args.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!(
                    "no fuzz target `{t}`; the targets are {}",
                    TARGETS.join(", ")
                );
            }
        }
        args.targets.iter().map(String::as_str).collect()
    };
    ensure_cargo_fuzz()?;
    let objects = crate::build::object_dir();
    if !objects.join("hello").exists() {
        bail!(
            "{} has no objects to seed the corpora with: run `cargo xtask build` first",
            objects.display()
        );
    }
    crate::run_cmd(
        Command::new("sh")
            .arg("fuzz/seed.sh")
            .current_dir(crate::root()),
    )
    .context("seeding the fuzz corpora (fuzz/seed.sh)")?;
    for target in targets {
        eprintln!("xtask: fuzzing `{target}` for {} s", args.secs);
        let mut cmd = crate::cargo();
        cmd.current_dir(crate::root().join("fuzz"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("IU_FUZZ_TEMPLATE", objects.join("hello"))
            .env_remove("IU_FUZZ_CAUGHT_OK")
            .args(["fuzz", "run", "--sanitizer", "none", "-O", target])
            .arg(format!("corpus/{target}"))
            .arg("--")
            .arg(format!("-max_total_time={}", args.secs))
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1");
        if args.caught_ok {
            cmd.env("IU_FUZZ_CAUGHT_OK", "1");
        }
        crate::run_cmd(&mut cmd).with_context(|| {
            format!(
                "fuzz target `{target}` found a crash: the input is in fuzz/artifacts/{target}/; reproduce with `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -O {target} artifacts/{target}/<file>`, fix it, and add a regression test"
            )
        })?;
    }
    Ok(())
}
