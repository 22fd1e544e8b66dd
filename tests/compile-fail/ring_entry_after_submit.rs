// A ring-buffer entry written after it was submitted: user space may
// already be reading it. `submit` consumes the entry.
// expect: moved value: `entry`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::{
    map,
    maps::RingBuf,
    programs::{XdpAction, XdpContext},
};

#[map]
static EVENTS: RingBuf<4096> = RingBuf::new();

#[iu_ebpf::xdp]
fn late_write(_ctx: XdpContext) -> XdpAction {
    if let Some(mut entry) = EVENTS.reserve::<u64>() {
        entry.write(1);
        entry.submit();
        entry.write(2);
    }
    XdpAction::Pass
}
