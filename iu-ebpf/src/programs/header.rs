//! Packet headers bounds-checked once, read field by field.

use crate::Pod;

/// A packet header of type `H` whose bytes were bounds-checked once
/// (`XdpContext::header`, `TcContext::header`): each field is then read
/// with one load and no further check, as C reads `ip->saddr` after
/// `if (ip + 1 > data_end)`. Name fields with [`field!`](crate::field):
///
/// ```
/// use iu_ebpf::{Pod, field, programs::XdpContext};
///
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Ipv4 { version_ihl: u8, tos: u8, len: [u8; 2], id: [u8; 2], frag: [u8; 2],
///               ttl: u8, protocol: u8, check: [u8; 2], source: [u8; 4], dest: [u8; 4] }
///
/// let mut packet = [0u8; 34];
/// packet[14 + 9] = 17;
/// packet[26..30].copy_from_slice(&[10, 0, 0, 1]);
/// let ctx = XdpContext::from_packet(&packet);
///
/// let ip = ctx.header::<Ipv4>(14).unwrap();
/// assert_eq!(ip.get(field!(Ipv4, protocol)), 17);
/// assert_eq!(ip.get(field!(Ipv4, source)), [10, 0, 0, 1]);
/// assert!(ctx.header::<Ipv4>(15).is_none());
/// ```
pub struct Header<'a, H> {
    /// The header's first byte; `size_of::<H>()` bytes from it are inside
    /// the packet (checked by the pointer comparison the verifier tracks).
    #[cfg(target_arch = "bpf")]
    at: *const u8,
    #[cfg(target_arch = "bpf")]
    _packet: core::marker::PhantomData<(&'a [u8], H)>,
    /// On the host: a copy.
    #[cfg(not(target_arch = "bpf"))]
    value: H,
    #[cfg(not(target_arch = "bpf"))]
    _packet: core::marker::PhantomData<&'a [u8]>,
}

impl<H: Pod> Header<'_, H> {
    /// The header at `start + offset`, if it ends at or before `end`.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    pub(crate) fn check(
        start: *const u8,
        end: *const u8,
        offset: impl super::PacketOffset,
    ) -> Option<Self> {
        let size = core::mem::size_of::<H>();
        let at = super::packet::at(start, offset, size)?;
        (at.wrapping_add(size) <= end).then_some(Self {
            at,
            _packet: core::marker::PhantomData,
        })
    }

    #[cfg(not(target_arch = "bpf"))]
    pub(crate) fn host(value: H) -> Self {
        Self {
            value,
            _packet: core::marker::PhantomData,
        }
    }

    /// A copy of the header's field `field` (one load for a 1-, 2-, 4- or
    /// 8-byte field, at any alignment the kernel allows in packets).
    #[inline(always)]
    pub fn get<T: Pod, const OFFSET: usize>(&self, field: crate::maps::Field<H, T, OFFSET>) -> T {
        let _ = field;
        let () = crate::maps::Field::<H, T, OFFSET>::IN_BOUNDS;
        #[cfg(target_arch = "bpf")]
        {
            macro_rules! load {
                ($ty:ty, $insn:literal) => {{
                    let value: u64;
                    // SAFETY: `[at + OFFSET, at + OFFSET + size)` lies inside
                    // the header (`IN_BOUNDS`), which lies inside the packet
                    // (checked when `self` was made); the kernel allows this
                    // load at any alignment where it runs the program. It
                    // writes no memory and no stack.
                    unsafe {
                        core::arch::asm!(
                            $insn,
                            v = lateout(reg) value,
                            p = in(reg) self.at,
                            o = const OFFSET,
                            options(pure, readonly, nostack, preserves_flags),
                        );
                    }
                    // SAFETY: BPF loads zero-extend into the 64-bit register.
                    unsafe { core::hint::assert_unchecked(value <= <$ty>::MAX as u64) };
                    // SAFETY: `T` has the size of `$ty` (matched below) and
                    // is `Pod`, valid for any bytes.
                    unsafe { core::mem::transmute_copy::<$ty, T>(&(value as $ty)) }
                }};
            }
            match core::mem::size_of::<T>() {
                1 => load!(u8, "{v} = *(u8 *)({p} + {o})"),
                2 => load!(u16, "{v} = *(u16 *)({p} + {o})"),
                4 => load!(u32, "{v} = *(u32 *)({p} + {o})"),
                8 => load!(u64, "{v} = *(u64 *)({p} + {o})"),
                // SAFETY: the field lies inside the checked header,
                // `read_unaligned` has no alignment need, and `T: Pod` is
                // valid for any bytes.
                _ => unsafe { core::ptr::read_unaligned(self.at.wrapping_add(OFFSET).cast::<T>()) },
            }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            T::from_bytes(&self.value.as_bytes()[OFFSET..]).unwrap_or_else(T::zeroed)
        }
    }

    /// A copy of the whole header.
    #[inline(always)]
    pub fn read(&self) -> H {
        #[cfg(target_arch = "bpf")]
        // SAFETY: the header's bytes lie inside the packet (checked when
        // `self` was made); `H: Pod` is valid for any bytes.
        unsafe {
            core::ptr::read_unaligned(self.at.cast::<H>())
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.value
        }
    }
}
