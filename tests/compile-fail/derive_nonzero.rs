// `#[derive(Pod)]` on a struct with a `core::num::NonZeroU32` field: not valid for every
// bit pattern, so the field's own `Pod` bound refuses it.
// expect: the trait bound `NonZero<u32>: Pod` is not satisfied
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, iu_ebpf::Pod)]
#[repr(C)]
pub struct S {
    pub a: u32,
    pub b: core::num::NonZeroU32,
}
