//! Tracepoint programs (`BPF_PROG_TYPE_TRACEPOINT`).

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;
use core::marker::PhantomData;

#[cfg(target_arch = "bpf")]
use super::{FromRawContext, kind};

/// Size of the `common_*` fields at the start of every record, which
/// tracepoint programs may not read.
#[cfg(target_arch = "bpf")]
const COMMON_FIELDS: usize = 8;
use crate::tracepoints::TracePointArgs;

/// The context of a `#[tracepoint]` program: the tracepoint's record, typed
/// as `A` (see [`crate::tracepoints`]).
///
/// Reads are checked by the kernel: a program whose record type is larger
/// than the tracepoint's real record is refused when it is attached (the
/// user-space loader reports it), so a wrong `A` can never read out of
/// bounds.
///
/// ```ignore
/// #[tracepoint(category = "syscalls", name = "sys_enter_dup")]
/// fn on_dup(ctx: TracePointContext<SysEnter>) -> u32 {
///     let fd = ctx.args().args[0];
///     0
/// }
/// ```
pub struct TracePointContext<A: TracePointArgs> {
    #[cfg(target_arch = "bpf")]
    ctx: *const c_void,
    /// On the host there is no kernel record: the context owns a copy.
    #[cfg(not(target_arch = "bpf"))]
    record: A,
    /// The record's dynamic area, which follows it (see
    /// [`TracePointContext::with_data`]).
    #[cfg(not(target_arch = "bpf"))]
    data: &'static [u8],
    _args: PhantomData<A>,
}

impl<A: TracePointArgs> TracePointContext<A> {
    /// Returns a copy of the record. The first 8 bytes (the `common_*`
    /// fields) read as zero: the kernel does not let tracepoint programs
    /// read them (use `helpers::pid()` and friends). LLVM only loads the
    /// fields the program then uses.
    #[inline(always)]
    pub fn args(&self) -> A {
        #[cfg(target_arch = "bpf")]
        {
            let mut record = A::zeroed();
            let size = core::mem::size_of::<A>();
            let src = self.ctx.cast::<u8>();
            let dst = (&mut record as *mut A).cast::<u8>();
            // Word-sized loads at the record's (8-byte aligned) offsets, so
            // that LLVM keeps only those of the fields the program uses and
            // never splits them into byte loads.
            let mut at = COMMON_FIELDS;
            while at + 8 <= size {
                // SAFETY: `ctx` is this run's record (`FromRawContext`);
                // `[at, at + 8)` lies past the common fields and within
                // `size_of::<A>()`, which the kernel checks against the
                // record when attaching; `dst` is `record`'s own bytes, and
                // `A: TracePointArgs` is valid for any bytes.
                unsafe {
                    dst.add(at)
                        .cast::<u64>()
                        .write_unaligned(src.add(at).cast::<u64>().read())
                };
                at += 8;
            }
            if at + 4 <= size {
                // SAFETY: as above, for a 4-byte tail.
                unsafe {
                    dst.add(at)
                        .cast::<u32>()
                        .write_unaligned(src.add(at).cast::<u32>().read())
                };
                at += 4;
            }
            while at < size {
                // SAFETY: as above, for the last bytes.
                unsafe { *dst.add(at) = *src.add(at) };
                at += 1;
            }
            record
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.record
        }
    }

    /// A copy of the `T` at byte `offset` of the record, for fields whose
    /// offset differs between kernel versions: user space reads it from the
    /// tracepoint's `format` file (`iu::tracefs::field`) and passes it in a
    /// global. The copy goes through `bpf_probe_read_kernel`; an offset past
    /// the record reads neighbouring kernel memory, never out of the
    /// program's own memory.
    #[inline(always)]
    pub fn read_at<T: crate::Pod>(&self, offset: usize) -> T {
        #[cfg(target_arch = "bpf")]
        {
            // The verifier forbids loads through a context pointer plus a
            // run-time offset, so the field is copied with
            // `bpf_probe_read_kernel`, which takes any address.
            let mut value = T::zeroed();
            // SAFETY: the helper writes at most `size_of::<T>()` bytes into
            // `value` (any bytes are a valid `T: Pod`) and reads kernel
            // memory fault-safely.
            unsafe {
                crate::helpers::raw::probe_read_kernel(
                    (&mut value as *mut T).cast(),
                    core::mem::size_of::<T>() as u32,
                    self.ctx.cast::<u8>().wrapping_add(offset).cast(),
                );
            }
            value
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            T::from_bytes(self.host_bytes_at(offset)).unwrap_or_else(T::zeroed)
        }
    }

