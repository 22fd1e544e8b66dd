//! Runs the `map_test` example on the host kernel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::process::Command;

#[test]
fn every_check_passes() {
    let output = Command::new(env!("CARGO_BIN_EXE_map_test"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Linux 6.1 (in the VM tier's matrix) cannot walk the kernel stack
    // from a syscall tracepoint; every other kernel must.
    let stack_walks = std::env::var("IU_VM_KERNEL").as_deref() != Ok("6.1");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        if stack_walks { 14 } else { 13 },
        "{stdout}"
    );
    assert_eq!(stdout.contains("skip StackTrace"), !stack_walks, "{stdout}");
}
