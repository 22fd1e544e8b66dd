//! AF_XDP sockets: packets an XDP program redirects through an
//! `XskMap` (`iu_ebpf::maps::XskMap`) land in user-space memory (the
//! UMEM), and frames written there leave the interface, without the
//! network stack.
//!
//! An [`XskSocket`] owns everything: the socket, its UMEM (a page-aligned
//! anonymous mapping of `2 × ring_size` frames) and the four rings the
//! kernel shares with it (fill, completion, RX, TX). Half of the frames
//! receive, half transmit. Each frame has exactly one owner at a time,
//! tracked per frame:
//!
//! - a receive frame is the kernel's from when it is put on the fill ring
//!   until it comes back in an RX descriptor; then it is the caller's,
//!   borrowed as `&[u8]` by an [`RxPacket`] (or a [`XskSocket::recv_batch`]
//!   callback), and goes back to the fill ring when that borrow ends;
//! - a transmit frame is the socket's until [`XskSocket::send`] copies a
//!   packet into it and puts it on the TX ring; then it is the kernel's
//!   until its address comes back on the completion ring.
//!
//! Descriptors the kernel hands back are checked against this bookkeeping
//! and the UMEM's bounds before any byte is read, so safe code never sees
//! memory the kernel may be writing. `docs/safety.md` has the argument.
//!
//! ```no_run
//! # async fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
//! use iu::xsk::{XskConfig, XskSocket};
//!
//! let mut socket = XskSocket::new("eth0", 0, XskConfig::default())?;
//! ebpf.xsk_map("SOCKETS")?.set(0, &socket)?;
//! let packet = socket.recv_async().await?;
//! println!("{} bytes", packet.len());
//! # Ok(()) }
//! ```

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};

use tokio::io::unix::AsyncFd;

use crate::{
    Error, Result,
    sys::{self, MmapRegion, SyscallError, UmemMemory},
};

/// The sizes of an [`XskSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskConfig {
    /// Bytes per frame: 2048 or 4096 (the largest packet it holds).
    pub frame_size: u32,
    /// Entries of each ring, a power of two from 8 to 32768; the UMEM has
    /// twice as many frames (half receive, half transmit).
    pub ring_size: u32,
    /// Binds with `XDP_USE_NEED_WAKEUP` (Linux 5.4), so that transmitting
    /// makes a syscall only when the kernel asks for one.
    pub need_wakeup: bool,
}

impl Default for XskConfig {
    /// 2048-byte frames, rings of 512 (2 MiB of UMEM), need-wakeup on.
    fn default() -> Self {
        Self {
            frame_size: 2048,
            ring_size: 512,
            need_wakeup: true,
        }
    }
}

/// Counters the kernel keeps for a socket (`XDP_STATISTICS`); the last
/// three are 0 before Linux 5.9.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStatistics {
    /// Packets dropped for other reasons than the two below.
    pub rx_dropped: u64,
    /// RX descriptors the kernel found invalid.
    pub rx_invalid_descs: u64,
    /// TX descriptors the kernel found invalid.
    pub tx_invalid_descs: u64,
    /// Packets dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Packets dropped because the fill ring was empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty.
    pub tx_ring_empty_descs: u64,
}

/// Who owns a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The socket (a free transmit frame) or the caller (a received
    /// frame lent out, or waiting to go back on the fill ring).
    User,
    /// The kernel, for receiving into (fill ring or RX ring).
    KernelRx,
    /// The kernel, for transmitting from (TX ring or completion ring).
    KernelTx,
}

/// One of the four rings: its mapping and where the shared indexes sit.
#[derive(Debug)]
struct Ring {
    map: MmapRegion,
    producer: usize,
    consumer: usize,
    flags: usize,
    desc: usize,
    /// Entries (a power of two).
    size: u32,
    /// Bytes per entry: 8 (fill, completion) or 16 (RX, TX).
    entry: usize,
}

