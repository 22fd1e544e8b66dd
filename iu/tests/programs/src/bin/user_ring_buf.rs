//! A user ring buffer: user space produces commands, a program drains them.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::ops::ControlFlow;

use iu_ebpf::{
    Pod, map,
    maps::{Array, UserRingBuf},
    programs::SyscallContext,
    syscall,
};

iu_ebpf::license!("GPL");

/// A command from user space.
#[repr(C)]
#[derive(Clone, Copy, Pod)]
pub struct Command {
    slot: u32,
    stop: u32,
    delta: u64,
}

#[map]
static COMMANDS: UserRingBuf<4096> = UserRingBuf::new();

/// Slot totals, as the commands set them.
#[map]
static TOTALS: Array<u64, 4> = Array::new();

/// Applies the queued commands, stopping after one with `stop` set;
/// returns how many were consumed (or the helper's error).
#[syscall]
fn apply(_ctx: SyscallContext<u64>) -> i32 {
    let drained = COMMANDS.drain(|command: Command| {
        TOTALS.add(command.slot, command.delta);
        if command.stop != 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match drained {
        Ok(n) => n as i32,
        Err(e) => e.0 as i32,
    }
}
