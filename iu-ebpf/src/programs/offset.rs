//! Packet offsets whose run-time part has a maximum known at compile time
//! (an IPv4 header length, a TCP data offset): the packet accessors add it
//! without the run-time offset check that a plain `usize` needs, as C does.

use core::ops::Add;

/// The largest packet offset a read or write may reach (the verifier's
/// `MAX_PACKET_OFF`).
pub(crate) const MAX_OFFSET: usize = 0xffff;

/// A length read from a packet whose maximum is known at compile time:
/// `(bits & MASK) * SCALE`, at most [`MAX`](Self::MAX) (`MASK * SCALE`).
///
/// Added to a `usize` it makes an [`Offset`] that `read`, `header` and
/// `write` of [`XdpContext`](super::XdpContext) and
/// [`TcContext`](super::TcContext) take like a `usize`, and there it costs
/// what C's `(void *)ip + ip->ihl * 4` costs: a plain `usize` offset known
/// only at run time is checked against the packet size limit first (a
/// compare and a jump), because the verifier refuses to add a value to a
/// packet pointer without a bound it can see, and iu cannot tell a bound
/// the verifier tracks from one it does not. A `BoundedLen`'s mask is
/// applied by one `&=` instruction that LLVM cannot remove or move, on the
/// very register that is then scaled and added, so the verifier knows its
/// bound and no check is needed. It cannot be made any other way (it is
/// not `Pod`, and has no `From<usize>`), so safe code cannot skip the
/// check with an unbounded value.
///
/// `MASK * SCALE` must not exceed the packet size limit (`0xffff`); the
/// build fails otherwise.
///
/// ```
/// use iu_ebpf::{Pod, field, programs::{BoundedLen, XdpAction, XdpContext}};
///
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Ipv4 { version_ihl: u8, tos: u8, len: [u8; 2], id: [u8; 2], frag: [u8; 2],
///               ttl: u8, protocol: u8, check: [u8; 2], source: [u8; 4], dest: [u8; 4] }
///
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Udp { source: [u8; 2], dest: [u8; 2], len: [u8; 2], check: [u8; 2] }
///
/// fn dest_port(ctx: &XdpContext) -> Option<u16> {
///     let ip = ctx.header::<Ipv4>(14)?;
///     // The IPv4 header length: IHL (the low 4 bits) in 32-bit words.
///     let header_len = BoundedLen::<0x0f, 4>::new(ip.get(field!(Ipv4, version_ihl)));
///     let udp = ctx.header::<Udp>(14 + header_len)?;
///     Some(u16::from_be_bytes(udp.get(field!(Udp, dest))))
/// }
///
/// // IHL 6: four bytes of options before the UDP header.
/// let mut packet = [0u8; 14 + 24 + 8];
/// packet[14] = 0x46;
/// packet[14 + 24 + 2..14 + 24 + 4].copy_from_slice(&53u16.to_be_bytes());
/// assert_eq!(dest_port(&XdpContext::from_packet(&packet)), Some(53));
/// assert_eq!(BoundedLen::<0x0f, 4>::new(0x46u8).get(), 24);
/// // The UDP header would end past the packet.
/// packet[14] = 0x47;
/// assert_eq!(dest_port(&XdpContext::from_packet(&packet)), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundedLen<const MASK: usize, const SCALE: usize = 1> {
    /// At most `MASK * SCALE`: the only constructor masks and scales.
    value: usize,
}

impl<const MASK: usize, const SCALE: usize> BoundedLen<MASK, SCALE> {
    /// The largest value: `MASK * SCALE`.
    pub const MAX: usize = {
        assert!(SCALE > 0, "BoundedLen: SCALE must be at least 1");
        match MASK.checked_mul(SCALE) {
            Some(max) if max <= MAX_OFFSET => max,
            _ => panic!("BoundedLen: MASK * SCALE must be at most 0xffff, the packet size limit"),
        }
    };

    /// Evaluates `MAX` (and its compile-time checks) wherever `new` is used.
    const CHECKED: () = {
        let _ = Self::MAX;
    };

