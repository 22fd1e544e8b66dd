//! Event source for the ring-buffer and perf-buffer tests: every
//! `getppid()` of the process in `CONFIG[0]` emits a sequence-numbered event
//! per CPU into both buffers. Every seventh event on a CPU is reserved and
//! then discarded, and must never reach user space.
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

/// One event; `discard` is 1 for reservations that are discarded.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    cpu: u32,
    tid: u32,
    seq: u64,
    discard: u64,
    _pad: u64,
}

#[map]
static CONFIG: Array<u32, 1> = Array::new();
/// Per-CPU sequence numbers.
#[map]
static SEQ: PerCpuArray<u64, 1> = PerCpuArray::new();
/// Per-CPU: [ring reservations that failed, perf outputs that failed,
/// events discarded on purpose].
#[map]
static DROPS: PerCpuArray<u64, 3> = PerCpuArray::new();
#[map]
static RING: RingBuf<{ 1 << 20 }> = RingBuf::new();
#[map]
static PERF: PerfEventArray = PerfEventArray::new();

#[tracepoint(category = "syscalls", name = "sys_enter_getppid")]
fn events(ctx: TracePointContext<SysEnter>) -> u32 {
    if CONFIG.get(0) != Some(helpers::pid()) {
        return 0;
    }
    let seq = SEQ.get(0).unwrap_or(0) + 1;
    let _ = SEQ.set(0, &seq);
    let discard = u64::from(seq % 7 == 0);
    let event = Event {
        cpu: helpers::cpu(),
        tid: helpers::tid(),
        seq,
        discard,
        _pad: 0,
    };
    match RING.reserve::<Event>() {
        Some(mut entry) => {
            entry.write(event);
            if discard == 1 {
                let _ = DROPS.add(2, 1);
                // Dropping the entry discards the reservation.
            } else {
                entry.submit();
            }
        }
        None => {
            let _ = DROPS.add(0, 1);
        }
    }
    if discard == 0 && PERF.output(&ctx, &event).is_err() {
        let _ = DROPS.add(1, 1);
    }
    0
}
