//! The QEMU tier: `run --vm`, `test --vm` and `vm shell`, on top of the
//! `test-vm` crate.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use test_vm::{Initramfs, Job, Kernel, Outcome, Step, Vm};

use crate::{build, toolchain};

/// Guest settings shared by every VM command.
#[derive(Args, Debug, Clone, Default)]
pub struct VmOptions {
    /// Boot this kernel image (bzImage) instead of Debian's 6.12 cloud
    /// kernel (with --vm).
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// The `lib/modules/<release>` directory matching --kernel, for the
    /// veth and virtio_net modules.
    #[arg(long, value_name = "DIR", requires = "kernel")]
    pub modules: Option<PathBuf>,
    /// Kill the guest after this many seconds (boot included).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Args, Debug)]
pub struct VmArgs {
    #[command(subcommand)]
    command: VmCmd,
}

#[derive(Subcommand, Debug)]
enum VmCmd {
    /// Boot the guest to an interactive busybox shell, with the workspace's
    /// binaries and BPF objects at their host paths.
    Shell(VmOptions),
}

pub fn run(args: &VmArgs) -> Result<()> {
    match &args.command {
        VmCmd::Shell(options) => shell(options),
    }
}

/// `target/vm`: kernels, initramfs archives, scratch files.
fn work_dir() -> PathBuf {
    crate::root().join("target/vm")
}

/// Host packages and the kernel.
fn prepare(options: &VmOptions) -> Result<Kernel> {
    toolchain::apt_install(test_vm::HOST_PACKAGES)?;
    match &options.kernel {
        Some(image) => Kernel::custom(image, options.modules.as_deref()),
        None => Kernel::debian_default(&work_dir().join("kernels")),
    }
}

/// Builds (or reuses) the initramfs `target/vm/<label>.cpio` with
/// `binaries`, the BPF objects, the workspace's sources and the kernel's
/// modules.
fn initramfs(label: &str, kernel: &Kernel, binaries: &[PathBuf]) -> Result<PathBuf> {
    let mut initramfs = Initramfs::new()?;
    for binary in binaries {
        initramfs.binary(binary)?;
    }
    initramfs.objects_in(&build::object_dir())?;
    initramfs.source_tree(&crate::root())?;
    if let Some(modules) = &kernel.modules {
        initramfs.modules(modules)?;
    }
    let out = work_dir().join(format!("{label}.cpio"));
    let started = Instant::now();
    if initramfs.build(&out)? {
        eprintln!(
            "iu-vm: built {} in {:.1} s",
            out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(out)
}

fn vm(kernel: Kernel, options: &VmOptions, default_timeout: u64) -> Vm {
    Vm {
        kernel,
        cpus: 2,
        memory_mib: 2048,
        timeout: Duration::from_secs(options.timeout.unwrap_or(default_timeout)),
        work_dir: work_dir(),
    }
}

/// Environment passed to guest programs: where the objects are, that this
/// is the VM tier (tests of features the guest kernel has must not skip),
/// and the host's log settings.
fn guest_env() -> Vec<(String, String)> {
    let mut env = vec![
        (
            "IU_OBJECT_DIR".to_owned(),
            build::object_dir().to_string_lossy().into_owned(),
        ),
        ("IU_VM_TIER".to_owned(), "1".to_owned()),
    ];
    for key in ["RUST_LOG", "RUST_BACKTRACE"] {
        if let Ok(value) = std::env::var(key) {
            env.push((key.to_owned(), value));
        }
    }
    env
}

/// `cargo xtask run --vm --example <name> [-- args]`: the example's binary
/// (already built) in the guest.
pub fn run_example(
    example: &str,
    binary: &Path,
    args: &[String],
    options: &VmOptions,
) -> Result<()> {
    let kernel = prepare(options)?;
    let base = initramfs(&format!("run-{example}"), &kernel, &[binary.to_path_buf()])?;
    let mut argv = vec![binary.to_string_lossy().into_owned()];
    argv.extend(args.iter().cloned());
    let job = Job {
        cwd: crate::root(),
        env: guest_env(),
        steps: vec![Step {
            label: example.to_owned(),
            argv,
        }],
        interactive: false,
    };
    let outcome = vm(kernel, options, 120).run(&base, &job)?;
    report_time(&outcome);
    if outcome.status != 0 {
        bail!(
            "example `{example}` failed in the guest (exit status {})",
            outcome.status
        );
    }
    Ok(())
}

/// `cargo xtask test --vm`: every integration-test binary of the workspace
/// (those that touch the kernel), run in one guest. Doc tests and unit
/// tests of pure logic stay on the host.
pub fn test(filter: Option<&str>, options: &VmOptions) -> Result<()> {
    let kernel = prepare(options)?;
    let artifacts = test_artifacts()?;
    let tests: Vec<&Artifact> = artifacts.iter().filter(|a| a.integration_test).collect();
    if tests.is_empty() {
        bail!("cargo found no integration-test binaries to run in the guest");
    }
    let binaries: Vec<PathBuf> = artifacts.iter().map(|a| a.executable.clone()).collect();
    let base = initramfs("test", &kernel, &binaries)?;
    let steps = tests
        .iter()
        .map(|t| {
            let mut argv = vec![t.executable.to_string_lossy().into_owned()];
            argv.extend(filter.map(str::to_owned));
            Step {
                label: t.label.clone(),
                argv,
            }
        })
        .collect();
    let job = Job {
        cwd: crate::root(),
        env: guest_env(),
        steps,
        interactive: false,
    };
    let outcome = vm(kernel, options, 480).run(&base, &job)?;
    report_time(&outcome);
    eprintln!("iu-vm: results:");
    let mut failed = vec![];
    for step in &outcome.steps {
        let verdict = match step.status {
            Some(0) => "ok".to_owned(),
            Some(status) => format!("FAILED (exit status {status})"),
            None => "did not run".to_owned(),
        };
        eprintln!("iu-vm:   {:<40} {verdict}", step.label);
        if step.status != Some(0) {
            failed.push(step.label.as_str());
        }
    }
    if !failed.is_empty() || outcome.status != 0 {
        bail!(
            "kernel tests failed in the guest: {} (output above)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// `cargo xtask vm shell`.
fn shell(options: &VmOptions) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    build::build_programs(&toolchain, None)?;
    let kernel = prepare(options)?;
    let binaries: Vec<PathBuf> = test_artifacts()?
        .into_iter()
        .map(|a| a.executable)
        .collect();
    let base = initramfs("shell", &kernel, &binaries)?;
    let job = Job {
        cwd: crate::root(),
        env: guest_env(),
        steps: vec![Step {
            label: "shell".to_owned(),
            // A session with ttyS0 as controlling terminal, for job control
            // and Ctrl-C.
            argv: ["setsid", "cttyhack", "sh"].map(str::to_owned).to_vec(),
        }],
        interactive: true,
    };
    vm(kernel, options, 0).run(&base, &job)?;
    Ok(())
}

fn report_time(outcome: &Outcome) {
    eprintln!(
        "iu-vm: guest finished in {:.1} s (boot {:.1} s)",
        outcome.elapsed.as_secs_f64(),
        outcome.boot.as_secs_f64()
    );
}

/// An executable from `cargo test --no-run`.
struct Artifact {
    executable: PathBuf,
    /// A `tests/*.rs` target (a kernel integration test), not a unit-test
    /// harness or a plain binary.
    integration_test: bool,
    /// The test's source path relative to the workspace, for reports.
    label: String,
}

/// Builds the workspace's tests and binaries and lists the integration
/// tests and the binaries they run, leaving out xtask's and test-vm's own
/// (they drive the guest).
fn test_artifacts() -> Result<Vec<Artifact>> {
    let output = crate::cargo()
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .env("IU_OBJECT_DIR", build::object_dir())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo test --no-run")?;
    if !output.status.success() {
        bail!("cargo test --workspace --no-run failed (errors above)");
    }
    let root = crate::root();
    let mut artifacts = vec![];
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let manifest = message["manifest_path"].as_str().unwrap_or_default();
        if ["xtask", "test-vm"]
            .iter()
            .any(|dir| Path::new(manifest).starts_with(root.join(dir)))
        {
            continue;
        }
        let is_test = message["profile"]["test"] == true;
        let is_test_target = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
        if is_test && !is_test_target {
            // Unit-test harnesses test pure logic; they run on the host.
            continue;
        }
        let src = message["target"]["src_path"].as_str().unwrap_or_default();
        let label = Path::new(src)
            .strip_prefix(&root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| src.to_owned());
        artifacts.push(Artifact {
            executable: PathBuf::from(executable),
            integration_test: is_test && is_test_target,
            label,
        });
    }
    Ok(artifacts)
}
