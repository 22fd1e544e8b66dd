//! tc classifiers (`BPF_PROG_TYPE_SCHED_CLS`): packets at the traffic
//! control hooks, as socket buffers.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use super::PacketOffset;
use crate::Pod;

/// What a tc program decides for a packet (`TC_ACT_*`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcAction {
    /// Let the next program or the default action decide (`TC_ACT_UNSPEC`).
    Unspec = -1,
    /// Pass the packet on (`TC_ACT_OK`).
    Ok = 0,
    /// Drop the packet (`TC_ACT_SHOT`).
    Shot = 2,
    /// Redirect the packet (`TC_ACT_REDIRECT`).
    Redirect = 7,
}

impl crate::ProgramReturn for TcAction {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as i32 as u32
    }
}

/// Offsets in `struct __sk_buff`.
#[cfg(target_arch = "bpf")]
mod offset {
    pub const LEN: usize = 0;
    pub const DATA: usize = 76;
    pub const DATA_END: usize = 80;
}

/// The context of a `#[classifier]` program: the socket buffer, with
/// bounds-checked access to its linear data.
///
/// ```ignore
/// #[classifier]
/// fn count(ctx: TcContext) -> TcAction {
///     BYTES.add(0, ctx.len() as u64);
///     TcAction::Ok
/// }
/// ```
pub struct TcContext {
    #[cfg(target_arch = "bpf")]
    skb: *const u8,
    /// On the host: a copy of the packet, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    packet: crate::sim::Packet,
}

impl TcContext {
    /// The packet's full length (`skb->len`, including non-linear data).
    #[inline(always)]
    pub fn len(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `skb` is this run's `__sk_buff` (`FromRawContext`).
            unsafe { self.skb.add(offset::LEN).cast::<u32>().read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.packet.bytes().len() as u32
        }
    }

    /// Whether the packet is empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the `T` at byte `offset` of the linear data, or `None` if
    /// it is shorter.
    ///
    /// `offset` is a `usize`, or a [`BoundedLen`](super::BoundedLen) /
    /// [`Offset`](super::Offset) whose run-time part the verifier bounds
    /// (no run-time offset check for that part).
    #[inline(always)]
    pub fn read<T: Pod>(&self, offset: impl PacketOffset) -> Option<T> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `skb` is this run's `__sk_buff`; the verifier rewrites
            // these 32-bit loads into the packet pointers. Plain loads (not
            // volatile), so that LLVM reuses them across reads and reloads
            // them after helper calls, as for C.
            let (start, end) = unsafe {
                let data = self.skb.add(offset::DATA).cast::<u32>().read();
                let end = self.skb.add(offset::DATA_END).cast::<u32>().read();
                (data as usize as *const u8, end as usize as *const u8)
            };
            super::packet::read(start, end, offset)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let offset = super::offset::resolve(offset, core::mem::size_of::<T>())?;
            T::from_bytes(self.packet.bytes().get(offset..)?)
        }
    }

    /// The header `H` at byte `offset` of the linear data, bounds-checked
    /// once for all its bytes, or `None` if it is shorter; its fields are
    /// then read with one load each (see `XdpContext::header`).
    ///
    /// `offset` is a `usize`, or a [`BoundedLen`](super::BoundedLen) /
    /// [`Offset`](super::Offset) whose run-time part the verifier bounds
    /// (no run-time offset check for that part).
    #[inline(always)]
    pub fn header<H: Pod>(&self, offset: impl PacketOffset) -> Option<super::Header<'_, H>> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: as in `read`.
            let (start, end) = unsafe {
                let data = self.skb.add(offset::DATA).cast::<u32>().read();
                let end = self.skb.add(offset::DATA_END).cast::<u32>().read();
                (data as usize as *const u8, end as usize as *const u8)
            };
            super::Header::check(start, end, offset)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.read::<H>(offset).map(super::Header::host)
        }
    }

    /// Copies `buf.len()` bytes of the packet (linear data or not) from
    /// byte `offset` into `buf` and returns them, or `None` if the packet is
    /// shorter (`bpf_skb_load_bytes`). The length may be known only at run
    /// time (`&mut buf[..n]`): the helper checks it.
    ///
    /// ```ignore
    /// let mut buf = [0u8; 64];
    /// let n = (ctx.len() as usize).saturating_sub(42).min(64);
    /// let payload = ctx.load_bytes(42, &mut buf[..n]).unwrap_or_default();
    /// ```
    #[inline(always)]
    pub fn load_bytes<'b>(&self, offset: usize, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        #[cfg(target_arch = "bpf")]
        {
            super::packet::load_bytes(
                |offset, to, len| {
                    // SAFETY: `skb` is this run's `__sk_buff`; the helper
                    // writes at most `len` (the buffer's length) bytes at
                    // `to` and fails when the packet is shorter.
                    unsafe {
                        crate::helpers::raw::skb_load_bytes(
                            self.skb.cast_mut().cast(),
                            offset,
                            to.cast(),
                            len,
                        )
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
impl super::FromRawContext<super::kind::SchedCls> for TcContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            skb: ctx.cast_const().cast(),
        }
    }
}

impl super::private::Sealed for TcContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.skb.cast_mut().cast()
    }
}
