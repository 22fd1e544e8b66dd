//! sk_skb programs (`BPF_PROG_TYPE_SK_SKB`, Linux 4.14) on the receive
//! side of the sockets of a `SockMap`/`SockHash`: a stream parser that
//! cuts the byte stream into messages (`#[sk_skb(stream_parser)]`, returns
//! a message's length), and a stream verdict that passes, drops or
//! redirects each one (`#[sk_skb(stream_verdict)]`, returns an
//! [`SkAction`](super::SkAction); `SockMap::redirect_skb`).

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use super::SkBuffContext;

/// The context of an `#[sk_skb]` program: the received data as an
/// `__sk_buff` (read it with [`SkBuffContext`]'s `read`, `load_bytes` and
/// `len`, which it dereferences to) and the socket's ports.
///
/// ```
/// use iu_ebpf::{map, maps::{SockMap, SockDirection}, programs::{SkAction, SkSkbContext}, sk_skb};
///
/// #[map]
/// static SOCKS: SockMap<2> = SockMap::new();
///
/// /// Each segment as it comes is one message.
/// #[sk_skb(stream_parser)]
/// fn whole(ctx: SkSkbContext) -> u32 {
///     ctx.len()
/// }
///
/// /// Data starting with `!` is dropped; the rest goes out of socket 1.
/// #[sk_skb(stream_verdict)]
/// fn forward(ctx: SkSkbContext) -> SkAction {
///     if ctx.read::<u8>(0) == Some(b'!') {
///         return SkAction::Drop;
///     }
///     SOCKS.redirect_skb(&ctx, 1, SockDirection::Egress)
/// }
/// # let _sim = iu_ebpf::sim::session();
/// # assert_eq!(whole(SkSkbContext::from_packet(b"abc", 80, 4000)), 3);
/// # assert_eq!(forward(SkSkbContext::from_packet(b"!x", 80, 4000)), SkAction::Drop);
/// # assert_eq!(forward(SkSkbContext::from_packet(b"hi", 80, 4000)), SkAction::Drop); // slot 1 empty
/// # SOCKS.host_set(1, 5);
/// # assert_eq!(forward(SkSkbContext::from_packet(b"hi", 80, 4000)), SkAction::Pass);
/// ```
pub struct SkSkbContext {
    skb: SkBuffContext,
    #[cfg(not(target_arch = "bpf"))]
    ports: (u16, u16),
}

/// Offsets in `struct __sk_buff` that sk_skb programs may read.
#[cfg(target_arch = "bpf")]
mod offset {
    pub const FAMILY: usize = 88;
    pub const REMOTE_IP4: usize = 92;
    pub const LOCAL_IP4: usize = 96;
    pub const REMOTE_PORT: usize = 132;
    pub const LOCAL_PORT: usize = 136;
}

impl SkSkbContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, at: usize) -> u32 {
        let skb = super::raw_context(&self.skb);
        // SAFETY: `skb` is this run's `struct __sk_buff`; the socket fields
        // at these offsets (4-byte aligned u32s) are readable by sk_skb
        // programs; volatile keeps LLVM from reshaping the load.
        unsafe { skb.cast::<u8>().add(at).cast::<u32>().read_volatile() }
    }

    /// The address family (`AF_INET` = 2, `AF_INET6` = 10).
    #[inline(always)]
    pub fn family(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::FAMILY);
        #[cfg(not(target_arch = "bpf"))]
        2
    }

    /// The local IPv4 address, as its four bytes.
    #[inline(always)]
    pub fn local_ip4(&self) -> [u8; 4] {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::LOCAL_IP4).to_ne_bytes();
        #[cfg(not(target_arch = "bpf"))]
        [127, 0, 0, 1]
    }

    /// The remote IPv4 address, as its four bytes.
    #[inline(always)]
    pub fn remote_ip4(&self) -> [u8; 4] {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::REMOTE_IP4).to_ne_bytes();
        #[cfg(not(target_arch = "bpf"))]
        [127, 0, 0, 1]
    }

    /// The local port of the socket the data arrived on.
    #[inline(always)]
    pub fn local_port(&self) -> u16 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::LOCAL_PORT) as u16; // host order
        #[cfg(not(target_arch = "bpf"))]
        self.ports.0
    }

    /// The remote port of the socket the data arrived on.
    #[inline(always)]
    pub fn remote_port(&self) -> u16 {
        // Network order in the low 16 bits.
        #[cfg(target_arch = "bpf")]
        return u16::from_be(self.field(offset::REMOTE_PORT) as u16);
        #[cfg(not(target_arch = "bpf"))]
        self.ports.1
    }

    /// A context over received data on a socket with these ports, for
    /// unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_packet(data: &'static [u8], local_port: u16, remote_port: u16) -> Self {
        Self {
            skb: SkBuffContext::from_packet(data),
            ports: (local_port, remote_port),
        }
    }
}

impl core::ops::Deref for SkSkbContext {
    type Target = SkBuffContext;

    #[inline(always)]
    fn deref(&self) -> &SkBuffContext {
        &self.skb
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::SkSkb> for SkSkbContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            // SAFETY: an sk_skb program's context is a `struct __sk_buff`,
            // as a socket filter's is; the caller's contract carries over.
            skb: unsafe {
                <SkBuffContext as super::FromRawContext<super::kind::SocketFilter>>::from_raw(ctx)
            },
        }
    }
}

impl super::private::Sealed for SkSkbContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        super::raw_context(&self.skb)
    }
}
