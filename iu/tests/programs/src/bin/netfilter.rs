//! A netfilter program: drops IPv4 UDP datagrams to the port in `CONFIG`
//! and counts them; accepts everything else.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::Array,
    netfilter,
    programs::{NetfilterAction, NetfilterContext},
};

iu_ebpf::license!("GPL");

/// 0: the UDP port to drop.
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// 0: datagrams dropped, 1: packets seen, 2: the hook of the last one.
#[map]
static SEEN: Array<u64, 3> = Array::new();

#[netfilter]
fn drop_port(ctx: NetfilterContext) -> NetfilterAction {
    let _ = SEEN.add(1, 1);
    let _ = SEEN.set(2, &u64::from(ctx.hook().unwrap_or(0xff)));
    let Some(ip) = ctx.read::<[u8; 20]>(0) else {
        return NetfilterAction::Accept;
    };
    if ip[0] >> 4 != 4 || ip[9] != 17 {
        return NetfilterAction::Accept;
    }
    let header = usize::from(ip[0] & 0xf) * 4;
    let Some(ports) = ctx.read::<[[u8; 2]; 2]>(header) else {
        return NetfilterAction::Accept;
    };
    if CONFIG.get(0) == Some(u32::from(u16::from_be_bytes(ports[1]))) {
        let _ = SEEN.add(0, 1);
        return NetfilterAction::Drop;
    }
    NetfilterAction::Accept
}