impl Ring {
    fn new(
        fd: BorrowedFd<'_>,
        offsets: &libc::xdp_ring_offset,
        size: u32,
        entry: usize,
        pgoff: u64,
    ) -> io::Result<Self> {
        let len = offsets.desc as usize + size as usize * entry;
        let map = MmapRegion::new(fd, len, pgoff as usize, true)?;
        let ring = Self {
            map,
            producer: offsets.producer as usize,
            consumer: offsets.consumer as usize,
            flags: offsets.flags as usize,
            desc: offsets.desc as usize,
            size,
            entry,
        };
        // Every index and every entry must be inside the mapping and
        // aligned, so that the accessors below cannot fail later.
        ring.index(ring.producer)?;
        ring.index(ring.consumer)?;
        ring.index(ring.flags)?;
        ring.slot_u64(size - 1, 0)?;
        Ok(ring)
    }

    fn index(&self, offset: usize) -> io::Result<&AtomicU32> {
        self.map
            .atomic_u32(offset)
            .ok_or_else(|| io::Error::other("AF_XDP ring index outside its mapping"))
    }

    /// The `u64` at `offset` bytes into entry `n` (masked).
    fn slot_u64(&self, n: u32, offset: usize) -> io::Result<&AtomicU64> {
        let at = self.desc + (n & (self.size - 1)) as usize * self.entry + offset;
        self.map
            .atomic_u64(at)
            .ok_or_else(|| io::Error::other("AF_XDP ring entry outside its mapping"))
    }

    fn slot_u32(&self, n: u32, offset: usize) -> io::Result<&AtomicU32> {
        let at = self.desc + (n & (self.size - 1)) as usize * self.entry + offset;
        self.map
            .atomic_u32(at)
            .ok_or_else(|| io::Error::other("AF_XDP ring entry outside its mapping"))
    }

    /// Our own index (the consumer of a ring we consume, the producer of
    /// one we produce): only we write it, so a relaxed load suffices.
    fn ours(&self, offset: usize) -> io::Result<u32> {
        Ok(self.index(offset)?.load(Ordering::Relaxed))
    }

    /// Entries the kernel has produced that we have not consumed. The
    /// acquire pairs with the kernel's release of the producer index: the
    /// entries (and the frame bytes they describe) are visible after it.
    fn available(&self) -> io::Result<u32> {
        let produced = self.index(self.producer)?.load(Ordering::Acquire);
        // At most a ring's worth, whatever the index says.
        Ok(produced
            .wrapping_sub(self.ours(self.consumer)?)
            .min(self.size))
    }

    /// Hands `n` consumed entries back. The release orders our reads of
    /// them (and of the frames) before the kernel may reuse them.
    fn consume(&self, n: u32) -> io::Result<()> {
        let at = self.ours(self.consumer)?.wrapping_add(n);
        self.index(self.consumer)?.store(at, Ordering::Release);
        Ok(())
    }

    /// Free entries of a ring we produce. The acquire pairs with the
    /// kernel's release of the consumer index: it has finished reading
    /// the entries it gave back.
    fn free(&self) -> io::Result<u32> {
        let consumed = self.index(self.consumer)?.load(Ordering::Acquire);
        Ok(self
            .size
            .saturating_sub(self.ours(self.producer)?.wrapping_sub(consumed)))
    }

    /// Publishes `n` entries written after our producer index. The release
    /// orders the entries and the frame bytes before the kernel sees them.
    fn produce(&self, n: u32) -> io::Result<()> {
        let at = self.ours(self.producer)?.wrapping_add(n);
        self.index(self.producer)?.store(at, Ordering::Release);
        Ok(())
    }

    fn needs_wakeup(&self) -> io::Result<bool> {
        Ok(self.index(self.flags)?.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0)
    }
}

