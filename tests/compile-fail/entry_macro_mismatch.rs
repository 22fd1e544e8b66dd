// `iu_ebpf::__entry!` was callable by hand with any section and any
// context kind: here an XDP context in a kprobe section, so the program
// would read the kprobe's `pt_regs` as an `xdp_md`.
// expect: cannot find `__entry` in `iu_ebpf`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{XdpAction, XdpContext};

fn f(_ctx: XdpContext) -> XdpAction {
    XdpAction::Pass
}

iu_ebpf::__entry!("kprobe/do_sys_openat2", Xdp, f, 0);
