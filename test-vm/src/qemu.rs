//! Booting the guest with `qemu-system-x86_64` and following its serial
//! console: boot progress, the steps' results, the exit status, and a hard
//! timeout.

use std::{
    fmt,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{Kernel, initramfs};

/// How QEMU runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization through `/dev/kvm`.
    Kvm,
    /// QEMU's portable emulator (single-threaded TCG).
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kvm => "KVM",
            Self::Tcg => "TCG",
        })
    }
}

impl Accel {
    fn args(self) -> [&'static str; 4] {
        match self {
            Self::Kvm => ["-accel", "kvm", "-cpu", "host"],
            // Single-threaded TCG: with one host thread per vCPU, the
            // guest's live code patching (tracepoint static keys flipped by
            // every attach and detach) raced with the other vCPU and oopsed
            // on a stale int3 in `syscall_trace_enter`.
            Self::Tcg => ["-accel", "tcg,thread=single", "-cpu", "max"],
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        }
    }
}

/// How a [`Vm`] picks its accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelPolicy {
    /// KVM when a guest has booted under it on this host before (cached in
    /// [`Vm::accel_cache`]), or when `/dev/kvm` passes the firmware probe;
    /// else TCG. A guest that QEMU reports as a KVM internal error or
    /// emulation failure is retried at once under TCG, and TCG is then
    /// remembered for this QEMU and host kernel, so later guests (other
    /// kernels, other processes) go straight to TCG.
    Auto,
    /// This accelerator and no other: a KVM failure is an error.
    Force(Accel),
}

impl AccelPolicy {
    /// `IU_VM_ACCEL=kvm|tcg` forces one; unset or empty means [`Auto`](Self::Auto).
    pub fn from_env() -> Result<Self> {
        match std::env::var("IU_VM_ACCEL").as_deref() {
            Err(_) | Ok("") | Ok("auto") => Ok(Self::Auto),
            Ok("kvm") => Ok(Self::Force(Accel::Kvm)),
            Ok("tcg") => Ok(Self::Force(Accel::Tcg)),
            Ok(other) => bail!("IU_VM_ACCEL={other} is not kvm, tcg or auto"),
        }
    }
}

/// QEMU stopped a KVM guest because KVM could not run it (nested
/// virtualization that cannot emulate an instruction, for example). QEMU
/// pauses such a guest instead of exiting, so the console follower kills it
/// as soon as stderr says so.
#[derive(Debug)]
pub struct KvmFailure {
    /// QEMU's first lines about it.
    pub detail: String,
}

impl fmt::Display for KvmFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KVM could not run the guest (QEMU: {})", self.detail)
    }
}

impl std::error::Error for KvmFailure {}

/// What QEMU prints on stderr when KVM gives up on a guest.
fn is_kvm_failure(line: &str) -> bool {
    line.contains("KVM internal error") || line.contains("emulation failure")
}

/// Why KVM is or is not used, for `cargo xtask doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmStatus {
    /// No `/dev/kvm`.
    NoDevice,
    /// `/dev/kvm` exists but QEMU could not run the probe firmware on it.
    ProbeFailed,
    /// The probe passes; no guest kernel has been booted under it yet.
    ProbePassed,
    /// This guest kernel booted under KVM on this host (from the cache).
    Verified(String),
    /// This guest kernel failed under KVM on this host (from the cache).
    Failed(String),
}

impl fmt::Display for KvmStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDevice => f.write_str("no /dev/kvm: TCG"),
            Self::ProbeFailed => f.write_str("/dev/kvm cannot run the probe firmware: TCG"),
            Self::ProbePassed => f.write_str(
                "the probe passes; the first guest boot decides (a KVM failure falls back to TCG)",
            ),
            Self::Verified(kernel) => write!(f, "usable: {kernel} booted under it"),
            Self::Failed(kernel) => write!(f, "broken: {kernel} failed under it; TCG is used"),
        }
    }
}

/// The accelerator remembered for this host in one file (`accel` under
/// the work directory, or [`Vm::accel_cache`]): valid while QEMU's binary
/// and the host kernel stay the same. It also names the guest kernel that
/// decided it.
struct AccelCache {
    path: PathBuf,
    identity: String,
}

