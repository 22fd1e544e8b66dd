//! Verifies the IPv4 header checksum: a loop over the header's words (as
//! many as its length field says) and the
//! classic carry fold (`while sum >> 16 != 0`, through
//! `loops::while_budgeted`). Valid: pass; invalid: drop.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn checksum(ctx: XdpContext) -> XdpAction {
    let Some(version_ihl) = ctx.read::<u8>(14) else {
        return XdpAction::Pass;
    };
    // The header's length in 16-bit words: 10 to 30.
    let words = usize::from(version_ihl & 0x0f) * 2;
    let mut sum: u32 = 0;
    for i in 0..words {
        let Some(word) = ctx.read::<[u8; 2]>(14 + 2 * i) else {
            return XdpAction::Pass;
        };
        sum += u32::from(u16::from_be_bytes(word));
    }
    // The carry fold always ends, but the verifier cannot prove it: the
    // loop runs within the kernel's loop budget instead.
    iu_ebpf::loops::while_budgeted(
        &mut sum,
        |s| *s >> 16 != 0,
        |s| *s = (*s & 0xffff) + (*s >> 16),
    );
    if sum == 0xffff {
        XdpAction::Pass
    } else {
        XdpAction::Drop
    }
}
