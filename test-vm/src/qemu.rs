//! Booting the guest with `qemu-system-x86_64` and following its serial
//! console: boot progress, the steps' results, the exit status, and a hard
//! timeout.

use std::{
    fmt,
    io::Read,
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
    /// QEMU's portable emulator (multi-threaded TCG).
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
    /// KVM if `/dev/kvm` can really run a guest with the CPU settings the
    /// tier uses, else TCG. `IU_VM_ACCEL=kvm|tcg` forces one.
    ///
    /// A usable-looking `/dev/kvm` is not enough: on some hosts (nested
    /// virtualization) QEMU aborts when it sets up the vCPUs. So this boots
    /// a 64 KiB firmware whose reset vector writes to QEMU's `isa-debug-exit`
    /// port, with the same `-cpu` and `-smp`; QEMU then exits with status
    /// 99. It takes a fraction of a second.
    pub fn detect(work_dir: &Path, cpus: u32) -> Self {
        match std::env::var("IU_VM_ACCEL").as_deref() {
            Ok("kvm") => return Self::Kvm,
            Ok("tcg") => return Self::Tcg,
            _ => {}
        }
        let usable =
            Path::new("/dev/kvm").exists() && probe(Self::Kvm, work_dir, cpus).unwrap_or(false);
        if usable { Self::Kvm } else { Self::Tcg }
    }

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
}

/// Runs the firmware probe under `accel`; true if the guest ran.
fn probe(accel: Accel, work_dir: &Path, cpus: u32) -> Result<bool> {
    std::fs::create_dir_all(work_dir)?;
    let firmware = work_dir.join("accel-probe.bin");
    // Real mode at the reset vector 0xffff0: `mov al, 0x31; out 0xf4, al`,
    // then `hlt` in a loop. QEMU exits with (0x31 << 1) | 1 = 99.
    let mut image = vec![0xf4_u8; 0x10000];
    image[0xfff0..0xfff7].copy_from_slice(&[0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
    std::fs::write(&firmware, image)?;
    let mut child = Command::new("qemu-system-x86_64")
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
}

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
}

impl Vm {
    /// Boots `base` (an initramfs from [`initramfs::Initramfs::build`]) with
    /// `job`'s files added, streams the console, and returns once the guest
    /// has reported its exit status. A guest that panics, stops without a
    /// status, or outlives the timeout is an error.
    pub fn run(&self, base: &Path, job: &Job) -> Result<Outcome> {
        let accel = Accel::detect(&self.work_dir, self.cpus);
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
        let mut cmd = Command::new("qemu-system-x86_64");
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
        if job.interactive {
            eprintln!("iu-vm: the shell's `exit` powers the guest off; Ctrl-A x quits QEMU");
            // signal=off: Ctrl-C goes to the guest's shell, not to QEMU.
            let status = cmd
                .args(["-chardev", "stdio,id=console,mux=on,signal=off"])
                .args(["-serial", "chardev:console", "-mon", "chardev=console"])
                .status()
                .context("cannot start qemu-system-x86_64 (apt-get install qemu-system-x86)")?;
            if !status.success() {
                bail!("QEMU failed ({status})");
            }
            return Ok(Outcome {
                status: 0,
                steps: vec![],
                boot: Duration::ZERO,
                elapsed: Duration::ZERO,
            });
        }
        let child = cmd
            .args(["-serial", "stdio", "-monitor", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start qemu-system-x86_64 (apt-get install qemu-system-x86)")?;
        Console::new(child, &token, job, self.timeout).follow()
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

struct Console<'a> {
    child: Child,
    job: &'a Job,
    timeout: Duration,
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
    fn new(child: Child, token: &str, job: &'a Job, timeout: Duration) -> Self {
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
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let mut stdout = self.child.stdout.take().context("QEMU has no stdout")?;
        thread::spawn(move || {
            let mut buf = vec![0; 8192];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut stderr = self.child.stderr.take().context("QEMU has no stderr")?;
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut deadline = self.start + self.timeout;
        let mut line = Vec::new();
        let timed_out = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(chunk) => {
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
        let elapsed = self.start.elapsed();
        if let Some(status) = self.status {
            return Ok(Outcome {
                status,
                steps: self.steps,
                boot: self.boot.unwrap_or_default(),
                elapsed,
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
        assert!(probe(Accel::Tcg, &dir, 2).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
