//! `cargo xtask doctor`: what this host offers iu, in one table, so that a
//! user whose run fails can see why at a glance. It changes nothing: it
//! installs nothing, mounts nothing and boots no guest (KVM is judged by the
//! firmware probe and by what earlier guests cached).

use std::{path::Path, process::Command};

use anyhow::Result;
use iu::features;
use test_vm::{KERNEL_FAMILIES, Kernel};

use crate::toolchain;

/// One row: what, its state, and whether it is fine.
struct Row {
    what: String,
    state: String,
    ok: bool,
}

fn row(what: &str, ok: bool, state: impl Into<String>) -> Row {
    Row {
        what: what.to_owned(),
        state: state.into(),
        ok,
    }
}

pub fn run() -> Result<()> {
    let mut rows = vec![];
    rows.push(match toolchain::detect() {
        Some(t) => row(
            "BPF toolchain",
            true,
            t.to_string().trim_start_matches("BPF toolchain: "),
        ),
        None => row(
            "BPF toolchain",
            false,
            "missing: any cargo xtask command installs it (Debian, as root)",
        ),
    });
    rows.push(match toolchain::find_linker() {
        Some(path) => row("bpf-linker", true, path.display().to_string()),
        None => row("bpf-linker", false, "missing"),
    });
    let release = iu::testing::kernel_release();
    rows.push(row("host kernel", true, release.clone()));
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    rows.push(row(
        "kernel BTF",
        btf,
        if btf {
            "/sys/kernel/btf/vmlinux"
        } else {
            "missing: CONFIG_DEBUG_INFO_BTF is off; iu needs it"
        },
    ));
    let jit = read("/proc/sys/net/core/bpf_jit_enable");
    rows.push(row(
        "BPF JIT",
        jit.as_deref() != Some("0"),
        match jit.as_deref() {
            Some("0") => {
                "off: programs that can panic need it (echo 1 > /proc/sys/net/core/bpf_jit_enable)"
                    .to_owned()
            }
            Some(v) => format!("on ({v})"),
            None => "unknown (no /proc/sys/net/core/bpf_jit_enable)".to_owned(),
        },
    ));
    rows.push(row(
        "lockdown",
        true,
        read("/sys/kernel/security/lockdown")
            .map(|l| format!("{l} (integrity refuses fentry/fexit/LSM loads: VM tier)"))
            .unwrap_or_else(|| "unknown (securityfs not mounted)".to_owned()),
    ));
    let kprobes = Path::new("/sys/bus/event_source/devices/kprobe").exists();
    rows.push(row(
        "kprobes",
        true,
        if kprobes {
            "yes"
        } else {
            "no (CONFIG_KPROBES off): kprobe tests run in the VM tier"
        },
    ));
    if toolchain::is_root() {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        rows.push(row(
            "kernel features",
            true,
            format!(
                "bpf_throw (6.7) {}, TCX (6.6) {}, may_goto (6.9) {}",
                yes_no(features::exceptions()),
                yes_no(features::tcx_link()),
                yes_no(features::loop_budget()),
            ),
        ));
    } else {
        rows.push(row("kernel features", true, "not probed: run as root"));
    }
    let qemu = Command::new(test_vm::QEMU).arg("--version").output().ok();
    let qemu_version = qemu.as_ref().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .map(str::to_owned)
    });
    rows.push(match &qemu_version {
        Some(v) => row("QEMU", true, v.clone()),
        None => row(
            "QEMU",
            false,
            "missing: cargo xtask test installs qemu-system-x86",
        ),
    });
    let cache = crate::root().join("target/vm/kernels");
    for family in KERNEL_FAMILIES {
        rows.push(match cached_kernel(&cache, family.name) {
            Some(kernel) => row(
                &format!("VM kernel {}", family.name),
                true,
                format!("{} (cached)", kernel.name),
            ),
            None => row(
                &format!("VM kernel {}", family.name),
                true,
                format!("not cached: fetched on first use ({})", family.about),
            ),
        });
    }
    if qemu_version.is_some() {
        let work_dir = crate::root().join("target/vm");
        let status = test_vm::kvm_status(&work_dir.join("accel"), &work_dir);
        rows.push(row("KVM", true, status.to_string()));
    }
    if let Ok(accel) = std::env::var("IU_VM_ACCEL") {
        rows.push(row("IU_VM_ACCEL", true, format!("{accel} (forced)")));
    }
    let width = rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
    for r in &rows {
        println!(
            "{} {:<width$}  {}",
            if r.ok { "ok  " } else { "FAIL" },
            r.what,
            r.state
        );
    }
    Ok(())
}

/// A file's trimmed contents.
fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The kernel of `family` already unpacked in the cache, without asking apt.
fn cached_kernel(cache: &Path, family: &str) -> Option<Kernel> {
    let chosen = std::fs::read_to_string(cache.join(format!("chosen-{family}"))).ok()?;
    let package = chosen.split_whitespace().nth(1)?;
    let image = std::fs::read_dir(cache.join(package).join("boot"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })?;
    let mut kernel = Kernel::custom(&image, None).ok()?;
    kernel.name = image
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches("vmlinuz-")
                .to_owned()
        })
        .unwrap_or_default();
    kernel.family = family.to_owned();
    Some(kernel)
}
