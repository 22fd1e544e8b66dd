// An enum made `Pod` through `__pod!`: most bit patterns are invalid.
// expect: cannot find `__pod` in `iu_ebpf`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy)]
#[repr(u64)]
pub enum E {
    A = 1,
    B = 2,
}

iu_ebpf::__pod!(E, [u64]);
