//! Packet offsets with a bounded run-time part (`BoundedLen`, `Offset`):
//! the IPv4 header length and the TCP data offset, after a base that is
//! a constant or known only at run time (an optional VLAN tag), in
//! `read`, `header` and `write` of XDP and in tc (`iu/tests/packet_offsets.rs`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    classifier, field,
    programs::{BoundedLen, TcAction, TcContext, XdpAction, XdpContext},
    xdp,
};

#[path = "../headers.rs"]
mod headers;
use headers::{Ipv4, Udp};

iu_ebpf::license!("GPL");

const ETH_P_IPV4: [u8; 2] = [0x08, 0x00];
const ETH_P_VLAN: [u8; 2] = [0x81, 0x00];
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// UDP: the destination port (read through the header and with `read`)
/// is written back plus one. TCP: the first payload byte, after the
/// data offset, goes into the IPv4 TOS byte. Both: `Tx`. Too short:
/// `Pass`, nothing written; not IPv4: `Drop`.
#[xdp]
fn packet_offsets(mut ctx: XdpContext) -> XdpAction {
    // The IPv4 header starts after an optional VLAN tag: a base known
    // only at run time.
    let mut base = 14;
    let mut ether_type = ctx.read::<[u8; 2]>(12);
    if ether_type == Some(ETH_P_VLAN) {
        base = 18;
        ether_type = ctx.read::<[u8; 2]>(16);
    }
    if ether_type != Some(ETH_P_IPV4) {
        return XdpAction::Drop;
    }
    let Some(ip) = ctx.header::<Ipv4>(base) else {
        return XdpAction::Pass;
    };
    let protocol = ip.get(field!(Ipv4, protocol));
    let header_len = BoundedLen::<0x0f, 4>::new(ip.get(field!(Ipv4, version_ihl)));
    if protocol == IPPROTO_UDP {
        let Some(udp) = ctx.header::<Udp>(base + header_len) else {
            return XdpAction::Pass;
        };
        let port = u16::from_be_bytes(udp.get(field!(Udp, dest_port)));
        if ctx.read::<[u8; 2]>(base + header_len + 2) != Some(port.to_be_bytes()) {
            return XdpAction::Aborted;
        }
        if !ctx.write(base + header_len + 2, port.wrapping_add(1).to_be_bytes()) {
            return XdpAction::Aborted;
        }
        return XdpAction::Tx;
    }
    if protocol == IPPROTO_TCP {
        let tcp = base + header_len;
        let Some(doff) = ctx.read::<u8>(tcp + 12) else {
            return XdpAction::Pass;
        };
        // A run-time base (the TCP header's offset) plus a second bounded
        // length (the data offset, the high 4 bits, in 32-bit words).
        let data_offset = BoundedLen::<0x0f, 4>::new(doff >> 4);
        let Some(first) = ctx.read::<u8>(tcp.get() + data_offset) else {
            return XdpAction::Pass;
        };
        if !ctx.write(base + 1, first) {
            return XdpAction::Aborted;
        }
        return XdpAction::Tx;
    }
    XdpAction::Pass
}

/// Drops UDP to port 53, after an IPv4 header of any length.
#[classifier]
fn packet_offsets_tc(ctx: TcContext) -> TcAction {
    if ctx.read::<[u8; 2]>(12) != Some(ETH_P_IPV4) {
        return TcAction::Ok;
    }
    let Some(ip) = ctx.header::<Ipv4>(14) else {
        return TcAction::Ok;
    };
    if ip.get(field!(Ipv4, protocol)) != IPPROTO_UDP {
        return TcAction::Ok;
    }
    let header_len = BoundedLen::<0x0f, 4>::new(ip.get(field!(Ipv4, version_ihl)));
    match ctx.read::<[u8; 2]>(header_len + 16) {
        Some(port) if port == 53u16.to_be_bytes() => TcAction::Shot,
        _ => TcAction::Ok,
    }
}
