//! iu's side of the events benchmark, with the same output as the C libbpf
//! peer (`xtask/peers/libbpf_events.c`). Run by `cargo xtask bench`.
//!
//! It pins itself to `CONSUMER_CPU`, starts `PRODUCER`
//! (`xtask/peers/events_producer.c`) on `PRODUCER_CPU`, sets it as the
//! filter of `bench_events` (`iu/tests/programs/src/bin/bench_events.rs`),
//! attaches the producer program for the mode and sends the producer its
//! "go". It then consumes the 64-byte records until every one is accounted
//! for, in one of these ways:
//!
//! - `ring-stream`: `RingBuf::next().await` (a `Vec<u8>` per record);
//! - `ring-consume`: `RingBuf::readable().await`, then the zero-copy
//!   `RingBuf::consume`;
//! - `ring-drain`: nothing until the producer has exited, then one
//!   `RingBuf::consume` of everything, timed alone (draining without
//!   waiting);
//! - `perf-stream`: `PerfEventArray::next().await`, 1024 pages per CPU,
//!   woken on every record;
//! - `perf-stream-64`: the same, woken every 64 records
//!   (`PerfEventArray::with_wakeup_events`);
//! - `perf-consume-64`: woken every 64 records, read with
//!   `PerfEventArray::readable().await`, then `consume`.
//!
//! The runtime is tokio's current-thread one: the consumer is one thread,
//! as the C peer's.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Instant,
};

use iu::{
    Ebpf,
    maps::{PerfEvent, PerfEventArray, RingBuf},
};
use nix::{
    sched::{CpuSet, sched_setaffinity},
    sys::resource::{UsageWho, getrusage},
    unistd::Pid,
};

type BoxError = Box<dyn std::error::Error>;

/// Perf buffer pages per CPU: 4 MiB, the size of the ring buffer.
const PERF_PAGES: usize = 1024;

/// CPUs the tally follows, as the C peer's `MAX_CPUS`.
const MAX_CPUS: usize = 1024;

/// What arrived, checked as the C peer checks it.
struct Tally {
    delivered: u64,
    perf_lost: u64,
    disorder: u64,
    bad: u64,
    last_seq: Box<[u64; MAX_CPUS]>,
}

impl Tally {
    #[inline]
    fn perf_event(&mut self, event: PerfEvent) {
        match event {
            PerfEvent::Sample { data, .. } => self.check(&data),
            PerfEvent::Lost { count, .. } => self.perf_lost += count,
        }
    }

    #[inline]
    fn check(&mut self, bytes: &[u8]) {
        // One length check, as the C peer's one `size` check.
        let Some(record) = bytes.first_chunk::<64>() else {
            self.bad += 1;
            return;
        };
        let word = |at: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&record[at..at + 8]);
            u64::from_ne_bytes(b)
        };
        let (seq, cpu_pid, last) = (word(0), word(8), word(56));
        let cpu = (cpu_pid as u32) as usize;
        if last != seq || cpu >= MAX_CPUS {
            self.bad += 1;
            return;
        }
        if seq <= self.last_seq[cpu] {
            self.disorder += 1;
        }
        self.last_seq[cpu] = seq;
        self.delivered += 1;
    }
}

/// User + system CPU time of `who`, in seconds.
fn cpu_s(who: UsageWho) -> f64 {
    getrusage(who)
        .map(|u| {
            let (user, system) = (u.user_time(), u.system_time());
            (user.tv_sec() + system.tv_sec()) as f64
                + (user.tv_usec() + system.tv_usec()) as f64 / 1e6
        })
        .unwrap_or(f64::NAN)
}

fn pin(cpu: usize) -> Result<(), BoxError> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &set)?;
    Ok(())
}

enum Consumer {
    RingStream(RingBuf),
    RingConsume(RingBuf),
    RingDrain(RingBuf),
    Perf(PerfEventArray),
    PerfConsume(PerfEventArray),
}

