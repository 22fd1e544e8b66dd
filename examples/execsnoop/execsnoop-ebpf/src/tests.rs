//! execsnoop on the host: the parent learned from a fork, and the event an
//! exec sends.

use execsnoop_common::{ExecEvent, FILENAME_LEN};
use iu_ebpf::{
    programs::TracePointContext,
    sim,
    tracepoints::{
        DataLoc,
        sched::{ProcessExec, ProcessFork},
    },
};

use super::{EVENTS, PARENTS, execsnoop, fork};

/// An exec record of process `pid` whose path is `path` (with its NUL).
fn exec(pid: i32, path: &'static [u8]) -> TracePointContext<ProcessExec> {
    let record = ProcessExec {
        filename: DataLoc::new(size_of::<ProcessExec>(), path.len()),
        pid,
        old_pid: pid,
        ..Default::default()
    };
    TracePointContext::with_data(record, path)
}

#[test]
fn an_exec_after_a_fork_names_the_parent_process() {
    let _session = sim::session();
    // Thread 101 of process 100 forks process 200.
    sim::set_pid(100, 101);
    let child = ProcessFork {
        child_pid: 200,
        ..Default::default()
    };
    assert_eq!(fork(TracePointContext::from_record(child)), 0);
    assert_eq!(PARENTS.get(&200), Some(100));

    sim::set_pid(200, 200);
    sim::set_uid_gid(1000, 1000);
    sim::set_comm("true");
    assert_eq!(execsnoop(exec(200, b"/usr/bin/true\0")), 0);

    let event: ExecEvent = EVENTS.take_record().expect("one event per exec");
    assert_eq!((event.pid, event.ppid, event.uid), (200, 100, 1000));
    assert_eq!(event.comm(), "true");
    assert_eq!(event.filename(), "/usr/bin/true");
    assert!(EVENTS.take_record::<ExecEvent>().is_none());
}

#[test]
fn an_unknown_parent_is_zero_and_long_paths_are_cut() {
    let _session = sim::session();
    static LONG: [u8; 400] = {
        let mut path = [b'a'; 400];
        path[0] = b'/';
        path[399] = 0;
        path
    };
    assert_eq!(execsnoop(exec(300, &LONG)), 0);

    let event: ExecEvent = EVENTS.take_record().expect("one event per exec");
    assert_eq!((event.pid, event.ppid), (300, 0));
    // The kernel's string copy keeps FILENAME_LEN - 1 bytes and a NUL.
    assert_eq!(event.filename().len(), FILENAME_LEN - 1);
    assert_eq!(event.filename().as_bytes(), &LONG[..FILENAME_LEN - 1]);
    assert_eq!(event.filename[FILENAME_LEN - 1], 0);
}

// ANCHOR: kernel_object
#[test]
fn the_parent_comes_from_the_current_tasks_real_parent() {
    let _session = sim::session();
    // The simulated kernel: task 400 whose real parent is process 350,
    // "bash"; no fork was seen.
    let parent = sim::KernelObject::new("task_struct");
    parent.set("tgid", 350i32).set_str::<16>("comm", "bash");
    let task = sim::KernelObject::new("task_struct");
    task.set("pid", 400i32).set_ptr("real_parent", &parent);
    sim::set_current_task(&task);

    assert_eq!(execsnoop(exec(400, b"/usr/bin/ls\0")), 0);
    let event: ExecEvent = EVENTS.take_record().expect("one event per exec");
    assert_eq!((event.pid, event.ppid), (400, 350));
    assert_eq!(event.parent_comm(), "bash");
}
// ANCHOR_END: kernel_object
