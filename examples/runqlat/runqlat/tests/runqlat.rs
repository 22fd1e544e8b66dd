//! Runs `runqlat` on this test's own process while it makes run-queue
//! latency of known shape: sleeps (each wakeup is one wait) and two
//! CPU-bound threads sharing one CPU (one of them always waits).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// Runs runqlat on this process for `seconds` while `during` runs, and
/// returns the histogram summed over its intervals: (low, high, count)
/// per slot, from its output.
fn runqlat_during(seconds: &str, during: impl FnOnce()) -> Vec<(u64, u64, u64)> {
    let pid = std::process::id().to_string();
    let (output, ()) = iu::testing::run_alongside(
        env!("CARGO_BIN_EXE_runqlat"),
        &["--duration", seconds, "--interval", "0.5", "--pid", &pid],
        "tracing run queue latency",
        during,
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("     usecs               : count    distribution"),
        "bcc's header: {stdout}"
    );
    let mut slots: Vec<(u64, u64, u64)> = Vec::new();
    for line in stdout.lines() {
        let Some((range, rest)) = line.split_once(':') else {
            continue;
        };
        let Some((low, high)) = range.split_once("->") else {
            continue;
        };
        let (low, high): (u64, u64) = (low.trim().parse().unwrap(), high.trim().parse().unwrap());
        let count: u64 = rest.split('|').next().unwrap().trim().parse().unwrap();
        match slots.iter_mut().find(|s| s.0 == low) {
            Some(slot) => slot.2 += count,
            None => slots.push((low, high, count)),
        }
    }
    slots
}

/// A CPU this process may run on.
fn some_cpu() -> usize {
    let allowed = sched_getaffinity(Pid::from_raw(0)).unwrap();
    (0..CpuSet::count())
        .find(|&c| allowed.is_set(c).unwrap_or(false))
        .unwrap()
}

#[test]
fn runqlat_counts_each_wakeup_and_the_wait_of_threads_sharing_a_cpu() {
    // 1. 100 sleeps: each wakeup is followed by a wait for the CPU, which
    // the histogram counts (plus whatever else this process waits for).
    const SLEEPS: u64 = 100;
    let slots = runqlat_during("2", || {
        std::thread::spawn(|| {
            for _ in 0..SLEEPS {
                std::thread::sleep(Duration::from_millis(2));
            }
        })
        .join()
        .unwrap();
    });
    let count: u64 = slots.iter().map(|s| s.2).sum();
    assert!(
        count >= SLEEPS,
        "{count} waits for {SLEEPS} wakeups: {slots:?}"
    );

    // 2. Two CPU-bound threads pinned to one CPU for a second: at every
    // moment one of them is runnable and waiting, so their waits add up to
    // about a second (up to two if other tasks take the CPU too), made of
    // scheduler slices rather than wakeup blips.
    let busy = Duration::from_secs(1);
    let cpu = some_cpu();
    let slots = runqlat_during("3", || {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut set = CpuSet::new();
                    set.set(cpu).unwrap();
                    sched_setaffinity(Pid::from_raw(0), &set).unwrap();
                    let end = Instant::now() + busy;
                    let mut spins = 0u64;
                    while Instant::now() < end {
                        spins = std::hint::black_box(spins + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    let busy_us = busy.as_micros() as u64;
    let at_least: u64 = slots.iter().map(|&(low, _, n)| low * n).sum();
    let at_most: u64 = slots.iter().map(|&(_, high, n)| (high + 1) * n).sum();
    assert!(
        at_most >= busy_us / 2,
        "the waits add up to at most {at_most} µs, under half of {busy_us} µs: {slots:?}"
    );
    assert!(
        at_least <= busy_us * 5 / 2,
        "the waits add up to at least {at_least} µs, over two threads' {busy_us} µs: {slots:?}"
    );
    // Waits of 128 µs and more (scheduler slices) make most of that time.
    let long: u64 = slots
        .iter()
        .filter(|&&(low, _, _)| low >= 128)
        .map(|&(_, high, n)| (high + 1) * n)
        .sum();
    assert!(
        long >= busy_us / 2,
        "waits of 128 µs or more add up to at most {long} µs: {slots:?}"
    );
}
