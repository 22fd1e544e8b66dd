//! The counterpart of the kernel's `samples/bpf/tracex5`: a kprobe on
//! `__seccomp_filter`, which the kernel calls for every syscall of a
//! seccomp-filtered process, tail-calls the program user space put in
//! `PROGS` at the syscall's number. Those programs read the syscall's
//! arguments and report the calls worth seeing; syscalls without a program
//! are counted.
//!
//! The original read the arguments from `__seccomp_filter`'s `struct
//! seccomp_data *` parameter, which kernels since 6.11 no longer pass (the
//! function takes the syscall number and a flag); the programs here read
//! them from the task's saved user registers instead
//! (`ProbeContext::syscall_args`), which works on either.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, kprobe, map,
    maps::{HashMap, ProgramArray, RingBuf},
    programs::ProbeContext,
};
use tracex5_common::{MAX_SYSCALL, SyscallEvent};

iu_ebpf::license!("GPL");

iu_ebpf::global!(
    /// The process to trace (0: every seccomp-filtered process).
    static TARGET_PID: u32 = 0
);

// ANCHOR: dispatch
/// One program per syscall number, set by user space.
#[map]
pub static PROGS: ProgramArray<{ MAX_SYSCALL as usize }> = ProgramArray::new();

/// Reported syscalls.
#[map]
pub static EVENTS: RingBuf<{ 64 * 1024 }> = RingBuf::new();

/// Syscalls without a program, by number.
#[map]
pub static OTHERS: HashMap<u32, u64, 1024> = HashMap::new();

/// `__seccomp_filter(int this_syscall, ...)`.
#[kprobe(function = "__seccomp_filter")]
pub fn tracex5(mut ctx: ProbeContext) -> u32 {
    let target = TARGET_PID.get();
    if target != 0 && helpers::pid() != target {
        return 0;
    }
    let Some(nr) = ctx.arg(0) else {
        return 0;
    };
    let nr = nr as u32;
    PROGS.tail_call(&mut ctx, nr);
    // No program for this syscall.
    if OTHERS.add(&nr, 1).is_err() {
        let _ = OTHERS.insert(&nr, &1, 0);
    }
    0
}
// ANCHOR_END: dispatch

/// The syscall's number (`__seccomp_filter`'s first argument) and its
/// first three arguments.
fn syscall(ctx: &ProbeContext) -> Option<(u32, [u64; 3])> {
    let [a, b, c, ..] = ctx.syscall_args()?;
    Some((ctx.arg(0)? as u32, [a, b, c]))
}

fn report(nr: u32, args: [u64; 3]) {
    let _ = EVENTS.output(&SyscallEvent {
        pid: helpers::pid(),
        nr,
        args,
    });
}

/// `write(fd, buf, count)`: writes of exactly 512 bytes, as in the
/// original sample.
#[kprobe]
pub fn sys_write(ctx: ProbeContext) -> u32 {
    if let Some((nr, args)) = syscall(&ctx)
        && args[2] == 512
    {
        report(nr, args);
    }
    0
}

/// `read(fd, buf, count)`: reads of 129 to 1024 bytes.
#[kprobe]
pub fn sys_read(ctx: ProbeContext) -> u32 {
    if let Some((nr, args)) = syscall(&ctx)
        && args[2] > 128
        && args[2] <= 1024
    {
        report(nr, args);
    }
    0
}

/// `mmap(addr, length, prot, ...)`: every call.
#[kprobe]
pub fn sys_mmap(ctx: ProbeContext) -> u32 {
    if let Some((nr, args)) = syscall(&ctx) {
        report(nr, args);
    }
    0
}

#[cfg(test)]
mod tests;
