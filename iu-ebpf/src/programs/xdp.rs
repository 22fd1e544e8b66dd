//! XDP programs (`BPF_PROG_TYPE_XDP`): packets at the driver, before the
//! kernel's network stack.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

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
    /// On the host: a copy of the packet, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    packet: crate::sim::Packet,
}

impl XdpContext {
    /// A copy of the `T` at byte `offset` of the packet, or `None` if the
    /// packet is too short.
    #[inline(always)]
    pub fn read<T: Pod>(&self, offset: usize) -> Option<T> {
        #[cfg(target_arch = "bpf")]
        {
            let (start, end) = self.bounds();
            super::packet::read(start, end, offset)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            T::from_bytes(self.packet.bytes().get(offset..)?)
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
            crate::sim::load_bytes_from(self.packet.bytes(), offset, buf)
        }
    }

    /// Writes `value` at byte `offset` of the packet; `false` (and nothing
    /// written) if the packet is too short.
    #[inline(always)]
    pub fn write<T: Pod>(&mut self, offset: usize, value: T) -> bool {
        #[cfg(target_arch = "bpf")]
        {
            let (start, end) = self.bounds();
            super::packet::write(start, end, offset, value)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let size = core::mem::size_of::<T>();
            match self
                .packet
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
            self.packet.bytes().len()
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
            packet: crate::sim::Packet::new(packet),
        }
    }

    /// The packet as the program leaves it, for comparison with the
    /// kernel's output packet (host only).
    #[cfg(not(target_arch = "bpf"))]
    pub fn packet(&self) -> &[u8] {
        self.packet.bytes()
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
