//! Integration tests against the running kernel. They load real programs
//! (built by `cargo xtask build` from `examples/` and `iu/tests/programs`)
//! and check what the kernel does with them. `cargo xtask test` runs them
//! as root.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{os::fd::AsFd, path::PathBuf, time::Duration};

use iu::{Ebpf, Error, TracePipe};

fn object(name: &str) -> PathBuf {
    let path = iu::object_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the BPF objects with `cargo xtask build` (or run `cargo xtask test`)",
        path.display()
    );
    path
}

/// Calls `dup(fd)` and closes the duplicate right away.
fn dup(fd: std::os::fd::BorrowedFd<'_>) {
    drop(nix::unistd::dup(fd).unwrap());
}

/// A descriptor to duplicate (stdin may be closed under CI).
fn null() -> std::fs::File {
    std::fs::File::open("/dev/null").unwrap()
}

/// Waits for `count` lines whose message starts with `prefix`.
async fn expect_lines(pipe: &mut TracePipe, prefix: &str, count: usize) -> Vec<iu::TraceLine> {
    let mut lines = vec![];
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while lines.len() < count {
            let line = pipe.next_line().await.unwrap().unwrap();
            if line.message.starts_with(prefix) {
                lines.push(line);
            }
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "saw {} of {count} lines starting with {prefix:?} within 10 s",
        lines.len()
    );
    lines
}

#[tokio::test]
async fn hello_prints_the_pid_and_cpu_of_the_caller() {
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    let mut pipe = TracePipe::open().unwrap().only(ebpf.printk_formats());
    let link = ebpf.tracepoint("hello").unwrap().attach().unwrap();
    assert!(
        link.is_bpf_link(),
        "6.x kernels attach tracepoints with a bpf_link"
    );

    let null = null();
    for _ in 0..3 {
        dup(null.as_fd());
    }
    let pid = std::process::id();
    let lines = expect_lines(
        &mut pipe,
        &format!("Rust triggered from PID {pid} on CPU "),
        3,
    )
    .await;
    for line in lines {
        // The CPU the program printed is the CPU the trace event records.
        assert_eq!(
            line.message,
            format!("Rust triggered from PID {pid} on CPU {}.", line.cpu)
        );
    }
}

#[tokio::test]
async fn dropping_the_link_detaches_and_dropping_the_object_unloads() {
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    let id = ebpf.program("hello").unwrap().info().unwrap().id;
    let mut pipe = TracePipe::open().unwrap().only(ebpf.printk_formats());
    let link = ebpf.tracepoint("hello").unwrap().attach().unwrap();
    let pid = std::process::id();
    let prefix = format!("Rust triggered from PID {pid} ");
    dup(null().as_fd());
    expect_lines(&mut pipe, &prefix, 1).await;

    drop(link);
    // Detached: our dup() no longer prints. A later marker proves that the
    // pipe still works, so the absence of lines is real.
    dup(null().as_fd());
    let marker = Ebpf::load_file(object("hello")).unwrap();
    let marker_link = marker.tracepoint("hello").unwrap().attach().unwrap();
    dup(null().as_fd());
    let lines = expect_lines(&mut pipe, &prefix, 1).await;
    assert_eq!(lines.len(), 1);
    drop(marker_link);

    drop(ebpf);
    let still_loaded = iu::programs::loaded().unwrap().iter().any(|p| p.id == id);
    assert!(
        !still_loaded,
        "program {id} is still loaded after its Ebpf and link were dropped"
    );
}

#[tokio::test]
async fn printk_renders_like_rust_format() {
    let ebpf = Ebpf::load_file(object("printk_formats")).unwrap();
    let mut pipe = TracePipe::open().unwrap().only(ebpf.printk_formats());
    let _link = ebpf.tracepoint("printk_formats").unwrap().attach().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file) as u64;
    dup(file.as_fd());

    let pid = std::process::id();
    let neg = -(fd as i64) - 1;
    let expected = format!(
        "fmt pid={pid} fd={fd} neg={neg} hex={:x} HEX={:08X} pad=[{:>5}] left=[{:<4}] 100%",
        0xbeef_u32, 0xab_u8, 42u16, 7i8
    );
    let line = &expect_lines(&mut pipe, &format!("fmt pid={pid} fd={fd} "), 1).await[0];
    assert_eq!(line.message, expected);
    // Four or more arguments go through bpf_trace_vprintk; three through
    // bpf_trace_printk.
    let line = &expect_lines(&mut pipe, &format!("fmt3 pid={pid} "), 1).await[0];
    assert_eq!(line.message, format!("fmt3 pid={pid} a=-5 b={}", u64::MAX));
}

