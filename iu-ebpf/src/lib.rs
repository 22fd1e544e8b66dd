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
#![cfg_attr(
    target_arch = "bpf",
    feature(core_intrinsics, asm_experimental_arch, asm_goto_with_outputs)
)]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]
// The host simulation (`sim`) keeps per-thread state with `std`.
#[cfg(not(target_arch = "bpf"))]
extern crate std;

#[cfg(target_arch = "bpf")]
mod builtins;
mod global;
// `#[derive(Pod)]` names `::iu_ebpf`, inside this crate too.
extern crate self as iu_ebpf;

pub mod helpers;
pub mod kernel;
pub mod log;
pub mod loops;
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
    Pod, cgroup_skb, cgroup_sock, classifier, core_value, debug, enum_value, error, fentry, fexit,
    field_exists, field_signed, field_size, fmod_ret, global, info, kprobe, kretprobe, license,
    logger, lsm, map, perf_event, printk, raw_tracepoint, socket_filter, syscall, tp_btf, trace,
    tracepoint, type_exists, type_id, type_size, uprobe, uretprobe, version, warn, xdp,
};
// Issue #15's program types.
pub use iu_macros::{
    cgroup_device, cgroup_sock_addr, cgroup_sockopt, cgroup_sysctl, flow_dissector, iter,
    kprobe_multi, kretprobe_multi, netfilter, raw_tracepoint_writable, sk_lookup, sk_msg, sk_skb,
    sock_ops, struct_ops, uprobe_multi, uretprobe_multi, usdt,
};
// Global functions and the freplace programs that replace them.
pub use iu_macros::{freplace, replaceable};
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
    /// `size_of`, for the code `#[derive(Pod)]` emits (which names no
    /// other crate, so that no local item can stand in for it).
    pub const fn size_of<T>() -> usize {
        core::mem::size_of::<T>()
    }

    /// Whether a field of `S` (as in [`pod_field_size`]) holds a
    /// `bpf_spin_lock`. Used by `#[derive(Pod)]`.
    pub const fn pod_field_spin_locked<S, T: crate::Pod>(_field: fn(S) -> T) -> bool {
        T::__SPIN_LOCKED
    }

    /// The size of a field of `S`, given a closure that moves the field out
    /// (`|s: S| s.field`): the field's type is the compiler's, and must be
    /// `Pod`. Used by `#[derive(Pod)]`.
    pub const fn pod_field_size<S, T: crate::Pod>(_field: fn(S) -> T) -> usize {
        core::mem::size_of::<T>()
    }

    /// Accepts only map definitions. Used by `#[map]` on its static.
    pub const fn is_map_def<M: crate::maps::MapDef>(_map: &M) {}

    /// Fails the build unless the fields' sizes add up to the struct's.
    /// Used by `#[derive(Pod)]`.
    pub const fn assert_no_padding(size: usize, fields: &[usize]) {
        let mut sum = 0;
        let mut i = 0;
        while i < fields.len() {
            sum += fields[i];
            i += 1;
        }
        assert!(
            sum == size,
            "#[derive(Pod)]: the type has padding (its fields do not fill it); add explicit padding fields"
        );
    }
}
