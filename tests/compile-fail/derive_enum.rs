// `#[derive(Pod)]` on an enum.
// expect: only supports structs
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, iu_ebpf::Pod)]
#[repr(u32)]
pub enum E {
    A,
    B,
}
