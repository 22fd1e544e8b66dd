// `iu_ebpf::__map!` called by hand places any static in `.maps`.
// expect: cannot find `__map` in `iu_ebpf`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

iu_ebpf::__map!(static NOT_A_MAP: u64 = 7; "NOT_A_MAP");
