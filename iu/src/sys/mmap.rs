//! Shared memory with the kernel: the mappings of ring buffers and perf
//! buffers. Everything above this module accesses them through bounds- and
//! alignment-checked methods.

use std::{
    io,
    num::NonZeroUsize,
    os::fd::BorrowedFd,
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicU64},
};

use nix::sys::mman::{MapFlags, ProtFlags};

/// A shared mapping of a BPF map or perf event, unmapped on drop.
#[derive(Debug)]
pub struct MmapRegion {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the region is plain shared memory; all access goes through atomics
// or copies, which are sound from any thread.
unsafe impl Send for MmapRegion {}
// SAFETY: as above.
unsafe impl Sync for MmapRegion {}

impl MmapRegion {
    /// Maps `len` bytes of `fd` at `offset`, shared, read-only or writable.
    pub fn new(fd: BorrowedFd<'_>, len: usize, offset: usize, writable: bool) -> io::Result<Self> {
        let length = NonZeroUsize::new(len).ok_or_else(|| io::Error::other("empty mapping"))?;
        let prot = if writable {
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
        } else {
            ProtFlags::PROT_READ
        };
        // SAFETY: a fresh shared mapping chosen by the kernel (no fixed
        // address), so it aliases no Rust object; the region owns it until
        // `Drop` unmaps it.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                length,
                prot,
                MapFlags::MAP_SHARED,
                fd,
                offset as libc::off_t,
            )
        }?;
        Ok(Self {
            ptr: ptr.cast(),
            len,
            writable,
        })
    }

    #[inline]
    fn checked(&self, offset: usize, size: usize, align: usize) -> Option<*mut u8> {
        let end = offset.checked_add(size)?;
        (end <= self.len && offset.is_multiple_of(align))
            // SAFETY: `offset + size <= len`, so the pointer stays inside the
            // mapping.
            .then(|| unsafe { self.ptr.as_ptr().add(offset) })
    }

    /// The `u64` at `offset`, shared with the kernel. `None` when out of
    /// bounds or misaligned.
    #[inline]
    pub fn atomic_u64(&self, offset: usize) -> Option<&AtomicU64> {
        let ptr = self.checked(offset, 8, 8)?;
        // SAFETY: in bounds and 8-byte aligned (the mapping is page
        // aligned); the memory lives as long as `self`, and the kernel only
        // accesses it atomically (`smp_load_acquire`/`smp_store_release`).
        Some(unsafe { AtomicU64::from_ptr(ptr.cast()) })
    }

    /// The `u32` at `offset`, shared with the kernel (AF_XDP ring
    /// positions).
    #[inline]
    pub fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        let ptr = self.checked(offset, 4, 4)?;
        // SAFETY: as `atomic_u64`, for a 4-byte aligned `u32`.
        Some(unsafe { AtomicU32::from_ptr(ptr.cast()) })
    }

    /// The bytes at `offset..offset + len`. Only for records the kernel has
    /// committed and will not touch again until the consumer position moves
    /// past them.
    #[inline]
    pub fn bytes(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let ptr = self.checked(offset, len, 1)?;
        // SAFETY: in bounds; the caller reads only committed records, which
        // the kernel does not write while the slice is borrowed (the
        // consumer position, which releases them, is advanced afterwards by
        // code holding `&self`).
        Some(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

impl MmapRegion {
    /// Copies `bytes` to `offset` (a user ring buffer's record space,
    /// which the kernel does not read before the producer position is
    /// published past it). `None` when out of bounds or read-only.
    ///
    /// Callers never write a region of a mapping that [`MmapRegion::bytes`]
    /// lends out (user ring buffers are written only, ring buffers read
    /// only).
    pub(crate) fn write(&self, offset: usize, bytes: &[u8]) -> Option<()> {
        if !self.writable {
            return None;
        }
        let ptr = self.checked(offset, bytes.len(), 1)?;
        // SAFETY: in bounds of a writable mapping; no `&[u8]` into this
        // mapping is alive (see above), and `copy` allows `bytes` to be any
        // memory; the kernel does not read these bytes until the producer
        // position is published past them.
        unsafe { std::ptr::copy(bytes.as_ptr(), ptr, bytes.len()) };
        Some(())
    }
}

/// The producer page and data area of a BPF ring buffer, mapped read-only:
/// the kernel maps the `size`-byte data area twice in a row, so a record
/// that wraps is contiguous.
///
/// Its accessors check one length per record instead of every offset: the
/// layout, checked once in [`RingArea::new`], keeps every header and every
/// record no longer than the data area inside the mapping (the consumer
/// reads each record in a few nanoseconds, so per-access checks showed).
#[derive(Debug)]
pub struct RingArea {
    region: MmapRegion,
    /// Offset of the data area: one page, so 8-byte aligned.
    data: usize,
    /// The data area's size, a power of two.
    size: usize,
}

impl RingArea {
    /// Maps the producer page and the data area of the ring buffer `fd`,
    /// whose data area is `size` bytes.
    pub fn new(fd: BorrowedFd<'_>, size: usize) -> io::Result<Self> {
        let page = page_size();
        if !size.is_power_of_two() || size < 8 {
            return Err(io::Error::other(format!(
                "a ring buffer of {size} bytes (the kernel makes them a power of two of at least a page)"
            )));
        }
        let len = size
            .checked_mul(2)
            .and_then(|twice| twice.checked_add(page))
            .ok_or_else(|| io::Error::other("ring buffer too large to map"))?;
        Ok(Self {
            region: MmapRegion::new(fd, len, page, false)?,
            data: page,
            size,
        })
    }

    /// The data area's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The producer position (the first word of the producer page).
    #[inline]
    pub fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: offset 0 of a page-aligned mapping of at least a page; the
        // kernel only accesses it atomically.
        unsafe { AtomicU64::from_ptr(self.region.ptr.as_ptr().cast()) }
    }

    /// The record at position `pos` (positions are multiples of 8; the low
    /// bits are ignored): its header is read with acquire ordering, and a
    /// committed record's bytes are handed out only then. Only for
    /// positions before the producer position: the kernel does not write a
    /// committed record again until the consumer position moves past it,
    /// which needs `&mut` of the consumer that holds the borrow.
    #[inline]
    pub fn at(&self, pos: u64) -> RingRecord<'_> {
        let offset = self.data + (pos as usize & (self.size - 1) & !7);
        // SAFETY: `offset + 4 <= data + size <= region.len`, and `offset` is
        // 8-byte aligned (`data` is a page); the kernel writes headers
        // atomically (`smp_store_release`).
        let header = unsafe { AtomicU32::from_ptr(self.region.ptr.as_ptr().add(offset).cast()) }
            .load(std::sync::atomic::Ordering::Acquire);
        if header & RINGBUF_BUSY != 0 {
            return RingRecord::Busy;
        }
        let len = (header & !(RINGBUF_BUSY | RINGBUF_DISCARD)) as usize;
        // The next record's position, past the 8-byte header and padding.
        let next = pos.wrapping_add(((len + 8 + 7) & !7) as u64);
        if header & RINGBUF_DISCARD != 0 {
            return RingRecord::Discarded { next };
        }
        if len > self.size {
            return RingRecord::Corrupt;
        }
        // SAFETY: `offset + 8 + len <= data + (size - 8) + 8 + size`, which
        // is the mapping's length (`data + 2 * size`); the record is
        // committed and not written while borrowed (see above).
        let bytes =
            unsafe { std::slice::from_raw_parts(self.region.ptr.as_ptr().add(offset + 8), len) };
        RingRecord::Committed { bytes, next }
    }
}

/// `BPF_RINGBUF_BUSY_BIT`: the producer still holds the record.
const RINGBUF_BUSY: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: the producer gave the record up.
const RINGBUF_DISCARD: u32 = 1 << 30;

/// What [`RingArea::at`] found at a position.
#[derive(Debug)]
pub enum RingRecord<'a> {
    /// Reserved but not yet submitted: the records after it wait.
    Busy,
    /// Discarded; the next record is at `next`.
    Discarded { next: u64 },
    /// Submitted; the next record is at `next`.
    Committed { bytes: &'a [u8], next: u64 },
    /// A length longer than the data area, which no kernel writes.
    Corrupt,
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping created in `new`, and no
        // borrow of it outlives `self`.
        if let Err(e) = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) } {
            log::warn!("munmap of a {}-byte region failed: {e}", self.len);
        }
    }
}

/// The system's page size.
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |s| s as usize)
}
