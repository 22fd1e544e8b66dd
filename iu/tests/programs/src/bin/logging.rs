//! Logs every argument type and display hint, at every level, on each
//! `dup()` of the process in `CONFIG[0]`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    debug, error, helpers, info, map, maps::Array, programs::TracePointContext, trace, tracepoint,
    tracepoints::syscalls::SysEnter, warn,
};

iu_ebpf::license!("GPL");
iu_ebpf::logger!();

#[map]
static CONFIG: Array<u32, 1> = Array::new();

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn logging(ctx: TracePointContext<SysEnter>) -> u32 {
    if CONFIG.get(0) != Some(helpers::pid()) {
        return 0;
    }
    let fd = ctx.args().args[0];
    info!(
        "ints {} {} {} {} {} {} {} {}",
        200u8,
        -5i8,
        60000u16,
        -300i16,
        4_000_000_000u32,
        -70000i32,
        u64::MAX,
        i64::MIN
    );
    debug!(
        "hex {:x} {:X} bytes {:x} {:X}",
        0xbeef_u32,
        0xbeef_u32,
        [0xde_u8, 0xad],
        [0xbe_u8, 0xef]
    );
    warn!(
        "net {:ipv4} {:ipv4} {:ipv6} {:mac}",
        0x7f00_0001_u32,
        [10_u8, 0, 0, 1],
        [
            0x20_u8, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
        ],
        [0xde_u8, 0xad, 0xbe, 0xef, 0, 1]
    );
    error!("named fd={fd} twice={fd}");
    trace!("trace {}", fd);
    0
}