/// An AF_XDP socket bound to one queue of one interface, with its own
/// UMEM, in copy mode (`XDP_COPY`, which every driver supports, veth
/// included). Put it in an `XskMap` ([`crate::maps::XskMap::set`]) at the
/// queue's index so that an XDP program can redirect to it. Dropping it
/// closes the socket, which also takes it out of every `XskMap`, and
/// frees the UMEM.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::xsk::{XskConfig, XskSocket};
///
/// let mut socket = XskSocket::new("eth0", 0, XskConfig::default())?;
/// ebpf.xsk_map("SOCKETS")?.set(0, &socket)?;
/// let received = socket.recv_batch(64, |packet| println!("{} bytes", packet.len()))?;
/// socket.send(&[0xff; 60])?; // an Ethernet frame, sent as is
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct XskSocket {
    /// Registered with tokio on first use (a duplicate of `fd`).
    async_fd: Option<AsyncFd<OwnedFd>>,
    // Field order is drop order: the socket closes first, then the rings
    // and the UMEM are unmapped (the kernel's pins keep the UMEM's pages
    // alive for as long as it still needs them).
    fd: OwnedFd,
    rx: Ring,
    tx: Ring,
    fill: Ring,
    completion: Ring,
    umem: UmemMemory,
    owners: Vec<Owner>,
    /// Transmit frames the socket owns.
    free_tx: Vec<u32>,
    /// Receive frames waiting to go back on the fill ring.
    refill: Vec<u32>,
    frame_size: u32,
    ring_size: u32,
    need_wakeup: bool,
    interface: String,
    queue: u32,
}

impl XskSocket {
    /// Opens an AF_XDP socket on queue `queue` of interface `interface`
    /// (in this thread's network namespace): maps a UMEM and the rings,
    /// fills the fill ring and binds in copy mode.
    ///
    /// Errors: [`Error::MissingFeature`] without AF_XDP
    /// (`CONFIG_XDP_SOCKETS`), [`Error::XskConfig`] for sizes the kernel
    /// would refuse, [`Error::Xsk`] naming the step that failed (`EBUSY`
    /// at bind: another socket has that queue), [`Error::PermissionDenied`]
    /// without `CAP_NET_RAW`.
    pub fn new(interface: &str, queue: u32, config: XskConfig) -> Result<Self> {
        if !matches!(config.frame_size, 2048 | 4096)
            || config.frame_size as usize > sys::page_size()
        {
            return Err(Error::XskConfig {
                reason: format!(
                    "frame size {} is not 2048 or 4096 (and at most the page size, {})",
                    config.frame_size,
                    sys::page_size()
                ),
            });
        }
        if !config.ring_size.is_power_of_two() || !(8..=32768).contains(&config.ring_size) {
            return Err(Error::XskConfig {
                reason: format!(
                    "ring size {} is not a power of two from 8 to 32768",
                    config.ring_size
                ),
            });
        }
        let err = |op: &'static str, e: io::Error| xsk_error(interface, queue, op, e);
        let ifindex = nix::net::if_::if_nametoindex(interface)
            .map_err(|e| err("looking up the interface", e.into()))?;
        let fd = sys::xsk_socket().map_err(|e| err("socket(AF_XDP)", e))?;
        let frames = 2 * config.ring_size;
        let umem = UmemMemory::new(frames as usize * config.frame_size as usize)
            .map_err(|e| err("mapping the UMEM", e))?;
        sys::xsk_umem_reg(fd.as_fd(), &umem, config.frame_size)
            .map_err(|e| err("setsockopt(XDP_UMEM_REG)", e))?;
        for (ring, name) in [
            (libc::XDP_UMEM_FILL_RING, "setsockopt(XDP_UMEM_FILL_RING)"),
            (
                libc::XDP_UMEM_COMPLETION_RING,
                "setsockopt(XDP_UMEM_COMPLETION_RING)",
            ),
            (libc::XDP_RX_RING, "setsockopt(XDP_RX_RING)"),
            (libc::XDP_TX_RING, "setsockopt(XDP_TX_RING)"),
        ] {
            sys::xsk_ring_size(fd.as_fd(), ring, config.ring_size).map_err(|e| err(name, e))?;
        }
        let offsets = sys::xsk_mmap_offsets(fd.as_fd())
            .map_err(|e| err("getsockopt(XDP_MMAP_OFFSETS)", e))?;
        let desc = size_of::<libc::xdp_desc>();
        let size = config.ring_size;
        let map = |o, entry, pgoff, what| {
            Ring::new(fd.as_fd(), o, size, entry, pgoff).map_err(|e| err(what, e))
        };
        let rx = map(
            &offsets.rx,
            desc,
            libc::XDP_PGOFF_RX_RING as u64,
            "mapping the RX ring",
        )?;
        let tx = map(
            &offsets.tx,
            desc,
            libc::XDP_PGOFF_TX_RING as u64,
            "mapping the TX ring",
        )?;
        let fill = map(
            &offsets.fr,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            "mapping the fill ring",
        )?;
        let completion = map(
            &offsets.cr,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            "mapping the completion ring",
        )?;
        let mut socket = Self {
            async_fd: None,
            fd,
            rx,
            tx,
            fill,
            completion,
            umem,
            owners: vec![Owner::User; frames as usize],
            // Popped from the end: frames go out in ascending order.
            free_tx: (config.ring_size..frames).rev().collect(),
            refill: (0..config.ring_size).collect(),
            frame_size: config.frame_size,
            ring_size: config.ring_size,
            need_wakeup: config.need_wakeup,
            interface: interface.to_owned(),
            queue,
        };
        // The kernel needs receive frames before the first packet comes.
        socket
            .refill_ring()
            .map_err(|e| err("filling the fill ring", e))?;
        let mut flags = libc::XDP_COPY;
        if config.need_wakeup {
            flags |= libc::XDP_USE_NEED_WAKEUP;
        }
        sys::xsk_bind(socket.fd.as_fd(), ifindex, queue, flags).map_err(|e| err("bind", e))?;
        Ok(socket)
    }