struct Args {
    object: String,
    mode: String,
    producer: String,
    calls: u64,
    batch: u32,
    producer_cpu: String,
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [
        object,
        mode,
        producer,
        calls,
        batch,
        consumer_cpu,
        producer_cpu,
    ] = args.as_slice()
    else {
        return Err("usage: events OBJECT ring-stream|ring-consume|ring-drain|perf-stream|perf-stream-64|perf-consume-64 PRODUCER CALLS BATCH CONSUMER_CPU PRODUCER_CPU".into());
    };
    pin(consumer_cpu.parse()?)?;
    let args = Args {
        object: object.clone(),
        mode: mode.clone(),
        producer: producer.clone(),
        calls: calls.parse()?,
        batch: batch.parse()?,
        producer_cpu: producer_cpu.clone(),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), BoxError> {
    let ebpf = Ebpf::load_file(&args.object)?;
    let (program, mut consumer) = match args.mode.as_str() {
        "ring-stream" => (
            "ring_producer",
            Consumer::RingStream(RingBuf::new(ebpf.map("RING")?)?),
        ),
        "ring-consume" => (
            "ring_producer",
            Consumer::RingConsume(RingBuf::new(ebpf.map("RING")?)?),
        ),
        "ring-drain" => (
            "ring_producer",
            Consumer::RingDrain(RingBuf::new(ebpf.map("RING")?)?),
        ),
        "perf-stream" => (
            "perf_producer",
            Consumer::Perf(PerfEventArray::new(ebpf.map("PERF")?, PERF_PAGES)?),
        ),
        "perf-stream-64" => (
            "perf_producer",
            Consumer::Perf(PerfEventArray::with_wakeup_events(
                ebpf.map("PERF")?,
                PERF_PAGES,
                64,
            )?),
        ),
        "perf-consume-64" => (
            "perf_producer",
            Consumer::PerfConsume(PerfEventArray::with_wakeup_events(
                ebpf.map("PERF")?,
                PERF_PAGES,
                64,
            )?),
        ),
        other => return Err(format!("unknown mode {other}").into()),
    };

    let mut child = Command::new(&args.producer)
        .args([args.producer_cpu.as_str(), &args.calls.to_string()])
        .stdin(Stdio::piped())
        .spawn()?;
    let mut go = child.stdin.take().ok_or("no stdin pipe")?;
    let config = ebpf.array::<u32>("CONFIG")?;
    config.set(0, &child.id())?;
    config.set(1, &args.batch)?;
    let _link = ebpf.tracepoint(program)?.attach()?;
    // The producer's exit, from a thread: once it has exited, every record
    // it wrote is committed.
    let (exit_tx, mut exited) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });

    let expected = args.calls * u64::from(args.batch);
    let mut tally = Tally {
        delivered: 0,
        perf_lost: 0,
        disorder: 0,
        bad: 0,
        last_seq: Box::new([0; MAX_CPUS]),
    };
    let (mut c0, mut t0) = (cpu_s(UsageWho::RUSAGE_SELF), Instant::now());
    go.write_all(b"g")?;
    let mut status = None;
    // `biased`: the buffer first, so the producer's exit is only looked at
    // when the buffer is empty.
    match &mut consumer {
        Consumer::RingStream(ring) => {
            while tally.delivered < expected {
                tokio::select! {
                    biased;
                    record = ring.next() => tally.check(&record.ok_or("stream ended")??),
                    s = &mut exited => {
                        status = Some(s);
                        ring.consume(|bytes| tally.check(bytes));
                        break;
                    }
                }
            }
        }
        Consumer::RingConsume(ring) => {
            while tally.delivered < expected {
                tokio::select! {
                    biased;
                    ready = ring.readable() => {
                        ready?;
                        ring.consume(|bytes| tally.check(bytes));
                    }
                    s = &mut exited => {
                        status = Some(s);
                        ring.consume(|bytes| tally.check(bytes));
                        break;
                    }
                }
            }
        }
        Consumer::RingDrain(ring) => {
            status = Some((&mut exited).await);
            (c0, t0) = (cpu_s(UsageWho::RUSAGE_SELF), Instant::now());
            ring.consume(|bytes| tally.check(bytes));
        }
        Consumer::Perf(perf) => {
            while tally.delivered < expected {
                tokio::select! {
                    biased;
                    event = perf.next() => tally.perf_event(event.ok_or("stream ended")??),
                    s = &mut exited => {
                        status = Some(s);
                        perf.consume(|event| tally.perf_event(event));
                        break;
                    }
                }
            }
        }
        Consumer::PerfConsume(perf) => {
            while tally.delivered < expected {
                tokio::select! {
                    biased;
                    ready = perf.readable() => {
                        ready?;
                        perf.consume(|event| tally.perf_event(event));
                    }
                    s = &mut exited => {
                        status = Some(s);
                        perf.consume(|event| tally.perf_event(event));
                        break;
                    }
                }
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_s(UsageWho::RUSAGE_SELF) - c0;
    let status = match status {
        Some(s) => s,
        None => exited.await,
    }??;
    if !status.success() {
        return Err(format!("producer failed ({status})").into());
    }
    let producer_cpu = cpu_s(UsageWho::RUSAGE_CHILDREN);

    let stats = ebpf.per_cpu_array::<u64>("STATS")?;
    let attempted: u64 = stats.get(0)?.iter().sum();
    let nospace: u64 = stats.get(1)?.iter().sum();
    let delivered = tally.delivered;
    println!(
        "attempted={attempted} delivered={delivered} lost={nospace} perf_lost={} disorder={} bad={} \
         wall_s={wall:.6} events_per_s={:.0} cpu_s={cpu:.6} cpu_ms_per_m={:.2} producer_cpu_s={producer_cpu:.6}",
        tally.perf_lost,
        tally.disorder,
        tally.bad,
        delivered as f64 / wall,
        cpu * 1e3 / (delivered as f64 / 1e6),
    );
    Ok(())
}
