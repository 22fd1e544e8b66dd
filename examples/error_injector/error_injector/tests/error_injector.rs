//! Runs `error_injector` where the kernel allows error injection: kprobes
//! and `bpf_override_return` (CONFIG_BPF_KPROBE_OVERRIDE). Neither the
//! development host (no kprobes) nor the VM tier's Debian kernel (no
//! CONFIG_FUNCTION_ERROR_INJECTION) has both, so this test says which is
//! missing and skips there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::process::Command;

use iu::features::{self, bpf_prog_type};

#[test]
fn getppid_returns_the_injected_value() {
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        eprintln!("skipping: kprobes: kernel built without CONFIG_KPROBES");
        return;
    }
    // bpf_override_return is helper 58.
    if !features::helper(bpf_prog_type::BPF_PROG_TYPE_KPROBE as u32, 58) {
        eprintln!("skipping: bpf_override_return: kernel built without CONFIG_BPF_KPROBE_OVERRIDE");
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_error_injector"))
        .args(["--value", "4242"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "getppid() = 4242");
}
