//! IPv4-in-IPv4: both headers may carry options, so the inner header and
//! the UDP header behind it sit at two run-time offsets. Drops tunnelled
//! UDP to port 53.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// The header length of the IPv4 header at `offset` and its protocol.
fn ipv4(ctx: &XdpContext, offset: usize) -> Option<(usize, u8)> {
    let version_ihl = ctx.read::<u8>(offset)?;
    if version_ihl >> 4 != 4 {
        return None;
    }
    Some((
        usize::from(version_ihl & 0x0f) * 4,
        ctx.read::<u8>(offset + 9)?,
    ))
}

#[xdp]
fn ipip(ctx: XdpContext) -> XdpAction {
    let Some((outer, 4)) = ipv4(&ctx, 14) else {
        return XdpAction::Pass;
    };
    let Some((inner, 17)) = ipv4(&ctx, 14 + outer) else {
        return XdpAction::Pass;
    };
    match ctx.read::<[u8; 2]>(14 + outer + inner + 2) {
        Some([0, 53]) => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