impl AccelCache {
    fn new(path: &Path, qemu: &Path) -> Self {
        let identity = format!(
            "qemu {}\nhost {}",
            file_identity(&resolve(qemu)),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim(),
        );
        Self {
            path: path.to_path_buf(),
            identity,
        }
    }

    /// The cached accelerator and the guest kernel it was decided with.
    fn get(&self) -> Option<(Accel, String)> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let mut lines = text.lines();
        let accel = match lines.next()? {
            "kvm" => Accel::Kvm,
            "tcg" => Accel::Tcg,
            _ => return None,
        };
        let kernel = lines.next()?.to_owned();
        let identity: Vec<&str> = lines.collect();
        (identity.join("\n") == self.identity).then_some((accel, kernel))
    }

    /// Best effort: a read-only work directory only costs a probe next time.
    fn set(&self, accel: Accel, kernel: &str) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(
            &self.path,
            format!("{}\n{kernel}\n{}\n", accel.key(), self.identity),
        );
    }
}

/// `program`'s path: itself when it has a slash, else its first match on
/// `PATH`.
fn resolve(program: &Path) -> PathBuf {
    if program.components().count() > 1 {
        return program.to_path_buf();
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| program.to_path_buf())
}

/// Path, size and modification time: changes when the file is replaced.
fn file_identity(path: &Path) -> String {
    let meta = std::fs::metadata(path).ok();
    let size = meta.as_ref().map(|m| m.len()).unwrap_or_default();
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{} {size} {mtime}", path.display())
}

/// What this host's KVM can do for the tier's guests: the verdict cached in
/// `accel_cache` by an earlier boot, else the firmware probe (run in
/// `work_dir`, with QEMU from `PATH`).
pub fn kvm_status(accel_cache: &Path, work_dir: &Path) -> KvmStatus {
    let qemu = Path::new(QEMU);
    match AccelCache::new(accel_cache, qemu).get() {
        Some((Accel::Kvm, kernel)) => KvmStatus::Verified(kernel),
        Some((Accel::Tcg, kernel)) => KvmStatus::Failed(kernel),
        None => kvm_probe(qemu, work_dir, 2),
    }
}

/// What the automatic choice knows about `/dev/kvm` before any boot.
fn kvm_probe(qemu: &Path, work_dir: &Path, cpus: u32) -> KvmStatus {
    if !Path::new("/dev/kvm").exists() {
        return KvmStatus::NoDevice;
    }
    if probe(qemu, Accel::Kvm, work_dir, cpus).unwrap_or(false) {
        KvmStatus::ProbePassed
    } else {
        KvmStatus::ProbeFailed
    }
}

/// Runs a 64 KiB firmware under `accel` with the tier's `-cpu` and `-smp`;
/// true if it ran. Its reset vector writes to QEMU's `isa-debug-exit` port,
/// so QEMU exits with status 99 within a fraction of a second. Passing it
/// shows that QEMU can set up the vCPUs, not that a kernel boots: some
/// nested hosts fail later, in the kernel's decompressor, which
/// [`Vm::run`] handles.
fn probe(qemu: &Path, accel: Accel, work_dir: &Path, cpus: u32) -> Result<bool> {
    std::fs::create_dir_all(work_dir)?;
    let firmware = work_dir.join("accel-probe.bin");
    // Real mode at the reset vector 0xffff0: `mov al, 0x31; out 0xf4, al`,
    // then `hlt` in a loop. QEMU exits with (0x31 << 1) | 1 = 99.
    let mut image = vec![0xf4_u8; 0x10000];
    image[0xfff0..0xfff7].copy_from_slice(&[0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
    std::fs::write(&firmware, image)?;
    let mut child = Command::new(qemu)
        .args(accel.args())
        .args([
            "-smp",
            &cpus.to_string(),
            "-m",
            "16",
            "-nodefaults",
            "-no-user-config",
        ])
        .args([
            "-display",
            "none",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ])
        .arg("-bios")
        .arg(&firmware)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.code() == Some(99));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// One command the guest runs.
#[derive(Debug, Clone)]
pub struct Step {
    /// A name for the report, such as the test binary's.
    pub label: String,
    /// The program (an absolute path or a busybox applet) and its arguments.
    pub argv: Vec<String>,
}

/// What the guest does after booting.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// The working directory of the steps.
    pub cwd: PathBuf,
    /// Environment variables for the steps.
    pub env: Vec<(String, String)>,
    /// Commands, run one after the other; all run even when one fails.
    pub steps: Vec<Step>,
    /// Attach the terminal to the guest console (for `vm shell`): no
    /// output parsing and no timeout.
    pub interactive: bool,
}

impl Job {
    /// `/iu/run.sh`, which init sources.
    fn script(&self) -> String {
        let mut script = format!(
            "cd {} || echo 'iu-vm: warning: no such directory'\n",
            quote(&self.cwd.to_string_lossy())
        );
        for (key, value) in &self.env {
            script.push_str(&format!("export {key}={}\n", quote(value)));
        }
        for (n, step) in self.steps.iter().enumerate() {
            let argv: Vec<String> = step.argv.iter().map(|a| quote(a)).collect();
            script.push_str(&format!("step {n} {}\n", argv.join(" ")));
        }
        script
    }
}

/// A POSIX shell single-quoted word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The result of one [`Step`].
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The step's label.
    pub label: String,
    /// Its exit status (128 + N for a signal), or `None` if the guest
    /// stopped before it finished.
    pub status: Option<i32>,
}