/// A panic while a ring-buffer reservation is held: the kernel refuses the
/// abort's `exit`, and the error points at the program's line, not at the
/// panic handler's code the failing instruction comes from.
#[test]
fn a_panic_holding_a_reservation_is_refused_at_the_programs_line() {
    // The panic is in the program's own frame, so it is an `exit` on every
    // kernel (no bpf_throw needed), and the verifier refuses the exit with
    // the reservation held.
    let err = Ebpf::load_file(object("rejected_reservation")).unwrap_err();
    let Error::Verifier { log, .. } = &err else {
        panic!("expected a verifier error, got {err}");
    };
    // "Unreleased reference id=2 alloc_insn=5".
    let error = log.error().unwrap_or_default();
    assert!(error.contains("reference"), "{error:?}");
    let line = log.program_line().expect("a program line");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/programs/src/bin/rejected_reservation.rs"
    ))
    .unwrap();
    let expected = text
        .lines()
        .position(|l| l.contains("REJECTED-LINE"))
        .unwrap() as u32
        + 1;
    assert!(line.file.ends_with("rejected_reservation.rs"), "{line}");
    assert_eq!(line.line, expected, "{err}");
    // Kernels before 6.4 print no file name; iu then names the full path.
    assert!(
        err.to_string()
            .lines()
            .any(|l| l.trim_start().starts_with("inside ") && l.contains("panic.rs:")),
        "{err}"
    );
}

/// A ring-buffer reservation leaked without the word `forget` (issue #21,
/// item 5) is refused by the verifier: no source scan is needed.
#[test]
fn a_leaked_reservation_is_refused_by_the_verifier() {
    let err = Ebpf::load_file(object("rejected_leak")).unwrap_err();
    let Error::Verifier { name, log, .. } = &err else {
        panic!("expected a verifier error, got {err}");
    };
    assert_eq!(name, "rejected_leak");
    let error = log.error().unwrap_or_default();
    assert!(error.contains("reference"), "{error:?}");
}

#[test]
fn verifier_rejection_carries_the_log_and_the_rust_line() {
    // With loop budgets (6.9+) the loader would load this loop; the test
    // is about the refusal.
    if iu::features::loop_budget() {
        let ebpf = Ebpf::load_file(object("rejected")).unwrap();
        assert!(ebpf.loop_budgeted("rejected").unwrap());
    }
    let err = iu::EbpfLoader::new()
        .loop_budgets(false)
        .load_file(object("rejected"))
        .unwrap_err();
    let Error::Verifier { name, log, .. } = &err else {
        panic!("expected a verifier error, got {err}");
    };
    assert_eq!(name, "rejected");
    assert!(!log.full().is_empty());
    let error = log.error().unwrap_or_default();
    assert!(
        error.starts_with("infinite loop detected"),
        "error line {error:?} in:\n{}",
        log.full()
    );
    let source = log.source_line().expect("the log names a source line");
    assert!(
        source.file.ends_with("rejected.rs"),
        "source line {source} is not in rejected.rs"
    );
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/programs/src/bin/rejected.rs"
    ))
    .unwrap();
    let rejected_line = text
        .lines()
        .position(|l| l.contains("REJECTED-LINE"))
        .unwrap() as u32
        + 1;
    assert_eq!(source.line, rejected_line, "log:\n{}", log.full());
    let shown = err.to_string();
    assert!(shown.contains("rejected.rs"), "{shown}");
}

