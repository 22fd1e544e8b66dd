//! Runs `syscount` while this process makes known syscalls, and checks the
//! counts it prints.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

#[test]
fn counts_calls_and_errors_of_this_process() {
    let pid = std::process::id();
    let mut child = Command::new(env!("CARGO_BIN_EXE_syscount"))
        .args(["--interval", "0.5", "--duration", "3", "--top", "100"])
        .args(["--pid", &pid.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it is attached ("counting syscalls" on stderr).
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("counting syscalls") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "syscount exited early"
        );
    }
    // 200 successful getppid() and 50 failing close(-1) (EBADF).
    for _ in 0..200 {
        let _ = std::os::unix::process::parent_id();
    }
    for _ in 0..50 {
        assert!(nix::unistd::close(-1).is_err());
    }
    std::thread::sleep(Duration::from_millis(100));
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The last table holds the totals.
    let last = stdout.rsplit("top ").next().unwrap();
    let row = |name: &str| -> Vec<String> {
        last.lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .find(|cols| cols.len() >= 6 && cols[0] == pid.to_string() && cols[1] == name)
            .unwrap_or_else(|| panic!("no {name} row for pid {pid} in:\n{stdout}"))
    };
    let getppid = row("getppid");
    assert!(getppid[2].parse::<u64>().unwrap() >= 200, "{getppid:?}");
    assert_eq!(getppid[3], "0");
    let close = row("close");
    assert!(close[3].parse::<u64>().unwrap() >= 50, "{close:?}");
}
