//! Typed, fault-safe reads of kernel and user memory by address
//! (`bpf_probe_read_{kernel,user}[_str]`).
//!
//! Addresses are plain `u64`s (a syscall argument, a field of a kernel
//! struct), never pointers a program could dereference: every read is a
//! copy through a helper that returns an error instead of faulting, so a
//! wrong address yields `None`, not undefined behaviour.
//!
//! On the host, reads come from the memory registered with
//! [`crate::sim::set_memory`].

use crate::Pod;

#[cfg(target_arch = "bpf")]
mod id {
    pub const PROBE_READ_USER: usize = 112;
    pub const PROBE_READ_KERNEL: usize = 113;
    pub const PROBE_READ_USER_STR: usize = 114;
    pub const PROBE_READ_KERNEL_STR: usize = 115;
}

/// Copies `size_of::<T>()` bytes at `addr` with helper `helper`.
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn read<T: Pod>(helper: usize, addr: u64) -> Option<T> {
    // Not zeroed first: the helper writes every byte (the verifier treats
    // the buffer as uninitialized memory it fills), which saves the two
    // instructions of a zero store per read.
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `helper` is one of the probe-read helpers, which write at most
    // `size` bytes into `value` and read `addr` fault-safely, returning a
    // negative error instead of faulting.
    let rc = unsafe {
        let f: extern "C" fn(*mut core::ffi::c_void, u32, u64) -> i64 =
            core::mem::transmute(helper);
        f(
            value.as_mut_ptr().cast(),
            core::mem::size_of::<T>() as u32,
            addr,
        )
    };
    // SAFETY: a successful read (0) copied all `size_of::<T>()` bytes, and
    // any bytes are a valid `T: Pod`; a failed one is never read.
    (rc == 0).then(|| unsafe { value.assume_init() })
}

/// The `size` bytes (1 to 8; other values are brought into that range) of
/// user memory at `addr` as the low bytes of a `u64` (little-endian), or
/// `None` if they cannot be read: one `bpf_probe_read_user` of exactly
/// that size, with no branch on it, for USDT arguments.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub(crate) fn read_user_low(addr: u64, size: u32) -> Option<u64> {
    // 1..=8 by construction, which the verifier sees from the mask.
    let size = (size.wrapping_sub(1) & 7) + 1;
    let mut value = 0u64;
    // SAFETY: probe_read_user writes at most `size` (<= 8) bytes into
    // `value`, a live, initialized u64, and reads `addr` fault-safely.
    let rc = unsafe {
        let f: extern "C" fn(*mut core::ffi::c_void, u32, u64) -> i64 =
            core::mem::transmute(id::PROBE_READ_USER);
        f((&mut value as *mut u64).cast(), size, addr)
    };
    (rc == 0).then_some(value)
}

/// Copies the NUL-terminated string at `addr` into `buf` with helper
/// `helper`, and returns the bytes before the NUL.
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn read_str(helper: usize, addr: u64, buf: &mut [u8]) -> Option<&[u8]> {
    // SAFETY: as in `read`; the string helpers write at most `buf.len()`
    // bytes, NUL included, and return how many.
    let n = unsafe {
        let f: extern "C" fn(*mut u8, u32, u64) -> i64 = core::mem::transmute(helper);
        f(buf.as_mut_ptr(), buf.len() as u32, addr)
    };
    // The helper's result is the length: the verifier bounds it by
    // `buf.len()`, and `get` keeps the slice in bounds either way.
    let len = usize::try_from(n).ok()?.checked_sub(1)?;
    buf.get(..len)
}

/// A copy of the `T` at kernel address `addr`, or `None` if it cannot be
/// read (`bpf_probe_read_kernel`).
///
/// ```ignore
/// let pid: Option<u32> = iu_ebpf::memory::read_kernel(task + PID_OFFSET);
/// ```
#[inline(always)]
pub fn read_kernel<T: Pod>(addr: u64) -> Option<T> {
    #[cfg(target_arch = "bpf")]
    {
        read(id::PROBE_READ_KERNEL, addr)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::read_memory(addr)
    }
}

/// A copy of the `T` at user address `addr` in the current process, or
/// `None` if it cannot be read (`bpf_probe_read_user`).
///
/// ```ignore
/// let header: Option<[u8; 16]> = iu_ebpf::memory::read_user(ctx.arg(1)?);
/// ```
#[inline(always)]
pub fn read_user<T: Pod>(addr: u64) -> Option<T> {
    #[cfg(target_arch = "bpf")]
    {
        read(id::PROBE_READ_USER, addr)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::read_memory(addr)
    }
}

/// Copies the NUL-terminated string at kernel address `addr` into `buf`
/// (truncated to `buf.len() - 1` bytes) and returns it without the NUL,
/// or `None` if it cannot be read (`bpf_probe_read_kernel_str`).
///
/// ```ignore
/// let mut buf = [0u8; 64];
/// let name = iu_ebpf::memory::read_kernel_str(addr, &mut buf).unwrap_or_default();
/// ```
#[inline(always)]
pub fn read_kernel_str(addr: u64, buf: &mut [u8]) -> Option<&[u8]> {
    #[cfg(target_arch = "bpf")]
    {
        read_str(id::PROBE_READ_KERNEL_STR, addr, buf)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::read_memory_str(addr, buf)
    }
}

/// Copies the NUL-terminated string at user address `addr` into `buf`
/// (truncated to `buf.len() - 1` bytes) and returns it without the NUL,
/// or `None` if it cannot be read (`bpf_probe_read_user_str`), for example
/// the path argument of `openat`.
///
/// ```ignore
/// let mut path = [0u8; 128];
/// let path = iu_ebpf::memory::read_user_str(ctx.args().filename, &mut path)?;
/// ```
#[inline(always)]
pub fn read_user_str(addr: u64, buf: &mut [u8]) -> Option<&[u8]> {
    #[cfg(target_arch = "bpf")]
    {
        read_str(id::PROBE_READ_USER_STR, addr, buf)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::read_memory_str(addr, buf)
    }
}