    /// The interface the socket is bound to.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The queue the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The largest packet [`XskSocket::send`] takes (the frame size).
    pub fn max_packet(&self) -> usize {
        self.frame_size as usize
    }

    fn err(&self, op: &'static str, e: io::Error) -> Error {
        xsk_error(&self.interface, self.queue, op, e)
    }

    /// Puts receive frames the caller gave back on the fill ring.
    fn refill_ring(&mut self) -> io::Result<()> {
        let n = (self.fill.free()? as usize).min(self.refill.len());
        let start = self.fill.ours(self.fill.producer)?;
        for (i, frame) in self.refill.drain(..n).enumerate() {
            let addr = u64::from(frame) * u64::from(self.frame_size);
            self.fill
                .slot_u64(start.wrapping_add(i as u32), 0)?
                .store(addr, Ordering::Relaxed);
            self.owners[frame as usize] = Owner::KernelRx;
        }
        self.fill.produce(n as u32)
    }

    /// The frame of a descriptor from the kernel, if it lies inside one
    /// frame of `owner`'s half of the UMEM (receive or transmit) that the
    /// kernel holds as `owner`.
    fn check(&self, addr: u64, len: u32, owner: Owner) -> Result<u32> {
        let frame = addr / u64::from(self.frame_size);
        let (first, last) = match owner {
            Owner::KernelRx => (0, self.ring_size),
            _ => (self.ring_size, 2 * self.ring_size),
        };
        let inside = frame >= u64::from(first)
            && frame < u64::from(last)
            // `frame < last`, so neither product overflows.
            && addr + u64::from(len) <= (frame + 1) * u64::from(self.frame_size)
            && self.owners[frame as usize] == owner;
        if !inside {
            return Err(Error::XskDescriptor {
                interface: self.interface.clone(),
                queue: self.queue,
                detail: format!(
                    "address {addr:#x}, {len} bytes: not inside one {} frame the kernel holds",
                    if owner == Owner::KernelRx {
                        "receive"
                    } else {
                        "transmit"
                    }
                ),
            });
        }
        Ok(frame as u32)
    }

