//! A socket filter that drops UDP datagrams whose payload starts with `D`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{programs::SkBuffContext, socket_filter};

iu_ebpf::license!("GPL");

/// The UDP payload follows the 8-byte UDP header.
const PAYLOAD: usize = 8;

#[socket_filter]
fn drop_d(ctx: SkBuffContext) -> u32 {
    if ctx.read::<u8>(PAYLOAD) == Some(b'D') {
        0
    } else {
        u32::MAX
    }
}
