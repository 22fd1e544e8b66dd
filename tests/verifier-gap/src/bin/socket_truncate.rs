//! A socket filter that keeps UDP headers and at most 16 payload bytes:
//! its return value, the length to keep, is computed from the packet's
//! 32-bit length and a header length read from the packet.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{programs::SkBuffContext, socket_filter};

iu_ebpf::license!("GPL");

#[socket_filter]
fn socket_truncate(ctx: SkBuffContext) -> u32 {
    let Some(version_ihl) = ctx.read::<u8>(0) else {
        return ctx.len();
    };
    let keep = u32::from(version_ihl & 0x0f) * 4 + 8 + 16;
    ctx.len().min(keep)
}
