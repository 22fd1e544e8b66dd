//! hello on the host: the line it prints, with a simulated pid and CPU.

use iu_ebpf::{programs::TracePointContext, sim, tracepoints::syscalls::SysEnter};

use super::hello;

#[test]
fn prints_the_pid_and_cpu() {
    sim::set_pid(4242, 4243);
    sim::set_cpu(3);
    assert_eq!(
        hello(TracePointContext::from_record(SysEnter::default())),
        0
    );
    sim::output(|out| assert_eq!(out, "Rust triggered from PID 4242 on CPU 3.\n"));
}