/// How a run ended, when the guest reported its status.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// 0 when every step succeeded, else the last failing step's status.
    pub status: i32,
    /// Each step's result, in order.
    pub steps: Vec<StepResult>,
    /// From starting QEMU to init being ready.
    pub boot: Duration,
    /// From starting QEMU to the exit status.
    pub elapsed: Duration,
    /// The accelerator the guest ran under.
    pub accel: Accel,
    /// Why KVM was given up for TCG during this run, if it was.
    pub fell_back: Option<String>,
}

/// The QEMU binary, found on `PATH`.
pub const QEMU: &str = "qemu-system-x86_64";

/// A guest machine.
#[derive(Debug, Clone)]
pub struct Vm {
    /// The kernel to boot.
    pub kernel: Kernel,
    /// vCPUs.
    pub cpus: u32,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Hard limit for boot plus job; QEMU is killed when it runs out.
    pub timeout: Duration,
    /// A scratch directory (under `target/vm`).
    pub work_dir: PathBuf,
    /// The file that remembers the accelerator for this host
    /// (`<work_dir>/accel` by default).
    pub accel_cache: PathBuf,
    /// How to pick KVM or TCG.
    pub accel: AccelPolicy,
    /// The QEMU program ([`QEMU`] unless a test substitutes its own).
    pub qemu: PathBuf,
}

impl Vm {
    /// A guest with the tier's defaults (2 vCPUs, 2 GiB, 480 s, the
    /// accelerator from `IU_VM_ACCEL`, QEMU from `PATH`).
    pub fn new(kernel: Kernel, work_dir: PathBuf) -> Result<Self> {
        Ok(Self {
            kernel,
            cpus: 2,
            memory_mib: 3072,
            timeout: Duration::from_secs(480),
            accel_cache: work_dir.join("accel"),
            work_dir,
            accel: AccelPolicy::from_env()?,
            qemu: PathBuf::from(QEMU),
        })
    }

    /// What this host's KVM can do: the cached verdict of an earlier boot,
    /// else the firmware probe.
    pub fn kvm_status(&self) -> KvmStatus {
        kvm_status(&self.accel_cache, &self.work_dir)
    }

    fn cache(&self) -> AccelCache {
        AccelCache::new(&self.accel_cache, &self.qemu)
    }

    /// The accelerator to try first.
    fn first_choice(&self, cache: &AccelCache) -> Accel {
        match self.accel {
            AccelPolicy::Force(accel) => accel,
            AccelPolicy::Auto => cache.get().map(|(accel, _)| accel).unwrap_or_else(|| {
                match kvm_probe(&self.qemu, &self.work_dir, self.cpus) {
                    KvmStatus::ProbePassed => Accel::Kvm,
                    _ => Accel::Tcg,
                }
            }),
        }
    }