    /// `(bits & MASK) * SCALE`.
    ///
    /// ```
    /// use iu_ebpf::programs::BoundedLen;
    ///
    /// // The TCP data offset: the high 4 bits of byte 12, in 32-bit words.
    /// let byte_12: u8 = 0x80;
    /// assert_eq!(BoundedLen::<0x0f, 4>::new(byte_12 >> 4).get(), 32);
    /// // An IPv6 extension header's length: 8-byte units after the first 8.
    /// assert_eq!(BoundedLen::<0xff, 8>::new(2u8).get() + 8, 24);
    /// ```
    #[inline(always)]
    pub fn new(bits: impl Into<u64>) -> Self {
        let () = Self::CHECKED;
        let mut bits: u64 = bits.into();
        #[cfg(target_arch = "bpf")]
        // SAFETY: one `&=` of a register with a constant; no memory is
        // touched. In assembly so that LLVM can neither drop the mask (when
        // it proves it from conditions the verifier may not follow) nor
        // apply it to another copy of the value: the verifier sees the
        // bound on the register that is scaled and added.
        unsafe {
            core::arch::asm!(
                "{bits} &= {mask}",
                bits = inout(reg) bits,
                mask = const MASK,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            bits &= MASK as u64;
        }
        // No overflow: `bits <= MASK` and `MASK * SCALE <= MAX`. Wrapping,
        // so that no overflow check (a panic path) is compiled in.
        Self {
            value: (bits as usize).wrapping_mul(SCALE),
        }
    }

    /// The length as a plain `usize` (an offset made from it is checked
    /// at run time again).
    #[inline(always)]
    pub fn get(self) -> usize {
        self.value
    }
}

/// A packet offset: a `usize` `base` plus a [`BoundedLen`], made with `+`
/// (`14 + header_len`, `header_len + 8`). The packet accessors check
/// `base` as they check a plain `usize` offset (not at all when it is a
/// constant) and add the bounded length unchecked.
///
/// ```
/// use iu_ebpf::programs::{BoundedLen, XdpContext};
///
/// let mut packet = [0u8; 64];
/// packet[14] = 0x45; // IPv4, IHL 5
/// packet[14 + 20 + 2] = 0x12;
/// let ctx = XdpContext::from_packet(&packet);
/// let header_len = BoundedLen::<0x0f, 4>::new(ctx.read::<u8>(14).unwrap());
/// assert_eq!(ctx.read::<u8>(14 + header_len + 2), Some(0x12));
/// assert_eq!(ctx.read::<u8>(header_len + 60), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset<const MASK: usize, const SCALE: usize = 1> {
    base: usize,
    len: BoundedLen<MASK, SCALE>,
}

impl<const MASK: usize, const SCALE: usize> Offset<MASK, SCALE> {
    /// The offset as a plain `usize`.
    #[inline(always)]
    pub fn get(self) -> usize {
        self.base.saturating_add(self.len.value)
    }
}

impl<const MASK: usize, const SCALE: usize> Add<BoundedLen<MASK, SCALE>> for usize {
    type Output = Offset<MASK, SCALE>;

    #[inline(always)]
    fn add(self, len: BoundedLen<MASK, SCALE>) -> Offset<MASK, SCALE> {
        Offset { base: self, len }
    }
}

impl<const MASK: usize, const SCALE: usize> Add<usize> for BoundedLen<MASK, SCALE> {
    type Output = Offset<MASK, SCALE>;

    #[inline(always)]
    fn add(self, base: usize) -> Offset<MASK, SCALE> {
        Offset { base, len: self }
    }
}

impl<const MASK: usize, const SCALE: usize> Add<usize> for Offset<MASK, SCALE> {
    type Output = Self;

    /// Adds to the base (saturating: a base past the packet size limit is
    /// refused by the accessors).
    #[inline(always)]
    fn add(self, more: usize) -> Self {
        Self {
            base: self.base.saturating_add(more),
            len: self.len,
        }
    }
}

mod sealed {
    /// The parts of a packet offset: a base checked like any `usize`
    /// offset, and a length at most `MAX_LEN` that the verifier bounds.
    pub trait Parts: Copy {
        /// The largest `len` (0: none).
        const MAX_LEN: usize;
        /// `(base, len)`.
        fn parts(self) -> (usize, usize);
    }
}

pub(crate) use sealed::Parts;

/// What packet accessors take as an offset: a `usize` (checked against
/// the packet size limit at run time, unless it is a constant), or an
/// [`Offset`] / a [`BoundedLen`] (its bounded part added unchecked).
/// Sealed: no other type can claim a bound.
///
/// ```
/// use iu_ebpf::programs::{BoundedLen, XdpContext};
///
/// let ctx = XdpContext::from_packet(&[1, 2, 3, 4, 5]);
/// assert_eq!(ctx.read::<u8>(2), Some(3));
/// assert_eq!(ctx.read::<u8>(BoundedLen::<3>::new(7u8)), Some(4));
/// ```
pub trait PacketOffset: Parts {}

impl Parts for usize {
    const MAX_LEN: usize = 0;
    #[inline(always)]
    fn parts(self) -> (usize, usize) {
        (self, 0)
    }
}
impl PacketOffset for usize {}

impl<const MASK: usize, const SCALE: usize> Parts for BoundedLen<MASK, SCALE> {
    const MAX_LEN: usize = Self::MAX;
    #[inline(always)]
    fn parts(self) -> (usize, usize) {
        (0, self.value)
    }
}
impl<const MASK: usize, const SCALE: usize> PacketOffset for BoundedLen<MASK, SCALE> {}

