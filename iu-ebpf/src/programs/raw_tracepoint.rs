//! Raw tracepoints (`BPF_PROG_TYPE_RAW_TRACEPOINT`): the tracepoint's
//! arguments as the kernel passes them, without the record copy.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// The context of a `#[raw_tracepoint]` program: the tracepoint's
/// arguments, each a 64-bit value (pointers included).
///
/// ```ignore
/// #[raw_tracepoint(name = "sys_enter")]
/// fn enter(ctx: RawTracePointContext) -> u32 {
///     let syscall_nr = ctx.arg(1);
///     0
/// }
/// ```
pub struct RawTracePointContext {
    #[cfg(target_arch = "bpf")]
    args: *const u64,
    /// On the host: the arguments, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    args: [u64; 12],
}

impl RawTracePointContext {
    /// Argument `n`. The tracepoint's prototype says how many there are; a
    /// program that reads past them is refused when it is attached.
    #[inline(always)]
    pub fn arg(&self, n: usize) -> u64 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `args` is this run's argument array; the kernel checks
            // at attach time that the program reads no more arguments than
            // the tracepoint has.
            unsafe { self.args.add(n).read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.args.get(n).copied().unwrap_or(0)
        }
    }

    /// A context with these arguments, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_args(args: [u64; 12]) -> Self {
        Self { args }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::RawTracePoint> for RawTracePointContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            args: ctx.cast_const().cast(),
        }
    }
}

impl super::private::Sealed for RawTracePointContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.args.cast_mut().cast()
    }
}
