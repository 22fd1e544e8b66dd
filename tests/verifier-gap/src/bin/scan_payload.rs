//! Scans up to 64 payload bytes for `:`, stopping at the end of the packet:
//! a bounded loop whose exit depends on the data. Drops packets with `:`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const PAYLOAD: usize = 42;

#[xdp]
fn scan_payload(ctx: XdpContext) -> XdpAction {
    for i in 0..64 {
        match ctx.read::<u8>(PAYLOAD + i) {
            Some(b':') => return XdpAction::Drop,
            Some(_) => {}
            None => break,
        }
    }
    XdpAction::Pass
}
