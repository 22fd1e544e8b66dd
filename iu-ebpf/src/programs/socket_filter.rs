//! Socket filters (`BPF_PROG_TYPE_SOCKET_FILTER`): decide how much of each
//! packet a socket receives.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use crate::Pod;

/// The context of a `#[socket_filter]` program: the packet, read with
/// `bpf_skb_load_bytes` (socket filters have no direct packet access).
/// The program returns how many bytes of the packet the socket keeps: `0`
/// drops it, `u32::MAX` keeps all of it.
///
/// ```ignore
/// #[socket_filter]
/// fn only_udp(ctx: SkBuffContext) -> u32 {
///     if ctx.read::<u8>(9) == Some(17) { u32::MAX } else { 0 }
/// }
/// ```
pub struct SkBuffContext {
    #[cfg(target_arch = "bpf")]
    skb: *mut c_void,
    /// On the host: the packet, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    packet: &'static [u8],
}

impl SkBuffContext {
    /// A copy of the `T` at byte `offset` of the packet, or `None` if the
    /// packet is shorter.
    #[inline(always)]
    pub fn read<T: Pod>(&self, offset: usize) -> Option<T> {
        #[cfg(target_arch = "bpf")]
        {
            let mut value = T::zeroed();
            // SAFETY: `skb` is this run's socket buffer; the helper copies
            // `size_of::<T>()` bytes into `value` (valid for any bytes) or
            // fails when the packet is too short.
            let ret = unsafe {
                crate::helpers::raw::skb_load_bytes(
                    self.skb,
                    offset as u32,
                    (&mut value as *mut T).cast(),
                    core::mem::size_of::<T>() as u32,
                )
            };
            (ret == 0).then_some(value)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            T::from_bytes(self.packet.get(offset..)?)
        }
    }

    /// Copies `buf.len()` bytes of the packet from byte `offset` into `buf`
    /// and returns them, or `None` if the packet is shorter
    /// (`bpf_skb_load_bytes`). The length may be known only at run time
    /// (`&mut buf[..n]`): the helper checks it.
    ///
    /// ```ignore
    /// let mut buf = [0u8; 64];
    /// let n = (ctx.len() as usize).min(64);
    /// let head = ctx.load_bytes(0, &mut buf[..n]).unwrap_or_default();
    /// ```
    #[inline(always)]
    pub fn load_bytes<'b>(&self, offset: usize, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        #[cfg(target_arch = "bpf")]
        {
            super::packet::load_bytes(
                |offset, to, len| {
                    // SAFETY: `skb` is this run's socket buffer; the helper
                    // writes at most `len` (the buffer's length) bytes at
                    // `to` and fails when the packet is shorter.
                    unsafe { crate::helpers::raw::skb_load_bytes(self.skb, offset, to.cast(), len) }
                },
                offset,
                buf,
            )
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            crate::sim::load_bytes_from(self.packet, offset, buf)
        }
    }

    /// The packet's length.
    #[inline(always)]
    pub fn len(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `skb` is this run's `__sk_buff`; `len` is at offset 0.
            unsafe { self.skb.cast::<u32>().read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.packet.len() as u32
        }
    }

    /// Whether the packet is empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A context over a packet, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_packet(packet: &'static [u8]) -> Self {
        Self { packet }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::SocketFilter> for SkBuffContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { skb: ctx }
    }
}

impl super::private::Sealed for SkBuffContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.skb
    }
}
