//! Profiles this test process while it spins, on the running kernel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
};

#[test]
fn samples_a_busy_process_with_kernel_symbols() {
    let pid = std::process::id();
    let stop = AtomicBool::new(false);
    let output = std::thread::scope(|s| {
        // Busy in user space, and in the kernel (getppid), while sampled.
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::black_box(std::os::unix::process::parent_id());
            }
        });
        let output = Command::new(env!("CARGO_BIN_EXE_profile"))
            .args(["--frequency", "199", "--duration", "2", "--top", "50"])
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        output
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples: u64 = stdout.split_whitespace().next().unwrap().parse().unwrap();
    // About 2 s x 199 Hz of a thread that never sleeps, among others.
    assert!(samples >= 50, "{samples} samples:\n{stdout}");
    assert!(stdout.contains(&format!("pid {pid}")), "{stdout}");
    // Some samples caught it in the kernel, inside the getppid syscall.
    assert!(
        stdout.contains("getppid"),
        "no kernel frame resolved to getppid:\n{stdout}"
    );
    // And some in user space, at its own code or libc's getppid wrapper,
    // symbolized from the mapped ELF files.
    assert!(
        stdout.lines().any(
            |l| (l.contains("samples_a_busy_process") && l.contains("(profile-"))
                || (l.contains("getppid+") && l.contains("(libc"))
        ),
        "no user frame resolved:\n{stdout}"
    );
}
