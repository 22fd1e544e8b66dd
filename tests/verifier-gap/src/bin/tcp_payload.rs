//! Finds the TCP payload through two variable header lengths (IPv4 IHL,
//! TCP data offset) and drops payloads that start with `GET /admin`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn tcp_payload(ctx: XdpContext) -> XdpAction {
    let Some(version_ihl) = ctx.read::<u8>(14) else {
        return XdpAction::Pass;
    };
    if ctx.read::<u8>(23) != Some(6) {
        return XdpAction::Pass;
    }
    let tcp = 14 + usize::from(version_ihl & 0x0f) * 4;
    let Some(data_offset) = ctx.read::<u8>(tcp + 12) else {
        return XdpAction::Pass;
    };
    let payload = tcp + usize::from(data_offset >> 4) * 4;
    match ctx.read::<[u8; 10]>(payload) {
        Some(start) if &start == b"GET /admin" => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
