//! The execsnoop event, sent through a per-CPU perf event array instead of
//! a ring buffer, to show both paths.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use execsnoop_common::{ExecEvent, FILENAME_LEN};
use iu_ebpf::{
    helpers, map, maps::PerfEventArray, programs::TracePointContext, tracepoint,
    tracepoints::sched::ProcessExec,
};

iu_ebpf::license!("GPL");

#[map]
static EVENTS: PerfEventArray = PerfEventArray::new();

#[tracepoint(category = "sched", name = "sched_process_exec")]
fn perf_output(ctx: TracePointContext<ProcessExec>) -> u32 {
    let args = ctx.args();
    let mut event = ExecEvent {
        pid: args.pid as u32,
        // This example does not track forks; see execsnoop.
        ppid: 0,
        uid: helpers::uid_gid().0,
        _pad: 0,
        comm: helpers::comm(),
        filename: [0; FILENAME_LEN],
    };
    ctx.read_str(args.filename, &mut event.filename);
    // A full buffer drops the event; user space sees it as a lost count.
    let _ = EVENTS.output(&ctx, &event);
    0
}
