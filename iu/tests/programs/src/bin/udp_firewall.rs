//! The firewall of the programs benchmark (`cargo xtask bench --only
//! programs`, issue #18), against `xtask/peers/udp_firewall.bpf.c`:
//! Ethernet, IPv4 with its header length (options skipped), UDP; sources
//! in the `BLOCKED` prefixes are dropped, the others counted per source in
//! a `{packets, bytes}` struct with atomic adds on its fields.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, field, map,
    maps::{HashMap, LpmKey, LpmTrie},
    programs::{BoundedLen, XdpAction, XdpContext},
    xdp,
};

#[path = "../headers.rs"]
mod headers;
use headers::{Ipv4, Udp};

iu_ebpf::license!("GPL");

/// UDP packets and their length (UDP header and payload) from one source.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Stats {
    packets: u64,
    bytes: u64,
}

/// Blocked source prefixes (value unused).
#[map]
static BLOCKED: LpmTrie<[u8; 4], u32, 1024> = LpmTrie::new();

/// Stats per IPv4 source address (network order).
#[map]
static SOURCES: HashMap<[u8; 4], Stats, 16384> = HashMap::new();

const ETH_HEADER: usize = 14;
const ETH_P_IPV4: [u8; 2] = [0x08, 0x00];
const IPPROTO_UDP: u8 = 17;

#[xdp]
fn udp_firewall(ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some(ETH_P_IPV4) {
        return XdpAction::Pass;
    }
    let Some(ip) = ctx.header::<Ipv4>(ETH_HEADER) else {
        return XdpAction::Pass;
    };
    if ip.get(field!(Ipv4, protocol)) != IPPROTO_UDP {
        return XdpAction::Pass;
    }
    // IHL, the low 4 bits, in 32-bit words.
    let header_len = BoundedLen::<0x0f, 4>::new(ip.get(field!(Ipv4, version_ihl)));
    let Some(udp) = ctx.header::<Udp>(ETH_HEADER + header_len) else {
        return XdpAction::Pass;
    };
    let source = ip.get(field!(Ipv4, source));
    if BLOCKED.contains_key(&LpmKey::new(32, source)) {
        return XdpAction::Drop;
    }
    let len = u64::from(u16::from_be_bytes(udp.get(field!(Udp, len))));
    let first = Stats {
        packets: 1,
        bytes: len,
    };
    let _ = SOURCES.add_or_insert(&source, &first, |v| {
        v.add(field!(Stats, packets), 1);
        v.add(field!(Stats, bytes), len);
    });
    XdpAction::Pass
}
