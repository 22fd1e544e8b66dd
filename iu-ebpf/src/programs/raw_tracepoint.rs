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

/// The context of a `#[raw_tracepoint_writable]` program
/// (`BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`, Linux 5.2): a raw tracepoint
/// whose first argument points to a buffer the program may change. Only
/// tracepoints the kernel declares writable take such programs
/// (`bpf_test_finish`, whose buffer is the test run's `int` result, and
/// `nbd_send_request`).
///
/// The buffer's size is checked by the kernel: a program that reads or
/// writes past the tracepoint's writable size is refused when it is
/// attached, and offsets must be constants.
///
/// ```ignore
/// /// Every BPF test run fails with EMEDIUMTYPE.
/// #[raw_tracepoint_writable(name = "bpf_test_finish")]
/// fn fail(mut ctx: RawTracePointWritableContext) {
///     ctx.write_buffer(0, &-124i32);
/// }
/// ```
pub struct RawTracePointWritableContext {
    args: RawTracePointContext,
    /// On the host: the buffer, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    buffer: [u8; 64],
}

impl RawTracePointWritableContext {
    /// Argument `n`, as [`RawTracePointContext::arg`].
    #[inline(always)]
    pub fn arg(&self, n: usize) -> u64 {
        self.args.arg(n)
    }

    /// The `T` at byte `offset` (a constant) of the writable buffer.
    #[inline(always)]
    pub fn read_buffer<T: crate::Pod>(&self, offset: usize) -> T {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: argument 0 of a writable raw tracepoint is the
            // buffer, which the verifier types as such and whose accesses
            // (constant offsets) it bounds against the tracepoint's
            // writable size when the program attaches; the read is
            // unaligned-safe and any bytes are a valid `T: Pod`.
            unsafe {
                let buffer = self.args.args.cast::<*const u8>().read_volatile();
                buffer.add(offset).cast::<T>().read_unaligned()
            }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            T::from_bytes(&self.buffer[offset..]).unwrap_or_else(T::zeroed)
        }
    }

    /// Writes `value` at byte `offset` (a constant) of the writable buffer.
    #[inline(always)]
    pub fn write_buffer<T: crate::Pod>(&mut self, offset: usize, value: &T) {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: as in `read_buffer`: the kernel bounds every access
            // to the buffer against its writable size at attach time.
            unsafe {
                let buffer = self.args.args.cast::<*mut u8>().read_volatile();
                buffer.add(offset).cast::<T>().write_unaligned(*value)
            }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let bytes = value.as_bytes();
            self.buffer[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
    }

    /// A context with these arguments and a buffer, for unit tests on the
    /// host.
    ///
    /// ```
    /// use iu_ebpf::programs::RawTracePointWritableContext;
    /// let mut ctx = RawTracePointWritableContext::from_args([0; 12], &0i32.to_ne_bytes());
    /// ctx.write_buffer(0, &-5i32);
    /// assert_eq!(ctx.read_buffer::<i32>(0), -5);
    /// ```
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_args(args: [u64; 12], buffer: &[u8]) -> Self {
        let mut copy = [0u8; 64];
        copy[..buffer.len()].copy_from_slice(buffer);
        Self {
            args: RawTracePointContext::from_args(args),
            buffer: copy,
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::RawTracePointWritable> for RawTracePointWritableContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            args: RawTracePointContext {
                args: ctx.cast_const().cast(),
            },
        }
    }
}

impl super::private::Sealed for RawTracePointWritableContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.args.args.cast_mut().cast()
    }
}
