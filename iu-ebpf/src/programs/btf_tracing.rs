//! BTF-based tracing programs: `#[fentry]`, `#[fexit]`, `#[tp_btf]`
//! (`BPF_PROG_TYPE_TRACING`) and `#[lsm]` (`BPF_PROG_TYPE_LSM`). The
//! context is the traced function's (or tracepoint's) arguments, each a
//! 64-bit value, which the verifier types from the kernel's BTF: pointer
//! arguments come out as typed handles that read with direct loads
//! ([`BtfContext::arg_ptr`]).

use crate::kernel::{BtfAddr, KernelType, Rebind};

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

    /// Pointer argument `n` as a handle on the kernel object it points to
    /// (`TaskStruct` for a `struct task_struct *`), `None` if it is null.
    /// The handle reads fields with direct loads ([`BtfAddr`]), which the
    /// verifier checks against the argument's real BTF type: naming
    /// another handle type reads other fields (never outside the object),
    /// and a non-pointer argument is refused when the program loads.
    ///
    /// ```ignore
    /// // sched_switch: (bool preempt, struct task_struct *prev, struct task_struct *next, ...)
    /// let prev = ctx.arg_ptr::<TaskStruct>(1)?;
    /// let pid = prev.pid()?;
    /// ```
    #[inline(always)]
    pub fn arg_ptr<K: Rebind>(&self, n: usize) -> Option<K::On<BtfAddr>> {
        let addr = self.arg(n);
        (addr != 0).then(|| <K::On<BtfAddr>>::from_kernel_addr(BtfAddr::new(addr)))
    }

    /// The task running on this CPU as a BTF pointer
    /// (`bpf_get_current_task_btf`, Linux 5.11+): its fields are direct
    /// loads. `T` is the `task_struct` handle. On the host it is the
    /// object set with `sim::set_current_task`.
    ///
    /// ```ignore
    /// let ppid = ctx.current_task::<TaskStruct>().real_parent()?.tgid()?;
    /// ```
    #[inline(always)]
    pub fn current_task<T: Rebind>(&self) -> T::On<BtfAddr> {
        const {
            assert!(
                crate::kernel::same(T::TYPE_NAME, "task_struct"),
                "current_task: the type is not the handle of task_struct"
            )
        };
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `bpf_get_current_task_btf` (158) takes no argument and
            // returns the current task as a trusted BTF pointer, never null;
            // it exists in the program types that have a `BtfContext`.
            let addr = unsafe {
                let f: extern "C" fn() -> u64 = core::mem::transmute(158usize);
                f()
            };
            <T::On<BtfAddr>>::from_kernel_addr(BtfAddr::new(addr))
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            <T::On<BtfAddr>>::from_kernel_addr(BtfAddr::new(crate::sim::current_task()))
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