    /// Reads RX descriptor `n`: its address and length, checked.
    fn rx_descriptor(&mut self, n: u32) -> Result<(u32, usize, usize)> {
        let addr = self
            .rx
            .slot_u64(n, 0)
            .map_err(|e| self.err("reading the RX ring", e))?
            .load(Ordering::Relaxed);
        let len = self
            .rx
            .slot_u32(n, 8)
            .map_err(|e| self.err("reading the RX ring", e))?
            .load(Ordering::Relaxed);
        let frame = self.check(addr, len, Owner::KernelRx)?;
        self.owners[frame as usize] = Owner::User;
        Ok((frame, addr as usize, len as usize))
    }

    /// The next received packet, if one is waiting; its frame goes back
    /// to the kernel when the [`RxPacket`] is dropped.
    pub fn recv(&mut self) -> Result<Option<RxPacket<'_>>> {
        const OP: &str = "reading the RX ring";
        if self.rx.available().map_err(|e| self.err(OP, e))? == 0 {
            return Ok(None);
        }
        let n = self
            .rx
            .ours(self.rx.consumer)
            .map_err(|e| self.err(OP, e))?;
        let descriptor = self.rx_descriptor(n);
        // Read (or refused: skipped), the descriptor goes back; the frame
        // is ours (owner `User`).
        self.rx.consume(1).map_err(|e| self.err(OP, e))?;
        let (frame, offset, len) = descriptor?;
        Ok(Some(RxPacket {
            socket: self,
            frame,
            offset,
            len,
        }))
    }

    /// Calls `f` with each waiting packet, up to `max`, and gives their
    /// frames back to the kernel; how many there were.
    pub fn recv_batch(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        const OP: &str = "reading the RX ring";
        let n = (self.rx.available().map_err(|e| self.err(OP, e))? as usize).min(max);
        let start = self
            .rx
            .ours(self.rx.consumer)
            .map_err(|e| self.err(OP, e))?;
        let mut refused = None;
        let mut done = 0;
        while done < n {
            let descriptor = self.rx_descriptor(start.wrapping_add(done as u32));
            done += 1;
            match descriptor {
                Ok((frame, offset, len)) => {
                    f(self.frame_bytes(offset, len));
                    self.refill.push(frame);
                }
                Err(e) => {
                    // Skipped, with those before it handed back.
                    refused = Some(e);
                    break;
                }
            }
        }
        self.rx.consume(done as u32).map_err(|e| self.err(OP, e))?;
        self.refill_ring().map_err(|e| self.err(OP, e))?;
        match refused {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// `len` bytes at `offset` of a frame whose owner is `User`.
    fn frame_bytes(&self, offset: usize, len: usize) -> &[u8] {
        debug_assert!(offset + len <= self.umem.len());
        // SAFETY: `check` put `offset..offset + len` inside one frame of
        // the UMEM and marked the frame `User`: the kernel gave it back
        // (the acquire load of the RX producer index made its bytes
        // visible) and gets it again only through `refill_ring`, which
        // needs `&mut self`, so not while this borrow of `self` lives.
        unsafe { std::slice::from_raw_parts(self.umem.as_ptr().add(offset), len) }
    }

    /// Waits until the RX ring has a packet (tokio; the socket's fd is
    /// registered with the reactor on first use).
    pub async fn readable(&mut self) -> Result<()> {
        const OP: &str = "waiting for the RX ring";
        if self.async_fd.is_none() {
            let dup = self.fd.try_clone().map_err(|e| self.err(OP, e))?;
            self.async_fd = Some(sys::async_fd(dup).map_err(|e| self.err(OP, e))?);
        }
        let this = &*self;
        let Some(fd) = &this.async_fd else {
            return Ok(());
        };
        loop {
            if this.rx.available().map_err(|e| this.err(OP, e))? > 0 {
                return Ok(());
            }
            let mut guard = fd.readable().await.map_err(|e| this.err(OP, e))?;
            if this.rx.available().map_err(|e| this.err(OP, e))? == 0 {
                guard.clear_ready();
            }
        }
    }

    /// The next received packet, waiting for one.
    pub async fn recv_async(&mut self) -> Result<RxPacket<'_>> {
        self.readable().await?;
        let unexpected = self.err(
            "reading the RX ring",
            io::Error::from(io::ErrorKind::WouldBlock),
        );
        self.recv()?.ok_or(unexpected)
    }

    /// Takes back the transmit frames the kernel has finished with; how
    /// many.
    pub fn reclaim(&mut self) -> Result<usize> {
        const OP: &str = "reading the completion ring";
        let n = self.completion.available().map_err(|e| self.err(OP, e))?;
        let start = self
            .completion
            .ours(self.completion.consumer)
            .map_err(|e| self.err(OP, e))?;
        let mut refused = None;
        let mut done = 0;
        while done < n {
            let addr = self
                .completion
                .slot_u64(start.wrapping_add(done), 0)
                .map_err(|e| self.err(OP, e))?
                .load(Ordering::Relaxed);
            done += 1;
            match self.check(addr, 0, Owner::KernelTx) {
                Ok(frame) => {
                    self.owners[frame as usize] = Owner::User;
                    self.free_tx.push(frame);
                }
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        self.completion.consume(done).map_err(|e| self.err(OP, e))?;
        match refused {
            Some(e) => Err(e),
            None => Ok(done as usize),
        }
    }

    /// Transmit frames the kernel still holds (queued or not yet
    /// completed).
    pub fn in_flight(&self) -> usize {
        self.ring_size as usize - self.free_tx.len()
    }

    /// Queues `packet` (a whole Ethernet frame) for transmission and asks
    /// the kernel to send. `Ok(false)` when every transmit frame is in
    /// flight: call [`XskSocket::reclaim`] (done here first) again later.
    /// A packet longer than the frame size is [`Error::XskPacketSize`].
    pub fn send(&mut self, packet: &[u8]) -> Result<bool> {
        let queued = self.enqueue(packet)?;
        if queued {
            self.flush()?;
        }
        Ok(queued)
    }

    /// [`XskSocket::send`] without asking the kernel to send: queue a
    /// batch, then call [`XskSocket::flush`] once (one system call for the
    /// batch in copy mode; the kernel sends at most 32 frames per call, so
    /// flush at least every 32).
    ///
    /// ```no_run
    /// # fn run(socket: &mut iu::xsk::XskSocket, frames: &[Vec<u8>]) -> Result<(), iu::Error> {
    /// for frame in frames.iter().take(32) {
    ///     if !socket.enqueue(frame)? {
    ///         break; // every transmit frame is in flight
    ///     }
    /// }
    /// socket.flush()?;
    /// # Ok(()) }
    /// ```
    pub fn enqueue(&mut self, packet: &[u8]) -> Result<bool> {
        if packet.len() > self.frame_size as usize {
            return Err(Error::XskPacketSize {
                len: packet.len(),
                max: self.frame_size as usize,
            });
        }
        self.reclaim()?;
        const OP: &str = "writing the TX ring";
        if self.tx.free().map_err(|e| self.err(OP, e))? == 0 {
            return Ok(false);
        }
        let Some(frame) = self.free_tx.pop() else {
            return Ok(false);
        };
        let addr = frame as usize * self.frame_size as usize;
        // SAFETY: `frame` came from `free_tx`, so its owner is `User`: the
        // kernel has not got it (it was never on the TX ring, or its
        // completion was consumed above) and no slice of it is lent out
        // (`&mut self`). `packet.len()` fits in the frame (checked), and
        // the frame is inside the UMEM (transmit frames are
        // `ring_size..2 * ring_size`). `packet` is caller memory, not the
        // UMEM's (this socket never lends transmit frames).
        unsafe {
            std::ptr::copy_nonoverlapping(
                packet.as_ptr(),
                self.umem.as_ptr().add(addr),
                packet.len(),
            );
        }
        let write = |tx: &Ring| -> io::Result<()> {
            let n = tx.ours(tx.producer)?;
            tx.slot_u64(n, 0)?.store(addr as u64, Ordering::Relaxed);
            tx.slot_u32(n, 8)?
                .store(packet.len() as u32, Ordering::Relaxed);
            tx.slot_u32(n, 12)?.store(0, Ordering::Relaxed);
            tx.produce(1)
        };
        if let Err(e) = write(&self.tx) {
            self.free_tx.push(frame);
            return Err(self.err(OP, e));
        }
        self.owners[frame as usize] = Owner::KernelTx;
        Ok(true)
    }

    /// Asks the kernel to transmit what the TX ring holds (a `sendto`,
    /// skipped when need-wakeup is on and the kernel does not ask for
    /// it). A busy device is not an error: call it again later.
    pub fn flush(&mut self) -> Result<()> {
        const OP: &str = "sendto (TX wakeup)";
        if self.need_wakeup && !self.tx.needs_wakeup().map_err(|e| self.err(OP, e))? {
            return Ok(());
        }
        match sys::xsk_kick_tx(self.fd.as_fd()) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(self.err(OP, e)),
        }
    }

    /// The kernel's counters for this socket.
    pub fn statistics(&self) -> Result<XskStatistics> {
        let s = sys::xsk_statistics(self.fd.as_fd())
            .map_err(|e| self.err("getsockopt(XDP_STATISTICS)", e))?;
        Ok(XskStatistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}

impl XskSocket {
    /// The socket, for `XskMap::set`. Not public: with the descriptor,
    /// another socket could share this UMEM (`XDP_SHARED_UMEM`) and have
    /// the kernel write frames this one lends out.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A received packet, borrowed from the socket's UMEM; its frame goes
/// back on the fill ring when this is dropped.
///
/// ```no_run
/// # fn run(socket: &mut iu::xsk::XskSocket) -> Result<(), iu::Error> {
/// if let Some(packet) = socket.recv()? {
///     let ethertype = &packet[12..14];
///     println!("{ethertype:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RxPacket<'a> {
    socket: &'a mut XskSocket,
    frame: u32,
    offset: usize,
    len: usize,
}

impl std::ops::Deref for RxPacket<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.socket.frame_bytes(self.offset, self.len)
    }
}

impl Drop for RxPacket<'_> {
    fn drop(&mut self) {
        self.socket.refill.push(self.frame);
        if let Err(e) = self.socket.refill_ring() {
            // The frame stays in `refill` for the next call.
            log::warn!("AF_XDP fill ring: {e}");
        }
    }
}

