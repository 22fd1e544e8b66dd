//! A map iterator: one record per entry of the map chosen at attach time
//! (key, value, call number), read from user space through the link.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    iter, map,
    maps::{Array, HashMap},
    programs::IterMapElemContext,
};

iu_ebpf::license!("GPL");

/// The map the test fills and walks.
#[map]
static COUNTS: HashMap<u32, u64, 64> = HashMap::new();

/// A map whose values (u32) are smaller than the iterator's `u64`: the
/// kernel refuses to attach the iterator to it.
#[map]
static NARROW: Array<u32, 4> = Array::new();

#[iter(bpf_map_elem)]
fn entries(mut ctx: IterMapElemContext<u32, u64>) {
    let (Some(&key), Some(&value)) = (ctx.key(), ctx.value()) else {
        return;
    };
    let record = [u64::from(key), value, ctx.seq_num()];
    let _ = ctx.write(&record);
}
