//! Two spin-lock mistakes the verifier refuses, in two programs: a helper
//! called while the lock is held, and a second lock taken while the first
//! is held. The errors must name these lines, not iu-ebpf's
//! (iu/tests/errors.rs).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, helpers, map,
    maps::{HashMap, SpinLocked},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Default, Pod)]
#[repr(C)]
struct Stamp {
    at: u64,
}

#[map]
static STAMPS: HashMap<u32, SpinLocked<Stamp>, 4> = HashMap::new();

#[xdp]
fn helper_under_lock(_ctx: XdpContext) -> XdpAction {
    if let Some(mut stamp) = STAMPS.lock(&0) {
        stamp.at = helpers::ktime(); // HELPER-UNDER-LOCK
    }
    XdpAction::Pass
}

#[xdp]
fn lock_twice(_ctx: XdpContext) -> XdpAction {
    if let Some(mut first) = STAMPS.lock(&0) {
        if let Some(second) = STAMPS.lock(&1) {
            // SECOND-LOCK
            first.at = second.at;
        }
    }
    XdpAction::Pass
}
