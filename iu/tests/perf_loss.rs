//! Perf-buffer loss is reported as the kernel records it (issue #21, item
//! 8): bursts overflow a small perf buffer, and every event the program
//! produced is either delivered or counted as lost, exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf,
    maps::{PerfEvent, PerfEventArray},
    programs::TestRun,
};

/// Pins the calling thread to its current CPU (test runs happen on the
/// caller's CPU), and returns it.
fn pin() -> usize {
    let cpu = nix::sched::sched_getcpu().unwrap();
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
    cpu
}

/// 8 pages: about 400 records of 80 bytes, so each burst overflows; the
/// loss counter is read after every drain (the buffer is smaller than the
/// largest record).
#[tokio::test(flavor = "current_thread")]
async fn delivered_plus_reported_lost_equals_produced() {
    losses_are_counted_exactly(8);
}

/// 64 pages (256 KiB): the loss counter is read only after a drain that
/// found the buffer nearly full.
#[tokio::test(flavor = "current_thread")]
async fn losses_are_counted_exactly_in_a_large_buffer() {
    losses_are_counted_exactly(64);
}

fn losses_are_counted_exactly(pages: usize) {
    let cpu = pin();
    let ebpf = Ebpf::load_file(iu::object_dir().join("perf_burst")).unwrap();
    let mut perf = PerfEventArray::new(ebpf.map("PERF").unwrap(), pages).unwrap();
    let program = ebpf.program("perf_burst").unwrap();
    let (mut delivered, mut reported, mut last_seq) = (0u64, 0u64, None);
    let mut drain = |perf: &mut PerfEventArray| {
        perf.consume(|event| match event {
            PerfEvent::Sample { cpu: c, data } => {
                assert_eq!(c as usize, cpu);
                let seq = u64::from_ne_bytes(data[..8].try_into().unwrap());
                // Samples arrive in order, with gaps where events were lost.
                assert!(
                    last_seq.is_none_or(|last| seq > last),
                    "{seq} after {last_seq:?}"
                );
                last_seq = Some(seq);
                delivered += 1;
            }
            PerfEvent::Lost { count, .. } => reported += count,
        });
    };
    let bursts: u32 = 25;
    let per_burst: u32 = 40_000;
    for _ in 0..bursts {
        program
            .test_run(&TestRun::packet(&[0u8; 64]).repeat(per_burst))
            .unwrap();
        drain(&mut perf);
    }
    let counts = ebpf.per_cpu_array::<u64>("COUNTS").unwrap();
    let produced: u64 = counts.get(0).unwrap().iter().sum();
    let failed: u64 = counts.get(1).unwrap().iter().sum();
    eprintln!(
        "produced {produced}, delivered {delivered}, reported lost {reported} (lost() = {}), failed in the program {failed}",
        perf.lost()
    );
    assert_eq!(produced, u64::from(bursts) * u64::from(per_burst));
    assert!(failed > 0, "the bursts never overflowed the buffer");
    assert_eq!(perf.lost(), failed, "lost() must count every failed output");
    assert_eq!(delivered + perf.lost(), produced);
    assert_eq!(
        reported,
        perf.lost(),
        "PerfEvent::Lost reports add up to lost()"
    );
}

/// With `wakeup_events` 64 a waiting consumer (`next` or `readable`) is
/// woken only once 64 records are in a CPU's buffer: 10 written while it
/// waits do not wake it, `consume` still takes them, and 64 more do.
#[tokio::test(flavor = "current_thread")]
async fn wakeup_events_batches_wakeups() {
    let ebpf = std::sync::Arc::new(Ebpf::load_file(iu::object_dir().join("perf_burst")).unwrap());
    let mut perf = PerfEventArray::with_wakeup_events(ebpf.map("PERF").unwrap(), 64, 64).unwrap();
    // Writes `n` records from another thread while this one waits.
    let later = |n| {
        let ebpf = ebpf.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            ebpf.program("perf_burst")
                .unwrap()
                .test_run(&TestRun::packet(&[0u8; 64]).repeat(n))
                .unwrap();
        })
    };
    let samples = |perf: &mut PerfEventArray| {
        let mut n = 0;
        perf.consume(|event| n += u32::from(matches!(event, PerfEvent::Sample { .. })));
        n
    };
    let writer = later(10);
    // The timer first: `timeout` would poll the stream once more when it
    // fires, and find the records without any wakeup.
    let woken = tokio::select! {
        biased;
        () = tokio::time::sleep(std::time::Duration::from_millis(600)) => None,
        event = perf.next() => Some(event),
    };
    writer.join().unwrap();
    assert!(
        woken.is_none(),
        "10 records woke a consumer that asked for 64: {woken:?}"
    );
    assert_eq!(samples(&mut perf), 10);
    let writer = later(64);
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), perf.next())
        .await
        .expect("64 records wake the consumer")
        .unwrap()
        .unwrap();
    writer.join().unwrap();
    assert!(matches!(first, PerfEvent::Sample { .. }));
    assert_eq!(1 + samples(&mut perf), 64);
    assert_eq!(perf.lost(), 0);

    // `readable` waits the same way, and returns at once for records that
    // are there already, woken or not.
    let writer = later(10);
    let woken = tokio::select! {
        biased;
        () = tokio::time::sleep(std::time::Duration::from_millis(600)) => false,
        ready = perf.readable() => ready.is_ok(),
    };
    writer.join().unwrap();
    assert!(!woken, "10 records made readable() return");
    let wait = std::time::Duration::from_secs(5);
    tokio::time::timeout(wait, perf.readable())
        .await
        .expect("records already in the buffer are readable")
        .unwrap();
    assert_eq!(samples(&mut perf), 10);
    let writer = later(64);
    tokio::time::timeout(wait, perf.readable())
        .await
        .expect("64 records make the buffers readable")
        .unwrap();
    writer.join().unwrap();
    assert_eq!(samples(&mut perf), 64);
    assert!(PerfEventArray::with_wakeup_events(ebpf.map("PERF").unwrap(), 64, 0).is_err());
}
