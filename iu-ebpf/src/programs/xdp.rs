//! XDP programs (`BPF_PROG_TYPE_XDP`): packets at the driver, before the
//! kernel's network stack.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use super::PacketOffset;
use crate::Pod;

/// What an XDP program decides for a packet.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpAction {
    /// An error: drop, and count it as an exception (`XDP_ABORTED`).
    Aborted = 0,
    /// Drop the packet (`XDP_DROP`).
    Drop = 1,
    /// Hand the packet to the network stack (`XDP_PASS`).
    Pass = 2,
    /// Send the packet back out of the interface (`XDP_TX`).
    Tx = 3,
    /// Redirect the packet (`XDP_REDIRECT`).
    Redirect = 4,
}

impl XdpAction {
    /// The action a helper returned (`bpf_redirect_map`); unknown values
    /// are `Aborted`.
    #[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
    pub(crate) fn from_return(ret: i64) -> Self {
        match ret {
            1 => XdpAction::Drop,
            2 => XdpAction::Pass,
            3 => XdpAction::Tx,
            4 => XdpAction::Redirect,
            _ => XdpAction::Aborted,
        }
    }
}

impl crate::ProgramReturn for XdpAction {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as u32
    }
}

/// `struct xdp_md`: `data` and `data_end` as the verifier tracks them.
#[cfg(target_arch = "bpf")]
#[repr(C)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

/// The context of an `#[xdp]` program: the packet, with bounds-checked
/// access in the pointer form the verifier tracks.
///
/// ```ignore
/// #[xdp]
/// fn firewall(ctx: XdpContext) -> XdpAction {
///     match ctx.read::<[u8; 14]>(0) {
///         Some(_ethernet) => XdpAction::Pass,
///         None => XdpAction::Drop,
///     }
/// }
/// ```
pub struct XdpContext {
    #[cfg(target_arch = "bpf")]
    ctx: *mut XdpMd,
    /// On the host: a copy of the packet, for unit tests (in a cell:
    /// `adjust_tail` and `store_bytes` change it through `&self`).
    #[cfg(not(target_arch = "bpf"))]
    packet: core::cell::RefCell<crate::sim::Packet>,
}

impl XdpContext {
    /// A copy of the `T` at byte `offset` of the packet, or `None` if the
    /// packet is too short.
    ///
    /// `offset` is a `usize`, or a [`BoundedLen`](super::BoundedLen) /
    /// [`Offset`](super::Offset) whose run-time part the verifier bounds
    /// (no run-time offset check for that part).
    #[inline(always)]
    pub fn read<T: Pod>(&self, offset: impl PacketOffset) -> Option<T> {
        #[cfg(target_arch = "bpf")]
        {
            let (start, end) = self.bounds();
            super::packet::read(start, end, offset)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let offset = super::offset::resolve(offset, core::mem::size_of::<T>())?;
            T::from_bytes(self.packet.borrow().bytes().get(offset..)?)
        }
    }

