//! Panics abort cleanly: the program returns its `on_panic` value and its
//! abort count grows; other inputs are unaffected. In every program type,
//! on every kernel, where the panic is reached in the program's own frame
//! (an `exit`); through `bpf_throw` inside a function that was not
//! inlined, where the kernel allows it, and refused with the line where
//! it does not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::io::{Seek, SeekFrom};

use iu::{Ebpf, EbpfLoader, Error, programs::TestRun};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn load() -> Option<Ebpf> {
    loaded(Ebpf::load_file(iu::object_dir().join("panics")))
}

/// Every program of these objects reaches its panics in its own frame, so
/// they load on every kernel, with or without BPF exceptions (`bpf_throw`,
/// Linux 6.7): the panic is an `exit` with the `on_panic` value.
fn loaded(result: Result<Ebpf, Error>) -> Option<Ebpf> {
    Some(result.unwrap())
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

/// The probed function of the uprobe tests: returns its argument.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn iu_panic_uprobe_target(index: u64) -> u64 {
    std::hint::black_box(index)
}

fn tracing() -> Ebpf {
    let ebpf = Ebpf::load_file(iu::object_dir().join("panics_tracing")).unwrap();
    let tid = nix::unistd::gettid().as_raw() as u32;
    ebpf.array::<u32>("CONFIG").unwrap().set(0, &tid).unwrap();
    ebpf
}

fn ran(ebpf: &Ebpf, slot: u32) -> u64 {
    ebpf.array::<u64>("RAN").unwrap().get(slot).unwrap()
}

/// A raw tracepoint's arguments as `BPF_PROG_TEST_RUN` takes them.
fn raw_args(args: &[u64]) -> Vec<u8> {
    args.iter().flat_map(|a| a.to_ne_bytes()).collect()
}

#[test]
fn a_raw_tracepoint_returns_zero_on_a_panic_and_counts() {
    let ebpf = tracing();
    let program = ebpf.program("raw_tp_index").unwrap();
    let run = |index: u64| {
        let args = raw_args(&[0, index]);
        program
            .test_run(&TestRun::default().context(&args))
            .unwrap()
            .retval
    };
    assert_eq!(run(2), 30);
    assert_eq!(ebpf.aborts("raw_tp_index").unwrap(), 0);
    assert_eq!(run(4), 0);
    assert_eq!(run(1 << 40), 0);
    assert_eq!(ebpf.aborts("raw_tp_index").unwrap(), 2);
    assert_eq!(run(3), 40);
    assert_eq!(ebpf.aborts("raw_tp_index").unwrap(), 2);
}

#[test]
fn a_raw_tracepoint_test_run_refuses_what_the_kernel_refuses() {
    let ebpf = tracing();
    let program = ebpf.program("raw_tp_index").unwrap();
    let args = raw_args(&[0, 1]);
    let error = program
        .test_run(&TestRun::default().context(&args).repeat(10))
        .unwrap_err();
    assert!(matches!(error, Error::WrongProgramType { .. }), "{error}");
    let error = program.test_run(&TestRun::packet(&[0; 64])).unwrap_err();
    assert!(error.to_string().contains("raw tracepoint"), "{error}");
    // One run is what a repeat of 1 means.
    let out = program
        .test_run(&TestRun::default().context(&args).repeat(1))
        .unwrap();
    assert_eq!(out.retval, 20);
}

#[test]
fn a_syscall_program_returns_zero_on_a_panic_and_counts() {
    let ebpf = tracing();
    let program = ebpf.syscall("syscall_index").unwrap();
    assert_eq!(program.run(&mut [1u64, 0]).unwrap(), 20);
    assert_eq!(program.run(&mut [7u64, 0]).unwrap(), 0);
    assert_eq!(program.run(&mut [u64::MAX, 0]).unwrap(), 0);
    assert_eq!(ebpf.aborts("syscall_index").unwrap(), 2);
}

/// A 64-byte frame whose first byte after the Ethernet header (where
/// cgroup and socket-filter test runs start the packet) is `byte`.
fn frame(byte: u8) -> [u8; 64] {
    let mut frame = [0u8; 64];
    frame[14] = byte;
    frame
}

#[test]
fn a_cgroup_skb_program_denies_on_a_panic_and_counts() {
    let ebpf = tracing();
    let program = ebpf.program("cgroup_skb_index").unwrap();
    let run = |byte| {
        program
            .test_run(&TestRun::packet(&frame(byte)))
            .unwrap()
            .retval
    };
    assert_eq!(run(0), 1, "allow");
    assert_eq!(run(2), 0, "deny");
    assert_eq!(ebpf.aborts("cgroup_skb_index").unwrap(), 0);
    assert_eq!(run(4), 0, "on_panic = \"deny\"");
    assert_eq!(run(200), 0);
    assert_eq!(ebpf.aborts("cgroup_skb_index").unwrap(), 2);
}

