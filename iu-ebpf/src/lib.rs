//! `iu-ebpf` is the library that iu programs link against.
//!
//! Programs are ordinary `#![no_std]` safe Rust. They take a typed context,
//! call safe helpers and print with [`printk!`]. Every line of code here that
//! touches the kernel ABI is `unsafe` and carries a `// SAFETY:` comment; the
//! program crates themselves forbid `unsafe_code`.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! #![forbid(unsafe_code)]
//!
//! use iu_ebpf::{helpers, printk, programs::TracePointContext, tracepoint};
//! use iu_ebpf::tracepoints::syscalls::SysEnter;
//!
//! iu_ebpf::license!("GPL");
//!
//! #[tracepoint(category = "syscalls", name = "sys_enter_dup")]
//! fn hello(_ctx: TracePointContext<SysEnter>) -> u32 {
//!     printk!("Rust triggered from PID {} on CPU {}.", helpers::pid(), helpers::cpu());
//!     0
//! }
//! ```
#![no_std]
#![feature(allow_internal_unsafe)]
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics, asm_experimental_arch))]
// Per-thread simulated helper state without `std` (see `sim`).
#![cfg_attr(not(target_arch = "bpf"), feature(thread_local))]
#![allow(internal_features)]

mod global;
// `#[derive(Pod)]` names `::iu_ebpf`, inside this crate too.
extern crate self as iu_ebpf;

pub mod helpers;
pub mod log;
pub mod loops;
mod macros;
pub mod maps;
pub mod memory;
#[doc(hidden)]
pub mod panic;
#[doc(hidden)]
pub mod placeholders;
mod pod;
pub mod printk;
pub mod programs;
#[cfg(not(target_arch = "bpf"))]
pub mod sim;
pub mod strings;
pub mod tracepoints;

pub use global::Global;
pub use iu_macros::{
    Pod, cgroup_skb, cgroup_sock, classifier, debug, error, fentry, fexit, fmod_ret, info, kprobe,
    kretprobe, lsm, map, perf_event, printk, raw_tracepoint, socket_filter, syscall, trace,
    tracepoint, uprobe, uretprobe, warn, xdp,
};
pub use pod::Pod;

/// Converts what a program function returns into the value the kernel sees.
///
/// Implemented for `()` (returns 0), the integer types, and `Result`s of them
/// where an `Err` becomes its own value.
pub trait ProgramReturn {
    /// The raw return value handed back to the kernel.
    fn into_return_code(self) -> u32;
}

impl ProgramReturn for () {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        0
    }
}

impl ProgramReturn for u32 {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self
    }
}

impl ProgramReturn for i32 {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as u32
    }
}

impl<T: ProgramReturn, E: ProgramReturn> ProgramReturn for Result<T, E> {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        match self {
            Ok(v) => v.into_return_code(),
            Err(e) => e.into_return_code(),
        }
    }
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // The parameter must be named, or the object's BTF becomes invalid.
    let _ = info;
    panic::abort()
}

#[doc(hidden)]
pub mod __private {
    /// Copies a string into a fixed-size array in a constant context.
    pub const fn str_bytes<const N: usize>(s: &str) -> [u8; N] {
        let bytes = s.as_bytes();
        let mut out = [0u8; N];
        let mut i = 0;
        while i < N {
            out[i] = bytes[i];
            i += 1;
        }
        out
    }
}
