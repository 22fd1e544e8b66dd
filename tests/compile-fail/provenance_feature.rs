// Unstable features (the BPF build runs with RUSTC_BOOTSTRAP) would reopen
// what the checks close, e.g. intrinsics.
// expect: src/main.rs:5:
// expect: #![feature
#![feature(core_intrinsics)]
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");
