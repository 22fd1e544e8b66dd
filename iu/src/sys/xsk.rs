//! AF_XDP sockets: the socket calls and the UMEM's memory. The rings are
//! [`super::MmapRegion`]s of the socket; `crate::xsk` decides who owns
//! which frame and only then touches the memory.

use std::{
    io,
    mem::size_of,
    num::NonZeroUsize,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    ptr::NonNull,
};

use nix::sys::mman::{MapFlags, ProtFlags};

/// `socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0)`.
pub fn xsk_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(SOL_XDP, option)` with a plain C value.
fn set<T: Copy>(fd: BorrowedFd<'_>, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to `size_of::<T>()` readable bytes for the
    // call's duration; the kernel copies them and keeps no pointer.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            option,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `setsockopt(SOL_XDP, XDP_UMEM_REG)`: registers `len` bytes at `addr`
/// (page aligned) as the socket's UMEM, in frames of `frame_size`.
pub fn xsk_umem_reg(fd: BorrowedFd<'_>, umem: &UmemMemory, frame_size: u32) -> io::Result<()> {
    let reg = libc::xdp_umem_reg {
        addr: umem.ptr.as_ptr() as u64,
        len: umem.len as u64,
        chunk_size: frame_size,
        headroom: 0,
        flags: 0,
        tx_metadata_len: 0,
    };
    set(fd, libc::XDP_UMEM_REG, &reg)
}

/// `setsockopt(SOL_XDP, ring)`: the number of entries of one of the four
/// rings (`XDP_RX_RING`, `XDP_TX_RING`, `XDP_UMEM_FILL_RING`,
/// `XDP_UMEM_COMPLETION_RING`), a power of two.
pub fn xsk_ring_size(fd: BorrowedFd<'_>, ring: libc::c_int, entries: u32) -> io::Result<()> {
    set(fd, ring, &entries)
}

/// `getsockopt(SOL_XDP, XDP_MMAP_OFFSETS)`: where producer, consumer,
/// flags and descriptors sit in each ring's mapping (Linux 5.4 layout,
/// with `flags`).
pub fn xsk_mmap_offsets(fd: BorrowedFd<'_>) -> io::Result<libc::xdp_mmap_offsets> {
    let mut out = libc::xdp_mmap_offsets {
        rx: ring_offset(),
        tx: ring_offset(),
        fr: ring_offset(),
        cr: ring_offset(),
    };
    let mut len = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: `out` has `len` writable bytes; the kernel writes at most
    // `len` and updates it.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&mut out as *mut libc::xdp_mmap_offsets).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != size_of::<libc::xdp_mmap_offsets>() {
        // Kernels before 5.4 give the layout without `flags`.
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    Ok(out)
}

fn ring_offset() -> libc::xdp_ring_offset {
    libc::xdp_ring_offset {
        producer: 0,
        consumer: 0,
        desc: 0,
        flags: 0,
    }
}

/// `getsockopt(SOL_XDP, XDP_STATISTICS)`.
pub fn xsk_statistics(fd: BorrowedFd<'_>) -> io::Result<libc::xdp_statistics> {
    let mut out = libc::xdp_statistics {
        rx_dropped: 0,
        rx_invalid_descs: 0,
        tx_invalid_descs: 0,
        rx_ring_full: 0,
        rx_fill_ring_empty_descs: 0,
        tx_ring_empty_descs: 0,
    };
    let mut len = size_of::<libc::xdp_statistics>() as libc::socklen_t;
    // SAFETY: as in `xsk_mmap_offsets`; older kernels fill a prefix and
    // leave the rest zero.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_STATISTICS,
            (&mut out as *mut libc::xdp_statistics).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(out)
}

/// `bind` to queue `queue` of interface `ifindex` with `flags`
/// (`XDP_COPY`, `XDP_USE_NEED_WAKEUP`, ...).
pub fn xsk_bind(fd: BorrowedFd<'_>, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let addr = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: `addr` is a complete `sockaddr_xdp` of the length given.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_xdp).cast(),
            size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0)`: asks the kernel to
/// transmit what the TX ring holds.
pub fn xsk_kick_tx(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zero-length send with no buffer and no address.
    let ret = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A UMEM's memory: a private anonymous mapping, page aligned, unmapped
/// on drop. The kernel pins its pages at `XDP_UMEM_REG` and writes them
/// through its own mapping, never through this address.
#[derive(Debug)]
pub struct UmemMemory {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: plain memory; who may touch which frame is decided by
// `crate::xsk`, which hands out slices only under `&`/`&mut` of the socket.
unsafe impl Send for UmemMemory {}
// SAFETY: as above.
unsafe impl Sync for UmemMemory {}

impl UmemMemory {
    /// Maps `len` bytes (a multiple of the page size), zeroed.
    pub fn new(len: usize) -> io::Result<Self> {
        let length = NonZeroUsize::new(len).ok_or_else(|| io::Error::other("empty UMEM"))?;
        // SAFETY: a fresh anonymous mapping at an address the kernel
        // chooses, aliasing no Rust object; owned here until `Drop`.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }?;
        let umem = Self {
            ptr: ptr.cast(),
            len,
        };
        // A child made by fork() must not share these pages: the kernel
        // has them pinned for the socket, and a copy-on-write fault in the
        // parent would leave the socket writing a page the parent no
        // longer sees (before Linux 5.12, which copies pinned pages at
        // fork).
        // SAFETY: the range is exactly this mapping; advice changes no
        // contents.
        unsafe {
            nix::sys::mman::madvise(
                umem.ptr.cast(),
                len,
                nix::sys::mman::MmapAdvise::MADV_DONTFORK,
            )
        }?;
        Ok(umem)
    }

    /// The mapping's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The start of the mapping. Reads and writes through it are the
    /// caller's to justify (frame ownership, see `crate::xsk`).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for UmemMemory {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; no slice of it outlives
        // `self` (they borrow the socket that owns it).
        if let Err(e) = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) } {
            log::warn!("munmap of a {}-byte UMEM failed: {e}", self.len);
        }
    }
}
