//! CO-RE without compiler support (`iu_ebpf::kernel`): one object reads
//! `task_struct` fields at the running kernel's offsets, handles a renamed
//! field with an existence check, and a field the kernel lacks, read
//! unconditionally, fails the load with a typed error naming the line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error};

fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap()
}

#[test]
fn co_re_task_fields_match_proc_on_this_kernel() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("co_re")).unwrap();
    let seen = ebpf.array::<u64>("SEEN").unwrap();
    let tid = nix::unistd::gettid().as_raw() as u64;
    seen.set(0, &tid).unwrap();
    let _link = ebpf.tracepoint("co_re").unwrap().attach().unwrap();
    let ppid = nix::unistd::getppid().as_raw() as u64;
    assert_eq!(seen.get(11).unwrap(), 1, "the program ran once");
    drop(_link);

    assert_eq!(seen.get(1).unwrap(), tid, "task->pid is the thread id");
    assert_eq!(
        seen.get(2).unwrap(),
        u64::from(std::process::id()),
        "task->tgid"
    );
    assert_eq!(
        seen.get(2).unwrap(),
        status_field("Tgid:"),
        "task->tgid vs /proc"
    );
    assert_eq!(
        seen.get(3).unwrap(),
        ppid,
        "task->real_parent->tgid vs getppid()"
    );
    let comm = ebpf.array::<[u8; 16]>("COMM").unwrap().get(0).unwrap();
    let expected = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let end = comm.iter().position(|&b| b == 0).unwrap_or(16);
    assert_eq!(
        std::str::from_utf8(&comm[..end]).unwrap(),
        expected.trim(),
        "task->comm"
    );
    // A running task's state is TASK_RUNNING (0), read as `__state` (all
    // kernels iu tests have it); the old name is dead code there.
    assert_eq!(seen.get(4).unwrap(), 0, "task->__state");
    assert_eq!(seen.get(5).unwrap(), 1, "__state exists");
    assert_eq!(seen.get(6).unwrap(), 0, "a made-up field does not exist");
    assert_eq!(seen.get(7).unwrap(), 1, "struct task_struct exists");
    assert_eq!(seen.get(8).unwrap(), 0, "a made-up type does not exist");
    // enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, ... }
    assert_eq!(seen.get(9).unwrap(), 1, "PIDTYPE_TGID");
    assert_eq!(
        seen.get(10).unwrap(),
        7,
        "the `state` branch is the dead one"
    );
}

#[test]
fn co_re_missing_field_read_unconditionally_is_a_typed_error_with_its_line() {
    match Ebpf::load_file(iu::object_dir().join("co_re_missing")) {
        Err(Error::CoreRelocation {
            program,
            target,
            reason,
            line,
        }) => {
            assert_eq!(program, "co_re_missing");
            assert_eq!(target, "task_struct.state");
            assert!(reason.contains("no field `state`"), "{reason}");
            let line = line.expect("the Rust line of the read");
            assert!(line.file.ends_with("bin/co_re_missing.rs"), "{line}");
            let source = include_str!("programs/src/bin/co_re_missing.rs");
            let expected = source
                .lines()
                .position(|l| l.contains("core_value!(\"o|task_struct|state"))
                .unwrap() as u32
                + 1;
            assert_eq!(line.line, expected, "{line}");
        }
        Err(e) => panic!("expected CoreRelocation, got {e}"),
        Ok(_) => panic!("a read of a missing field loaded"),
    }
}
