//! Walks the labels of a DNS query name (each a length byte, then that
//! many bytes) and drops queries whose first label is `blocked`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// Ethernet, IPv4 without options, UDP, DNS header.
const QNAME: usize = 14 + 20 + 8 + 12;

#[xdp]
fn dns_qname(ctx: XdpContext) -> XdpAction {
    if ctx.read::<u8>(14 + 9) != Some(17) || ctx.read::<[u8; 2]>(14 + 20 + 2) != Some([0, 53]) {
        return XdpAction::Pass;
    }
    if ctx.read::<[u8; 8]>(QNAME) == Some(*b"\x07blocked") {
        return XdpAction::Drop;
    }
    // A name must end within eight labels, or it is malformed.
    let mut offset = QNAME;
    for _ in 0..8 {
        match ctx.read::<u8>(offset) {
            Some(0) => return XdpAction::Pass,
            Some(len @ 1..=63) => offset += 1 + usize::from(len),
            _ => return XdpAction::Drop,
        }
    }
    XdpAction::Drop
}
