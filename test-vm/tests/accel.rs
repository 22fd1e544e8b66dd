//! The accelerator fallback, proven with a fake `qemu-system-x86_64`: a
//! script that passes the KVM firmware probe but, like QEMU on a nested
//! host whose KVM cannot emulate the kernel's instructions, reports a KVM
//! internal error for every real guest and then sits paused. Under TCG it
//! runs the real QEMU, so the guest really boots.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use test_vm::{Accel, AccelPolicy, Initramfs, Job, Kernel, Step, Vm};

/// Long, so that a run that waited for it could not pass for one that saw
/// QEMU's error at once, even on a busy machine.
const TIMEOUT: Duration = Duration::from_secs(300);

/// One guest at a time: they share the CPUs (and the kernel download).
static GUEST: Mutex<()> = Mutex::new(());

/// A work directory with the fake QEMU in it, which logs each invocation's
/// accelerator to `calls`.
fn setup(name: &str) -> (Vm, PathBuf, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let kernel = Kernel::debian_default(&root.join("target/vm/kernels")).unwrap();
    let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("accel-{name}"));
    let _ = std::fs::remove_dir_all(&work_dir);
    std::fs::create_dir_all(&work_dir).unwrap();
    let calls = work_dir.join("calls");
    let fake = work_dir.join("qemu-system-x86_64");
    std::fs::write(
        &fake,
        format!(
            r#"#!/bin/sh
case "$*" in
*"-accel kvm"*)
    case "$*" in
    *-bios*) echo probe-kvm >>'{calls}'; exit 99 ;;
    esac
    echo boot-kvm >>'{calls}'
    echo 'KVM internal error. Suberror: 1' >&2
    echo 'extra data[0]: 0x0000000000000000' >&2
    echo 'emulation failure' >&2
    echo 'EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000' >&2
    exec sleep 600 ;;
esac
echo boot-tcg >>'{calls}'
exec qemu-system-x86_64 "$@"
"#,
            calls = calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let base = work_dir.join("base.cpio");
    Initramfs::new().unwrap().build(&base).unwrap();
    let mut vm = Vm::new(kernel, work_dir).unwrap();
    vm.qemu = fake;
    vm.memory_mib = 512;
    vm.timeout = TIMEOUT;
    (vm, base, calls)
}

fn job() -> Job {
    Job {
        cwd: "/".into(),
        env: vec![],
        steps: vec![Step {
            label: "true".into(),
            argv: vec!["true".into()],
        }],
        interactive: false,
    }
}

fn calls(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_guest_that_kvm_cannot_run_is_retried_under_tcg_once_and_tcg_is_remembered() {
    let _guest = GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let (mut vm, base, log) = setup("fallback");
    vm.accel = AccelPolicy::Auto;
    let started = Instant::now();
    let outcome = vm.run(&base, &job()).unwrap();
    assert_eq!(outcome.status, 0);
    assert_eq!(outcome.accel, Accel::Tcg);
    if !Path::new("/dev/kvm").exists() {
        // Without the device the probe is not even tried.
        assert_eq!(calls(&log), ["boot-tcg"]);
        eprintln!("no /dev/kvm here: checked that TCG is chosen without trying KVM");
        return;
    }
    assert_eq!(calls(&log), ["probe-kvm", "boot-kvm", "boot-tcg"]);
    let why = outcome.fell_back.expect("the fallback is reported");
    assert!(why.contains("KVM internal error"), "{why}");
    assert!(why.contains("emulation failure"), "{why}");
    // The failure was seen on stderr at once, not after the timeout.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    // The next run (and the next process) goes straight to TCG.
    let outcome = vm.run(&base, &job()).unwrap();
    assert_eq!(outcome.accel, Accel::Tcg);
    assert!(outcome.fell_back.is_none());
    assert_eq!(
        calls(&log),
        ["probe-kvm", "boot-kvm", "boot-tcg", "boot-tcg"]
    );
}

#[test]
fn forcing_kvm_fails_loudly_and_at_once() {
    let _guest = GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let (mut vm, base, log) = setup("forced");
    vm.accel = AccelPolicy::Force(Accel::Kvm);
    let started = Instant::now();
    let err = format!("{:#}", vm.run(&base, &job()).unwrap_err());
    assert!(err.contains("KVM internal error"), "{err}");
    assert!(err.contains("IU_VM_ACCEL=kvm"), "{err}");
    assert_eq!(calls(&log), ["boot-kvm"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
