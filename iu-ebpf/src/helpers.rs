//! Safe wrappers over the kernel's BPF helpers.
//!
//! On the BPF target each function compiles to one `call <helper id>`
//! instruction. On the host they read the simulated values in
//! [`crate::sim`], so that program logic can be unit-tested.

/// Helper ids from `include/uapi/linux/bpf.h` (`__BPF_FUNC_MAPPER`).
#[cfg(target_arch = "bpf")]
pub(crate) mod id {
    pub const KTIME_GET_NS: usize = 5;
    pub const TRACE_PRINTK: usize = 6;
    pub const GET_SMP_PROCESSOR_ID: usize = 8;
    pub const GET_CURRENT_PID_TGID: usize = 14;
    pub const TRACE_VPRINTK: usize = 177;
}

/// Calls a helper that takes no argument.
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn call0(helper: usize) -> u64 {
    // SAFETY: on the BPF target a call through a function pointer whose
    // value is a small constant is the `call imm` instruction, that is a call
    // of kernel helper `helper`. Every helper routed here takes no argument,
    // has no precondition, and returns a 64-bit value.
    let f: extern "C" fn() -> u64 = unsafe { core::mem::transmute(helper) };
    f()
}

/// Returns `tgid << 32 | tid` of the current task
/// (`bpf_get_current_pid_tgid`).
///
/// ```ignore
/// let pid_tgid = iu_ebpf::helpers::pid_tgid();
/// ```
#[inline(always)]
pub fn pid_tgid() -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        call0(id::GET_CURRENT_PID_TGID)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::pid_tgid()
    }
}

/// Returns the process id of the current task, the value `getpid()`
/// returns in user space (the kernel calls it the tgid).
///
/// ```ignore
/// let pid = iu_ebpf::helpers::pid();
/// ```
#[inline(always)]
pub fn pid() -> u32 {
    (pid_tgid() >> 32) as u32
}

/// Alias of [`pid`] with the kernel's name for it.
#[inline(always)]
pub fn tgid() -> u32 {
    pid()
}

/// Returns the thread id of the current task, the value `gettid()` returns
/// in user space (the kernel calls it the pid).
///
/// ```ignore
/// let tid = iu_ebpf::helpers::tid();
/// ```
#[inline(always)]
pub fn tid() -> u32 {
    pid_tgid() as u32
}

/// Returns the id of the CPU running the program
/// (`bpf_get_smp_processor_id`).
///
/// ```ignore
/// let cpu = iu_ebpf::helpers::cpu();
/// ```
#[inline(always)]
pub fn cpu() -> u32 {
    #[cfg(target_arch = "bpf")]
    {
        call0(id::GET_SMP_PROCESSOR_ID) as u32
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::cpu()
    }
}

/// Returns the time since boot in nanoseconds, not counting suspend
/// (`bpf_ktime_get_ns`, `CLOCK_MONOTONIC`).
///
/// ```ignore
/// let start = iu_ebpf::helpers::ktime();
/// ```
#[inline(always)]
pub fn ktime() -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        call0(id::KTIME_GET_NS)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::ktime()
    }
}
