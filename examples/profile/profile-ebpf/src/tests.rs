//! profile on the host, where there are no stacks to walk (`get_stack_id`
//! fails as the kernel's does without one): samples counted per process,
//! the idle task skipped.

use iu_ebpf::{programs::PerfEventContext, sim};
use profile_common::StackKey;

use super::{COUNTS, profile};

fn key(pid: u32) -> StackKey {
    StackKey {
        pid,
        kernel_stack: -1,
        user_stack: -1,
    }
}

#[test]
fn samples_are_counted_per_process() {
    let _session = sim::session();
    for pid in [42, 42, 42, 7] {
        sim::set_pid(pid, pid);
        assert_eq!(
            profile(PerfEventContext::from_sample(0xffff_ffff_8100_0000, 1)),
            0
        );
    }
    assert_eq!(COUNTS.get(&key(42)), Some(3));
    assert_eq!(COUNTS.get(&key(7)), Some(1));
}

#[test]
fn the_idle_task_is_not_counted() {
    let _session = sim::session();
    sim::set_pid(0, 0);
    assert_eq!(profile(PerfEventContext::from_sample(0, 1)), 0);
    assert_eq!(COUNTS.get(&key(0)), None);
}
