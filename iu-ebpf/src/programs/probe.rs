//! kprobes, kretprobes, uprobes and uretprobes (`BPF_PROG_TYPE_KPROBE`):
//! the context is the probed task's registers.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// Offsets in x86-64's `struct pt_regs` of the argument registers (`di`,
/// `si`, `dx`, `cx`, `r8`, `r9`) and of `ax`.
#[cfg(target_arch = "bpf")]
const ARG_OFFSETS: [usize; 6] = [112, 104, 96, 88, 72, 64];
#[cfg(target_arch = "bpf")]
const AX_OFFSET: usize = 80;

/// The context of a `#[kprobe]`, `#[kretprobe]`, `#[uprobe]` or
/// `#[uretprobe]` program: the registers at the probe.
///
/// ```ignore
/// #[kprobe(function = "do_sys_openat2")]
/// fn open(ctx: ProbeContext) -> u32 {
///     let dirfd = ctx.arg(0) as i32;
///     0
/// }
/// ```
pub struct ProbeContext {
    #[cfg(target_arch = "bpf")]
    regs: *const u8,
    /// On the host: argument registers and return value, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    regs: ([u64; 6], u64),
    /// On the host: the attach cookie.
    #[cfg(not(target_arch = "bpf"))]
    cookie: u64,
}

impl ProbeContext {
    /// Argument `n` (0 to 5) of the probed function, in its register as a
    /// 64-bit value; `None` for `n >= 6` (stack arguments are not read).
    #[inline(always)]
    pub fn arg(&self, n: usize) -> Option<u64> {
        #[cfg(target_arch = "bpf")]
        {
            let offset = *ARG_OFFSETS.get(n)?;
            // SAFETY: `regs` is this run's `pt_regs` (`FromRawContext`), and
            // the offset is that of a register inside it.
            Some(unsafe { self.regs.add(offset).cast::<u64>().read_volatile() })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.regs.0.get(n).copied()
        }
    }

    /// The return value, for `#[kretprobe]` and `#[uretprobe]` (the `ax`
    /// register).
    #[inline(always)]
    pub fn ret(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: as in `arg`.
            unsafe { self.regs.add(AX_OFFSET).cast::<u64>().read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.regs.1
        }
    }

    /// The arguments of the syscall the current task is making, from the
    /// user registers the kernel saved at syscall entry (x86-64 order: `di`,
    /// `si`, `dx`, `r10`, `r8`, `r9`), wherever in the kernel the probe is.
    /// They come through `bpf_get_current_task_btf` and `bpf_task_pt_regs`
    /// (Linux 5.15+) and a fault-safe read; `None` if the read fails. On
    /// the host they are set with [`crate::sim::set_syscall_args`].
    ///
    /// ```ignore
    /// #[kprobe(function = "__seccomp_filter")]
    /// fn seccomp(ctx: ProbeContext) -> u32 {
    ///     let Some([fd, _, count, ..]) = ctx.syscall_args() else { return 0 };
    ///     0
    /// }
    /// ```
    #[inline(always)]
    pub fn syscall_args(&self) -> Option<[u64; 6]> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: both helpers take no pointer from the program but the
            // task the first returns (a trusted BTF pointer, checked by the
            // verifier); the second returns the task's saved user registers.
            let regs = unsafe {
                let task = crate::helpers::raw::get_current_task_btf();
                crate::helpers::raw::task_pt_regs(task)
            };
            // r10, r9, r8, ax, cx, dx, si, di: offsets 56 to 112.
            let r = crate::memory::read_kernel::<[u64; 8]>(regs.wrapping_add(56))?;
            Some([r[7], r[6], r[5], r[0], r[2], r[1]])
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            crate::sim::syscall_args()
        }
    }

    /// Makes the probed function return `rc` without running
    /// (`bpf_override_return`): only for kprobes on functions the kernel
    /// marks as error-injectable, on kernels built with
    /// `CONFIG_BPF_KPROBE_OVERRIDE`; elsewhere the verifier refuses the
    /// program. On the host, [`crate::sim::take_override_return`] returns
    /// `rc`.
    #[inline(always)]
    pub fn override_return(&self, rc: u64) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: `regs` is this run's `pt_regs`; the kernel checks that the
        // probed function may be overridden.
        unsafe {
            crate::helpers::raw::override_return(self.regs.cast_mut().cast(), rc);
        }
        #[cfg(not(target_arch = "bpf"))]
        crate::sim::record_override_return(rc);
    }

    /// The cookie user space gave the attach point that fired
    /// (`bpf_get_attach_cookie`, Linux 5.15+): with one `#[uprobe_multi]`
    /// or `#[kprobe_multi]` link on several functions, it tells them
    /// apart. 0 where none was given.
    ///
    /// ```
    /// use iu_ebpf::programs::ProbeContext;
    /// let ctx = ProbeContext::from_registers([0; 6], 0).with_cookie(7);
    /// assert_eq!(ctx.cookie(), 7);
    /// ```
    #[inline(always)]
    pub fn cookie(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        // SAFETY: the helper takes the program's own context.
        return unsafe { crate::helpers::raw::get_attach_cookie(self.regs.cast_mut().cast()) };
        #[cfg(not(target_arch = "bpf"))]
        self.cookie
    }

    /// A context with these argument registers and return value, for unit
    /// tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_registers(args: [u64; 6], ret: u64) -> Self {
        Self {
            regs: (args, ret),
            cookie: 0,
        }
    }

    /// The same context with attach cookie `cookie`, for unit tests on the
    /// host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn with_cookie(self, cookie: u64) -> Self {
        Self { cookie, ..self }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::Probe> for ProbeContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            regs: ctx.cast_const().cast(),
        }
    }
}

impl super::private::Sealed for ProbeContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.regs.cast_mut().cast()
    }
}
