//! cgroup programs: an egress cgroup_skb program that counts the cgroup's
//! IPv4 packets and denies UDP datagrams to the port in `CONFIG[0]`, and a
//! sock_create program that denies IPv4 UDP sockets while `CONFIG[1]` is 1.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    cgroup_skb, cgroup_sock, map,
    maps::Array,
    programs::{CgroupAction, SkBuffContext, SockContext},
};

iu_ebpf::license!("GPL");

/// 0: the UDP destination port to deny; 1: 1 to deny IPv4 UDP sockets.
#[map]
static CONFIG: Array<u32, 2> = Array::new();

/// 0: IPv4 packets seen, 1: packets denied, 2: sockets denied.
#[map]
static COUNTS: Array<u64, 3> = Array::new();

const AF_INET: u32 = 2;
const SOCK_DGRAM: u32 = 2;

const UDP: u8 = 17;

#[cgroup_skb(attach = "egress")]
fn deny_udp_port(ctx: SkBuffContext) -> CgroupAction {
    // The packet starts at the IP header.
    let Some(version_and_length) = ctx.read::<u8>(0) else {
        return CgroupAction::Allow;
    };
    if version_and_length >> 4 != 4 {
        return CgroupAction::Allow;
    }
    COUNTS.add(0, 1);
    let header = usize::from(version_and_length & 0x0f) * 4;
    if ctx.read::<u8>(9) == Some(UDP)
        && let Some(port) = ctx.read::<[u8; 2]>(header + 2)
        && Some(u32::from(u16::from_be_bytes(port))) == CONFIG.get(0)
    {
        COUNTS.add(1, 1);
        return CgroupAction::Deny;
    }
    CgroupAction::Allow
}

#[cgroup_sock(attach = "sock_create")]
fn deny_udp_sockets(ctx: SockContext) -> CgroupAction {
    if CONFIG.get(1) == Some(1)
        && ctx.family() == AF_INET
        && ctx.sock_type() == SOCK_DGRAM
        && ctx.protocol() == u32::from(UDP)
    {
        COUNTS.add(2, 1);
        return CgroupAction::Deny;
    }
    CgroupAction::Allow
}
