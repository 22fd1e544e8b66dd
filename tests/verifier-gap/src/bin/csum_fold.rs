//! Verifies the IPv4 header checksum: sums the header's 16-bit words, then
//! folds the carries with a plain `while sum >> 16 != 0` loop. Drops
//! packets whose checksum is wrong.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn csum_fold(ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some([0x08, 0x00]) {
        return XdpAction::Pass;
    }
    let Some(header) = ctx.read::<[u8; 20]>(14) else {
        return XdpAction::Pass;
    };
    let mut sum: u32 = 0;
    for word in header.chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if sum == 0xffff {
        XdpAction::Pass
    } else {
        XdpAction::Drop
    }
}
