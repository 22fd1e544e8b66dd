//! A task iterator read from user space through its link: one record per
//! task, this process and its threads among them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod iter_support;

use iu::{Ebpf, Pod};

/// `Task` of the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod)]
struct Task {
    pid: i32,
    tgid: i32,
    comm: [u8; 16],
}

fn load() -> Option<Ebpf> {
    iter_support::load("iter_task", "task iterators")
}

#[test]
fn every_task_is_one_record_read_from_the_link() {
    let Some(ebpf) = load() else { return };
    let link = ebpf.iter("tasks").unwrap().attach().unwrap();
    assert_eq!(link.target(), "iter/task");
    let pid = std::process::id() as i32;
    let (started, running) = std::sync::mpsc::channel();
    let helper = std::thread::Builder::new()
        .name("iupt-iter".into())
        .spawn(move || {
            // The thread's name is set by the time it runs this.
            started.send(()).unwrap();
            std::thread::park();
        })
        .unwrap();
    running.recv().unwrap();
    let tasks = link.records::<Task>().unwrap();
    helper.thread().unpark();
    helper.join().unwrap();

    assert!(tasks.len() > 2, "{} tasks", tasks.len());
    // Every task of /proc is in the walk (tasks may come and go between
    // the two looks, so only this process's are compared exactly).
    let in_proc = std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        })
        .count();
    assert!(
        tasks.len() >= in_proc / 2,
        "{} tasks, {in_proc} in /proc",
        tasks.len()
    );
    let ours: Vec<&Task> = tasks.iter().filter(|t| t.tgid == pid).collect();
    assert!(
        ours.iter().any(|t| t.pid == pid),
        "this process's main thread"
    );
    let own_threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    assert!(
        ours.len() >= own_threads - 1,
        "{} of {own_threads} threads",
        ours.len()
    );
    assert!(
        ours.iter()
            .any(|t| t.comm.starts_with(b"iupt-iter") && t.pid != pid),
        "the thread spawned for the walk: {:?}",
        ours.iter()
            .map(|t| String::from_utf8_lossy(&t.comm).into_owned())
            .collect::<Vec<_>>()
    );

    // Each read is a new walk.
    assert!(!link.records::<Task>().unwrap().is_empty());
    // Fewer bytes than one record of this size: not whole records.
    assert!(link.records::<[u8; 1 << 20]>().is_err());
}
