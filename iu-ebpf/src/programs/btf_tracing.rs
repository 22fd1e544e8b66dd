//! BTF-based tracing programs: `#[fentry]`, `#[fexit]`
//! (`BPF_PROG_TYPE_TRACING`) and `#[lsm]` (`BPF_PROG_TYPE_LSM`). The
//! context is the traced function's arguments, each a 64-bit value.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// The context of an `#[fentry]`, `#[fexit]` or `#[lsm]` program: the
/// function's (or hook's) arguments as 64-bit values.
///
/// ```ignore
/// #[fexit(function = "do_unlinkat")]
/// fn unlinked(ctx: BtfContext) -> u32 {
///     let ret = ctx.ret(2) as i32; // do_unlinkat takes 2 arguments
///     0
/// }
/// ```
pub struct BtfContext {
    #[cfg(target_arch = "bpf")]
    args: *const u64,
    /// On the host: the arguments (and, after them, the return value).
    #[cfg(not(target_arch = "bpf"))]
    args: [u64; 13],
}

impl BtfContext {
    /// Argument `n`. The verifier checks `n` against the function's BTF
    /// prototype when the program loads.
    #[inline(always)]
    pub fn arg(&self, n: usize) -> u64 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `args` is this run's argument array; the verifier
            // refuses reads past the prototype's arguments.
            unsafe { self.args.add(n).read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.args.get(n).copied().unwrap_or(0)
        }
    }

    /// In an `#[fexit]` program, the return value of a function that takes
    /// `nr_args` arguments (it follows them in the context).
    #[inline(always)]
    pub fn ret(&self, nr_args: usize) -> u64 {
        self.arg(nr_args)
    }

    /// A context with these arguments, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_args(args: [u64; 13]) -> Self {
        Self { args }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::Tracing> for BtfContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            args: ctx.cast_const().cast(),
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::Lsm> for BtfContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            args: ctx.cast_const().cast(),
        }
    }
}

impl super::private::Sealed for BtfContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.args.cast_mut().cast()
    }
}
