//! CO-RE relocations of clang-built C objects (`.BTF.ext`), resolved by
//! iu's resolver (`iu/src/core_relo.rs`), not aya-obj's: the libbpf-tools
//! idioms (`ctx->args[0]` on a syscall tracepoint, `BPF_CORE_READ`,
//! `bpf_core_field_exists`, `bpf_core_enum_value`, `bpf_core_type_exists`)
//! read the values `/proc` shows, on every kernel of the matrix, from one
//! object built against the host's `vmlinux.h` (`iu/tests/c/`, built by
//! `cargo xtask build`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::os::fd::AsRawFd;

use iu::{Ebpf, Error};

fn object(name: &str) -> std::path::PathBuf {
    let path = iu::object_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask build` builds iu/tests/c/{name}.bpf.c with clang-22",
        path.display()
    );
    path
}

#[test]
fn co_re_c_object_reads_what_proc_shows() {
    let ebpf = Ebpf::load_file(object("co_re_c")).unwrap();
    let results = ebpf.array::<u64>("results").unwrap();
    let tid = nix::unistd::gettid().as_raw() as u64;
    results.set(0, &tid).unwrap();
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let fd = file.as_raw_fd() as u64;
    {
        let _link = ebpf.tracepoint("core_c").unwrap().attach().unwrap();
        // dup(2) through libc: `args[0]` is the fd.
        let copy = nix::unistd::dup(&file).unwrap();
        drop(copy);
    }
    assert_eq!(results.get(15).unwrap(), 1, "the program ran");
    assert_eq!(results.get(1).unwrap(), fd, "ctx->args[0] is dup's fd");
    assert_eq!(
        results.get(2).unwrap(),
        nix::unistd::getppid().as_raw() as u64,
        "BPF_CORE_READ(task, real_parent, tgid) vs getppid()"
    );
    assert_eq!(
        results.get(3).unwrap(),
        u64::from(std::process::id()),
        "BPF_CORE_READ(task, tgid)"
    );
    assert_eq!(results.get(4).unwrap(), 1, "task_struct.__state exists");
    assert_eq!(
        results.get(5).unwrap(),
        0,
        "task_struct___old.state does not (gone since 5.14)"
    );
    assert_eq!(results.get(6).unwrap(), 0, "a made-up field");
    assert_eq!(results.get(7).unwrap(), 1, "enum pid_type::PIDTYPE_TGID");
    assert_eq!(results.get(8).unwrap(), 1, "struct task_struct exists");
    assert_eq!(results.get(9).unwrap(), 0, "a made-up type");
    assert_eq!(results.get(10).unwrap(), 0, "a running task's __state");
    assert_eq!(results.get(11).unwrap(), 16, "sizeof(task->comm)");
    assert_eq!(results.get(12).unwrap(), 1, "PIDTYPE_TGID exists");
    assert_eq!(results.get(13).unwrap(), 1, "sizeof(struct task_struct)");
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let mut expected = [0u8; 8];
    for (d, s) in expected.iter_mut().zip(comm.trim().bytes()) {
        *d = s;
    }
    assert_eq!(
        results.get(14).unwrap().to_le_bytes(),
        expected,
        "BPF_CORE_READ_STR_INTO(task->comm) vs /proc (first 8 bytes)"
    );
}

#[test]
fn co_re_c_missing_field_read_unconditionally_is_a_typed_error_with_its_c_line() {
    match Ebpf::load_file(object("co_re_c_missing")) {
        Err(Error::CoreRelocation {
            program,
            target,
            reason,
            line,
        }) => {
            assert_eq!(program, "core_c_missing");
            assert_eq!(target, "task_struct.iu_no_such_field");
            assert!(reason.contains("no such field"), "{reason}");
            let line = line.expect("the C line of the read");
            assert!(line.file.ends_with("co_re_c_missing.bpf.c"), "{line}");
            let source = include_str!("c/co_re_c_missing.bpf.c");
            let expected = source
                .lines()
                .position(|l| l.contains("BPF_CORE_READ(task, iu_no_such_field)"))
                .unwrap() as u32
                + 1;
            // clang may schedule the relocated `r1 = <offset>` with the
            // cast on the line before (its line info says so): the error
            // names the line the instruction carries.
            assert!(
                (expected - 1..=expected).contains(&line.line),
                "{line}, expected line {expected}"
            );
        }
        Err(e) => panic!("expected CoreRelocation, got {e}"),
        Ok(_) => panic!("a read of a missing field loaded"),
    }
}
