// The loader-side way a `BtfAddr` is made from a pointer field's value
// (`Address::__from_field`) takes a token programs cannot name, so it
// cannot turn a number into a `BtfAddr` either.
// expect: module `private` is private
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::kernel::{Address, BtfAddr};

#[iu_ebpf::tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn f(_ctx: iu_ebpf::programs::TracePointContext<iu_ebpf::tracepoints::syscalls::SysEnter>) -> u32 {
    let addr = <BtfAddr as Address>::__from_field(0xffff_8880_0000_0000, iu_ebpf::kernel::private::Token(()));
    u32::from(addr.is_null())
}