#[test]
fn unknown_names_and_wrong_types_are_typed_errors() {
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    match ebpf.tracepoint("nope") {
        Err(Error::UnknownProgram { name, available }) => {
            assert_eq!(name, "nope");
            assert_eq!(available, vec!["hello".to_owned()]);
        }
        other => panic!("expected UnknownProgram, got {other:?}"),
    }
    assert!(matches!(ebpf.map("nope"), Err(Error::UnknownMap { .. })));
    let tp = ebpf.tracepoint("hello").unwrap();
    assert_eq!(tp.target(), Some(("syscalls", "sys_enter_dup")));
    match tp.attach_to("syscalls", "sys_enter_does_not_exist") {
        Err(Error::UnknownTracePoint { name, .. }) => assert_eq!(name, "sys_enter_does_not_exist"),
        other => panic!("expected UnknownTracePoint, got {other:?}"),
    }
}

#[test]
fn a_second_attach_to_the_same_tracepoint_says_it_is_attached_already() {
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    let tp = ebpf.tracepoint("hello").unwrap();
    let _first = tp.attach().unwrap();
    match tp.attach() {
        Err(e @ Error::Attach { .. }) => {
            let message = e.to_string();
            assert!(message.contains("EEXIST"), "{message}");
            assert!(message.contains("already attached"), "{message}");
        }
        other => panic!("expected Attach with a hint, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn one_program_array_for_two_program_types_names_both() {
    match Ebpf::load_file(object("tail_mixed")) {
        Err(e @ Error::TailCallTypeMismatch { .. }) => {
            let Error::TailCallTypeMismatch {
                map,
                program,
                program_type,
                owner,
                owner_type,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(map, "JUMPS");
            let mut pair = [
                (program.as_str(), *program_type),
                (owner.as_str(), *owner_type),
            ];
            pair.sort();
            assert_eq!(
                pair,
                [("tail_from_tc", "tc classifier"), ("tail_from_xdp", "XDP")],
                "{e}"
            );
            assert!(e.to_string().contains("its own `ProgramArray`"), "{e}");
        }
        other => panic!("expected TailCallTypeMismatch, got {:?}", other.map(|_| ())),
    }
    let ebpf = iu::EbpfLoader::new()
        .autoload("tail_from_tc", false)
        .load_file(object("tail_mixed"))
        .unwrap();
    let jumps = ebpf.program_array("JUMPS").unwrap();
    match jumps.set(0, ebpf.program("tc_leaf").unwrap()) {
        Err(Error::TailCallTypeMismatch {
            program,
            program_type,
            owner,
            owner_type,
            ..
        }) => {
            assert_eq!(
                (program.as_str(), program_type),
                ("tc_leaf", "tc classifier")
            );
            assert_eq!((owner.as_str(), owner_type), ("tail_from_xdp", "XDP"));
        }
        other => panic!("expected TailCallTypeMismatch, got {other:?}"),
    }
    jumps
        .set(0, ebpf.program("tail_from_xdp").unwrap())
        .unwrap();
}

#[test]
fn a_call_chain_over_the_stack_limit_names_each_frame_and_call() {
    match Ebpf::load_file(object("stack_chain")) {
        Err(Error::Verifier { log, .. }) => {
            assert!(log.full().contains("combined stack size"), "{log}");
            let hint = log.hint().expect("the chain").to_owned();
            let source = include_str!("programs/src/bin/stack_chain.rs");
            let line_of =
                |marker: &str| source.lines().position(|l| l.contains(marker)).unwrap() + 1;
            for (function, marker) in [("outer", "ENTRY-CALL-LINE"), ("inner", "OUTER-CALL-LINE")] {
                let line = hint
                    .lines()
                    .find(|l| l.contains(&format!("`{function}`: ")))
                    .unwrap_or_else(|| panic!("no frame for {function}:\n{hint}"));
                // 320 bytes of locals and a spill, rounded as the kernel
                // rounds (16 bytes with the JIT, 32 before 6.x).
                assert!(
                    line.contains("336 bytes, called at") || line.contains("352 bytes, called at"),
                    "{line}"
                );
                assert!(
                    line.contains(&format!("stack_chain.rs:{}:", line_of(marker))),
                    "{line}"
                );
            }
            // The chain's total is the kernel's own figure.
            let total = log
                .full()
                .split(" calls is ")
                .nth(1)
                .and_then(|rest| rest.split('.').next())
                .unwrap();
            assert!(
                hint.contains(&format!("needs {total} bytes")),
                "{hint}\n{log}"
            );
        }
        other => panic!("expected a verifier refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_record_type_larger_than_the_tracepoint_is_refused_at_attach() {
    // hello's record type is `SysEnter` (6 arguments); `sys_enter_dup` has
    // one, but hello reads none, so it attaches. `rejected` reads args[0]
    // and is refused earlier. A program reading past the record is refused
    // with EACCES; attaching hello to a tracepoint with a smaller record
    // than it reads is the closest safe stand-in: it must still attach.
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    let link = ebpf
        .tracepoint("hello")
        .unwrap()
        .attach_to("syscalls", "sys_enter_getpid")
        .unwrap();
    assert_eq!(link.target(), "tracepoint syscalls/sys_enter_getpid");
}

#[test]
fn garbage_is_a_parse_error() {
    let err = Ebpf::load(b"not an ELF file").unwrap_err();
    assert!(matches!(err, Error::Parse(_)), "{err}");
    let missing = Ebpf::load_file("/nonexistent/object").unwrap_err();
    assert!(matches!(missing, Error::ReadObject { .. }), "{missing}");
}

#[tokio::test]
async fn pinned_links_and_programs_outlive_their_owner() {
    use iu::programs::{Link, PinnedLink, PinnedProgram};
    iu::maps::bpffs_root().unwrap();
    let link_pin = PathBuf::from(format!("/sys/fs/bpf/iu-test-link-{}", std::process::id()));
    let prog_pin = PathBuf::from(format!("/sys/fs/bpf/iu-test-prog-{}", std::process::id()));
    let ebpf = Ebpf::load_file(object("hello")).unwrap();
    let mut pipe = TracePipe::open().unwrap().only(ebpf.printk_formats());
    let program = ebpf.program("hello").unwrap();
    let id = program.info().unwrap().id;
    program.pin(&prog_pin).unwrap();
    let link = ebpf.tracepoint("hello").unwrap().attach().unwrap();
    link.pin(&link_pin).unwrap();
    drop(link);
    drop(ebpf);

    // Still attached through the pin, though the link and object are gone.
    let pid = std::process::id();
    dup(null().as_fd());
    expect_lines(&mut pipe, &format!("Rust triggered from PID {pid} "), 1).await;

    let pinned = PinnedProgram::open(&prog_pin).unwrap();
    assert_eq!(pinned.info().unwrap().id, id);
    PinnedLink::open(&link_pin).unwrap().unpin().unwrap();
    pinned.unpin().unwrap();
    let still_loaded = iu::programs::loaded().unwrap().iter().any(|p| p.id == id);
    assert!(
        !still_loaded,
        "program {id} is still loaded after both pins were removed"
    );
}

#[test]
fn string_helpers_load_and_compute_in_the_kernel() {
    let ebpf = Ebpf::load_file(object("strings")).unwrap();
    let _link = ebpf.tracepoint("strings_test").unwrap().attach().unwrap();
    std::thread::Builder::new()
        .name("iu-str-42".into())
        .spawn(|| dup(null().as_fd()))
        .unwrap()
        .join()
        .unwrap();
    let out = ebpf.array::<u64>("OUT").unwrap().values().unwrap();
    assert_eq!(out, vec![1, 3, 42, 1]);
}

#[test]
fn generated_tracepoint_records_read_the_right_fields() {
    let ebpf = Ebpf::load_file(object("openat")).unwrap();
    let seen = ebpf.array::<u64>("SEEN").unwrap();
    // This thread only: other tests of this binary open files meanwhile.
    let tid = nix::unistd::gettid().as_raw() as u64;
    seen.set(0, &tid).unwrap();
    let _link = ebpf.tracepoint("openat").unwrap().attach().unwrap();
    // std opens with openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC).
    drop(std::fs::File::open("/dev/null").unwrap());
    assert_eq!(seen.get(1).unwrap() as i32, libc::AT_FDCWD);
    assert_eq!(
        seen.get(2).unwrap() as i32,
        libc::O_RDONLY | libc::O_CLOEXEC
    );
}
