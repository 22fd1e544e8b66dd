// `#[derive(Pod)]` on a struct with a `*const u8` field: not valid for every
// bit pattern, so the field's own `Pod` bound refuses it.
// expect: raw pointers only serve to reveal addresses
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, iu_ebpf::Pod)]
#[repr(C)]
pub struct S {
    pub a: u32,
    pub b: *const u8,
}
