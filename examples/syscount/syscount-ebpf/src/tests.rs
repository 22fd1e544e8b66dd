//! syscount's logic on the host: the real enter/exit programs, with
//! simulated time, threads, CPUs and maps.

use iu_ebpf::{
    programs::TracePointContext,
    sim,
    tracepoints::raw_syscalls::{SysEnter, SysExit},
};
use syscount_common::{SyscallKey, SyscallStats};

use super::{START, STATS, sys_enter, sys_exit};

const READ: i64 = 0;
const OPENAT: i64 = 257;

/// One syscall of thread `tid` in process `pid`: enters at `at`, returns
/// `ret` after `latency` ns.
fn syscall(pid: u32, tid: u32, nr: i64, at: u64, latency: u64, ret: i64) {
    sim::set_pid(pid, tid);
    sim::set_ktime(at);
    let enter = SysEnter {
        id: nr,
        ..SysEnter::default()
    };
    assert_eq!(sys_enter(TracePointContext::from_record(enter)), 0);
    sim::advance_ktime(latency);
    let exit = SysExit {
        id: nr,
        ret,
        ..SysExit::default()
    };
    assert_eq!(sys_exit(TracePointContext::from_record(exit)), 0);
}

fn stats(pid: u32, nr: i64) -> SyscallStats {
    STATS
        .get(&SyscallKey { pid, nr: nr as u32 })
        .unwrap_or_default()
}

#[test]
fn accumulates_counts_errors_and_latency_per_process_and_syscall() {
    let _sim = sim::session();
    syscall(100, 100, READ, 1_000, 50, 10);
    syscall(100, 101, READ, 2_000, 150, -11); // -EAGAIN
    syscall(100, 100, OPENAT, 3_000, 70, 3);
    syscall(200, 200, READ, 4_000, 20, 0);
    assert_eq!(
        stats(100, READ),
        SyscallStats {
            count: 2,
            errors: 1,
            total_ns: 200,
            max_ns: 150
        }
    );
    assert_eq!(
        stats(100, OPENAT),
        SyscallStats {
            count: 1,
            errors: 0,
            total_ns: 70,
            max_ns: 70
        }
    );
    assert_eq!(stats(200, READ).count, 1);
    // Every start was consumed by its exit.
    assert_eq!(START.get(&100), None);
    assert_eq!(START.get(&101), None);
}

#[test]
fn each_cpu_keeps_its_own_statistics_and_user_space_merges_them() {
    let _sim = sim::session();
    sim::set_cpu(0);
    syscall(1, 1, READ, 0, 10, 0);
    sim::set_cpu(5);
    syscall(1, 1, READ, 100, 30, -1);
    syscall(1, 1, READ, 200, 5, 0);
    assert_eq!(stats(1, READ).count, 2, "CPU 5's copy");
    let all = STATS.get_all_cpus(&SyscallKey { pid: 1, nr: 0 }).unwrap();
    let mut total = SyscallStats::default();
    all.iter().for_each(|s| total.merge(s));
    assert_eq!(
        total,
        SyscallStats {
            count: 3,
            errors: 1,
            total_ns: 45,
            max_ns: 30
        }
    );
}

#[test]
fn an_exit_without_an_enter_is_ignored() {
    let _sim = sim::session();
    sim::set_pid(7, 7);
    let exit = SysExit {
        id: READ,
        ret: 0,
        ..SysExit::default()
    };
    assert_eq!(sys_exit(TracePointContext::from_record(exit)), 0);
    assert_eq!(stats(7, READ), SyscallStats::default());
}

#[test]
fn a_clock_that_goes_backwards_counts_zero_latency() {
    let _sim = sim::session();
    sim::set_pid(3, 3);
    sim::set_ktime(1_000);
    sys_enter(TracePointContext::from_record(SysEnter::default()));
    sim::set_ktime(900);
    sys_exit(TracePointContext::from_record(SysExit::default()));
    assert_eq!(stats(3, READ).total_ns, 0);
    assert_eq!(stats(3, READ).count, 1);
}
