//! Answers ARP requests for 10.0.0.1 in place: turns the request into a
//! reply (operation, addresses swapped, this host's MAC) and sends it back.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const ARP: usize = 14;
const MY_IP: [u8; 4] = [10, 0, 0, 1];
const MY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

#[xdp]
fn arp_reply(mut ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some([0x08, 0x06]) {
        return XdpAction::Pass;
    }
    // Ethernet/IPv4 request: htype 1, ptype 0x0800, sizes 6 and 4, op 1.
    if ctx.read::<[u8; 8]>(ARP) != Some([0, 1, 8, 0, 6, 4, 0, 1]) {
        return XdpAction::Pass;
    }
    if ctx.read::<[u8; 4]>(ARP + 24) != Some(MY_IP) {
        return XdpAction::Pass;
    }
    let Some(sender_mac) = ctx.read::<[u8; 6]>(ARP + 8) else {
        return XdpAction::Pass;
    };
    let Some(sender_ip) = ctx.read::<[u8; 4]>(ARP + 14) else {
        return XdpAction::Pass;
    };
    let written = ctx.write(0, sender_mac)
        && ctx.write(6, MY_MAC)
        && ctx.write(ARP + 7, 2u8)
        && ctx.write(ARP + 8, MY_MAC)
        && ctx.write(ARP + 14, MY_IP)
        && ctx.write(ARP + 18, sender_mac)
        && ctx.write(ARP + 24, sender_ip);
    if written {
        XdpAction::Tx
    } else {
        XdpAction::Aborted
    }
}
