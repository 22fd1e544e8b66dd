//! Syscall programs (`BPF_PROG_TYPE_SYSCALL`): run on demand from user
//! space (`BPF_PROG_TEST_RUN`) on a buffer it passes, which the program
//! reads and may rewrite. They are sleepable.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;
use core::marker::PhantomData;

use crate::Pod;

/// The context of a `#[syscall]` program: the caller's buffer, typed as
/// `T`. The kernel refuses to run the program on a buffer shorter than what
/// it reads, so a wrong `T` cannot read past the buffer.
///
/// ```ignore
/// #[syscall]
/// fn double(mut ctx: SyscallContext<u64>) -> i32 {
///     let n = ctx.args();
///     ctx.set_args(n * 2);
///     0
/// }
/// ```
pub struct SyscallContext<T: Pod> {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    /// On the host: the buffer, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    args: T,
    _args: PhantomData<T>,
}

impl<T: Pod> SyscallContext<T> {
    /// A copy of the buffer.
    #[inline(always)]
    pub fn args(&self) -> T {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `ctx` is this run's buffer; the verifier records the
            // furthest byte the program reads and the kernel refuses to run
            // it on a shorter buffer. Nothing promises the buffer suits
            // `T`'s alignment, hence the unaligned read; `T: Pod` is valid
            // for any bytes.
            unsafe { self.ctx.cast::<T>().read_unaligned() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.args
        }
    }

    /// Overwrites the buffer; the caller reads it back after the run.
    #[inline(always)]
    pub fn set_args(&mut self, value: T) {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: as in `args`: the buffer holds a `T`, which the kernel
            // checks before the run, and syscall programs may write it.
            unsafe { self.ctx.cast::<T>().write_unaligned(value) }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.args = value;
        }
    }

    /// A context over `args`, for unit tests on the host.
    ///
    /// ```
    /// use iu_ebpf::programs::SyscallContext;
    /// let mut ctx = SyscallContext::from_args(20u64);
    /// ctx.set_args(ctx.args() + 1);
    /// assert_eq!(ctx.args(), 21);
    /// ```
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_args(args: T) -> Self {
        Self {
            args,
            _args: PhantomData,
        }
    }
}

#[cfg(target_arch = "bpf")]
impl<T: Pod> super::FromRawContext<super::kind::Syscall> for SyscallContext<T> {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            ctx,
            _args: PhantomData,
        }
    }
}

impl<T: Pod> super::private::Sealed for SyscallContext<T> {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}
