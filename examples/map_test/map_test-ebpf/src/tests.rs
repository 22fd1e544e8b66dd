//! map_test on the host: every map type, as the program uses it, with the
//! simulated backend.

use iu_ebpf::{
    maps::{BPF_ANY, LpmKey},
    programs::TracePointContext,
    sim,
    tracepoints::syscalls::SysEnter,
};
use map_test_common::{Event, out};

use super::*;

fn dup(fd: u64) -> u32 {
    let record = SysEnter::new(Default::default(), 32, [fd, 0, 0, 0, 0, 0]);
    map_test(TracePointContext::from_record(record))
}

#[test]
fn reacts_only_to_the_configured_thread() {
    let _sim = sim::session();
    sim::set_pid(10, 11);
    CONFIG.set(0, &12).unwrap();
    dup(3);
    assert_eq!(COUNTS.get(&10), None);
    CONFIG.set(0, &11).unwrap();
    dup(3);
    assert_eq!(COUNTS.get(&10), Some(1));
}

#[test]
fn every_map_sees_the_call() {
    let _sim = sim::session();
    sim::set_pid(10, 11);
    sim::set_cpu(2);
    CONFIG.set(0, &11).unwrap();
    INPUT.insert(&1, &21, BPF_ANY).unwrap();
    PREFIXES
        .insert(&LpmKey::new(16, [10, 1, 0, 0]), &16, BPF_ANY)
        .unwrap();
    PREFIXES
        .insert(&LpmKey::new(8, [10, 0, 0, 0]), &8, BPF_ANY)
        .unwrap();
    for fd in [3, 4, 5, 6, 7] {
        assert_eq!(dup(fd), 0);
    }
    assert_eq!(COUNTS.get(&10), Some(5));
    // MULTIPLIER's default is 2.
    assert_eq!(OUTPUT.get(out::INPUT_TIMES_MULTIPLIER), Some(42));
    assert_eq!(TOTALS.get(0), Some(5));
    assert_eq!(OUTPUT.get(out::FETCH_ADD), Some(25));
    assert_eq!(PER_CPU.get(0), Some(5));
    assert_eq!(PER_CPU.get_all_cpus(0).unwrap().iter().sum::<u64>(), 5);
    assert_eq!(PER_CPU_HASH.get(&10), Some(3));
    // The LRU holds 4: fd 3 was evicted.
    assert_eq!(LRU.get(&3), None);
    assert_eq!(LRU.get(&7), Some(70));
    assert_eq!(FIFO.pop(), Some(3));
    assert_eq!(LIFO.pop(), Some(7));
    assert_eq!(OUTPUT.get(out::LPM_MATCH), Some(16));
    assert!(SEEN.contains(&5));
    assert_eq!(OUTPUT.get(out::BLOOM_HIT), Some(0));
    let event = Event {
        pid: 10,
        cpu: 2,
        fd: 3,
    };
    assert_eq!(EVENTS.take_record::<Event>(), Some(event));
    assert_eq!(PERF_EVENTS.take_record::<Event>(), Some((2, event)));
    // No kernel stack on the host (the helper's EFAULT is stored for user
    // space to report); the tail call returns as if JUMP[0] were empty.
    assert_eq!(OUTPUT.get(out::STACK_ID), Some(-14i64 as u64));
    assert_eq!(sim::take_tail_call(), Some(0));
    assert_eq!(OUTPUT.get(out::TAIL_CALLED), Some(0));
}

#[test]
fn the_tail_call_target_marks_its_slot() {
    let _sim = sim::session();
    tail_target(TracePointContext::from_record(SysEnter::default()));
    assert_eq!(OUTPUT.get(out::TAIL_CALLED), Some(1));
}
