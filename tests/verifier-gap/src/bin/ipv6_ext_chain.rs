//! Follows the chain of IPv6 extension headers with a plain `loop` until a
//! header that is not an extension, and drops ICMPv6 found behind one or
//! more extension headers.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const IPV6: usize = 14;

#[xdp]
fn ipv6_ext_chain(ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some([0x86, 0xdd]) {
        return XdpAction::Pass;
    }
    let Some(mut next) = ctx.read::<u8>(IPV6 + 6) else {
        return XdpAction::Pass;
    };
    let mut offset = IPV6 + 40;
    let mut extensions = 0;
    loop {
        // Hop-by-hop, routing, fragment, destination options.
        let len = match next {
            0 | 43 | 60 => match ctx.read::<u8>(offset + 1) {
                Some(len) => (usize::from(len) + 1) * 8,
                None => return XdpAction::Drop,
            },
            44 => 8,
            _ => break,
        };
        let Some(following) = ctx.read::<u8>(offset) else {
            return XdpAction::Drop;
        };
        next = following;
        offset += len;
        extensions += 1;
    }
    if next == 58 && extensions > 0 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
