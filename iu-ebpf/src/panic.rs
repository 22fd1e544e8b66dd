//! What a panic does inside a program: count the abort, then leave the
//! program through the kernel's `bpf_throw` with the value its attribute
//! declares (`on_panic`).
//!
//! The program's identity and its `on_panic` value are not known when the
//! object is built: the panic path is shared by every program of the crate.
//! It therefore calls three placeholder helpers, which iu's loader rewrites
//! in each program's own copy of the path:
//!
//! - [`PROGRAM_SLOT`] becomes `r0 = <the program's slot in IU_ABORTS>`;
//! - [`ON_PANIC`] becomes `r0 = <the program's on_panic value>`;
//! - [`THROW`] becomes a kfunc call of `bpf_throw` (Linux 6.7+).
//!
//! The ids are far outside the kernel's helper range, so an object loaded
//! without the rewrite is refused by the verifier instead of misbehaving.

/// Placeholder helper id: returns the program's slot in [`IU_ABORTS`].
pub const PROGRAM_SLOT: u32 = 0x7fff_1000;
/// Placeholder helper id: returns the program's `on_panic` value.
pub const ON_PANIC: u32 = 0x7fff_1001;
/// Placeholder helper id: `bpf_throw(cookie)`.
pub const THROW: u32 = 0x7fff_1002;
/// Programs per object that get their own abort counter.
pub const MAX_PROGRAMS: usize = 256;

crate::__map! {
    /// Abort counts, one slot per program of the object (slots assigned by
    /// the loader in name order), one copy per CPU. Read from user space
    /// with `Program::aborts`.
    static IU_ABORTS: crate::maps::PerCpuArray<u64, MAX_PROGRAMS> = crate::maps::PerCpuArray::new();
    "IU_ABORTS"
}

/// Counts the abort and leaves the program. Never returns.
#[cfg(target_arch = "bpf")]
#[inline(never)]
pub(crate) fn abort() -> ! {
    // SAFETY: the loader rewrites these calls before the program reaches the
    // kernel: the first two into `r0 = <constant>`, the third into a kfunc
    // call of `bpf_throw`, which unwinds the program and makes it return its
    // argument. None touches memory; a program loaded without the rewrite is
    // refused by the verifier (unknown helper).
    let (slot, on_panic, throw) = unsafe {
        (
            core::mem::transmute::<usize, extern "C" fn() -> u32>(PROGRAM_SLOT as usize),
            core::mem::transmute::<usize, extern "C" fn() -> u64>(ON_PANIC as usize),
            core::mem::transmute::<usize, extern "C" fn(u64)>(THROW as usize),
        )
    };
    let _ = IU_ABORTS.add(slot(), 1);
    throw(on_panic());
    // Never reached: `bpf_throw` does not return. The loop gives the
    // function a final jump, which the verifier requires.
    #[allow(clippy::empty_loop)]
    loop {}
}
