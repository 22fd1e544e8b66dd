//! Walks a DNS query name with a plain `loop` until its zero length byte
//! and drops queries whose name is longer than 64 bytes or malformed
//! (a name is at most 255 bytes, so the loop always ends).
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
fn dns_labels(ctx: XdpContext) -> XdpAction {
    if ctx.read::<u8>(14 + 9) != Some(17) || ctx.read::<[u8; 2]>(14 + 20 + 2) != Some([0, 53]) {
        return XdpAction::Pass;
    }
    let mut offset = QNAME;
    loop {
        let Some(len) = ctx.read::<u8>(offset) else {
            return XdpAction::Drop;
        };
        if len == 0 {
            break;
        }
        if len > 63 || offset - QNAME > 255 {
            return XdpAction::Drop;
        }
        offset += 1 + usize::from(len);
    }
    if offset - QNAME > 64 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
