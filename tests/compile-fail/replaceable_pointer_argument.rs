// A `#[replaceable]` global function is verified on its own, with unknown
// arguments, and replacements are matched to it by BTF type: it takes and
// returns integers only.
// expect: a replaceable function takes integers
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[iu_ebpf::replaceable]
fn verdict(packet: &[u8]) -> u32 {
    packet.len() as u32
}

#[iu_ebpf::xdp]
fn decide(_ctx: iu_ebpf::programs::XdpContext) -> u32 {
    verdict(&[])
}
