//! Reads the path argument of `openat` from user memory; the helper's
//! result is the string's length, which then bounds a scan for the last
//! `/` and the copy of the file name into a map.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, map, maps::Array, memory, programs::TracePointContext, tracepoint,
    tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

iu_ebpf::global!(
    /// The thread to watch (the tests of one binary run as parallel
    /// threads of one process, and the others open files too).
    static TARGET_TID: u32 = 0
);

/// 0: the file name (up to 32 bytes); 1: its length, then the path's.
#[map]
static LAST: Array<[u8; 32], 2> = Array::new();

#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
fn user_path(ctx: TracePointContext<SysEnter>) -> u32 {
    if helpers::tid() != TARGET_TID.get() {
        return 0;
    }
    let mut buf = [0u8; 128];
    let Some(path) = memory::read_user_str(ctx.args().args[1], &mut buf) else {
        return 0;
    };
    let start = match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => slash + 1,
        None => 0,
    };
    let name = &path[start..];
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(name) {
        *o = *b;
    }
    let mut lengths = [0u8; 32];
    lengths[0] = name.len() as u8;
    lengths[1] = path.len() as u8;
    let _ = LAST.set(0, &out);
    let _ = LAST.set(1, &lengths);
    0
}
