//! Prints one line with every `printk!` conversion, so that the test can
//! compare the kernel's rendering with Rust's.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, printk, programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn printk_formats(ctx: TracePointContext<SysEnter>) -> u32 {
    let fd = ctx.args().args[0];
    let pid = helpers::pid();
    let negative = -(fd as i64) - 1;
    printk!(
        "fmt pid={pid} fd={} neg={} hex={:x} HEX={:08X} pad=[{:>5}] left=[{:<4}] 100%",
        fd,
        negative,
        0xbeef_u32,
        0xab_u8,
        42u16,
        7i8
    );
    printk!("fmt3 pid={} a={} b={}", pid, -5i32, u64::MAX);
    0
}
