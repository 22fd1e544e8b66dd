//! The BPF object: the programs and maps of this crate's library.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]
#![forbid(unsafe_code)]

use {{crate}}_ebpf as _;

/// On the host there is nothing to run: test the library instead.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
