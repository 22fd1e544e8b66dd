//! Runs `execsnoop` while this test starts known commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::process::Command;

#[test]
fn prints_each_exec_with_pid_parent_uid_and_path() {
    // The parent is the thread that spawns the children (the kernel's
    // `real_parent`), whose command name is this test thread's.
    let parent_comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let parent_comm = parent_comm.trim().to_owned();
    let true_path = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    let (output, pids) = iu::testing::run_alongside(
        env!("CARGO_BIN_EXE_execsnoop"),
        &["--duration", "3"],
        "tracing execs",
        || {
            (0..3)
                .map(|_| {
                    let mut child = Command::new(true_path).spawn().unwrap();
                    let pid = child.id();
                    child.wait().unwrap();
                    pid
                })
                .collect::<Vec<u32>>()
        },
    )
    .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let me = std::process::id();
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    for pid in pids {
        let row: Vec<&str> = stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.first() == Some(&pid.to_string().as_str()))
            .unwrap_or_else(|| panic!("no line for pid {pid} in:\n{stdout}"));
        assert_eq!(row[1], me.to_string(), "parent pid: {row:?}");
        assert_eq!(row[2], uid.to_string(), "uid: {row:?}");
        assert_eq!(row[3], "true", "comm: {row:?}");
        assert_eq!(
            row[4], parent_comm,
            "parent comm (CO-RE real_parent->comm): {row:?}"
        );
        assert_eq!(row[5], true_path, "filename: {row:?}");
    }
}
