//! `cargo xtask test`: format and lint checks, unit tests, the kernel
//! integration tests on the host kernel, then the same integration tests in
//! a QEMU guest (the VM tier).

use anyhow::{Context as _, Result, bail};
use clap::Args;

use crate::{build, compile_fail, new, stable, toolchain, vm};

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and clippy.
    #[arg(long)]
    pub no_lint: bool,
    /// Only the VM tier: the kernel integration tests in a QEMU guest.
    #[arg(long, conflicts_with = "no_vm")]
    pub vm: bool,
    /// Skip the VM tier (host tests only).
    #[arg(long)]
    pub no_vm: bool,
    #[command(flatten)]
    pub vm_options: vm::VmOptions,
    /// Only run tests whose name contains this.
    pub filter: Option<String>,
}

pub fn run(args: &TestArgs) -> Result<()> {
    if args.no_vm && (args.vm_options.kernel.is_some() || args.vm_options.timeout.is_some()) {
        bail!("--kernel, --modules and --timeout apply to the VM tier, which --no-vm skips");
    }
    let toolchain = toolchain::ensure()?;
    eprintln!("xtask: {toolchain}");
    // test-vm's own tests boot guests on the host too.
    toolchain::apt_install(test_vm::HOST_PACKAGES)?;
    // Host-tier tools: bpftool checks that iu's objects also load with
    // libbpf; iproute2 and ping drive the veth tests.
    toolchain::apt_install(&["bpftool", "iproute2", "iputils-ping"])?;
    // The BMC example's test runs the real memcached behind its cache.
    toolchain::apt_install(&["memcached"])?;
    if !args.no_lint && !args.vm {
        step("cargo fmt --check");
        crate::run_cmd(crate::cargo().args(["fmt", "--all", "--check"]))?;
        for krate in build::program_crates()? {
            crate::run_cmd(
                crate::cargo()
                    .args(["fmt", "--check", "--manifest-path"])
                    .arg(krate.join("Cargo.toml")),
            )?;
        }
        step("the book's code blocks (docs/book) match the files they name");
        crate::book::run(&crate::book::BookArgs { bless: false })?;
        step("cargo clippy -D warnings");
        crate::run_cmd(crate::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        step(
            "public API snapshots (docs/public-api), `cargo doc` and `cargo package` of the library crates",
        );
        let mut doc = crate::cargo();
        doc.args(["doc", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings");
        for krate in crate::public_api::CRATES {
            doc.args(["-p", krate]);
        }
        doc.args(["-p", "cargo-iu"]);
        crate::run_cmd(&mut doc)?;
        crate::public_api::run(&crate::public_api::PublicApiArgs { bless: false })?;
        let package_dir = crate::root().join("target/package");
        forget_packaged_builds(&package_dir)?;
        let mut package = crate::cargo();
        package.args(["package", "--allow-dirty", "--target-dir"]);
        package.arg(&package_dir);
        for krate in crate::public_api::CRATES {
            package.args(["-p", krate]);
        }
        // The generator's binary crate: packaged too, no API snapshot.
        package.args(["-p", "cargo-iu"]);
        crate::run_cmd(&mut package)?;
    }
    step("building BPF programs");
    build::build_programs(&toolchain, None)?;
    if !args.vm {
        step("iu on stable Rust: a crate outside the repository, without RUSTC_BOOTSTRAP");
        stable::run()?;
        step("compile-fail cases (tests/compile-fail): each must be refused, with its message");
        compile_fail::run(&toolchain, args.filter.as_deref())?;
    }

    if !args.vm {
        step("program crates: host unit tests (simulated maps and helpers)");
        for krate in build::program_crates()? {
            // Programs that live in a library can be tested on the host;
            // binary-only crates have nothing to run there.
            if !krate.join("src/lib.rs").exists() {
                continue;
            }
            let mut cmd = crate::cargo();
            // Run from the root, so that its `.cargo/config.toml`
            // (`RUSTC_BOOTSTRAP`) applies; the host toolchain builds them.
            cmd.args(["test", "--manifest-path"])
                .arg(krate.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(crate::root().join("target/programs-host"));
            if let Some(filter) = &args.filter {
                cmd.args(["--", filter]);
            }
            crate::run_cmd(&mut cmd)?;
        }

        step(
            "generated projects: `cargo iu new` (the built cargo-iu), built and tested outside the repository",
        );
        // With a filter, only the kinds it names (none: `generated` or a
        // kind's name).
        let kinds: Vec<new::Kind> = new::Kind::ALL
            .into_iter()
            .filter(|k| {
                args.filter
                    .as_deref()
                    .is_none_or(|f| f == "generated" || f == k.name())
            })
            .collect();
        new::test(&kinds)?;

        // With a filter, only when it names the step or a target.
        if args
            .filter
            .as_deref()
            .is_none_or(|f| f == "fuzz" || crate::fuzz::TARGETS.contains(&f))
        {
            step("fuzz targets (fuzz/): 60 s each on the corpus seeded from the built objects");
            let targets = match args.filter.as_deref() {
                Some(f) if f != "fuzz" => vec![f.to_owned()],
                _ => vec![],
            };
            crate::fuzz::run(&crate::fuzz::FuzzArgs {
                secs: 60,
                caught_ok: true,
                targets,
            })?;
        }

        if args.filter.as_deref().is_none_or(|f| f == "compat") {
            step(
                "loader compatibility: a subset of the kernel's BPF selftests (tests/compat/expected.txt)",
            );
            if toolchain::is_root() {
                crate::compat::run(&crate::compat::CompatArgs {
                    subset: true,
                    filter: None,
                    timeout: 30,
                })?;
            } else {
                // Loading needs root, as the kernel tests below.
                crate::run_cmd(
                    std::process::Command::new("sudo")
                        .args(["-E", "cargo", "xtask", "compat", "--subset"])
                        .current_dir(crate::root()),
                )?;
            }
        }

        step("unit and host-kernel integration tests");
        let mut cmd = crate::cargo();
        cmd.args(["test", "--workspace"])
            .env("IU_OBJECT_DIR", build::object_dir())
            // Tests that need host tools fail instead of skipping here.
            .env("IU_HOST_TIER", "1");
        if !toolchain::is_root() {
            // Kernel tests load programs: run the test binaries as root.
            cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
        }
        if let Some(filter) = &args.filter {
            cmd.args(["--", filter]);
        }
        let before = loaded_ids();
        crate::run_cmd(&mut cmd)?;
        let after = loaded_ids();
        let left: Vec<String> = after
            .iter()
            .filter(|id| !before.contains(id))
            .cloned()
            .collect();
        if !left.is_empty() {
            bail!(
                "the tests left BPF objects behind (bpftool prog/link ids): {}; every program, link and pin must be gone after its test",
                left.join(", ")
            );
        }
    }
    if !args.no_vm {
        step("VM tier: kernel integration tests in a QEMU guest (skip with --no-vm)");
        vm::test(args.filter.as_deref(), &args.vm_options)?;
    }
    Ok(())
}

/// The ids of every loaded program and link (`prog:12`, `link:3`), from
/// bpftool, to catch tests that leave something behind.
fn loaded_ids() -> Vec<String> {
    let mut ids = vec![];
    for kind in ["prog", "link"] {
        let Ok(out) = std::process::Command::new("bpftool")
            .args(["-j", kind, "show"])
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        for part in text.split("\"id\":").skip(1) {
            let id: String = part.chars().take_while(char::is_ascii_digit).collect();
            ids.push(format!("{kind}:{id}"));
        }
    }
    ids
}

fn step(what: &str) {
    eprintln!("xtask: == {what}");
}

/// Removes what an earlier `cargo package` kept of iu's own crates: cargo
/// verifies each package against the others through a local registry,
/// unpacks those into `$CARGO_HOME/registry/src/-<hash>/` and takes them,
/// and their builds, as unchanged for an unchanged version, so it would
/// build against a sibling's old sources.
fn forget_packaged_builds(package_dir: &std::path::Path) -> Result<()> {
    let ours = |name: &str| {
        crate::public_api::CRATES
            .iter()
            .chain(&["cargo-iu"])
            .any(|krate| {
                name.strip_prefix(krate)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|rest| !rest.contains('-'))
            })
    };
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let mut dirs = vec![package_dir.join("debug/.fingerprint")];
    // Local registries' sources are named `-<hash>`; crates.io's are not.
    if let Some(Ok(sources)) = cargo_home.map(|h| std::fs::read_dir(h.join("registry/src"))) {
        dirs.extend(
            sources
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with('-'))
                .map(|e| e.path()),
        );
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if ours(&entry.file_name().to_string_lossy()) {
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}