    /// The header `H` at byte `offset`, bounds-checked once for all its
    /// bytes, or `None` if the packet is too short; its fields are then
    /// read with one load each ([`Header::get`](super::Header::get) with
    /// [`field!`](crate::field)), as C reads `ip->saddr` after
    /// `if (ip + 1 > data_end)`. Reading each field with [`read`](Self::read) checks
    /// the bounds once per field.
    ///
    /// ```ignore
    /// let Some(ip) = ctx.header::<Ipv4>(14) else { return XdpAction::Pass };
    /// let source: [u8; 4] = ip.get(field!(Ipv4, source));
    /// ```
    ///
    /// `offset` is a `usize`, or a [`BoundedLen`](super::BoundedLen) /
    /// [`Offset`](super::Offset) whose run-time part the verifier bounds
    /// (no run-time offset check for that part).
    #[inline(always)]
    pub fn header<H: Pod>(&self, offset: impl PacketOffset) -> Option<super::Header<'_, H>> {
        #[cfg(target_arch = "bpf")]
        {
            let (start, end) = self.bounds();
            super::Header::check(start, end, offset)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.read::<H>(offset).map(super::Header::host)
        }
    }

    /// Copies `buf.len()` bytes of the packet from byte `offset` into `buf`
    /// and returns them, or `None` if the packet is shorter
    /// (`bpf_xdp_load_bytes`, Linux 5.18). The length may be known only at
    /// run time (`&mut buf[..n]` with `n` bounded by the buffer): the helper
    /// checks it, where reading byte by byte would need a bounds check each.
    /// It also reads the fragments of multi-buffer (`frags`) packets.
    ///
    /// ```ignore
    /// let mut buf = [0u8; 64];
    /// let n = ctx.len().saturating_sub(42).min(64);
    /// let payload = ctx.load_bytes(42, &mut buf[..n]).unwrap_or_default();
    /// ```
    #[inline(always)]
    pub fn load_bytes<'b>(&self, offset: usize, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        #[cfg(target_arch = "bpf")]
        {
            super::packet::load_bytes(
                |offset, to, len| {
                    // SAFETY: `ctx` is this run's `xdp_md`; the helper writes
                    // at most `len` (the buffer's length) bytes at `to` and
                    // fails when the packet is shorter.
                    unsafe {
                        crate::helpers::raw::xdp_load_bytes(self.ctx.cast(), offset, to.cast(), len)
                    }
                },
                offset,
                buf,
            )
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            crate::sim::load_bytes_from(self.packet.borrow().bytes(), offset, buf)
        }
    }

    /// Writes `value` at byte `offset` of the packet; `false` (and nothing
    /// written) if the packet is too short.
    ///
    /// `offset` is a `usize`, or a [`BoundedLen`](super::BoundedLen) /
    /// [`Offset`](super::Offset) whose run-time part the verifier bounds
    /// (no run-time offset check for that part).
    #[inline(always)]
    pub fn write<T: Pod>(&mut self, offset: impl PacketOffset, value: T) -> bool {
        #[cfg(target_arch = "bpf")]
        {
            let (start, end) = self.bounds();
            super::packet::write(start, end, offset, value)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let size = core::mem::size_of::<T>();
            let Some(offset) = super::offset::resolve(offset, size) else {
                return false;
            };
            match self
                .packet
                .get_mut()
                .bytes_mut()
                .get_mut(offset..offset.saturating_add(size))
            {
                Some(bytes) => {
                    bytes.copy_from_slice(value.as_bytes());
                    true
                }
                None => false,
            }
        }
    }

    /// Moves the packet's start by `delta` bytes (`bpf_xdp_adjust_head`,
    /// Linux 4.10): a negative `delta` grows the packet at its front, into
    /// the headroom the driver leaves (256 bytes on most drivers, veth
    /// included), a positive one drops bytes from the front. Returns
    /// `false`, the packet unchanged, when the kernel refuses. Offsets of
    /// later reads and writes count from the new start; bytes added are
    /// not initialized: write all of them. Shared like `adjust_tail`.
    ///
    /// ```ignore
    /// // 40 more bytes in front (an encapsulation header).
    /// if !ctx.adjust_head(-40) {
    ///     return XdpAction::Pass;
    /// }
    /// ```
    #[inline(always)]
    pub fn adjust_head(&self, delta: i32) -> bool {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `ctx` is this run's `xdp_md`; the helper moves `data`
            // and the verifier forgets every packet range it had checked
            // (`bounds` reloads both pointers at every access).
            unsafe { crate::helpers::raw::xdp_adjust_head(self.ctx.cast(), delta) == 0 }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.packet.borrow_mut().adjust_head(delta)
        }
    }

    /// Grows (`delta > 0`) or shrinks the packet at its end by `delta`
    /// bytes (`bpf_xdp_adjust_tail`, Linux 4.18; growing needs 5.8 and
    /// room in the driver's buffer). Returns `false`, the packet unchanged,
    /// when the kernel refuses. Bytes added are not initialized by every
    /// driver: write all of them. Earlier reads stay valid (they were
    /// copies); later ones see the new length. It takes the context
    /// shared, as `store_bytes` does, because nothing ever borrows packet
    /// memory (reads are copies), so that both work inside
    /// `PerCpuScratch::with`, which lends the context shared.
    ///
    /// ```ignore
    /// // Make room for a 100-byte reply after a 50-byte request.
    /// if !ctx.adjust_tail(50) {
    ///     return XdpAction::Pass;
    /// }
    /// ```
    #[inline(always)]
    pub fn adjust_tail(&self, delta: i32) -> bool {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `ctx` is this run's `xdp_md`; the helper moves
            // `data_end` and the verifier forgets every packet range it had
            // checked, so no earlier pointer is used after it (`bounds`
            // reloads both pointers at every access).
            unsafe { crate::helpers::raw::xdp_adjust_tail(self.ctx.cast(), delta) == 0 }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.packet.borrow_mut().adjust_tail(delta)
        }
    }

    /// Copies `bytes` into the packet at byte `offset`
    /// (`bpf_xdp_store_bytes`, Linux 5.18); `false`, nothing written, if
    /// the packet is shorter or `bytes` is empty. The length may be known
    /// only at run time (`&buf[..n]`): the helper checks it against the
    /// packet, where a store per byte would need a bounds check each.
    ///
    /// ```ignore
    /// let reply = b"END\r\n";
    /// ctx.store_bytes(42, reply);
    /// ```
    #[inline(always)]
    pub fn store_bytes(&self, offset: usize, bytes: &[u8]) -> bool {
        #[cfg(target_arch = "bpf")]
        {
            let Ok(offset) = u32::try_from(offset) else {
                return false;
            };
            let Some(mut len) = u64::try_from(bytes.len())
                .ok()
                .filter(|&l| l <= u64::from(u32::MAX))
            else {
                return false;
            };
            // As in `packet::load_bytes`: the verifier must see the zero
            // test on the register the helper gets (the empty block keeps
            // LLVM from testing a copy), written as an unsigned `> 0`
            // (older kernels learn no lower bound from `!= 0`).
            // SAFETY: no instruction.
            unsafe {
                core::arch::asm!("/* {len} */", len = inout(reg) len, options(pure, nomem, nostack, preserves_flags));
            }
            // SAFETY: a compare and a jump; no memory is touched.
            unsafe {
                core::arch::asm!(
                    "if {len} > 0 goto {store}",
                    len = in(reg) len,
                    store = label {
                        // SAFETY: `ctx` is this run's `xdp_md`; the helper
                        // reads `len` (the slice's length) bytes at `bytes`
                        // and fails when the packet is shorter.
                        return unsafe {
                            crate::helpers::raw::xdp_store_bytes(
                                self.ctx.cast(),
                                offset,
                                bytes.as_ptr().cast(),
                                len as u32,
                            )
                        } == 0;
                    },
                    options(nomem, nostack),
                );
            }
            false
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            if bytes.is_empty() {
                return false;
            }
            match self
                .packet
                .borrow_mut()
                .bytes_mut()
                .get_mut(offset..offset.saturating_add(bytes.len()))
            {
                Some(to) => {
                    to.copy_from_slice(bytes);
                    true
                }
                None => false,
            }
        }
    }

    /// The packet's length in bytes.
    #[inline(always)]
    pub fn len(&self) -> usize {
        #[cfg(target_arch = "bpf")]
        {
            let (start, end) = self.bounds();
            (end as usize).wrapping_sub(start as usize)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.packet.borrow().bytes().len()
        }
    }

    /// Whether the packet is empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The interface the packet arrived on.
    #[inline(always)]
    pub fn ingress_ifindex(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `ctx` is this run's `xdp_md` (`FromRawContext`).
            unsafe { core::ptr::addr_of!((*self.ctx).ingress_ifindex).read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            0
        }
    }

    /// The receive queue the packet arrived on (0 in host unit tests): the
    /// slot of an [`crate::maps::XskMap`] whose socket is bound to it.
    #[inline(always)]
    pub fn rx_queue_index(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `ctx` is this run's `xdp_md` (`FromRawContext`).
            unsafe { core::ptr::addr_of!((*self.ctx).rx_queue_index).read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            0
        }
    }

    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn bounds(&self) -> (*const u8, *const u8) {
        // SAFETY: `ctx` is this run's `xdp_md`; the verifier rewrites these
        // 32-bit loads into the packet pointers. The loads are plain, not
        // volatile, so that LLVM reuses them across reads (as C does) and
        // reloads them after a helper call, which may move the packet.
        // Each stays one 32-bit load of its field: both are used whole.
        unsafe {
            let data = core::ptr::addr_of!((*self.ctx).data).read();
            let end = core::ptr::addr_of!((*self.ctx).data_end).read();
            (data as usize as *const u8, end as usize as *const u8)
        }
    }

    /// A context over a copy of `packet`, for unit tests on the host.
    ///
    /// # Panics
    ///
    /// If the packet is longer than [`crate::sim::MAX_PACKET`] bytes.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_packet(packet: &[u8]) -> Self {
        Self {
            packet: core::cell::RefCell::new(crate::sim::Packet::new(packet)),
        }
    }

    /// The packet as the program leaves it, for comparison with the
    /// kernel's output packet (host only).
    #[cfg(not(target_arch = "bpf"))]
    pub fn packet(&self) -> std::vec::Vec<u8> {
        self.packet.borrow().bytes().to_vec()
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::Xdp> for XdpContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ctx: ctx.cast() }
    }
}

impl super::private::Sealed for XdpContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx.cast()
    }
}
