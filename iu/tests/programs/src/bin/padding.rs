//! LPM keys and spin-locked values sent from a program: they have no
//! padding, so no byte of the program's stack reaches user space.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{BPF_ANY, LpmKey, LpmTrie, RingBuf, SpinLocked},
    programs::SyscallContext,
    syscall,
};

iu_ebpf::license!("GPL");

#[map]
static RECORDS: RingBuf<4096> = RingBuf::new();

/// A trie of one-byte keys: `LpmKey<u8>` is 5 bytes.
#[map]
static SMALL: LpmTrie<u8, u32, 16> = LpmTrie::new();

/// Sends an `LpmKey<u8>`, an `LpmKey<u64>` and a `SpinLocked<u8>` made from
/// the number user space passes, and stores the first byte's /8 prefix.
#[syscall]
fn emit(ctx: SyscallContext<u64>) -> i32 {
    let seed = ctx.args();
    let small = LpmKey::new(8, seed as u8);
    let _ = RECORDS.output(&small);
    let _ = RECORDS.output(&LpmKey::new(64, seed));
    let _ = RECORDS.output(&SpinLocked::new(seed as u8));
    match SMALL.insert(&small, &7, BPF_ANY) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
