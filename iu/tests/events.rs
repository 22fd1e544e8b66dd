//! Ring-buffer and perf-buffer consumers under load, on the running kernel,
//! with the `events` program (`iu/tests/programs/src/bin/events.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::collections::BTreeMap;

use iu::{
    Ebpf, Pod,
    maps::{PerfEvent, PerfEventArray, RingBuf},
    programs::TracePointLink,
};

/// The tests count this process's descriptors: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Copy, Debug, Pod)]
#[repr(C)]
struct Event {
    cpu: u32,
    tid: u32,
    seq: u64,
    discard: u64,
    _pad: u64,
}

fn setup() -> (Ebpf, TracePointLink) {
    let ebpf = Ebpf::load_file(iu::object_dir().join("events")).unwrap();
    ebpf.array::<u32>("CONFIG")
        .unwrap()
        .set(0, &std::process::id())
        .unwrap();
    let link = ebpf.tracepoint("events").unwrap().attach().unwrap();
    (ebpf, link)
}

/// Calls `getppid()` `n` times on each of `threads` threads.
fn produce(threads: usize, n: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..n {
                        std::hint::black_box(std::os::unix::process::parent_id());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    })
}

/// Per-CPU sums of a per-CPU array slot.
fn per_cpu(ebpf: &Ebpf, map: &str, slot: u32) -> Vec<u64> {
    ebpf.per_cpu_array::<u64>(map).unwrap().get(slot).unwrap()
}

/// This process's descriptors of BPF objects and perf events.
fn bpf_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| {
            let target = target.to_string_lossy();
            target.contains("bpf") || target.contains("perf_event")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_arrive_exactly_once_in_order_per_cpu() {
    let _serial = SERIAL.lock().await;
    let (ebpf, _link) = setup();
    let mut ring = RingBuf::new(ebpf.map("RING").unwrap())
        .unwrap()
        .typed::<Event>();
    let mut perf = PerfEventArray::new(ebpf.map("PERF").unwrap(), 256).unwrap();

    let producers = produce(4, 250_000);
    let (mut from_ring, mut from_perf) = (vec![], vec![]);
    let record_perf = |event: PerfEvent, out: &mut Vec<Event>| {
        if let PerfEvent::Sample { data, .. } = event {
            out.push(Event::from_bytes(&data).unwrap());
        }
    };
    while !producers.is_finished() {
        tokio::select! {
            event = ring.next() => from_ring.push(event.unwrap().unwrap()),
            event = perf.next() => record_perf(event.unwrap().unwrap(), &mut from_perf),
            () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
        }
    }
    producers.join().unwrap();
    ring.consume(|e| from_ring.push(e));
    perf.consume(|e| record_perf(e, &mut from_perf));

    let emitted = per_cpu(&ebpf, "SEQ", 0);
    let ring_failed = per_cpu(&ebpf, "DROPS", 0);
    let perf_failed = per_cpu(&ebpf, "DROPS", 1);
    let discarded = per_cpu(&ebpf, "DROPS", 2);
    assert!(emitted.iter().sum::<u64>() >= 1_000_000, "{emitted:?}");

    // Every seventh event per CPU is meant to be discarded: by the ring
    // buffer after a successful reservation (counted), and never sent to
    // the perf buffer.
    let perf_skipped: Vec<u64> = emitted.iter().map(|n| n / 7).collect();
    for (name, events, failed, skipped) in [
        ("ring", &from_ring, &ring_failed, &discarded),
        ("perf", &from_perf, &perf_failed, &perf_skipped),
    ] {
        let mut by_cpu: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for e in events.iter() {
            assert_eq!(
                e.discard, 0,
                "{name}: a discarded record was delivered: {e:?}"
            );
            by_cpu.entry(e.cpu).or_default().push(e.seq);
        }
        for (cpu, seqs) in &by_cpu {
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "{name}: CPU {cpu}'s events are out of order or duplicated"
            );
        }
        for cpu in 0..emitted.len() {
            let delivered = by_cpu.get(&(cpu as u32)).map_or(0, Vec::len) as u64;
            assert_eq!(
                delivered + failed[cpu] + skipped[cpu],
                emitted[cpu],
                "{name}: CPU {cpu}: {delivered} delivered + {} lost + {} discarded != {} emitted",
                failed[cpu],
                skipped[cpu],
                emitted[cpu]
            );
        }
    }
    // Perf reports its losses itself, exactly what the program saw fail
    // (the kernel's count, including losses after the last record that
    // fitted; see perf_loss.rs).
    assert_eq!(perf.lost(), perf_failed.iter().sum::<u64>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_consumers_with_events_in_flight_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    let before = bpf_fds();
    {
        let (ebpf, _link) = setup();
        let mut ring = RingBuf::new(ebpf.map("RING").unwrap()).unwrap();
        let mut perf = PerfEventArray::new(ebpf.map("PERF").unwrap(), 8).unwrap();
        let producers = produce(2, 20_000);
        // Take a few, then drop both consumers while events keep coming.
        for _ in 0..10 {
            ring.next().await.unwrap().unwrap();
            perf.next().await.unwrap().unwrap();
        }
        drop(ring);
        drop(perf);
        producers.join().unwrap();
    }
    assert_eq!(bpf_fds(), before, "BPF or perf descriptors leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_with_lends_each_record_in_order() {
    let _serial = SERIAL.lock().await;
    let (ebpf, _link) = setup();
    let mut ring = RingBuf::new(ebpf.map("RING").unwrap()).unwrap();
    let producers = produce(1, 200);
    // Records arrive in sequence order per CPU (the discarded ones, every
    // seventh, skipped).
    let mut seqs: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for _ in 0..100 {
        let (cpu, seq) = ring
            .next_with(|bytes| {
                let event = Event::from_bytes(bytes).unwrap();
                (event.cpu, event.seq)
            })
            .await
            .unwrap();
        seqs.entry(cpu).or_default().push(seq);
    }
    producers.join().unwrap();
    for (cpu, seqs) in seqs {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "CPU {cpu}: {seqs:?}");
    }
}
