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

    fn checked(&self, offset: usize, size: usize, align: usize) -> Option<*mut u8> {
        let end = offset.checked_add(size)?;
        (end <= self.len && offset.is_multiple_of(align))
            // SAFETY: `offset + size <= len`, so the pointer stays inside the
            // mapping.
            .then(|| unsafe { self.ptr.as_ptr().add(offset) })
    }

    /// The `u64` at `offset`, shared with the kernel. `None` when out of
    /// bounds or misaligned.
    pub fn atomic_u64(&self, offset: usize) -> Option<&AtomicU64> {
        let ptr = self.checked(offset, 8, 8)?;
        // SAFETY: in bounds and 8-byte aligned (the mapping is page
        // aligned); the memory lives as long as `self`, and the kernel only
        // accesses it atomically (`smp_load_acquire`/`smp_store_release`).
        Some(unsafe { AtomicU64::from_ptr(ptr.cast()) })
    }

    /// The `u32` at `offset`, shared with the kernel (ring-buffer record
    /// headers).
    pub fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        let ptr = self.checked(offset, 4, 4)?;
        // SAFETY: as `atomic_u64`, for a 4-byte aligned `u32`.
        Some(unsafe { AtomicU32::from_ptr(ptr.cast()) })
    }

    /// The bytes at `offset..offset + len`. Only for records the kernel has
    /// committed and will not touch again until the consumer position moves
    /// past them.
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