#[test]
fn a_socket_filter_keeps_the_packet_on_a_panic_and_counts() {
    let ebpf = tracing();
    let program = ebpf.program("socket_filter_index").unwrap();
    let run = |byte| {
        program
            .test_run(&TestRun::packet(&frame(byte)))
            .unwrap()
            .retval
    };
    assert_eq!(run(1), 20);
    // The socket-filter default: keep everything.
    assert_eq!(run(9), u32::MAX);
    assert_eq!(ebpf.aborts("socket_filter_index").unwrap(), 1);
}

#[test]
fn uprobes_and_uretprobes_count_each_panic() {
    let ebpf = tracing();
    let exe = std::env::current_exe().unwrap();
    let links = ["uprobe_index", "uretprobe_index"].map(|name| {
        ebpf.uprobe(name)
            .unwrap()
            .attach(&exe, "iu_panic_uprobe_target", None)
            .unwrap()
    });
    for index in [0, 3, 4, 9, 2, 100] {
        iu_panic_uprobe_target(index);
    }
    // Three indexes in range ran to the end; three panicked, in each.
    assert_eq!((ran(&ebpf, 3), ran(&ebpf, 4)), (3, 3));
    assert_eq!(ebpf.aborts("uprobe_index").unwrap(), 3);
    assert_eq!(ebpf.aborts("uretprobe_index").unwrap(), 3);
    drop(links);
    iu_panic_uprobe_target(7);
    assert_eq!(ebpf.aborts("uprobe_index").unwrap(), 3);
}

#[test]
fn a_perf_event_program_counts_each_panic() {
    let ebpf = tracing();
    // The program looks at this process (any thread) while armed.
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    config.set(0, &std::process::id()).unwrap();
    config.set(1, &5).unwrap();
    let link = ebpf
        .perf_event("perf_event_index")
        .unwrap()
        .attach_pid(
            std::process::id() as i32,
            iu::programs::PerfEventKind::CpuClock,
            iu::programs::SampleRate::Frequency(1000),
        )
        .unwrap();
    let start = std::time::Instant::now();
    while ebpf.aborts("perf_event_index").unwrap() < 3 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no panic counted"
        );
        std::hint::black_box((0..100_000u64).sum::<u64>());
    }
    assert_eq!(ran(&ebpf, 2), 0, "every sample panicked");
    config.set(1, &1).unwrap();
    let counted = ebpf.aborts("perf_event_index").unwrap();
    while ran(&ebpf, 2) < 3 {
        assert!(start.elapsed() < std::time::Duration::from_secs(40));
        std::hint::black_box((0..100_000u64).sum::<u64>());
    }
    // Samples taken while the index changed may still have panicked.
    assert!(ebpf.aborts("perf_event_index").unwrap() <= counted + 2);
    drop(link);
}

#[test]
fn kprobes_and_kretprobes_count_each_panic() {
    let ebpf = tracing();
    let kprobe = match ebpf.kprobe("kprobe_index").unwrap().attach() {
        Err(Error::MissingFeature { feature, detail }) => {
            // The VM tier's kernels have kprobes: there, skipping is a failure.
            assert!(
                std::env::var_os("IU_VM_TIER").is_none(),
                "{feature}: {detail}"
            );
            assert!(feature.starts_with("kprobes"));
            iu::testing::skip_missing("panics in kprobes", "kprobes (CONFIG_KPROBES)");
            return;
        }
        other => other.unwrap(),
    };
    let kretprobe = ebpf.kprobe("kretprobe_index").unwrap().attach().unwrap();
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    for index in [1, 6, 3, 4] {
        config.set(1, &index).unwrap();
        std::hint::black_box(std::os::unix::process::parent_id());
    }
    assert_eq!((ran(&ebpf, 0), ran(&ebpf, 1)), (2, 2));
    assert_eq!(ebpf.aborts("kprobe_index").unwrap(), 2);
    assert_eq!(ebpf.aborts("kretprobe_index").unwrap(), 2);
    drop((kprobe, kretprobe));
}

