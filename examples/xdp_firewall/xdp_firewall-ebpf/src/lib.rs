//! Drops IPv4 packets whose source matches a blocked prefix (an `LpmTrie`
//! that user space edits at run time) and counts passed and dropped packets
//! per source.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host (`cargo test`, and the differential tests of the user-side
//! crate); `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{HashMap, LpmKey, LpmTrie},
    programs::{XdpAction, XdpContext},
    xdp,
};
use xdp_firewall_common::{CountKey, DROPPED, PASSED};

iu_ebpf::license!("GPL");

/// Blocked prefixes (value unused).
#[map]
pub static BLOCKED: LpmTrie<[u8; 4], u32, 1024> = LpmTrie::new();

// ANCHOR: counts_map
/// Packets per (source, action).
#[map]
pub static COUNTS: HashMap<CountKey, u64, 16384> = HashMap::new();
// ANCHOR_END: counts_map

const ETH_HEADER: usize = 14;
const ETH_P_IPV4: [u8; 2] = [0x08, 0x00];
/// Offset of the source address in the IPv4 header.
const IPV4_SOURCE: usize = 12;

#[xdp]
pub fn xdp_firewall(ctx: XdpContext) -> XdpAction {
    // Not IPv4, or too short to be: not this firewall's business.
    if ctx.read::<[u8; 2]>(12) != Some(ETH_P_IPV4) {
        return XdpAction::Pass;
    }
    let Some(source) = ctx.read::<[u8; 4]>(ETH_HEADER + IPV4_SOURCE) else {
        return XdpAction::Pass;
    };
    let blocked = BLOCKED.contains_key(&LpmKey::new(32, source));
    let action = if blocked { DROPPED } else { PASSED };
    let _ = COUNTS.add(
        &CountKey {
            addr: source,
            action,
        },
        1,
    );
    if blocked {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}

#[cfg(test)]
mod tests;
