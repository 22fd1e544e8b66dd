//! sk_lookup: connections to one port, where nothing listens, are steered
//! to a listening socket from a `SockMap`; connections to another port are
//! refused.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{Array, SockMap},
    programs::{SkAction, SkLookupContext},
    sk_lookup,
};

iu_ebpf::license!("GPL");

/// The listening socket connections are steered to.
#[map]
static SERVER: SockMap<1> = SockMap::new();

/// 0: the port to steer, 1: the port to refuse.
#[map]
static PORTS: Array<u32, 2> = Array::new();

/// 0: connections steered, 1: refused, 2: assignments that failed.
#[map]
static LOOKUPS: Array<u64, 3> = Array::new();

#[sk_lookup]
fn steer(mut ctx: SkLookupContext) -> SkAction {
    if ctx.protocol() != 6 {
        return SkAction::Pass;
    }
    let port = u32::from(ctx.local_port());
    if Some(port) == PORTS.get(1) {
        LOOKUPS.add(1, 1);
        return SkAction::Drop;
    }
    if Some(port) != PORTS.get(0) {
        return SkAction::Pass;
    }
    let Some(server) = SERVER.socket(0) else {
        return SkAction::Pass;
    };
    match ctx.assign(&server) {
        Ok(()) => {
            LOOKUPS.add(0, 1);
            SkAction::Pass
        }
        Err(_) => {
            LOOKUPS.add(2, 1);
            SkAction::Drop
        }
    }
}