/// fentry, fexit and LSM programs, which the development hosts refuse to
/// load (lockdown): they run in the VM tier.
#[test]
fn btf_attached_programs_abort_with_their_on_panic_value() {
    let ebpf = match Ebpf::load_file(iu::object_dir().join("panics_btf")) {
        Ok(ebpf) => ebpf,
        Err(e @ Error::PermissionDenied { .. }) if std::env::var_os("IU_VM_TIER").is_none() => {
            eprintln!(
                "skipping: fentry/fexit/LSM: this kernel refuses BTF-attached programs even to root (lockdown): {e}"
            );
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    config
        .set(0, &(nix::unistd::gettid().as_raw() as u32))
        .unwrap();
    let ran = |slot| ebpf.array::<u64>("RAN").unwrap().get(slot).unwrap();

    // A tracing test run calls bpf_fentry_test1 once.
    let links = ["fentry_index", "fexit_index"]
        .map(|name| ebpf.btf_tracing(name).unwrap().attach().unwrap());
    let test_run = || {
        ebpf.program("fentry_index")
            .unwrap()
            .test_run(&TestRun::default())
            .unwrap()
    };
    test_run();
    config.set(1, &8).unwrap();
    let out = test_run();
    assert_eq!(out.retval, 0, "the kernel's test functions ran as usual");
    assert_eq!((ran(0), ran(1)), (1, 1));
    assert_eq!(ebpf.aborts("fentry_index").unwrap(), 1);
    assert_eq!(ebpf.aborts("fexit_index").unwrap(), 1);
    drop(links);

    // The LSM program denies on a panic (`on_panic = "deny"`).
    let link = ebpf.btf_tracing("lsm_index").unwrap().attach().unwrap();
    config.set(1, &0).unwrap();
    assert!(std::fs::File::open("/proc/self/status").is_ok());
    config.set(1, &2).unwrap();
    let denied = std::fs::File::open("/proc/self/status").unwrap_err();
    assert_eq!(denied.raw_os_error(), Some(libc::EPERM), "{denied}");
    config.set(1, &4).unwrap();
    let panicked = std::fs::File::open("/proc/self/status").unwrap_err();
    config.set(1, &0).unwrap();
    assert_eq!(panicked.raw_os_error(), Some(libc::EPERM), "{panicked}");
    assert_eq!(ebpf.aborts("lsm_index").unwrap(), 1);
    assert!(std::fs::File::open("/proc/self/status").is_ok());
    drop(link);
}

/// A panic inside a function that was not inlined needs `bpf_throw`: XDP
/// has it from Linux 6.7; a raw tracepoint never, and the load is refused
/// naming the line.
#[test]
fn a_panic_inside_a_called_function_throws_or_is_refused_with_its_line() {
    let path = iu::object_dir().join("panics_nested");
    let only = |name: &str| {
        let mut loader = EbpfLoader::new();
        for other in ["nested_xdp", "nested_raw_tp"] {
            loader.autoload(other, other == name);
        }
        loader.load_file(&path)
    };
    let names_the_line = |sites: &[iu::SourceLine]| {
        sites
            .iter()
            .any(|s| s.code.contains("NESTED-PANIC") && s.file.ends_with("panics_nested.rs"))
    };
    match only("nested_raw_tp").unwrap_err() {
        Error::PanicNotInlined { program, sites, .. } if iu::features::exceptions() => {
            assert_eq!(program, "nested_raw_tp");
            assert!(names_the_line(&sites), "{sites:?}");
        }
        Error::PanicsUnsupported { program, sites } if !iu::features::exceptions() => {
            assert_eq!(program, "nested_raw_tp");
            assert!(names_the_line(&sites), "{sites:?}");
        }
        e => panic!("expected the nested panic to be refused, got {e}"),
    }
    let xdp = only("nested_xdp");
    if !iu::features::exceptions() {
        let Err(Error::PanicsUnsupported { sites, .. }) = &xdp else {
            panic!("expected PanicsUnsupported, got {xdp:?}");
        };
        assert!(names_the_line(sites), "{sites:?}");
        iu::testing::skip_missing(
            "a panic inside a called function",
            "BPF exceptions (bpf_throw, Linux 6.7)",
        );
        return;
    }
    let ebpf = xdp.unwrap();
    assert_eq!(run(&ebpf, "nested_xdp", 0, 1), XDP_DROP);
    assert_eq!(run(&ebpf, "nested_xdp", 2, 1), XDP_TX);
    assert_eq!(run(&ebpf, "nested_xdp", 4, 3), 0, "on_panic = \"aborted\"");
    assert_eq!(ebpf.aborts("nested_xdp").unwrap(), 3);
}

/// The build's report: which panics only `bpf_throw` can leave.
#[test]
fn nested_panic_paths_are_found_without_loading() {
    let bytes = std::fs::read(iu::object_dir().join("panics")).unwrap();
    assert!(iu::nested_panic_paths(&bytes).unwrap().is_empty());
    let bytes = std::fs::read(iu::object_dir().join("panics_nested")).unwrap();
    let nested = iu::nested_panic_paths(&bytes).unwrap();
    let found: Vec<(&str, &str)> = nested
        .iter()
        .map(|(p, s, _)| (p.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        found,
        [("nested_raw_tp", "raw_tp/sys_enter"), ("nested_xdp", "xdp")]
    );
    for (_, _, sites) in &nested {
        assert!(
            sites.iter().any(|s| s.code.contains("NESTED-PANIC")),
            "{sites:?}"
        );
    }
}
