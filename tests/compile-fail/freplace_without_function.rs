// An freplace program names the global function it replaces.
// expect: `function = "..."` is required
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[iu_ebpf::freplace]
fn drop_all(_len: u32) -> u32 {
    1
}