    /// Copies the string of a `__data_loc` field of the record into `buf`
    /// (NUL-terminated, truncated to fit). Returns the bytes before the NUL.
    #[inline(always)]
    pub fn read_str<'b>(&self, field: crate::tracepoints::DataLoc, buf: &'b mut [u8]) -> &'b [u8] {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `bpf_probe_read_kernel_str` reads at most `buf.len()`
            // bytes from any kernel address, fault-safe, and writes only into
            // `buf`; the address is inside this run's record.
            let n = unsafe {
                crate::helpers::raw::probe_read_kernel_str(
                    buf.as_mut_ptr().cast(),
                    buf.len() as u32,
                    self.ctx.cast::<u8>().wrapping_add(field.offset()).cast(),
                )
            };
            let n = if n > 0 { (n - 1) as usize } else { 0 };
            buf.get(..n).unwrap_or_default()
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            // Like `bpf_probe_read_kernel_str`: up to the NUL, at most
            // `buf.len() - 1` bytes, then a NUL; nothing past the record.
            let source = self.host_bytes_at(field.offset());
            let Some(room) = buf.len().checked_sub(1) else {
                return &buf[..0];
            };
            let n = source
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(source.len())
                .min(room);
            buf[..n].copy_from_slice(&source[..n]);
            buf[n] = 0;
            &buf[..n]
        }
    }

    /// The bytes from `offset` of the record and its data to the end of
    /// whichever of the two `offset` falls in.
    #[cfg(not(target_arch = "bpf"))]
    fn host_bytes_at(&self, offset: usize) -> &[u8] {
        let record = self.record.as_bytes();
        match offset.checked_sub(record.len()) {
            Some(at) => self.data.get(at..).unwrap_or_default(),
            None => &record[offset..],
        }
    }

    /// Builds a context from a record, for unit tests of program logic with
    /// plain `cargo test` on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_record(record: A) -> Self {
        Self::with_data(record, &[])
    }

    /// Builds a context from a record followed by `data`, its dynamic area:
    /// the strings its [`DataLoc`](crate::tracepoints::DataLoc) fields point
    /// to, at offsets from `size_of::<A>()` on.
    ///
    /// ```
    /// use iu_ebpf::{
    ///     programs::TracePointContext,
    ///     tracepoints::{DataLoc, sched::ProcessExec},
    /// };
    /// let path = b"/usr/bin/true\0";
    /// let record = ProcessExec {
    ///     filename: DataLoc::new(size_of::<ProcessExec>(), path.len()),
    ///     ..Default::default()
    /// };
    /// let ctx = TracePointContext::with_data(record, path);
    /// let mut buf = [0; 64];
    /// assert_eq!(ctx.read_str(record.filename, &mut buf), b"/usr/bin/true");
    /// ```
    #[cfg(not(target_arch = "bpf"))]
    pub fn with_data(record: A, data: &'static [u8]) -> Self {
        Self {
            record,
            data,
            _args: PhantomData,
        }
    }
}

#[cfg(target_arch = "bpf")]
impl<A: TracePointArgs> FromRawContext<kind::TracePoint> for TracePointContext<A> {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            ctx: ctx.cast_const(),
            _args: PhantomData,
        }
    }
}

impl<A: TracePointArgs> super::private::Sealed for TracePointContext<A> {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx.cast_mut()
    }
}