impl<const MASK: usize, const SCALE: usize> Parts for Offset<MASK, SCALE> {
    const MAX_LEN: usize = BoundedLen::<MASK, SCALE>::MAX;
    #[inline(always)]
    fn parts(self) -> (usize, usize) {
        (self.base, self.len.value)
    }
}
impl<const MASK: usize, const SCALE: usize> PacketOffset for Offset<MASK, SCALE> {}

/// Where a `size`-byte access at `offset` starts, on the host, by the rule
/// the BPF accessors apply: `base + MAX_LEN + size` must stay within the
/// packet size limit (as must `base + size` for a plain offset), whatever
/// the run-time length.
#[cfg(not(target_arch = "bpf"))]
pub(crate) fn resolve<O: PacketOffset>(offset: O, size: usize) -> Option<usize> {
    let (base, len) = offset.parts();
    let reach = size.checked_add(O::MAX_LEN)?;
    (base <= MAX_OFFSET.checked_sub(reach)?).then_some(base + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::programs::{TcContext, XdpContext};

    /// Ethernet, IPv4 with IHL `ihl`, then 8 bytes of UDP header with
    /// destination port 53.
    fn udp(ihl: u8) -> std::vec::Vec<u8> {
        let mut p = std::vec![0u8; 14 + usize::from(ihl) * 4 + 8];
        p[14] = 0x40 | ihl;
        let udp = 14 + usize::from(ihl) * 4;
        p[udp + 2..udp + 4].copy_from_slice(&53u16.to_be_bytes());
        p
    }

    #[test]
    fn new_masks_then_scales() {
        assert_eq!(BoundedLen::<0x0f, 4>::new(0x45u8).get(), 20);
        assert_eq!(BoundedLen::<0x0f, 4>::new(0xffu8).get(), 60);
        assert_eq!(BoundedLen::<0x0f, 4>::new(u64::MAX).get(), 60);
        assert_eq!(BoundedLen::<0xff, 8>::new(0x1234u16).get(), 0x34 * 8);
        assert_eq!(BoundedLen::<0x0f, 4>::MAX, 60);
        assert_eq!(BoundedLen::<0xffff>::MAX, 0xffff);
        assert_eq!((14 + BoundedLen::<0x0f, 4>::new(5u8) + 2).get(), 36);
    }

    #[test]
    fn xdp_reads_headers_and_writes_after_a_bounded_length() {
        for ihl in [5, 6, 15] {
            let packet = udp(ihl);
            let mut ctx = XdpContext::from_packet(&packet);
            let header_len = BoundedLen::<0x0f, 4>::new(ctx.read::<u8>(14).unwrap());
            assert_eq!(header_len.get(), usize::from(ihl) * 4);
            let port = ctx.read::<[u8; 2]>(14 + header_len + 2);
            assert_eq!(port, Some(53u16.to_be_bytes()), "IHL {ihl}");
            let header = ctx.header::<[u8; 8]>(14 + header_len).unwrap();
            assert_eq!(header.read()[2..4], 53u16.to_be_bytes());
            assert!(ctx.write(14 + header_len + 2, 54u16.to_be_bytes()));
            let at = 14 + usize::from(ihl) * 4 + 2;
            assert_eq!(ctx.packet()[at..at + 2], 54u16.to_be_bytes());
            // One byte past the end, in each accessor.
            assert_eq!(ctx.read::<[u8; 9]>(14 + header_len), None);
            assert!(ctx.header::<[u8; 9]>(14 + header_len).is_none());
            assert!(!ctx.write(14 + header_len + 7, 0u16));
        }
    }

    #[test]
    fn tc_reads_after_a_bounded_length() {
        let ctx = TcContext::from_packet(&udp(7));
        let header_len = BoundedLen::<0x0f, 4>::new(ctx.read::<u8>(14).unwrap());
        assert_eq!(
            ctx.read::<[u8; 2]>(header_len + 16),
            Some(53u16.to_be_bytes())
        );
        let header = ctx.header::<[u8; 8]>(14 + header_len).unwrap();
        assert_eq!(header.read()[2..4], 53u16.to_be_bytes());
        assert!(ctx.header::<[u8; 8]>(15 + header_len).is_none());
    }

    #[test]
    fn a_base_that_could_pass_the_size_limit_with_the_largest_length_is_refused() {
        // The BPF accessors check `base` against `0xffff - MAX - size`
        // (the verifier must see the sum bounded); the host does the same.
        let len = BoundedLen::<0xff, 8>::new(0u8);
        assert_eq!(
            resolve(len + (0xffff - 0x7f8 - 2), 2),
            Some(0xffff - 0x7f8 - 2)
        );
        assert_eq!(resolve(len + (0xffff - 0x7f8 - 1), 2), None);
        assert_eq!(resolve(len + usize::MAX, 1), None);
        assert_eq!(resolve(0xfffd_usize, 2), Some(0xfffd));
        assert_eq!(resolve(0xfffe_usize, 2), None);
    }
}
