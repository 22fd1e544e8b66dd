//! A burst source for the perf-buffer loss test: every run of `perf_burst`
//! (an XDP program driven by `BPF_PROG_TEST_RUN` with a repeat count)
//! writes one sequence-numbered 64-byte event to `PERF` and counts, per
//! CPU, the events it produced and the outputs that failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::{PerCpuArray, PerfEventArray},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    seq: u64,
    fill: [u64; 7],
}

/// Per CPU: [events produced, outputs that failed].
#[map]
static COUNTS: PerCpuArray<u64, 2> = PerCpuArray::new();
#[map]
static PERF: PerfEventArray = PerfEventArray::new();

#[xdp]
fn perf_burst(ctx: XdpContext) -> XdpAction {
    let seq = COUNTS.get(0).unwrap_or(0);
    let _ = COUNTS.set(0, &(seq + 1));
    let event = Event {
        seq,
        fill: [seq; 7],
    };
    if PERF.output(&ctx, &event).is_err() {
        let _ = COUNTS.add(1, 1);
    }
    XdpAction::Pass
}
