// `#[derive(Pod)]` on a struct whose `align` adds trailing padding.
// expect: #[derive(Pod)]: the type has padding
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, iu_ebpf::Pod)]
#[repr(C, align(16))]
pub struct Aligned {
    pub a: u32,
}
