//! sock_ops and cgroup socket-address programs: TCP connections counted
//! as they are established, connects and datagrams redirected to another
//! port.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    cgroup_sock_addr, map,
    maps::Array,
    programs::{CgroupAction, SockAddrContext, SockOpsContext, sock_ops as ops},
    sock_ops,
};

iu_ebpf::license!("GPL");

/// 0: active established, 1: passive established, 2: the last passive
/// connection's local port, 3: RTT samples seen.
#[map]
static ESTABLISHED: Array<u64, 4> = Array::new();

/// 0: port to redirect from, 1: port to redirect to, 2: port to deny.
#[map]
static PORTS: Array<u32, 3> = Array::new();

/// 0: connect4 rewrites, 1: connect6 rewrites, 2: sendmsg4 rewrites,
/// 3: recvmsg4 rewrites.
#[map]
static REWRITES: Array<u64, 4> = Array::new();

// ANCHOR: sock_ops
#[sock_ops]
fn count_established(mut ctx: SockOpsContext) -> CgroupAction {
    match ctx.op() {
        ops::op::ACTIVE_ESTABLISHED => {
            ESTABLISHED.add(0, 1);
            let _ = ctx.set_callbacks(ops::callbacks::RTT);
        }
        ops::op::PASSIVE_ESTABLISHED => {
            ESTABLISHED.add(1, 1);
            let _ = ESTABLISHED.set(2, &u64::from(ctx.local_port()));
        }
        ops::op::RTT => {
            ESTABLISHED.add(3, 1);
        }
        _ => {}
    }
    CgroupAction::Allow
}
// ANCHOR_END: sock_ops

// ANCHOR: sock_addr
/// The new port for `port`, or `None`; `Err` to deny.
fn rewrite(port: u16) -> Result<Option<u16>, ()> {
    let port = u32::from(port);
    if Some(port) == PORTS.get(2) {
        return Err(());
    }
    if Some(port) == PORTS.get(0) {
        return Ok(PORTS.get(1).map(|to| to as u16));
    }
    Ok(None)
}

#[cgroup_sock_addr(attach = "connect4")]
fn connect4(mut ctx: SockAddrContext) -> CgroupAction {
    if ctx.user_ip4() != [127, 0, 0, 1] {
        return CgroupAction::Allow;
    }
    match rewrite(ctx.user_port()) {
        Err(()) => CgroupAction::Deny,
        Ok(Some(to)) => {
            ctx.set_user_port(to);
            REWRITES.add(0, 1);
            CgroupAction::Allow
        }
        Ok(None) => CgroupAction::Allow,
    }
}
// ANCHOR_END: sock_addr

#[cgroup_sock_addr(attach = "connect6")]
fn connect6(mut ctx: SockAddrContext) -> CgroupAction {
    let loopback = {
        let mut ip = [0u8; 16];
        ip[15] = 1;
        ip
    };
    if ctx.user_ip6() != loopback {
        return CgroupAction::Allow;
    }
    match rewrite(ctx.user_port()) {
        Err(()) => CgroupAction::Deny,
        Ok(Some(to)) => {
            ctx.set_user_port(to);
            REWRITES.add(1, 1);
            CgroupAction::Allow
        }
        Ok(None) => CgroupAction::Allow,
    }
}

#[cgroup_sock_addr(attach = "sendmsg4")]
fn sendmsg4(mut ctx: SockAddrContext) -> CgroupAction {
    match rewrite(ctx.user_port()) {
        Err(()) => CgroupAction::Deny,
        Ok(Some(to)) if ctx.user_ip4() == [127, 0, 0, 1] => {
            ctx.set_user_port(to);
            REWRITES.add(2, 1);
            CgroupAction::Allow
        }
        _ => CgroupAction::Allow,
    }
}

/// Datagrams from the port sends were redirected to look as if they came
/// from the original port.
#[cgroup_sock_addr(attach = "recvmsg4")]
fn recvmsg4(mut ctx: SockAddrContext) -> CgroupAction {
    let from = u32::from(ctx.user_port());
    if Some(from) == PORTS.get(1)
        && let Some(original) = PORTS.get(0)
    {
        ctx.set_user_port(original as u16);
        REWRITES.add(3, 1);
    }
    CgroupAction::Allow
}
