//! BTF tracepoints (`#[tp_btf]`) on the running kernel: typed pointer
//! arguments and the current task read with direct loads at CO-RE
//! offsets, checked against /proc and the pids this test makes; the link
//! detaches on drop; a tracepoint the kernel lacks is a typed error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, EbpfLoader, Error};

/// The object without its program on a made-up tracepoint.
fn load() -> Ebpf {
    let ebpf = EbpfLoader::new()
        .autoload("missing", false)
        .load_file(iu::object_dir().join("tp_btf"))
        .unwrap();
    let tid = nix::unistd::gettid().as_raw() as u32;
    ebpf.array::<u32>("CONFIG").unwrap().set(0, &tid).unwrap();
    ebpf
}

fn seen(ebpf: &Ebpf, slot: u32) -> i64 {
    ebpf.array::<u64>("SEEN").unwrap().get(slot).unwrap() as i64
}

fn comm(bytes: [u8; 16]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[test]
fn tp_btf_current_task_reads_match_proc_and_the_link_detaches_on_drop() {
    let ebpf = load();
    let ppid = i64::from(nix::unistd::getppid().as_raw());
    let link = ebpf.btf_tracepoint("enter").unwrap().attach().unwrap();
    assert_eq!(link.target(), "BTF tracepoint sys_enter");
    for _ in 0..3 {
        nix::unistd::getppid();
    }
    assert_eq!(seen(&ebpf, 0), 3, "three getppid calls seen");
    assert_eq!(seen(&ebpf, 1), i64::from(std::process::id()), "task->tgid");
    assert_eq!(seen(&ebpf, 2), ppid, "task->real_parent->tgid vs getppid()");
    drop(link);
    nix::unistd::getppid();
    assert_eq!(
        seen(&ebpf, 0),
        3,
        "still tracing after the link was dropped"
    );
}

#[test]
fn tp_btf_pointer_arguments_are_typed_handles() {
    let ebpf = load();
    let link = ebpf.btf_tracepoint("fork").unwrap().attach().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = i64::from(child.id());
    child.wait().unwrap();
    drop(link);
    assert_eq!(seen(&ebpf, 3), 1, "one fork by this thread");
    assert_eq!(seen(&ebpf, 4), pid, "child->pid");
    assert_eq!(seen(&ebpf, 5), pid, "child->tgid (a new process)");
    assert_eq!(
        seen(&ebpf, 6),
        i64::from(std::process::id()),
        "child->real_parent->tgid"
    );
    assert_eq!(
        seen(&ebpf, 7),
        i64::from(nix::unistd::gettid().as_raw()),
        "parent->pid is the forking thread"
    );
    let comms = ebpf.array::<[u8; 16]>("COMM").unwrap();
    let expected = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    assert_eq!(comm(comms.get(0).unwrap()), expected.trim(), "parent->comm");
    assert_eq!(
        comm(comms.get(1).unwrap()),
        expected.trim(),
        "child->comm before exec is the parent's"
    );
}

#[test]
fn a_tp_btf_program_for_a_tracepoint_the_kernel_lacks_is_a_typed_error() {
    match Ebpf::load_file(iu::object_dir().join("tp_btf")) {
        Err(Error::UnknownBtfTracepoint {
            program,
            tracepoint,
        }) => {
            assert_eq!(program, "missing");
            assert_eq!(tracepoint, "iu_no_such_tracepoint");
        }
        Err(e) => panic!("expected UnknownBtfTracepoint, got {e}"),
        Ok(_) => panic!("a program on a made-up tracepoint loaded"),
    }
}

#[test]
fn a_tp_btf_program_is_not_another_program_type() {
    let ebpf = load();
    match ebpf.raw_tracepoint("enter") {
        Err(Error::WrongProgramType { expected, .. }) => {
            assert_eq!(expected, "a raw tracepoint program")
        }
        other => panic!("expected WrongProgramType, got {:?}", other.map(|_| ())),
    }
}
