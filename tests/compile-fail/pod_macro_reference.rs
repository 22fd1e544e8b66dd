// `iu_ebpf::__pod!` was a public, safe-to-call `unsafe impl Pod` that only
// compared sizes: a struct holding a reference became `Pod`, and
// `from_bytes` then made a reference from any bytes.
// expect: cannot find `__pod` in `iu_ebpf`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy)]
#[repr(C)]
pub struct HasRef(pub &'static u64);

iu_ebpf::__pod!(HasRef, [u64]);
