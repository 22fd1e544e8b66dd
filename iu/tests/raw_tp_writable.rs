//! Writable raw tracepoints (`raw_tp.w`): a program on `bpf_test_finish`
//! rewrites the result of BPF test runs while it is attached.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error, programs::TestRun};

#[test]
fn raw_tp_writable_rewrites_the_result_of_test_runs() {
    if !iu::features::program_type(24, 0) {
        iu::testing::skip_missing(
            "writable raw tracepoints",
            "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE (Linux 5.2)",
        );
        return;
    }
    let ebpf = Ebpf::load_file(iu::object_dir().join("raw_tp_writable")).unwrap();
    let packet = [0u8; 64];
    let run = || {
        ebpf.program("pass")
            .unwrap()
            .test_run(&TestRun::packet(&packet))
    };
    assert_eq!(run().unwrap().retval, 2, "XDP_PASS before the attach");

    let program = ebpf.raw_tracepoint("finish").unwrap();
    let link = program.attach().unwrap();
    assert_eq!(link.target(), "raw tracepoint bpf_test_finish");
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    let seen = ebpf.array::<u64>("SEEN").unwrap();

    assert_eq!(run().unwrap().retval, 2, "unarmed: the run goes through");
    assert!(
        seen.get(0).unwrap() >= 1,
        "the program ran at the run's end"
    );
    assert_eq!(seen.get(1).unwrap(), 0, "and saw the run's result, 0");

    config.set(0, &(libc::EMEDIUMTYPE as u32)).unwrap();
    let err = run().unwrap_err();
    let source = std::error::Error::source(&err).map(|s| s.to_string());
    assert!(
        err.to_string().contains("EMEDIUMTYPE")
            || source.is_some_and(|s| s.contains("EMEDIUMTYPE")),
        "the result the program wrote: {err}"
    );

    drop(link);
    assert_eq!(run().unwrap().retval, 2, "detached");

    // A writable program on a tracepoint that is not writable.
    let err = program.attach_to("sys_enter").unwrap_err();
    assert!(matches!(err, Error::Attach { .. }), "{err}");
    assert!(err.to_string().contains("writable tracepoint"), "{err}");
}
