//! C objects as libbpf 1.x lays them out load with iu: `tc` and the TCX
//! section names are classifiers, and `?` sections are parsed but loaded
//! only when asked for (`EbpfLoader::autoload`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, EbpfLoader, programs::TestRun};

fn object() -> std::path::PathBuf {
    let path = iu::object_dir().join("libbpf_sections");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    path
}

#[test]
fn tc_sections_are_classifiers_and_question_marks_turn_autoload_off() {
    let ebpf = Ebpf::load_file(object()).unwrap();
    let mut names: Vec<&str> = ebpf.programs().map(|p| p.name()).collect();
    names.sort();
    assert_eq!(names, ["tc_plain", "tcx_ingress"]);
    for name in names {
        ebpf.classifier(name).unwrap();
    }
    // The classifier runs: a 64-byte packet passes (TC_ACT_OK).
    let packet = [0u8; 64];
    let run = ebpf
        .program("tc_plain")
        .unwrap()
        .test_run(&TestRun::packet(&packet))
        .unwrap();
    assert_eq!(run.retval, 0);

    let ebpf = EbpfLoader::new()
        .autoload("xdp_off", true)
        .load_file(object())
        .unwrap();
    ebpf.xdp("xdp_off").unwrap();
    assert!(ebpf.program("raw_tp_off").is_err(), "autoload stays off");
}

#[test]
fn kfuncs_resolve_to_the_kernels_and_a_missing_weak_one_stays_out() {
    let path = iu::object_dir().join("kfuncs");
    if !iu::features::kernel_function_exists("bpf_iter_num_new") {
        iu::testing::skip_missing("kfuncs", "open-coded iterators (bpf_iter_num, Linux 6.4)");
        return;
    }
    let ebpf = Ebpf::load_file(path).unwrap();
    let packet = [0u8; 64];
    let run = ebpf
        .program("kfunc_iter")
        .unwrap()
        .test_run(&TestRun::packet(&packet))
        .unwrap();
    // XDP_PASS: the iterator summed 0..10.
    assert_eq!(run.retval, 2);
}
