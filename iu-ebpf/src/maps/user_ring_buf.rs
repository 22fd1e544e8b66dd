//! `UserRingBuf`: a ring buffer that user space fills and programs drain
//! (`BPF_MAP_TYPE_USER_RINGBUF`, Linux 6.1+).

use core::ops::ControlFlow;

use super::MapError;
use super::{map_def, map_type};

map_def! {
    /// `BPF_MAP_TYPE_USER_RINGBUF` of `BYTES` bytes (a power of two, a
    /// multiple of the page size): records that user space produces
    /// (`iu::maps::UserRingBuf::push`) and a program drains with
    /// [`UserRingBuf::drain`].
    ///
    /// ```
    /// use core::ops::ControlFlow;
    /// use iu_ebpf::{map, maps::UserRingBuf};
    ///
    /// #[map]
    /// static COMMANDS: UserRingBuf<4096> = UserRingBuf::new();
    ///
    /// fn apply_commands() -> u64 {
    ///     let mut total = 0u64;
    ///     let _ = COMMANDS.drain(|delta: u64| {
    ///         total += delta;
    ///         ControlFlow::Continue(())
    ///     });
    ///     total
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # COMMANDS.host_push(&5u64);
    /// # COMMANDS.host_push(&6u64);
    /// # assert_eq!(apply_commands(), 11);
    /// # assert_eq!(apply_commands(), 0);
    /// ```
    pub struct UserRingBuf<; BYTES> {
        r#type: [i32; map_type::USER_RINGBUF],
        max_entries: [i32; BYTES],
    }
    host: super::host::Records<BYTES>;
}

/// What `bpf_user_ringbuf_drain` hands its callback: the body, on the
/// caller's stack.
#[cfg(target_arch = "bpf")]
extern "C" fn drain_callback<T: crate::Pod, F: FnMut(T) -> ControlFlow<()>>(
    dynptr: *const core::ffi::c_void,
    body: *mut core::ffi::c_void,
) -> i64 {
    // SAFETY: the helper passes back the pointer `drain` gave it, to an
    // `F` on that function's stack, which outlives the call; nothing else
    // accesses it meanwhile.
    let body = unsafe { &mut *body.cast::<F>() };
    let mut value = <T as crate::Pod>::zeroed();
    // SAFETY: `dynptr` is the record the kernel hands the callback; the
    // helper copies at most `size_of::<T>()` bytes into `value`, and any
    // bytes are a valid `T: Pod`. A shorter record makes it fail.
    let read = unsafe {
        crate::helpers::raw::dynptr_read(
            (&mut value as *mut T).cast(),
            core::mem::size_of::<T>() as u32,
            dynptr,
            0,
            0,
        )
    };
    if read < 0 {
        // Shorter than a `T`: skipped (the kernel consumes it).
        return 0;
    }
    match body(value) {
        ControlFlow::Continue(()) => 0,
        ControlFlow::Break(()) => 1,
    }
}

impl<const BYTES: usize> UserRingBuf<BYTES> {
    /// Hands each record user space has produced to `body`, as a `T` (the
    /// first `size_of::<T>()` bytes; shorter records are skipped), until
    /// the buffer is empty or `body` breaks. Returns the number of records
    /// consumed. The kernel bounds one drain (`BPF_MAX_USER_RINGBUF_SAMPLES`,
    /// 128 Ki records) and wakes a producer waiting for space.
    ///
    /// Errors: `-EBUSY` when a producer is still writing the next record,
    /// `-EINVAL` or `-E2BIG` when user space wrote an inconsistent header
    /// (the records after it stay until the producer fixes it).
    #[inline(always)]
    pub fn drain<T: crate::Pod, F: FnMut(T) -> ControlFlow<()>>(
        &self,
        mut body: F,
    ) -> Result<u32, MapError> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: the map is a `#[map]` user ring buffer; the helper
            // calls `drain_callback::<T, F>` with each record and with
            // `&mut body`, a live stack object, and returns before this
            // function does; the verifier checks the callback.
            let ret = unsafe {
                crate::helpers::raw::user_ringbuf_drain(
                    self.as_ptr(),
                    drain_callback::<T, F> as *const core::ffi::c_void,
                    (&mut body as *mut F).cast(),
                    0,
                )
            };
            super::check(ret).map(|()| ret as u32)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let mut drained = 0;
            loop {
                let mut value = <T as crate::Pod>::zeroed();
                let Some((len, _cpu)) = self.sim.take(value.as_bytes_mut()) else {
                    return Ok(drained);
                };
                drained += 1;
                if len < core::mem::size_of::<T>() {
                    continue;
                }
                if body(value).is_break() {
                    return Ok(drained);
                }
            }
        }
    }

    /// Adds a record, as user space would. `false` when the simulated
    /// buffer is full. Host only.
    #[cfg(not(target_arch = "bpf"))]
    pub fn host_push<T: crate::Pod>(&self, value: &T) -> bool {
        self.sim.output(0, value.as_bytes())
    }
}
