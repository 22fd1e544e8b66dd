//! A TCP socket iterator: one record per socket of the reader's network
//! namespace (ports, state, family, owner), read through the link.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/tcp.rs"]
#[allow(dead_code)]
mod tcp;

use iu_ebpf::{Pod, iter, programs::IterTcpContext};
use tcp::SockCommon;

iu_ebpf::license!("GPL");

/// One socket.
#[repr(C)]
#[derive(Clone, Copy, Pod)]
pub struct Socket {
    /// Local port, host order.
    local_port: u16,
    /// Remote port, host order.
    remote_port: u16,
    /// `TCP_ESTABLISHED` (1), `TCP_LISTEN` (10), ...
    state: u8,
    _pad: u8,
    family: u16,
    /// Local and remote IPv4 addresses, network order.
    local_addr: u32,
    remote_addr: u32,
    uid: u32,
}

#[iter(tcp)]
fn sockets(mut ctx: IterTcpContext) {
    let Some(sk) = ctx.sock_common::<SockCommon>() else {
        return;
    };
    let record = Socket {
        local_port: sk.skc_num().unwrap_or(0),
        remote_port: u16::from_be(sk.skc_dport().unwrap_or(0)),
        state: sk.skc_state().unwrap_or(0),
        _pad: 0,
        family: sk.skc_family().unwrap_or(0),
        local_addr: sk.skc_rcv_saddr().unwrap_or(0),
        remote_addr: sk.skc_daddr().unwrap_or(0),
        uid: ctx.uid(),
    };
    let _ = ctx.write(&record);
}
