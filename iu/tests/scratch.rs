//! `PerCpuScratch` slots do not outlive the program run that borrowed
//! them (issue #21, item 4): after a tail call or a leak, the next run on
//! the same CPU gets the slot again. Each test pins its thread to one CPU,
//! so that every run uses the same slot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, programs::TestRun};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn load() -> Ebpf {
    Ebpf::load_file(iu::object_dir().join("scratch")).unwrap()
}

/// Pins the calling thread to its current CPU (test runs happen on the
/// caller's CPU).
fn pin() {
    let cpu = nix::sched::sched_getcpu().unwrap();
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
}

fn run(ebpf: &Ebpf, program: &str) -> u32 {
    ebpf.program(program)
        .unwrap()
        .test_run(&TestRun::packet(&[0u8; 64]))
        .unwrap()
        .retval
}

#[test]
fn a_tail_call_does_not_leave_the_slot_busy() {
    pin();
    let ebpf = load();
    assert_eq!(
        run(&ebpf, "scratch_probe"),
        XDP_DROP,
        "the slot starts free"
    );
    ebpf.program_array("NEXT")
        .unwrap()
        .set(0, ebpf.program("scratch_probe").unwrap())
        .unwrap();
    // The target of the tail call gets the slot, and so do later runs.
    for _ in 0..3 {
        assert_eq!(run(&ebpf, "scratch_tail_call"), XDP_DROP);
        assert_eq!(run(&ebpf, "scratch_probe"), XDP_DROP);
    }
}

#[test]
fn a_leaked_borrow_does_not_leave_the_slot_busy() {
    pin();
    let ebpf = load();
    assert_eq!(run(&ebpf, "scratch_leak"), XDP_DROP);
    assert_eq!(run(&ebpf, "scratch_probe"), XDP_DROP);
    assert_ne!(run(&ebpf, "scratch_probe"), XDP_PASS);
}
