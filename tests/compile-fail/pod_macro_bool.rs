// A `bool` made `Pod` through `__pod!`: only 0 and 1 are valid.
// expect: cannot find `__pod` in `iu_ebpf`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy)]
#[repr(C)]
pub struct B(pub bool);

iu_ebpf::__pod!(B, [u8]);
