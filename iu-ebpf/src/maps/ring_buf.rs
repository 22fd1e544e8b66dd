//! `RingBuf`: a multi-producer ring buffer shared with user space
//! (`BPF_MAP_TYPE_RINGBUF`, Linux 5.8+).

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
    host: super::host::Records<BYTES>;
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
}

impl<const BYTES: usize> RingBuf<BYTES> {
    /// Copies `event` into the ring buffer in one call.
    #[inline(always)]
    pub fn output<T: crate::Pod>(&self, event: &T) -> Result<(), MapError> {
        #[cfg(target_arch = "bpf")]
        {
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
        #[cfg(not(target_arch = "bpf"))]
        {
            if self
                .sim
                .output(crate::sim::cpu_index() as u32, event.as_bytes())
            {
                Ok(())
            } else {
                Err(super::MapError(-11)) // -EAGAIN, as bpf_ringbuf_output
            }
        }
    }
}

#[cfg(not(target_arch = "bpf"))]
impl<const BYTES: usize> RingBuf<BYTES> {
    /// Reserves space for one `T`. The entry must be submitted; dropping it
    /// discards the reservation, so none can leak.
    ///
    /// On the host the ring buffer must be a `static` (as every `#[map]`
    /// is): the entry refers to it until it is submitted or dropped.
    pub fn reserve<T: crate::Pod>(&'static self) -> Option<RingBufEntry<T>> {
        self.sim
            .reserve(core::mem::size_of::<T>())
            .then(|| RingBufEntry {
                value: T::zeroed(),
                ring: &self.sim,
            })
    }

    /// Removes the oldest submitted record and returns it as a `T`, or
    /// `None` when there is none (or it is shorter than a `T`). For tests
    /// on the host: what user space would read.
    pub fn take_record<T: crate::Pod>(&self) -> Option<T> {
        let mut value = T::zeroed();
        let (len, _cpu) = self.sim.take(value.as_bytes_mut())?;
        (len >= core::mem::size_of::<T>()).then_some(value)
    }

    /// Removes the oldest submitted record, copies up to `out.len()` bytes
    /// of it into `out` and returns its length. Host only.
    pub fn take_bytes(&self, out: &mut [u8]) -> Option<usize> {
        self.sim.take(out).map(|(len, _)| len)
    }
}

/// A reserved ring-buffer record. [`RingBufEntry::submit`] publishes it;
/// dropping it discards it.
#[cfg(target_arch = "bpf")]
pub struct RingBufEntry<T: crate::Pod> {
    ptr: *mut T,
}

/// A reserved ring-buffer record. [`RingBufEntry::submit`] publishes it;
/// dropping it discards it. On the host it holds the record until then.
#[cfg(not(target_arch = "bpf"))]
pub struct RingBufEntry<T: crate::Pod> {
    value: T,
    ring: &'static dyn super::host::Reservations,
}

#[cfg(not(target_arch = "bpf"))]
impl<T: crate::Pod> RingBufEntry<T> {
    /// Writes the whole record.
    pub fn write(&mut self, value: T) {
        self.value = value;
    }

    /// Publishes the record to user space.
    pub fn submit(self) {
        let ring = self.ring;
        let value = self.value;
        core::mem::forget(self);
        ring.release(
            core::mem::size_of::<T>(),
            crate::sim::cpu_index() as u32,
            Some(value.as_bytes()),
        );
    }
}

#[cfg(not(target_arch = "bpf"))]
impl<T: crate::Pod> Drop for RingBufEntry<T> {
    fn drop(&mut self) {
        self.ring.release(core::mem::size_of::<T>(), 0, None);
    }
}

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
