//! A flow dissector for IPv4 with TCP or UDP: sets the addresses, protocol
//! and ports; leaves other protocols to the kernel, and refuses IPv4 with
//! options. Counts the datagrams to the port in `CONFIG` it dissects.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    flow_dissector, map,
    maps::Array,
    programs::{FlowDissectorAction, FlowDissectorContext},
};

iu_ebpf::license!("GPL");

/// 0: the UDP port whose datagrams are counted.
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// 0: dissections of datagrams to the port, 1: the last one's source port.
#[map]
static SEEN: Array<u64, 2> = Array::new();

#[flow_dissector]
fn dissect(mut ctx: FlowDissectorContext) -> FlowDissectorAction {
    if ctx.n_proto() != [0x08, 0x00] {
        return FlowDissectorAction::Continue;
    }
    let nh = usize::from(ctx.nhoff());
    let Some(ip) = ctx.read::<[u8; 20]>(nh) else {
        return FlowDissectorAction::Drop;
    };
    if ip[0] != 0x45 {
        return FlowDissectorAction::Drop;
    }
    ctx.set_addr_proto(0x0800);
    ctx.set_ip_proto(ip[9]);
    ctx.set_ipv4(
        [ip[12], ip[13], ip[14], ip[15]],
        [ip[16], ip[17], ip[18], ip[19]],
    );
    ctx.set_thoff(ctx.nhoff() + 20);
    if ip[9] == 6 || ip[9] == 17 {
        let Some([source, dest]) = ctx.read::<[[u8; 2]; 2]>(nh + 20) else {
            return FlowDissectorAction::Drop;
        };
        ctx.set_ports(source, dest);
        if ip[9] == 17 && CONFIG.get(0) == Some(u32::from(u16::from_be_bytes(dest))) {
            let _ = SEEN.add(0, 1);
            let _ = SEEN.set(1, &u64::from(u16::from_be_bytes(source)));
        }
    }
    FlowDissectorAction::Ok
}
