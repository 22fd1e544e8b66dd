// A padded struct made `Pod` through `__pod!` by listing other sizes:
// its 3 bytes of padding are uninitialized.
// expect: cannot find `__pod` in `iu_ebpf`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy)]
#[repr(C)]
pub struct Padded {
    pub a: u8,
    pub b: u32,
}

iu_ebpf::__pod!(Padded, [u32, u32]);
