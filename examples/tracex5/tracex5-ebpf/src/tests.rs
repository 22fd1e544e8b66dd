//! tracex5 on the host: the dispatcher tail-calls by syscall number and
//! counts syscalls without a program; the per-syscall programs read the
//! syscall's arguments and report only what they look for.

use iu_ebpf::{programs::ProbeContext, sim};
use tracex5_common::SyscallEvent;

use super::{EVENTS, OTHERS, sys_read, sys_write, tracex5};

/// A probe on `__seccomp_filter(nr, false)` during a syscall with `args`.
fn probe(nr: u64, args: [u64; 6]) -> ProbeContext {
    sim::set_syscall_args(args);
    ProbeContext::from_registers([nr, 0, 0, 0, 0, 0], 0)
}

#[test]
fn the_dispatcher_tail_calls_by_syscall_number() {
    let _session = sim::session();
    sim::set_pid(42, 42);
    assert_eq!(tracex5(probe(1, [0; 6])), 0);
    assert_eq!(sim::take_tail_call(), Some(1));
    // The simulated tail call falls through (no program in the slot), as
    // in the kernel: the syscall is then counted as one without a program.
    assert_eq!(OTHERS.get(&1), Some(1));
    tracex5(probe(102, [0; 6]));
    tracex5(probe(102, [0; 6]));
    assert_eq!(OTHERS.get(&102), Some(2));
}

#[test]
fn write_and_read_report_only_the_sizes_they_watch() {
    let _session = sim::session();
    sim::set_pid(7, 7);
    sys_write(probe(1, [3, 0x1000, 512, 0, 0, 0]));
    sys_write(probe(1, [3, 0x1000, 100, 0, 0, 0]));
    sys_read(probe(0, [4, 0x2000, 200, 0, 0, 0]));
    sys_read(probe(0, [4, 0x2000, 4096, 0, 0, 0]));
    let events: Vec<SyscallEvent> = std::iter::from_fn(|| EVENTS.take_record()).collect();
    assert_eq!(
        events,
        [
            SyscallEvent {
                pid: 7,
                nr: 1,
                args: [3, 0x1000, 512]
            },
            SyscallEvent {
                pid: 7,
                nr: 0,
                args: [4, 0x2000, 200]
            },
        ]
    );
}
