//! Walks the TCP options of a SYN (kind, length, data) with a `while` loop
//! and drops SYNs that announce an MSS below 536.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// Ethernet, then IPv4 without options.
const TCP: usize = 14 + 20;

#[xdp]
fn tcp_options(ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some([0x08, 0x00]) || ctx.read::<u8>(14 + 9) != Some(6) {
        return XdpAction::Pass;
    }
    let Some(data_offset) = ctx.read::<u8>(TCP + 12) else {
        return XdpAction::Pass;
    };
    let header_len = usize::from(data_offset >> 4) * 4;
    if header_len < 20 {
        return XdpAction::Drop;
    }
    let options = TCP + 20;
    let options_len = header_len - 20;
    let mut i = 0;
    while i < options_len {
        let Some(kind) = ctx.read::<u8>(options + i) else {
            return XdpAction::Drop;
        };
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let Some(len) = ctx.read::<u8>(options + i + 1) else {
                    return XdpAction::Drop;
                };
                if len < 2 {
                    return XdpAction::Drop;
                }
                if kind == 2 && len == 4 {
                    let Some(mss) = ctx.read::<[u8; 2]>(options + i + 2) else {
                        return XdpAction::Drop;
                    };
                    if u16::from_be_bytes(mss) < 536 {
                        return XdpAction::Drop;
                    }
                }
                i += usize::from(len);
            }
        }
    }
    XdpAction::Pass
}
