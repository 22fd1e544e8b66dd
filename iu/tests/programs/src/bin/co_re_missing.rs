//! Reads a field no kernel has (`task_struct.state`, renamed `__state` in
//! Linux 5.14) without an existence check: the load must fail with
//! `Error::CoreRelocation` naming this line.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::tracepoints::syscalls::SysEnter;
use iu_ebpf::{kernel, map, maps::Array, programs::TracePointContext, tracepoint};

iu_ebpf::license!("GPL");

#[map]
static SEEN: Array<u64, 1> = Array::new();

/// A hand-written handle with the field's old name.
#[derive(Clone, Copy)]
struct OldTask(kernel::KernelAddr);

impl kernel::KernelType for OldTask {
    const TYPE_NAME: &'static str = "task_struct";
    type Addr = kernel::KernelAddr;
    fn from_kernel_addr(addr: kernel::KernelAddr) -> Self {
        OldTask(addr)
    }
    fn kernel_addr(self) -> kernel::KernelAddr {
        self.0
    }
}

#[tracepoint(category = "syscalls", name = "sys_enter_getppid")]
fn co_re_missing(_ctx: TracePointContext<SysEnter>) -> u32 {
    let task: OldTask = kernel::current_task();
    let state = kernel::__read::<i64>(task.0, iu_ebpf::core_value!("o|task_struct|state|8|i"));
    let _ = SEEN.set(0, &(state.unwrap_or(0) as u64));
    0
}
