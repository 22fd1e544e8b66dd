//! LPM keys and spin-locked values sent from a program: they have no
//! padding, so no byte of the program's stack reaches user space.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{BPF_ANY, LpmKey, LpmTrie, RingBuf, SpinLocked},
    programs::{SyscallContext, XdpAction, XdpContext},
    syscall, xdp,
};

iu_ebpf::license!("GPL");

#[map]
static RECORDS: RingBuf<4096> = RingBuf::new();

/// A trie of one-byte keys: `LpmKey<u8>` is 5 bytes.
#[map]
static SMALL: LpmTrie<u8, u32, 16> = LpmTrie::new();

/// Sends an `LpmKey<u8>`, an `LpmKey<u64>` and a `SpinLocked<u8>` made from
/// the number user space passes.
#[syscall]
fn emit(ctx: SyscallContext<u64>) -> i32 {
    let seed = ctx.args();
    let _ = RECORDS.output(&LpmKey::new(8, seed as u8));
    let _ = RECORDS.output(&LpmKey::new(64, seed));
    let _ = RECORDS.output(&SpinLocked::new(seed as u8));
    0
}

/// Drops packets whose first byte has a /8 entry in `SMALL`, and stores a
/// /4 entry for the first byte's high half. (Syscall programs are
/// sleepable, and sleepable programs may not use LPM tries.)
#[xdp]
fn small_lookup(ctx: XdpContext) -> XdpAction {
    let Some(first) = ctx.read::<u8>(0) else {
        return XdpAction::Pass;
    };
    let _ = SMALL.insert(&LpmKey::new(4, first & 0xf0), &4, BPF_ANY);
    if SMALL.contains_key(&LpmKey::new(8, first)) && SMALL.get(&LpmKey::new(8, first)) == Some(7) {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
