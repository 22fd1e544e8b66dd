//! Task storage: values per task, created by a program on each task's
//! first exec, read and written by process id from user space.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    io::Write,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use iu::{
    Ebpf, Error, Pod,
    maps::{BPF_ANY, BPF_NOEXIST},
};

/// `Last` of the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod)]
struct Last {
    count: u64,
    marker: u64,
}

/// Kills the child when dropped, so that a failed assertion leaves none.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `f` returns `Some(expected)`, for up to 10 s.
fn wait_for<T: PartialEq + std::fmt::Debug>(expected: T, mut f: impl FnMut() -> Option<T>) {
    let start = Instant::now();
    loop {
        let seen = f();
        if seen.as_ref() == Some(&expected) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waited for {expected:?}, saw {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn each_task_gets_its_own_value_created_by_the_program() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("task_storage")).unwrap();
    let _link = ebpf.raw_tracepoint("on_exec").unwrap().attach().unwrap();
    let execs = ebpf.task_storage::<u64>("EXECS").unwrap();
    let last = ebpf.task_storage::<Last>("LAST").unwrap();

    // sh execs itself, then sleep in the same task: two execs.
    let child = Reaped(
        Command::new("sh")
            .args(["-c", "exec sleep 30"])
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    wait_for(2, || execs.get(pid).unwrap());
    assert_eq!(
        last.get(pid).unwrap(),
        Some(Last {
            count: 2,
            marker: 7
        }),
        "created from the program's initial value, then set"
    );

    // This process never exec'd since the program was attached.
    assert_eq!(execs.get(std::process::id()).unwrap(), None);

    // User space writes a value; the program's next exec in that task
    // finds it instead of creating one.
    let mut waiting = Reaped(
        Command::new("sh")
            .args(["-c", "read line; exec sleep 30"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = waiting.0.id();
    wait_for(1, || execs.get(pid).unwrap());
    last.insert(
        pid,
        &Last {
            count: 100,
            marker: 9,
        },
        BPF_ANY,
    )
    .unwrap();
    assert!(
        last.insert(
            pid,
            &Last {
                count: 0,
                marker: 0
            },
            BPF_NOEXIST
        )
        .is_err()
    );
    waiting.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
    wait_for(2, || execs.get(pid).unwrap());
    assert_eq!(
        last.get(pid).unwrap(),
        Some(Last {
            count: 101,
            marker: 9
        })
    );
    assert!(execs.remove(pid).unwrap());
    assert!(!execs.remove(pid).unwrap());
    assert_eq!(execs.get(pid).unwrap(), None);
}

#[test]
fn wrong_types_and_missing_processes_are_typed_errors() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("task_storage")).unwrap();
    assert!(matches!(
        ebpf.task_storage::<u32>("EXECS").unwrap_err(),
        Error::MapSize { .. }
    ));
    assert!(matches!(
        ebpf.hash_map::<i32, u64>("EXECS").unwrap_err(),
        Error::WrongMapType { .. }
    ));
    // Pid 0 is never a process.
    let error = ebpf
        .task_storage::<u64>("EXECS")
        .unwrap()
        .get(0)
        .unwrap_err();
    assert!(matches!(error, Error::MapOp { .. }), "{error}");
}
