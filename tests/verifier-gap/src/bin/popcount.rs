//! Counts the set bits of a packet word with `while x != 0 { x &= x - 1 }`
//! (through `loops::while_bounded`), a data-dependent loop. Drops words with more than 16 bits set.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn popcount(ctx: XdpContext) -> XdpAction {
    let Some(word) = ctx.read::<[u8; 4]>(14) else {
        return XdpAction::Pass;
    };
    // (word, bits): clearing the lowest set bit ends after at most 32
    // rounds, which the verifier cannot see; the explicit maximum lets it.
    let mut state = (u32::from_be_bytes(word), 0u32);
    iu_ebpf::loops::while_bounded::<32, _>(
        &mut state,
        |(x, _)| *x != 0,
        |(x, bits)| {
            *x &= *x - 1;
            *bits += 1;
        },
    );
    let bits = state.1;
    if bits > 16 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
