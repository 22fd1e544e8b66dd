// `#[map]` on a static that is not a map definition: the loader would
// turn the static's address into a map file descriptor.
// expect: `u64` is not a map type
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[iu_ebpf::map]
static NOT_A_MAP: u64 = 7;

#[iu_ebpf::xdp]
fn f(_ctx: iu_ebpf::programs::XdpContext) -> iu_ebpf::programs::XdpAction {
    let _ = &NOT_A_MAP;
    iu_ebpf::programs::XdpAction::Pass
}
