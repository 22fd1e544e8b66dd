//! `RingBuf`: a multi-producer ring buffer shared with user space
//! (`BPF_MAP_TYPE_RINGBUF`, Linux 5.8+).

#[cfg(target_arch = "bpf")]
use super::MapError;
use super::{map_def, map_type};

map_def! {
    /// `BPF_MAP_TYPE_RINGBUF` of `BYTES` bytes (a power of two, a multiple
    /// of the page size).
    ///
    /// ```ignore
    /// #[map]
    /// static EVENTS: RingBuf<{ 256 * 1024 }> = RingBuf::new();
    /// if let Some(mut entry) = EVENTS.reserve::<Event>() {
    ///     entry.write(Event { pid, cpu, ts });
    ///     entry.submit();
    /// } // an entry dropped without `submit` is discarded
    /// ```
    pub struct RingBuf<; BYTES> {
        r#type: [i32; map_type::RINGBUF],
        max_entries: [i32; BYTES],
    }
}

#[cfg(target_arch = "bpf")]
impl<const BYTES: usize> RingBuf<BYTES> {
    /// Reserves space for one `T`. The entry must be submitted; dropping it
    /// discards the reservation, so none can leak.
    #[inline(always)]
    pub fn reserve<T: crate::Pod>(&self) -> Option<RingBufEntry<T>> {
        // SAFETY: the map is a `#[map]` ring buffer; the helper returns null
        // or `size_of::<T>()` writable bytes reserved for this program.
        let ptr = unsafe {
            crate::helpers::raw::ringbuf_reserve(self.as_ptr(), core::mem::size_of::<T>() as u64, 0)
        };
        (!ptr.is_null()).then(|| RingBufEntry { ptr: ptr.cast() })
    }

    /// Copies `event` into the ring buffer in one call.
    #[inline(always)]
    pub fn output<T: crate::Pod>(&self, event: &T) -> Result<(), MapError> {
        // SAFETY: `event` points to `size_of::<T>()` readable bytes.
        super::check(unsafe {
            crate::helpers::raw::ringbuf_output(
                self.as_ptr(),
                (event as *const T).cast(),
                core::mem::size_of::<T>() as u64,
                0,
            )
        })
    }
}

/// A reserved ring-buffer record. [`RingBufEntry::submit`] publishes it;
/// dropping it discards it.
#[cfg(target_arch = "bpf")]
pub struct RingBufEntry<T: crate::Pod> {
    ptr: *mut T,
}

/// A reserved ring-buffer record (BPF target only).
#[cfg(not(target_arch = "bpf"))]
pub struct RingBufEntry<T: crate::Pod>(core::marker::PhantomData<T>);

#[cfg(target_arch = "bpf")]
impl<T: crate::Pod> RingBufEntry<T> {
    /// Writes the whole record.
    #[inline(always)]
    pub fn write(&mut self, value: T) {
        // SAFETY: `ptr` is the reserved, writable, exclusively owned record.
        unsafe { core::ptr::write(self.ptr, value) }
    }

    /// Publishes the record to user space.
    #[inline(always)]
    pub fn submit(self) {
        let ptr = self.ptr;
        core::mem::forget(self);
        // SAFETY: `ptr` came from `ringbuf_reserve` and is released once:
        // `forget` above skips the discard in `Drop`.
        unsafe { crate::helpers::raw::ringbuf_submit(ptr.cast(), 0) }
    }
}

#[cfg(target_arch = "bpf")]
impl<T: crate::Pod> Drop for RingBufEntry<T> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `ringbuf_reserve` and was not submitted
        // (submit forgets the entry).
        unsafe { crate::helpers::raw::ringbuf_discard(self.ptr.cast(), 0) }
    }
}
