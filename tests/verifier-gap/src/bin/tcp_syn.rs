//! Counts SYNs without ACK per IPv4 source in an LRU hash map and drops a
//! source's SYNs from the fourth on.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::LruHashMap,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

#[map]
static SYNS: LruHashMap<[u8; 4], u64, 4096> = LruHashMap::new();

#[xdp]
fn tcp_syn(ctx: XdpContext) -> XdpAction {
    // The whole fixed IPv4 header at once: one bounds check.
    let Some(ip) = ctx.read::<[u8; 20]>(14) else {
        return XdpAction::Pass;
    };
    if ip[9] != 6 {
        return XdpAction::Pass;
    }
    let source = [ip[12], ip[13], ip[14], ip[15]];
    let tcp = 14 + usize::from(ip[0] & 0x0f) * 4;
    let Some(flags) = ctx.read::<u8>(tcp + 13) else {
        return XdpAction::Pass;
    };
    if flags & (SYN | ACK) != SYN {
        return XdpAction::Pass;
    }
    let seen = match SYNS.add(&source, 1) {
        Ok(seen) => seen,
        Err(_) => {
            let _ = SYNS.insert(&source, &1, 0);
            1
        }
    };
    if seen > 3 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
