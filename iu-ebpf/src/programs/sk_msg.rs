//! sk_msg programs (`BPF_PROG_TYPE_SK_MSG`, Linux 4.17): a verdict on each
//! message a socket of a `SockMap`/`SockHash` sends, before it reaches the
//! TCP stack: pass it, drop it, or redirect it to another socket of the
//! map (`SockMap::redirect_msg`).

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// What an `#[sk_msg]`, `#[sk_skb(stream_verdict)]` or `#[sk_lookup]`
/// program decides (`SK_PASS`, `SK_DROP`). The redirect methods of
/// `SockMap`/`SockHash` return the `Pass` that carries the redirect out,
/// or `Drop` when the key holds no socket.
///
/// A dropped message makes the sender's `send`/`write` fail with
/// `EACCES`; dropped stream data is discarded; a dropped lookup refuses the
/// connection.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkAction {
    /// `SK_DROP`.
    Drop = 0,
    /// `SK_PASS`: deliver (or carry out the redirect the program asked for).
    Pass = 1,
}

impl SkAction {
    /// The action a redirect helper returned.
    #[inline(always)]
    #[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
    pub(crate) fn from_return(ret: i64) -> Self {
        if ret == 1 { Self::Pass } else { Self::Drop }
    }
}

impl crate::ProgramReturn for SkAction {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as u32
    }
}

/// The context of an `#[sk_msg]` program: `struct sk_msg_md`, one message
/// a socket in the map sends.
///
/// ```
/// use iu_ebpf::{map, maps::{SockHash, SockDirection}, programs::{SkAction, SkMsgContext}, sk_msg};
///
/// #[map]
/// static PEERS: SockHash<u32, 16> = SockHash::new();
///
/// /// Everything sent from local port 9000 goes out of the socket whose
/// /// local port is 9001 instead.
/// #[sk_msg]
/// fn splice(ctx: SkMsgContext) -> SkAction {
///     if ctx.local_port() != 9000 {
///         return SkAction::Pass;
///     }
///     PEERS.redirect_msg(&ctx, &9001, SockDirection::Egress)
/// }
/// # let _sim = iu_ebpf::sim::session();
/// # assert_eq!(splice(SkMsgContext::from_values(2, 9000, 40000, 4)), SkAction::Drop);
/// # PEERS.host_insert(&9001, 77);
/// # assert_eq!(splice(SkMsgContext::from_values(2, 9000, 40000, 4)), SkAction::Pass);
/// ```
pub struct SkMsgContext {
    #[cfg(target_arch = "bpf")]
    msg: *mut c_void,
    /// On the host: family, local port, remote port, size.
    #[cfg(not(target_arch = "bpf"))]
    values: [u32; 4],
}

/// Offsets in `struct sk_msg_md`.
#[cfg(target_arch = "bpf")]
mod offset {
    pub const FAMILY: usize = 16;
    pub const REMOTE_IP4: usize = 20;
    pub const LOCAL_IP4: usize = 24;
    pub const REMOTE_PORT: usize = 60;
    pub const LOCAL_PORT: usize = 64;
    pub const SIZE: usize = 68;
}

impl SkMsgContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, at: usize) -> u32 {
        // SAFETY: `msg` is this run's `struct sk_msg_md`, whose u32 fields
        // (4-byte aligned at `at`, one of the offsets above) sk_msg programs
        // may read; volatile keeps LLVM from reshaping the load.
        unsafe { self.msg.cast::<u8>().add(at).cast::<u32>().read_volatile() }
    }

    /// The address family (`AF_INET` = 2, `AF_INET6` = 10).
    #[inline(always)]
    pub fn family(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::FAMILY);
        #[cfg(not(target_arch = "bpf"))]
        self.values[0]
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

    /// The local port.
    #[inline(always)]
    pub fn local_port(&self) -> u16 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::LOCAL_PORT) as u16; // host order
        #[cfg(not(target_arch = "bpf"))]
        (self.values[1] as u16)
    }

    /// The remote port.
    #[inline(always)]
    pub fn remote_port(&self) -> u16 {
        // Network order in the low 16 bits.
        #[cfg(target_arch = "bpf")]
        return u16::from_be(self.field(offset::REMOTE_PORT) as u16);
        #[cfg(not(target_arch = "bpf"))]
        (self.values[2] as u16)
    }

    /// The message's size in bytes.
    #[inline(always)]
    pub fn size(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::SIZE);
        #[cfg(not(target_arch = "bpf"))]
        self.values[3]
    }

    /// A context for one message, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_values(family: u32, local_port: u16, remote_port: u16, size: u32) -> Self {
        Self {
            values: [family, local_port.into(), remote_port.into(), size],
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::SkMsg> for SkMsgContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { msg: ctx }
    }
}

impl super::private::Sealed for SkMsgContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.msg
    }
}
