//! The soak test's producer: every run of `soak` (an XDP program driven by
//! `BPF_PROG_TEST_RUN` from several threads at once) writes one event to
//! the ring buffer and one to the perf buffer, and counts what it produced
//! and which writes failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::{Array, PerfEventArray, RingBuf},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    seq: u64,
    fill: [u64; 5],
}

/// [events produced, ring reservations that failed, perf outputs that
/// failed], shared by all CPUs (atomic adds).
#[map]
static COUNTS: Array<u64, 3> = Array::new();
/// Small, so that a slow consumer makes it overflow.
#[map]
static RING: RingBuf<{ 1 << 16 }> = RingBuf::new();
#[map]
static PERF: PerfEventArray = PerfEventArray::new();

#[xdp]
fn soak(ctx: XdpContext) -> XdpAction {
    let seq = COUNTS.add(0, 1).unwrap_or(0);
    let event = Event {
        seq,
        fill: [seq; 5],
    };
    match RING.reserve::<Event>() {
        Some(mut entry) => {
            entry.write(event);
            entry.submit();
        }
        None => {
            let _ = COUNTS.add(1, 1);
        }
    }
    if PERF.output(&ctx, &event).is_err() {
        let _ = COUNTS.add(2, 1);
    }
    XdpAction::Pass
}