    /// Boots `base` (an initramfs from [`initramfs::Initramfs::build`]) with
    /// `job`'s files added, streams the console, and returns once the guest
    /// has reported its exit status. A guest that panics, stops without a
    /// status, or outlives the timeout is an error.
    ///
    /// Under [`AccelPolicy::Auto`], a guest that KVM cannot run is killed
    /// as soon as QEMU says so and booted again under TCG, with one line
    /// saying why; TCG is then remembered for this host.
    pub fn run(&self, base: &Path, job: &Job) -> Result<Outcome> {
        let cache = self.cache();
        let accel = self.first_choice(&cache);
        match self.boot(accel, base, job) {
            Ok(outcome) => {
                if accel == Accel::Kvm
                    && self.accel == AccelPolicy::Auto
                    && outcome.boot > Duration::ZERO
                {
                    cache.set(Accel::Kvm, &self.kernel.name);
                }
                Ok(outcome)
            }
            Err(err) => {
                let Some(failure) = err.downcast_ref::<KvmFailure>() else {
                    return Err(err);
                };
                if self.accel != AccelPolicy::Auto {
                    bail!(
                        "{failure}\nIU_VM_ACCEL=kvm forces KVM; unset it to fall back to TCG automatically"
                    );
                }
                let why = failure.detail.clone();
                cache.set(Accel::Tcg, &self.kernel.name);
                eprintln!(
                    "iu-vm: KVM cannot run {} on this host (QEMU: {why}); retrying under TCG, which is remembered in {}",
                    self.kernel.name,
                    cache.path.display()
                );
                let mut outcome = self.boot(Accel::Tcg, base, job)?;
                outcome.fell_back = Some(why);
                Ok(outcome)
            }
        }
    }

    fn boot(&self, accel: Accel, base: &Path, job: &Job) -> Result<Outcome> {
        let token = token();
        // Per run, so that concurrent runs do not overwrite each other's.
        let run_initramfs = self.work_dir.join(format!("run-{token}.cpio"));
        let _cleanup = RemoveOnDrop(run_initramfs.clone());
        initramfs::with_files(
            base,
            &run_initramfs,
            &[
                ("/iu/token", 0o644, token.as_bytes()),
                ("/iu/run.sh", 0o644, job.script().as_bytes()),
            ],
        )?;
        let mut cmd = Command::new(&self.qemu);
        cmd.args(accel.args())
            .args(["-smp", &self.cpus.to_string()])
            .args(["-m", &self.memory_mib.to_string()])
            .args([
                "-nodefaults",
                "-no-user-config",
                "-no-reboot",
                "-display",
                "none",
            ])
            .arg("-kernel")
            .arg(&self.kernel.image)
            .arg("-initrd")
            .arg(&run_initramfs)
            // panic=-1: a kernel panic reboots at once, and -no-reboot
            // turns that into QEMU exiting.
            .args(["-append", "console=ttyS0 panic=-1 quiet rdinit=/init"]);
        let limit = if job.interactive {
            "no timeout".to_owned()
        } else {
            format!("timeout {} s", self.timeout.as_secs())
        };
        eprintln!(
            "iu-vm: booting {} ({accel}, {} vCPUs, {} MiB, {limit})",
            self.kernel.name, self.cpus, self.memory_mib
        );
        let cannot_start = || {
            format!(
                "cannot start {} (apt-get install qemu-system-x86)",
                self.qemu.display()
            )
        };
        if job.interactive {
            eprintln!("iu-vm: the shell's `exit` powers the guest off; Ctrl-A x quits QEMU");
            // signal=off: Ctrl-C goes to the guest's shell, not to QEMU.
            let status = cmd
                .args(["-chardev", "stdio,id=console,mux=on,signal=off"])
                .args(["-serial", "chardev:console", "-mon", "chardev=console"])
                .status()
                .with_context(cannot_start)?;
            if !status.success() {
                bail!("QEMU failed ({status})");
            }
            return Ok(Outcome {
                status: 0,
                steps: vec![],
                boot: Duration::ZERO,
                elapsed: Duration::ZERO,
                accel,
                fell_back: None,
            });
        }
        let child = cmd
            .args(["-serial", "stdio", "-monitor", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(cannot_start)?;
        Console::new(child, &token, job, self.timeout, accel).follow()
    }
}

/// Deletes a scratch file when the run ends, however it ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A token that program output cannot guess, for the marker lines.
fn token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:x}{:x}", std::process::id())
}

