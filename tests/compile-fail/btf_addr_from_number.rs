// A handle that reads with direct loads (`TaskStruct<BtfAddr>`) cannot be
// made from a number: only iu makes a `BtfAddr`, from what the kernel
// types as a BTF pointer. (The verifier would refuse the load; the type
// refuses it before.)
// expect: associated function `new` is private
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::kernel::BtfAddr;

#[iu_ebpf::tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn f(_ctx: iu_ebpf::programs::TracePointContext<iu_ebpf::tracepoints::syscalls::SysEnter>) -> u32 {
    let addr = BtfAddr::new(0xffff_8880_0000_0000);
    u32::from(addr.is_null())
}
