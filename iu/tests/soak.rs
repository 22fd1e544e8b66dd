//! Soak: 4 producer threads drive a program that writes every event to a
//! ring buffer and a perf buffer, while the consumer alternates between
//! slow (sleeping on every event, so both buffers overflow) and fast. At
//! each check (every round: producers stopped, consumer drained) every
//! event produced is delivered or counted as lost, exactly, in both
//! buffers; every round delivers events (no stall).
//!
//! About 2 minutes on the host, 20 s in the guests (TCG is slow);
//! `IU_SOAK_SECS` sets another length.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    sync::{
        Arc, Barrier,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use iu::{
    Ebpf,
    maps::{PerfEvent, PerfEventArray, RingBuf},
    programs::TestRun,
};

const PRODUCERS: usize = 4;
/// Events per `BPF_PROG_TEST_RUN` call.
const BATCH: u32 = 100;

// The buffers register with tokio's reactor; this test reads them
// synchronously, blocking the runtime's only thread on purpose.
#[tokio::test(flavor = "current_thread")]
async fn four_producers_and_a_changing_consumer_lose_nothing_uncounted() {
    let secs: u64 = std::env::var("IU_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if std::env::var_os("IU_VM_TIER").is_some() {
            20
        } else {
            110
        });
    let ebpf = Arc::new(Ebpf::load_file(iu::object_dir().join("soak")).unwrap());
    let mut ring = RingBuf::new(ebpf.map("RING").unwrap()).unwrap();
    let mut perf = PerfEventArray::new(ebpf.map("PERF").unwrap(), 4).unwrap();
    let counts = ebpf.array::<u64>("COUNTS").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    // Producers and the consumer meet at each round's start and end.
    let barrier = Arc::new(Barrier::new(PRODUCERS + 1));
    let runs = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let failures = failures.clone();
            let (ebpf, stop, done, barrier, runs) = (
                ebpf.clone(),
                stop.clone(),
                done.clone(),
                barrier.clone(),
                runs.clone(),
            );
            std::thread::spawn(move || {
                let program = ebpf.program("soak").unwrap();
                let run = TestRun::packet(&[0u8; 64]).repeat(BATCH);
                loop {
                    barrier.wait();
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    while !stop.load(Ordering::SeqCst) {
                        // A failure is reported at the check, not by a
                        // panic here that would leave the others waiting.
                        if let Err(e) = program.test_run(&run) {
                            failures.fetch_add(1, Ordering::SeqCst);
                            eprintln!("test run failed: {e}");
                            break;
                        }
                        runs.fetch_add(u64::from(BATCH), Ordering::SeqCst);
                        // About 100,000 events/s per producer: a fast
                        // consumer keeps up, a slow one does not.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    barrier.wait();
                }
            })
        })
        .collect();

    let (mut ring_delivered, mut perf_delivered, mut perf_reported) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let mut round = 0u32;
    let mut checks = vec![];
    while start.elapsed() < Duration::from_secs(secs) {
        let slow = round.is_multiple_of(2);
        let (ring_before, perf_before) = (ring_delivered, perf_delivered);
        stop.store(false, Ordering::SeqCst);
        barrier.wait();
        // The round's end comes from a timer, not from the consumer: a
        // slow `consume` keeps reading while producers keep writing.
        let timer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(2));
                stop.store(true, Ordering::SeqCst);
            })
        };
        // Slow: 20 µs per event and a pause between reads, far slower
        // than 4 producers. Fast: read as it comes.
        let per_event = if slow {
            Duration::from_micros(20)
        } else {
            Duration::ZERO
        };
        while !stop.load(Ordering::SeqCst) {
            ring.consume(|data| {
                assert_eq!(data.len(), 48);
                ring_delivered += 1;
                std::thread::sleep(per_event);
            });
            perf.consume(|event| match event {
                PerfEvent::Sample { .. } => {
                    perf_delivered += 1;
                    std::thread::sleep(per_event);
                }
                PerfEvent::Lost { count, .. } => perf_reported += count,
            });
            if slow {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        timer.join().unwrap();
        barrier.wait();
        // Producers stopped: drain, then check.
        let drained = Instant::now();
        while ring.consume(|_| ring_delivered += 1) > 0 {}
        while perf.consume(|event| match event {
            PerfEvent::Sample { .. } => perf_delivered += 1,
            PerfEvent::Lost { count, .. } => perf_reported += count,
        }) > 0
        {}
        assert!(
            drained.elapsed() < Duration::from_secs(5),
            "draining stalled"
        );
        assert_eq!(failures.load(Ordering::SeqCst), 0, "test runs failed");
        let produced = counts.get(0).unwrap();
        let ring_lost = counts.get(1).unwrap();
        let perf_failed = counts.get(2).unwrap();
        assert_eq!(produced, runs.load(Ordering::SeqCst), "round {round}");
        assert_eq!(
            ring_delivered + ring_lost,
            produced,
            "ring buffer, round {round}"
        );
        assert_eq!(perf.lost(), perf_failed, "perf lost(), round {round}");
        assert_eq!(
            perf_delivered + perf.lost(),
            produced,
            "perf buffer, round {round}"
        );
        assert_eq!(
            perf_reported,
            perf.lost(),
            "perf Lost records, round {round}"
        );
        assert!(
            ring_delivered > ring_before && perf_delivered > perf_before,
            "round {round} ({}) delivered nothing: stalled",
            if slow { "slow" } else { "fast" }
        );
        if std::env::var_os("IU_SOAK_VERBOSE").is_some() {
            eprintln!(
                "round {round} ({}): produced {produced}, ring delivered {ring_delivered} lost {ring_lost}, perf delivered {perf_delivered} lost {perf_failed}",
                if slow { "slow" } else { "fast" }
            );
        }
        checks.push((slow, produced, ring_lost, perf_failed));
        round += 1;
    }
    done.store(true, Ordering::SeqCst);
    barrier.wait();
    for producer in producers {
        producer.join().unwrap();
    }
    let (_, produced, ring_lost, perf_lost) = *checks.last().unwrap();
    eprintln!(
        "{round} rounds in {:.0} s: produced {produced}, ring delivered {ring_delivered} lost {ring_lost}, perf delivered {perf_delivered} lost {perf_lost}",
        start.elapsed().as_secs_f64()
    );
    assert!(round >= 2, "too short to alternate the consumer");
    // The slow rounds overflowed both buffers at least once, so the loss
    // accounting was exercised.
    assert!(
        ring_lost > 0 && perf_lost > 0,
        "the buffers never overflowed"
    );
}