/// Lines kept for error messages.
const TAIL: usize = 40;

/// What the reader threads pass to [`Console::follow`].
enum Output {
    /// Bytes of the serial console (QEMU's stdout).
    Console(Vec<u8>),
    /// A line QEMU wrote on stderr.
    Stderr(String),
}

struct Console<'a> {
    child: Child,
    job: &'a Job,
    timeout: Duration,
    accel: Accel,
    ready: String,
    step: String,
    exit: String,
    start: Instant,
    spinner: ProgressBar,
    boot: Option<Duration>,
    status: Option<i32>,
    steps: Vec<StepResult>,
    tail: Vec<String>,
    panicked: bool,
}

impl<'a> Console<'a> {
    fn new(child: Child, token: &str, job: &'a Job, timeout: Duration, accel: Accel) -> Self {
        let spinner = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} iu-vm: {msg} [{elapsed}]") {
            spinner.set_style(style);
        }
        spinner.set_message("booting");
        spinner.enable_steady_tick(Duration::from_millis(200));
        Self {
            child,
            job,
            timeout,
            accel,
            ready: format!("iu-vm-ready-{token}"),
            step: format!("iu-vm-step-{token}: "),
            exit: format!("iu-vm-exit-{token}: "),
            start: Instant::now(),
            spinner,
            boot: None,
            status: None,
            steps: job
                .steps
                .iter()
                .map(|s| StepResult {
                    label: s.label.clone(),
                    status: None,
                })
                .collect(),
            tail: vec![],
            panicked: false,
        }
    }

    fn follow(mut self) -> Result<Outcome> {
        let (tx, rx) = mpsc::channel::<Output>();
        let mut stdout = self.child.stdout.take().context("QEMU has no stdout")?;
        let console_tx = tx.clone();
        thread::spawn(move || {
            let mut buf = vec![0; 8192];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || console_tx.send(Output::Console(buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        let stderr = self.child.stderr.take().context("QEMU has no stderr")?;
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                text.push_str(&line);
                text.push('\n');
                // The follower may have stopped listening; keep collecting.
                let _ = tx.send(Output::Stderr(line));
            }
            text
        });
        let mut deadline = self.start + self.timeout;
        let mut line = Vec::new();
        let mut kvm_failure: Option<String> = None;
        let timed_out = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Output::Console(chunk)) => {
                    for byte in chunk {
                        if byte == b'\n' {
                            let text = String::from_utf8_lossy(&line)
                                .trim_end_matches('\r')
                                .to_owned();
                            self.line(text);
                            line.clear();
                        } else {
                            line.push(byte);
                        }
                    }
                    if self.status.is_some() {
                        // Powering off takes a moment; do not wait forever.
                        deadline = deadline.min(Instant::now() + Duration::from_secs(15));
                    }
                }
                Ok(Output::Stderr(text)) => {
                    if self.accel == Accel::Kvm && is_kvm_failure(&text) {
                        // QEMU pauses the guest and would wait for the
                        // timeout: stop it now.
                        let _ = self.child.kill();
                        kvm_failure = Some(text.trim().to_owned());
                        break false;
                    }
                }
                Err(RecvTimeoutError::Timeout) => break true,
                Err(RecvTimeoutError::Disconnected) => break false,
            }
        };
        if timed_out {
            let _ = self.child.kill();
        }
        let qemu = self.child.wait();
        self.spinner.finish_and_clear();
        let stderr = stderr.join().unwrap_or_default();
        if let Some(first) = kvm_failure {
            // "KVM internal error. Suberror: 1" and "emulation failure"
            // come on separate lines; name both when QEMU printed both.
            let detail = stderr
                .lines()
                .filter(|l| is_kvm_failure(l))
                .take(2)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(KvmFailure {
                detail: if detail.is_empty() { first } else { detail },
            }
            .into());
        }
        let elapsed = self.start.elapsed();
        if let Some(status) = self.status {
            return Ok(Outcome {
                status,
                steps: self.steps,
                boot: self.boot.unwrap_or_default(),
                elapsed,
                accel: self.accel,
                fell_back: None,
            });
        }
        let console = if self.boot.is_some() || self.tail.is_empty() {
            String::new()
        } else {
            format!("\nlast console lines:\n{}", self.tail.join("\n"))
        };
        let stderr = if stderr.trim().is_empty() {
            String::new()
        } else {
            format!("\nQEMU said:\n{}", stderr.trim_end())
        };
        if timed_out {
            bail!(
                "the guest did not finish within {} s; QEMU was killed{}{console}{stderr}\n\
                 (a hung test, or a slow machine: raise --timeout)",
                self.timeout.as_secs(),
                self.running_step()
            );
        }
        if self.panicked {
            bail!(
                "the guest kernel panicked{}{console}{stderr}",
                self.running_step()
            );
        }
        let qemu = qemu
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        if self.boot.is_none() {
            bail!("the guest did not boot (QEMU: {qemu}){console}{stderr}");
        }
        bail!(
            "the guest stopped without reporting an exit status (QEMU: {qemu}){}{stderr}",
            self.running_step()
        )
    }

    /// ", while running <label>" for the first unfinished step.
    fn running_step(&self) -> String {
        self.steps
            .iter()
            .find(|s| s.status.is_none())
            .filter(|_| self.boot.is_some())
            .map(|s| format!(", while running {}", s.label))
            .unwrap_or_default()
    }

    fn line(&mut self, line: String) {
        if line.contains("Kernel panic") {
            self.panicked = true;
        }
        if line == self.ready {
            let boot = self.start.elapsed();
            self.boot = Some(boot);
            self.spinner.suspend(|| {
                eprintln!("iu-vm: guest up after {:.1} s", boot.as_secs_f64());
            });
            self.spinner.set_message(format!(
                "running {}",
                self.job
                    .steps
                    .first()
                    .map(|s| s.label.as_str())
                    .unwrap_or("")
            ));
            return;
        }
        if let Some(rest) = line.strip_prefix(&self.step) {
            self.step_done(rest);
            return;
        }
        if let Some(rest) = line.strip_prefix(&self.exit) {
            self.status = rest.trim().parse().ok().or(Some(1));
            return;
        }
        if self.boot.is_some() && self.status.is_none() {
            self.spinner.suspend(|| println!("{line}"));
        }
        if self.tail.len() == TAIL {
            self.tail.remove(0);
        }
        self.tail.push(line);
    }

    fn step_done(&mut self, rest: &str) {
        let mut fields = rest.split_whitespace().map(str::parse::<i32>);
        let (Some(Ok(n)), Some(Ok(status))) = (fields.next(), fields.next()) else {
            return;
        };
        let Some(step) = usize::try_from(n).ok().and_then(|n| self.steps.get_mut(n)) else {
            return;
        };
        step.status = Some(status);
        let verdict = if status == 0 {
            "ok".to_owned()
        } else {
            format!("FAILED (exit status {status})")
        };
        let label = step.label.clone();
        self.spinner
            .suspend(|| eprintln!("iu-vm: {label}: {verdict}"));
        if let Some(next) = self.job.steps.get(n as usize + 1) {
            self.spinner.set_message(format!("running {}", next.label));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_quotes_every_word() {
        let job = Job {
            cwd: "/w d".into(),
            env: vec![("IU_OBJECT_DIR".into(), "/o'x".into())],
            steps: vec![Step {
                label: "a".into(),
                argv: vec!["/bin/a".into(), "x y".into(), "$HOME".into()],
            }],
            interactive: false,
        };
        assert_eq!(
            job.script(),
            "cd '/w d' || echo 'iu-vm: warning: no such directory'\n\
             export IU_OBJECT_DIR='/o'\\''x'\n\
             step 0 '/bin/a' 'x y' '$HOME'\n"
        );
    }

    /// The probe runs guest code under TCG, which works everywhere QEMU is
    /// installed; this is the check that the probe itself is right.
    #[test]
    fn the_accel_probe_runs_guest_code_under_tcg() {
        let dir = std::env::temp_dir().join(format!("test-vm-probe-{}", std::process::id()));
        assert!(probe(Path::new(QEMU), Accel::Tcg, &dir, 2).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
