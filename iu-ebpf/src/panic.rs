//! What a panic does inside a program: count the abort, then leave the
//! program through the kernel's `bpf_throw` with the value its attribute
//! declares (`on_panic`).
//!
//! The program's identity and its `on_panic` value are not known when the
//! object is built: the panic path is shared by every program of the crate.
//! It therefore uses placeholder helpers ([`crate::placeholders`]), which
//! iu's loader rewrites in each program's own copy of the path.

#[cfg(target_arch = "bpf")]
use crate::placeholders::{ON_PANIC, PROGRAM_SLOT, THROW, value};

/// Programs per object that get their own abort counter.
pub const MAX_PROGRAMS: usize = 256;

/// Abort counts, one slot per program of the object (slots assigned by
/// the loader in name order), one copy per CPU. Read from user space
/// with `Program::aborts`.
#[cfg_attr(target_arch = "bpf", unsafe(export_name = "IU_ABORTS"))]
#[cfg_attr(target_arch = "bpf", unsafe(link_section = ".maps"))]
#[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
static IU_ABORTS: crate::maps::PerCpuArray<u64, MAX_PROGRAMS> = crate::maps::PerCpuArray::new();

/// Counts the abort and leaves the program. Never returns.
#[cfg(target_arch = "bpf")]
#[inline(never)]
pub(crate) fn abort() -> ! {
    // SAFETY: the loader rewrites this call into a kfunc call of
    // `bpf_throw`, which unwinds the program and makes it return its
    // argument; a program loaded without the rewrite is refused by the
    // verifier (unknown helper).
    let throw = unsafe { core::mem::transmute::<usize, extern "C" fn(u64)>(THROW as usize) };
    let _ = IU_ABORTS.add(value(PROGRAM_SLOT) as u32, 1);
    throw(value(ON_PANIC));
    // Never reached: `bpf_throw` does not return. The loop gives the
    // function a final jump, which the verifier requires.
    #[allow(clippy::empty_loop)]
    loop {}
}
