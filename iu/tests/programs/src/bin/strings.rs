//! Uses iu-ebpf's string helpers on the calling thread's name, so that the
//! test can check they load (no panic path survives) and compute the same
//! results as on the host.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, map, maps::Array, programs::TracePointContext, strings, tracepoint,
    tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

/// 0: name equals `iu-str-42`; 1: index of the first `-` + 1 (0: none);
/// 2: the number after the last `-`, parsed; 3: name starts with `iu-`.
#[map]
static OUT: Array<u64, 4> = Array::new();

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn strings_test(_ctx: TracePointContext<SysEnter>) -> u32 {
    let comm = helpers::comm();
    if !strings::starts_with(&comm, b"iu-str-") {
        return 0;
    }
    let _ = OUT.set(0, &u64::from(strings::equals(&comm, b"iu-str-42")));
    let _ = OUT.set(1, &strings::find(&comm, b'-').map_or(0, |i| i as u64 + 1));
    let mut tail = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        tail[i] = comm[7 + i];
        i += 1;
    }
    let _ = OUT.set(2, &(strings::parse_i64(&tail).unwrap_or(-1) as u64));
    let _ = OUT.set(3, &u64::from(strings::starts_with(&comm, b"iu-")));
    0
}
