//! Boots Debian's kernel (fetched into `target/vm/kernels` if needed) and
//! checks that the tier reports what the guest did: exit statuses, a kernel
//! panic, and a hang, each within the timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use test_vm::{Initramfs, Job, Kernel, Step, Vm};

/// One guest at a time: they share the CPUs (and the kernel download).
static GUEST: Mutex<()> = Mutex::new(());

fn vm(name: &str, timeout: Duration) -> (Vm, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let kernel = Kernel::debian_default(&root.join("target/vm/kernels")).unwrap();
    let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("test-vm-{name}"));
    std::fs::create_dir_all(&work_dir).unwrap();
    let base = work_dir.join("base.cpio");
    let mut initramfs = Initramfs::new().unwrap();
    if let Some(modules) = &kernel.modules {
        initramfs.modules(modules).unwrap();
    }
    initramfs.build(&base).unwrap();
    let mut vm = Vm::new(kernel, work_dir).unwrap();
    // The host's accelerator verdict, shared with `cargo xtask`.
    vm.accel_cache = root.join("target/vm/accel");
    vm.memory_mib = 1024;
    vm.timeout = timeout;
    (vm, base)
}

fn job(steps: &[&[&str]]) -> Job {
    Job {
        cwd: "/".into(),
        env: vec![],
        steps: steps
            .iter()
            .enumerate()
            .map(|(n, argv)| Step {
                label: format!("step{n}"),
                argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect(),
        interactive: false,
    }
}

#[test]
fn each_step_reports_its_status_and_a_failure_is_the_guest_status() {
    let _guest = GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let (vm, base) = vm("status", Duration::from_secs(120));
    // The mounts and modules the tests rely on are in place.
    let checks = "grep -q ' /sys/fs/bpf bpf ' /proc/mounts \
        && grep -q ' /sys/kernel/tracing tracefs ' /proc/mounts \
        && grep -q ' /sys/kernel/security securityfs ' /proc/mounts \
        && grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts \
        && grep -q ' /sys/kernel/debug debugfs ' /proc/mounts \
        && grep -q '^veth ' /proc/modules";
    let outcome = vm
        .run(
            &base,
            &job(&[&["sh", "-c", checks], &["sh", "-c", "exit 3"], &["true"]]),
        )
        .unwrap();
    let statuses: Vec<_> = outcome.steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [Some(0), Some(3), Some(0)]);
    assert_eq!(outcome.status, 3);
    assert!(outcome.boot > Duration::ZERO && outcome.boot < outcome.elapsed);
}

#[test]
fn a_kernel_panic_is_an_error_that_says_so() {
    let _guest = GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let (vm, base) = vm("panic", Duration::from_secs(120));
    let started = Instant::now();
    let err = vm
        .run(
            &base,
            &job(&[&["sh", "-c", "echo c > /proc/sysrq-trigger"], &["true"]]),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("the guest kernel panicked"), "{err}");
    assert!(err.contains("while running step0"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn a_hung_guest_is_killed_at_the_timeout() {
    let _guest = GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let timeout = Duration::from_secs(20);
    let (vm, base) = vm("hang", timeout);
    let started = Instant::now();
    let err = vm
        .run(&base, &job(&[&["sleep", "100000"]]))
        .unwrap_err()
        .to_string();
    let elapsed = started.elapsed();
    assert!(err.contains("did not finish within 20 s"), "{err}");
    assert!(err.contains("while running step0"), "{err}");
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(10),
        "{elapsed:?}"
    );
}
