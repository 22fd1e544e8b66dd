//! Panics abort cleanly: the program returns its `on_panic` value through
//! `bpf_throw` and its abort count grows; other inputs are unaffected.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::io::{Seek, SeekFrom};

use iu::{Ebpf, EbpfLoader, Error, programs::TestRun};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn load() -> Option<Ebpf> {
    loaded(Ebpf::load_file(iu::object_dir().join("panics")))
}

/// The object, or `None` on a kernel without BPF exceptions, where the
/// load must fail with `PanicsUnsupported` naming the panicking lines (the
/// fallback that Linux 6.1 in the VM tier exercises).
fn loaded(result: Result<Ebpf, Error>) -> Option<Ebpf> {
    if iu::features::exceptions() {
        return Some(result.unwrap());
    }
    match result {
        Err(Error::PanicsUnsupported { program, sites }) => {
            assert!(!sites.is_empty(), "{program}: no panic sites named");
            assert!(
                sites.iter().any(|s| s.file.ends_with("bin/panics.rs")),
                "{program}: the sites do not name the program's lines: {sites:?}"
            );
            iu::testing::skip_missing("panics abort", "BPF exceptions (bpf_throw, Linux 6.7)");
            None
        }
        Ok(_) => panic!("a program that can panic loaded on a kernel without bpf_throw"),
        Err(e) => panic!("expected PanicsUnsupported, got {e}"),
    }
}

/// A 64-byte packet whose first byte is `first`.
fn packet(first: u8) -> [u8; 64] {
    let mut packet = [0u8; 64];
    packet[0] = first;
    packet
}

fn run(ebpf: &Ebpf, program: &str, first: u8, repeat: u32) -> u32 {
    ebpf.program(program)
        .unwrap()
        .test_run(&TestRun::packet(&packet(first)).repeat(repeat))
        .unwrap()
        .retval
}

#[test]
fn an_index_out_of_bounds_returns_on_panic_and_counts() {
    let Some(ebpf) = load() else { return };
    assert_eq!(run(&ebpf, "index_out_of_bounds", 1, 10), XDP_TX);
    assert_eq!(run(&ebpf, "index_out_of_bounds", 2, 10), XDP_PASS);
    assert_eq!(ebpf.aborts("index_out_of_bounds").unwrap(), 0);
    // `on_panic = "drop"`.
    assert_eq!(run(&ebpf, "index_out_of_bounds", 4, 25), XDP_DROP);
    assert_eq!(run(&ebpf, "index_out_of_bounds", 255, 5), XDP_DROP);
    assert_eq!(ebpf.aborts("index_out_of_bounds").unwrap(), 30);
    // Normal input after aborts: unaffected, and not counted.
    assert_eq!(run(&ebpf, "index_out_of_bounds", 3, 10), XDP_TX);
    assert_eq!(ebpf.aborts("index_out_of_bounds").unwrap(), 30);
}

#[test]
fn a_division_by_zero_returns_the_default_and_counts_per_program() {
    let Some(ebpf) = load() else { return };
    assert_eq!(run(&ebpf, "divide_by_zero", 1, 1), XDP_DROP);
    assert_eq!(run(&ebpf, "divide_by_zero", 50, 1), XDP_TX);
    // The XDP default: pass, as if the program were not there.
    assert_eq!(run(&ebpf, "divide_by_zero", 0, 7), XDP_PASS);
    assert_eq!(ebpf.aborts("divide_by_zero").unwrap(), 7);
    // Each program has its own count.
    assert_eq!(ebpf.aborts("index_out_of_bounds").unwrap(), 0);
    assert_eq!(ebpf.aborts("never_panics").unwrap(), 0);
    assert!(matches!(
        ebpf.aborts("no_such_program"),
        Err(iu::Error::UnknownProgram { .. })
    ));
}

#[test]
fn tc_classifiers_return_their_on_panic_or_unspec() {
    const TC_ACT_OK: u32 = 0;
    const TC_ACT_SHOT: u32 = 2;
    const TC_ACT_UNSPEC: u32 = -1i32 as u32;
    let Some(ebpf) = load() else { return };
    assert_eq!(run(&ebpf, "tc_divide", 1, 3), TC_ACT_OK);
    assert_eq!(run(&ebpf, "tc_divide", 0, 4), TC_ACT_SHOT);
    assert_eq!(run(&ebpf, "tc_divide_default", 3, 1), TC_ACT_SHOT);
    assert_eq!(run(&ebpf, "tc_divide_default", 0, 2), TC_ACT_UNSPEC);
    assert_eq!(ebpf.aborts("tc_divide").unwrap(), 4);
    assert_eq!(ebpf.aborts("tc_divide_default").unwrap(), 2);
}

#[test]
fn a_failed_unwrap_in_a_tracepoint_counts_each_abort() {
    let Some(ebpf) = loaded(
        EbpfLoader::new()
            .set_global("TARGET_PID", &std::process::id())
            .load_file(iu::object_dir().join("panics")),
    ) else {
        return;
    };
    let link = ebpf
        .tracepoint("failed_conversion")
        .unwrap()
        .attach()
        .unwrap();
    let mut file = std::fs::File::open("/dev/null").unwrap();
    // Seeks past 256 MiB panic in the program; the seeks themselves work.
    for _ in 0..5 {
        file.seek(SeekFrom::Start(1 << 30)).unwrap();
    }
    assert_eq!(ebpf.aborts("failed_conversion").unwrap(), 5);
    file.seek(SeekFrom::Start(4096)).unwrap();
    assert_eq!(ebpf.aborts("failed_conversion").unwrap(), 5);
    drop(link);
    file.seek(SeekFrom::Start(1 << 30)).unwrap();
    assert_eq!(
        ebpf.aborts("failed_conversion").unwrap(),
        5,
        "counted after detach"
    );
}

#[test]
fn panic_paths_are_found_without_loading() {
    let bytes = std::fs::read(iu::object_dir().join("panics")).unwrap();
    let paths = iu::panic_paths(&bytes).unwrap();
    let programs: Vec<&str> = paths.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        programs,
        [
            "divide_by_zero",
            "failed_conversion",
            "index_out_of_bounds",
            "tc_divide",
            "tc_divide_default"
        ]
    );
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/programs/src/bin/panics.rs"
    ))
    .unwrap();
    let line_of = |text: &str| source.lines().position(|l| l.contains(text)).unwrap() as u32 + 1;
    let index_sites = &paths[2].1;
    assert_eq!(
        index_sites[0].line,
        line_of("actions[index]"),
        "{index_sites:?}"
    );
    assert!(index_sites[0].file.ends_with("panics.rs"));
    assert_eq!(paths[0].1[0].line, line_of("100 / divisor"));
}
