//! perf_output on the host: an exec becomes one record on the current CPU.

use execsnoop_common::ExecEvent;
use iu_ebpf::{
    programs::TracePointContext,
    sim,
    tracepoints::{DataLoc, sched::ProcessExec},
};

use super::{EVENTS, perf_output};

#[test]
fn an_exec_sends_one_record_on_the_current_cpu() {
    let _session = sim::session();
    sim::set_cpu(2);
    sim::set_uid_gid(0, 0);
    sim::set_comm("ls");
    let path = b"/bin/ls\0";
    let record = ProcessExec {
        filename: DataLoc::new(size_of::<ProcessExec>(), path.len()),
        pid: 77,
        old_pid: 77,
        ..Default::default()
    };
    assert_eq!(perf_output(TracePointContext::with_data(record, path)), 0);

    let (cpu, event): (u32, ExecEvent) = EVENTS.take_record().expect("one record per exec");
    assert_eq!(cpu, 2);
    assert_eq!((event.pid, event.ppid, event.uid), (77, 0, 0));
    assert_eq!(event.comm(), "ls");
    assert_eq!(event.filename(), "/bin/ls");
    assert!(EVENTS.take_record::<ExecEvent>().is_none());
}
