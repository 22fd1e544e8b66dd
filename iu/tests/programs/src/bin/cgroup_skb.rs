//! An egress cgroup_skb program: counts the cgroup's IPv4 packets and
//! denies UDP datagrams to the port in `CONFIG[0]`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    cgroup_skb, map,
    maps::Array,
    programs::{CgroupSkbAction, SkBuffContext},
};

iu_ebpf::license!("GPL");

/// 0: the UDP destination port to deny.
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// 0: IPv4 packets seen, 1: packets denied.
#[map]
static COUNTS: Array<u64, 2> = Array::new();

const UDP: u8 = 17;

#[cgroup_skb(attach = "egress")]
fn deny_udp_port(ctx: SkBuffContext) -> CgroupSkbAction {
    // The packet starts at the IP header.
    let Some(version_and_length) = ctx.read::<u8>(0) else {
        return CgroupSkbAction::Allow;
    };
    if version_and_length >> 4 != 4 {
        return CgroupSkbAction::Allow;
    }
    COUNTS.add(0, 1);
    let header = usize::from(version_and_length & 0x0f) * 4;
    if ctx.read::<u8>(9) == Some(UDP)
        && let Some(port) = ctx.read::<[u8; 2]>(header + 2)
        && Some(u32::from(u16::from_be_bytes(port))) == CONFIG.get(0)
    {
        COUNTS.add(1, 1);
        return CgroupSkbAction::Deny;
    }
    CgroupSkbAction::Allow
}
