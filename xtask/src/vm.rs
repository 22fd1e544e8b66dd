//! The QEMU tier: `run --vm`, `test --vm` and `vm shell`, on top of the
//! `test-vm` crate.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use test_vm::{
    DEFAULT_FAMILY, Initramfs, Job, KERNEL_FAMILIES, Kernel, KernelFamily, Outcome, Step, Vm,
};

use crate::{build, toolchain};

/// Guest settings shared by every VM command.
#[derive(Args, Debug, Clone, Default)]
pub struct VmOptions {
    /// The guest kernel: `6.1` or `6.12` (Debian's cloud kernels, fetched
    /// and cached), `all` (each in turn), or the path of a bzImage.
    /// Default: `all` for `test`, `6.12` otherwise.
    #[arg(long, value_name = "6.1|6.12|all|PATH")]
    pub kernel: Option<String>,
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

/// A guest kernel named on the command line.
#[derive(Debug, Clone)]
enum KernelChoice {
    Family(KernelFamily),
    Image(PathBuf),
}

impl VmOptions {
    /// The kernels to boot, in order; `all` when `--kernel` is absent and
    /// `default_all` is set, else the default family.
    fn kernels(&self, default_all: bool) -> Result<Vec<KernelChoice>> {
        let every = || {
            KERNEL_FAMILIES
                .iter()
                .copied()
                .map(KernelChoice::Family)
                .collect()
        };
        let choices: Vec<KernelChoice> = match self.kernel.as_deref() {
            None if default_all => every(),
            None => vec![KernelChoice::Family(
                KernelFamily::named(DEFAULT_FAMILY).context("no default kernel family")?,
            )],
            Some("all") => every(),
            Some(name) => match KernelFamily::named(name) {
                Some(family) => vec![KernelChoice::Family(family)],
                None if name.contains('/') || Path::new(name).is_file() => {
                    vec![KernelChoice::Image(PathBuf::from(name))]
                }
                None => bail!(
                    "--kernel {name}: not a kernel of the matrix ({}), `all`, or an existing bzImage",
                    KERNEL_FAMILIES
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        };
        if self.modules.is_some() && !matches!(choices.as_slice(), [KernelChoice::Image(_)]) {
            bail!("--modules goes with --kernel PATH (a kernel image of your own)");
        }
        Ok(choices)
    }
}

/// Host packages and the kernel.
fn prepare(choice: &KernelChoice, options: &VmOptions) -> Result<Kernel> {
    toolchain::apt_install(test_vm::HOST_PACKAGES)?;
    match choice {
        KernelChoice::Image(image) => Kernel::custom(image, options.modules.as_deref()),
        KernelChoice::Family(family) => Kernel::debian(family, &work_dir().join("kernels")),
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
    // The kernel's configuration, from its package (`boot/config-<release>`
    // beside `boot/vmlinuz-<release>`), where libbpf and iu read a C
    // object's `__kconfig` externs.
    let config = kernel.image.file_name().and_then(|name| {
        let release = name.to_str()?.strip_prefix("vmlinuz-")?;
        Some(format!("config-{release}"))
    });
    if let Some(name) = config
        && let Ok(bytes) = std::fs::read(kernel.image.with_file_name(&name))
    {
        initramfs.data(&format!("/boot/{name}"), 0o644, bytes);
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

fn vm(kernel: Kernel, options: &VmOptions, default_timeout: u64) -> Result<Vm> {
    let mut vm = Vm::new(kernel, work_dir())?;
    vm.timeout = Duration::from_secs(options.timeout.unwrap_or(default_timeout));
    Ok(vm)
}

/// Environment passed to guest programs: where the objects are, that this
/// is the VM tier (tests of features the guest kernel has must not skip)
/// and which kernel of the matrix it is, and the host's log settings.
fn guest_env(kernel: &Kernel) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "IU_OBJECT_DIR".to_owned(),
            build::object_dir().to_string_lossy().into_owned(),
        ),
        ("IU_VM_TIER".to_owned(), "1".to_owned()),
        ("IU_VM_KERNEL".to_owned(), kernel.family.clone()),
    ];
    for key in ["RUST_LOG", "RUST_BACKTRACE"] {
        if let Ok(value) = std::env::var(key) {
            env.push((key.to_owned(), value));
        }
    }
    // The guest's console is a terminal, so its programs colour their
    // output; captured on the host (a file, a pipe, CI), that would be
    // escape codes.
    if !colour() {
        for (key, value) in [("NO_COLOR", "1"), ("RUST_LOG_STYLE", "never")] {
            env.push((key.to_owned(), value.to_owned()));
        }
    }
    env
}

/// Whether guest output may be coloured: the host's stdout is a terminal
/// and `NO_COLOR` is not set.
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `cargo xtask run --vm --example <name> [-- args]`: the example's binary
/// (already built) in the guest.
pub fn run_example(
    example: &str,
    binary: &Path,
    args: &[String],
    options: &VmOptions,
) -> Result<()> {
    for choice in options.kernels(false)? {
        let kernel = prepare(&choice, options)?;
        let label = format!("run-{example}-{}", kernel.family);
        let base = initramfs(&label, &kernel, &[binary.to_path_buf()])?;
        let mut argv = vec![binary.to_string_lossy().into_owned()];
        argv.extend(args.iter().cloned());
        let job = Job {
            cwd: crate::root(),
            env: guest_env(&kernel),
            steps: vec![Step {
                label: example.to_owned(),
                argv,
            }],
            interactive: false,
        };
        let name = kernel.name.clone();
        let outcome = vm(kernel, options, 120)?.run(&base, &job)?;
        report_time(&outcome);
        if outcome.status != 0 {
            bail!(
                "example `{example}` failed in the guest on {name} (exit status {})",
                outcome.status
            );
        }
    }
    Ok(())
}

/// `cargo xtask test --vm`: every integration-test binary of the workspace
/// (those that touch the kernel), run in one guest. Doc tests and unit
/// tests of pure logic stay on the host.
///
/// Each kernel of the matrix (or the one `--kernel` names) boots in turn;
/// every kernel runs even when an earlier one failed, and the summary
/// gives each one's result and time.
pub fn test(filter: Option<&str>, options: &VmOptions) -> Result<()> {
    let choices = options.kernels(true)?;
    let artifacts = test_artifacts()?;
    let tests: Vec<&Artifact> = artifacts.iter().filter(|a| a.integration_test).collect();
    if tests.is_empty() {
        bail!("cargo found no integration-test binaries to run in the guest");
    }
    let binaries: Vec<PathBuf> = artifacts.iter().map(|a| a.executable.clone()).collect();
    let steps: Vec<Step> = tests
        .iter()
        .map(|t| {
            let mut argv = vec![t.executable.to_string_lossy().into_owned()];
            if !colour() {
                argv.push("--color=never".to_owned());
            }
            argv.extend(filter.map(str::to_owned));
            Step {
                label: t.label.clone(),
                argv,
            }
        })
        .collect();
    let mut summary = vec![];
    let mut failed_kernels = vec![];
    for choice in &choices {
        let kernel = prepare(choice, options)?;
        let name = kernel.name.clone();
        let base = initramfs(&format!("test-{}", kernel.family), &kernel, &binaries)?;
        let job = Job {
            cwd: crate::root(),
            env: guest_env(&kernel),
            steps: steps.clone(),
            interactive: false,
        };
        let started = Instant::now();
        let result = vm(kernel, options, 480)?.run(&base, &job);
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("iu-vm: {name}: {e:#}");
                summary.push(format!(
                    "{name}: the guest failed ({:.1} s)",
                    started.elapsed().as_secs_f64()
                ));
                failed_kernels.push(name);
                continue;
            }
        };
        report_time(&outcome);
        eprintln!("iu-vm: results on {name}:");
        let mut failed = vec![];
        for step in &outcome.steps {
            let verdict = match step.status {
                Some(0) => "ok".to_owned(),
                Some(status) => format!("FAILED (exit status {status})"),
                None => "did not run".to_owned(),
            };
            eprintln!("iu-vm:   {:<40} {verdict}", step.label);
            if step.status != Some(0) {
                failed.push(step.label.clone());
            }
        }
        let verdict = if failed.is_empty() && outcome.status == 0 {
            "ok".to_owned()
        } else {
            failed_kernels.push(name.clone());
            format!("FAILED: {}", failed.join(", "))
        };
        summary.push(format!(
            "{name}: {} test binaries, {:.1} s in the guest (boot {:.1} s, {}): {verdict}",
            outcome.steps.len(),
            outcome.elapsed.as_secs_f64(),
            outcome.boot.as_secs_f64(),
            outcome.accel,
        ));
    }
    eprintln!("iu-vm: kernel matrix:");
    for line in &summary {
        eprintln!("iu-vm:   {line}");
    }
    if !failed_kernels.is_empty() {
        bail!(
            "kernel tests failed in the guest on {} (output above)",
            failed_kernels.join(", ")
        );
    }
    Ok(())
}

/// `cargo xtask vm shell`.
fn shell(options: &VmOptions) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    build::build_programs(&toolchain, None)?;
    let [choice] = options.kernels(false)?.try_into().map_err(|_| {
        anyhow::anyhow!("vm shell boots one kernel: pass --kernel 6.1, 6.12 or a path")
    })?;
    let kernel = prepare(&choice, options)?;
    let binaries: Vec<PathBuf> = test_artifacts()?
        .into_iter()
        .map(|a| a.executable)
        .collect();
    let base = initramfs("shell", &kernel, &binaries)?;
    // Commands piped in (`echo uname -r | cargo xtask vm shell`) run as
    // one script, and the shell's exit status is the command's.
    use std::io::{IsTerminal, Read};
    let piped = !std::io::stdin().is_terminal();
    let argv = if piped {
        let mut script = String::new();
        std::io::stdin()
            .read_to_string(&mut script)
            .context("reading the commands piped to `vm shell`")?;
        vec!["sh".to_owned(), "-c".to_owned(), script]
    } else {
        // A session with ttyS0 as controlling terminal, for job control
        // and Ctrl-C.
        ["setsid", "cttyhack", "sh"].map(str::to_owned).to_vec()
    };
    let job = Job {
        cwd: crate::root(),
        env: guest_env(&kernel),
        steps: vec![Step {
            label: "shell".to_owned(),
            argv,
        }],
        interactive: !piped,
    };
    // An interactive shell has no timeout; piped commands get the one a
    // guest run has.
    let outcome = vm(kernel, options, if piped { 600 } else { 0 })?.run(&base, &job)?;
    if piped && outcome.status != 0 {
        bail!("the piped commands exited with status {}", outcome.status);
    }
    Ok(())
}

fn report_time(outcome: &Outcome) {
    eprintln!(
        "iu-vm: guest finished in {:.1} s (boot {:.1} s, {})",
        outcome.elapsed.as_secs_f64(),
        outcome.boot.as_secs_f64(),
        outcome.accel
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
