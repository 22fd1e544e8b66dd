//! A syscall program run on a buffer from user space.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error, Pod, programs::TestRun};

/// `Numbers` of the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod)]
struct Numbers {
    values: [u64; 4],
    sum: u64,
}

fn load() -> Ebpf {
    Ebpf::load_file(iu::object_dir().join("syscall")).unwrap()
}

#[test]
fn runs_on_the_buffer_and_writes_it_back() {
    let ebpf = load();
    let program = ebpf.syscall("sum_and_double").unwrap();
    let mut numbers = Numbers {
        values: [1, 2, 3, 40],
        sum: 999,
    };
    assert_eq!(program.run(&mut numbers).unwrap(), 4);
    assert_eq!(
        numbers,
        Numbers {
            values: [2, 4, 6, 80],
            sum: 46,
        }
    );
}

#[test]
fn a_buffer_shorter_than_the_program_reads_is_refused() {
    let ebpf = load();
    let mut too_short = 7u64;
    let error = ebpf
        .syscall("sum_and_double")
        .unwrap()
        .run(&mut too_short)
        .unwrap_err();
    assert!(matches!(error, Error::Attach { .. }), "{error}");
    assert_eq!(too_short, 7, "the buffer was not touched");
}

#[test]
fn test_run_refuses_syscall_programs() {
    let ebpf = load();
    let program = ebpf.program("sum_and_double").unwrap();
    let error = program.test_run(&TestRun::default()).unwrap_err();
    assert!(matches!(error, Error::WrongProgramType { .. }), "{error}");
    assert!(ebpf.syscall("nope").is_err());
}
