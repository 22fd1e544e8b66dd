//! Runs `perf_output` while this test starts known commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

#[test]
fn prints_each_exec_with_cpu_pid_uid_and_path() {
    let mut snoop = Command::new(env!("CARGO_BIN_EXE_perf_output"))
        .args(["--duration", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(snoop.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("tracing execs through perf buffers") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "perf_output exited early"
        );
    }
    let true_path = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    let pids: Vec<u32> = (0..3)
        .map(|_| {
            let mut child = Command::new(true_path).spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        })
        .collect();
    let output = snoop.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    for pid in pids {
        let row: Vec<&str> = stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.get(1) == Some(&pid.to_string().as_str()))
            .unwrap_or_else(|| panic!("no line for pid {pid} in:\n{stdout}"));
        assert!(row[0].parse::<u32>().is_ok(), "cpu: {row:?}");
        assert_eq!(row[2], uid.to_string(), "uid: {row:?}");
        assert_eq!(row[3], "true", "comm: {row:?}");
        assert_eq!(row[4], true_path, "filename: {row:?}");
    }
}
