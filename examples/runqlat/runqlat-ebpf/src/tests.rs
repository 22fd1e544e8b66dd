//! runqlat on the host: wakeups and preemptions enqueue, switches count
//! the wait in its log2 slot, on kernels with `__state` and with `state`.

use iu_ebpf::{
    programs::BtfContext,
    sim::{self, KernelObject},
};

use super::{HIST, START, sched_switch, sched_wakeup, sched_wakeup_new};

fn task(pid: i32, tgid: i32) -> KernelObject {
    let task = KernelObject::new("task_struct");
    task.set("pid", pid).set("tgid", tgid);
    task
}

fn args(values: &[u64]) -> BtfContext {
    let mut args = [0u64; 13];
    args[..values.len()].copy_from_slice(values);
    BtfContext::from_args(args)
}

fn switch(prev: &KernelObject, next: &KernelObject) {
    assert_eq!(
        sched_switch(args(&[0, prev.btf_addr(), next.btf_addr()])),
        0
    );
}

fn histogram() -> Vec<u64> {
    (0..runqlat_common::MAX_SLOTS as u32)
        .map(|i| HIST.get(i).unwrap_or(0))
        .collect()
}

#[test]
fn a_wakeup_then_a_switch_counts_the_wait_in_its_slot() {
    let _session = sim::session();
    let idle = task(0, 0);
    let sleeper = task(42, 40);
    sim::set_ktime(1_000_000);
    assert_eq!(sched_wakeup(args(&[sleeper.btf_addr()])), 0);
    assert!(START.get(&42).is_some());
    // 1500 µs later it runs: slot 10 (1024..2047 µs).
    sim::advance_ktime(1_500_000);
    switch(&idle, &sleeper);
    let hist = histogram();
    assert_eq!(hist[10], 1, "{hist:?}");
    assert_eq!(hist.iter().sum::<u64>(), 1, "{hist:?}");
    assert!(START.get(&42).is_none(), "the start time is consumed");
    // Switching to it again without a wakeup counts nothing.
    switch(&idle, &sleeper);
    assert_eq!(histogram().iter().sum::<u64>(), 1);
}

#[test]
fn a_preempted_runnable_task_waits_again_and_new_tasks_count() {
    let _session = sim::session();
    let a = task(10, 10);
    let b = task(11, 10);
    // `a` is preempted while runnable (__state 0): it waits from now.
    a.set("__state", 0u32);
    sim::set_ktime(5_000_000);
    switch(&a, &b);
    sim::advance_ktime(3_000);
    switch(&b, &a);
    assert_eq!(histogram()[1], 1, "3 µs: slot 1");
    // A task that blocks (__state 1, TASK_INTERRUPTIBLE) is not waiting.
    a.set("__state", 1u32);
    switch(&a, &b);
    assert!(START.get(&10).is_none());
    // A new task waits from sched_wakeup_new.
    let child = task(12, 12);
    assert_eq!(sched_wakeup_new(args(&[child.btf_addr()])), 0);
    sim::advance_ktime(70_000);
    switch(&b, &child);
    assert_eq!(histogram()[6], 1, "70 µs: slot 6");
}

#[test]
fn before_linux_5_14_the_state_is_read_as_state() {
    let _session = sim::session();
    sim::remove_field("task_struct", "__state");
    let a = task(10, 10);
    let b = task(11, 10);
    a.set("state", 0i64);
    sim::set_ktime(1_000);
    switch(&a, &b);
    sim::advance_ktime(100_000);
    switch(&b, &a);
    assert_eq!(histogram()[6], 1, "100 µs, preempted while running");
    a.set("state", 2i64); // TASK_UNINTERRUPTIBLE
    switch(&a, &b);
    assert!(START.get(&10).is_none());
}

#[test]
fn null_tasks_and_the_idle_task_are_ignored() {
    let _session = sim::session();
    let idle = task(0, 0);
    assert_eq!(sched_wakeup(args(&[idle.btf_addr()])), 0);
    assert!(START.get(&0).is_none());
    assert_eq!(sched_wakeup(args(&[0])), 0);
    assert_eq!(sched_switch(args(&[0, 0, 0])), 0);
    assert_eq!(histogram().iter().sum::<u64>(), 0);
}
