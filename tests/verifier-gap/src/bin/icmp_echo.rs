//! Answers ICMP echo requests in place: swaps the IPv4 addresses and the
//! MACs, turns the type into echo reply and updates the ICMP checksum
//! incrementally (RFC 1624).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const IPV4: usize = 14;

#[xdp]
fn icmp_echo(mut ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some([0x08, 0x00]) || ctx.read::<u8>(IPV4 + 9) != Some(1) {
        return XdpAction::Pass;
    }
    let Some(version_ihl) = ctx.read::<u8>(IPV4) else {
        return XdpAction::Pass;
    };
    let icmp = IPV4 + usize::from(version_ihl & 0x0f) * 4;
    // Type, code and checksum in one read.
    let Some([8, code, sum_high, sum_low]) = ctx.read::<[u8; 4]>(icmp) else {
        return XdpAction::Pass;
    };
    let checksum = [sum_high, sum_low];
    let (Some(macs), Some(source), Some(dest)) = (
        ctx.read::<[u8; 12]>(0),
        ctx.read::<[u8; 4]>(IPV4 + 12),
        ctx.read::<[u8; 4]>(IPV4 + 16),
    ) else {
        return XdpAction::Pass;
    };
    // HC' = ~(~HC + ~m + m'), m = 0x0800 (type 8, code), m' = 0x0000.
    let old = u16::from_be_bytes([8, code]);
    let new = u16::from_be_bytes([0, code]);
    let mut sum = u32::from(!u16::from_be_bytes(checksum)) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    let checksum = !(sum as u16);
    let mut swapped = [0u8; 12];
    swapped[..6].copy_from_slice(&macs[6..]);
    swapped[6..].copy_from_slice(&macs[..6]);
    let written = ctx.write(0, swapped)
        && ctx.write(IPV4 + 12, dest)
        && ctx.write(IPV4 + 16, source)
        && ctx.write(icmp, 0u8)
        && ctx.write(icmp + 2, checksum.to_be_bytes());
    if written {
        XdpAction::Tx
    } else {
        XdpAction::Aborted
    }
}