/// The error for a failed step on `interface`'s queue `queue`.
fn xsk_error(interface: &str, queue: u32, op: &'static str, e: io::Error) -> Error {
    let what = format!("AF_XDP socket on {interface} queue {queue}: {op}");
    let source = SyscallError::new(op, e);
    match source.errno() {
        Some(libc::EAFNOSUPPORT) => Error::MissingFeature {
            feature: "AF_XDP sockets (kernel built without CONFIG_XDP_SOCKETS)",
            detail: what,
        },
        _ => Error::from_syscall(
            what,
            source,
            "AF_XDP sockets need CAP_NET_RAW (and CAP_NET_ADMIN for the XDP program): run with `sudo`, or in the VM with `cargo xtask run --vm`.",
            |_, source| Error::Xsk {
                interface: interface.to_owned(),
                queue,
                op,
                hint: match source.errno() {
                    Some(libc::EBUSY) => {
                        "another AF_XDP socket (of this or another process) is bound to that queue: close it, or use another queue (a socket just closed frees its queue a moment later)"
                    }
                    Some(libc::ENODEV) => "no such interface in this network namespace",
                    Some(libc::EINVAL) if op == "bind" => {
                        "the queue does not exist on that interface (see `ethtool -l`)"
                    }
                    Some(libc::ENOMEM | libc::ENOBUFS) => {
                        "the UMEM could not be pinned: lower `ring_size`, or raise RLIMIT_MEMLOCK"
                    }
                    _ => {
                        "see the kernel's AF_XDP documentation (Documentation/networking/af_xdp.rst)"
                    }
                },
                source,
            },
        ),
    }
}
