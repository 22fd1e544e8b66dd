//! Placeholder helpers: calls whose meaning depends on the program or the
//! kernel, which iu's loader rewrites in each program before loading it
//! (`iu/src/placeholders.rs`). Each is a `call` of an id far outside the
//! kernel's helper range, so an object loaded without the rewrite is
//! refused by the verifier ("invalid func") instead of misbehaving.

/// Returns the program's slot in `IU_ABORTS` (`r0 = <slot>`).
pub const PROGRAM_SLOT: u32 = 0x7fff_1000;
/// Returns the program's `on_panic` value (`r0 = <value>`).
pub const ON_PANIC: u32 = 0x7fff_1001;
/// `bpf_throw(cookie)`: becomes a kfunc call (Linux 6.7+).
pub const THROW: u32 = 0x7fff_1002;
/// Returns 1 if the kernel has `bpf_loop`, else 0 (`r0 = <0 or 1>`).
pub const HAS_BPF_LOOP: u32 = 0x7fff_1003;

/// Calls placeholder `id`, which takes no argument.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub(crate) fn value(id: u32) -> u64 {
    // SAFETY: the loader rewrites this call into `r0 = <constant>` before
    // the kernel sees it (see the module documentation); it touches no
    // memory.
    let f: extern "C" fn() -> u64 = unsafe { core::mem::transmute(id as usize) };
    f()
}
