//! The execsnoop event, sent through a per-CPU perf event array instead of
//! a ring buffer, to show both paths.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use execsnoop_common::{ExecEvent, FILENAME_LEN};
use iu_ebpf::{
    helpers, map, maps::PerfEventArray, programs::TracePointContext, tracepoint,
    tracepoints::sched::ProcessExec,
};

iu_ebpf::license!("GPL");

/// One `ExecEvent` per exec, in the buffer of the CPU it ran on.
#[map]
pub static EVENTS: PerfEventArray = PerfEventArray::new();

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn perf_output(ctx: TracePointContext<ProcessExec>) -> u32 {
    let args = ctx.args();
    let mut event = ExecEvent {
        pid: args.pid as u32,
        // This example does not track forks; see execsnoop.
        ppid: 0,
        uid: helpers::uid_gid().0,
        _pad: 0,
        comm: helpers::comm(),
        parent_comm: [0; 16],
        filename: [0; FILENAME_LEN],
    };
    ctx.read_str(args.filename, &mut event.filename);
    // A full buffer drops the event; user space sees it as a lost count.
    let _ = EVENTS.output(&ctx, &event);
    0
}

#[cfg(test)]
mod tests;
