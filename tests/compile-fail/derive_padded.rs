// `#[derive(Pod)]` on a struct with padding (3 bytes after `a`).
// expect: #[derive(Pod)]: the type has padding
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, iu_ebpf::Pod)]
#[repr(C)]
pub struct Padded {
    pub a: u8,
    pub b: u32,
}
