// `#[derive(Pod)]` on a struct with a `*const u8` field. The provenance scan
// refuses it before the build (raw pointers); the field's own `Pod` bound
// would too.
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
