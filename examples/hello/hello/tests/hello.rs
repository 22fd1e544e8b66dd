//! Runs the `hello` example as a user would, on the host kernel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{os::unix::process::CommandExt, process::Command};

#[test]
fn hello_prints_the_pid_that_called_dup_and_leaves_nothing_loaded() {
    let child = Command::new(env!("CARGO_BIN_EXE_hello"))
        .args(["--count", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "hello failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        let cpu = line
            .strip_prefix(&format!("Rust triggered from PID {pid} on CPU "))
            .and_then(|rest| rest.strip_suffix('.'))
            .unwrap_or_else(|| panic!("unexpected line {line:?} (hello's PID is {pid})"));
        assert!(cpu.parse::<u32>().is_ok(), "{line}");
    }
    // The process is gone: so are its program and its link.
    let left: Vec<_> = iu::programs::loaded()
        .unwrap()
        .into_iter()
        .filter(|p| p.name == "hello")
        .collect();
    assert!(
        left.is_empty(),
        "programs left after hello exited: {left:?}"
    );
}

#[test]
fn without_privileges_the_error_names_the_capability() {
    let output = Command::new(env!("CARGO_BIN_EXE_hello"))
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("CAP_BPF"), "{stderr}");
    assert!(stderr.contains("sudo"), "{stderr}");
}
