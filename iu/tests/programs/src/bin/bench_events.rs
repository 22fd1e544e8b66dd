//! Producer for the events benchmark (`cargo xtask bench --only events`):
//! every `getppid()` of the process in `CONFIG[0]` writes `CONFIG[1]`
//! (1 to 64) records of 64 bytes, into `RING` (`ring_producer`) or into
//! `PERF` (`perf_producer`); the benchmark attaches one of the two.
//!
//! `STATS` counts, per CPU, the records attempted (slot 0) and those the
//! buffer had no room for (slot 1), so that user space can check that
//! attempted = delivered + lost. Records carry a per-CPU sequence number.
//! The same object is loaded by iu and by the C libbpf peer.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, helpers, map,
    maps::{Array, PerCpuArray, PerfEventArray, RingBuf},
    programs::TracePointContext,
    tracepoint,
    tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

/// One 64-byte record.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Record {
    seq: u64,
    cpu: u32,
    pid: u32,
    payload: [u64; 6],
}

/// `[producer pid, records per getppid]`.
#[map]
static CONFIG: Array<u32, 2> = Array::new();
/// Per CPU: `[records attempted, records the buffer had no room for]`.
#[map]
static STATS: PerCpuArray<u64, 2> = PerCpuArray::new();
/// 4 MiB, as the C peers' perf buffers (1024 pages per CPU).
#[map]
static RING: RingBuf<{ 1 << 22 }> = RingBuf::new();
#[map]
static PERF: PerfEventArray = PerfEventArray::new();

/// Records per call when `CONFIG[1]` is 0, and the most allowed.
const MAX_BATCH: u32 = 64;

/// The number of records to write for this call, or 0 when the caller is
/// not the producer.
#[inline(always)]
fn batch(pid: u32) -> u32 {
    if CONFIG.get(0) != Some(pid) {
        return 0;
    }
    CONFIG.get(1).unwrap_or(1).clamp(1, MAX_BATCH)
}

#[inline(always)]
fn record(pid: u32, cpu: u32) -> Record {
    let seq = STATS.add(0, 1).unwrap_or(0);
    Record {
        seq,
        cpu,
        pid,
        payload: [seq; 6],
    }
}

#[tracepoint(category = "syscalls", name = "sys_enter_getppid")]
fn ring_producer(_ctx: TracePointContext<SysEnter>) -> u32 {
    let pid = helpers::pid();
    let n = batch(pid);
    let cpu = helpers::cpu();
    for _ in 0..n {
        let event = record(pid, cpu);
        match RING.reserve::<Record>() {
            Some(mut entry) => {
                entry.write(event);
                entry.submit();
            }
            None => {
                let _ = STATS.add(1, 1);
            }
        }
    }
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_getppid")]
fn perf_producer(ctx: TracePointContext<SysEnter>) -> u32 {
    let pid = helpers::pid();
    let n = batch(pid);
    let cpu = helpers::cpu();
    for _ in 0..n {
        let event = record(pid, cpu);
        if PERF.output(&ctx, &event).is_err() {
            let _ = STATS.add(1, 1);
        }
    }
    0
}
