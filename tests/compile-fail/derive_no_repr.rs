// `#[derive(Pod)]` without `#[repr(C)]`.
// expect: repr(C)
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, iu_ebpf::Pod)]
pub struct S {
    pub a: u32,
}
