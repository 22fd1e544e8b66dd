// Code a program passes to an iu macro keeps its own spans: an `unsafe`
// block in a macro argument is still refused.
// expect: usage of an `unsafe` block
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

iu_ebpf::version!(unsafe { 0xFFFF_FFFE });
