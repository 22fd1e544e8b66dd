//! sk_lookup programs (`BPF_PROG_TYPE_SK_LOOKUP`, Linux 5.9): run when a
//! TCP connection request or a UDP datagram arrives in a network namespace,
//! before the kernel looks for a listening socket, and may pick the socket
//! themselves ([`SkLookupContext::assign`], a socket taken from a
//! `SockMap`/`SockHash` with `socket`).

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use crate::maps::SocketRef;

/// The context of an `#[sk_lookup]` program: `struct bpf_sk_lookup`, the
/// packet's addresses and protocol.
///
/// ```
/// use iu_ebpf::{map, maps::SockMap, programs::{SkAction, SkLookupContext}, sk_lookup};
///
/// #[map]
/// static SERVER: SockMap<1> = SockMap::new();
///
/// /// Connections to any port from 7000 to 7099 go to the one server socket.
/// #[sk_lookup]
/// fn steer(mut ctx: SkLookupContext) -> SkAction {
///     if !(7000..7100).contains(&ctx.local_port()) {
///         return SkAction::Pass; // the kernel's own lookup
///     }
///     let Some(server) = SERVER.socket(0) else { return SkAction::Pass };
///     match ctx.assign(&server) {
///         Ok(()) => SkAction::Pass,
///         Err(_) => SkAction::Drop,
///     }
/// }
/// # let _sim = iu_ebpf::sim::session();
/// # assert_eq!(steer(SkLookupContext::from_values(2, 6, 7001)), SkAction::Pass);
/// # SERVER.host_set(0, 42);
/// # let mut ctx = SkLookupContext::from_values(2, 6, 7001);
/// # assert_eq!(steer(ctx), SkAction::Pass);
/// ```
pub struct SkLookupContext {
    #[cfg(target_arch = "bpf")]
    lookup: *mut c_void,
    /// On the host: family, protocol, local port, and the assigned
    /// socket's cookie.
    #[cfg(not(target_arch = "bpf"))]
    values: [u64; 4],
}

/// Offsets in `struct bpf_sk_lookup`.
#[cfg(target_arch = "bpf")]
mod offset {
    pub const FAMILY: usize = 8;
    pub const PROTOCOL: usize = 12;
    pub const REMOTE_IP4: usize = 16;
    pub const REMOTE_PORT: usize = 36;
    pub const LOCAL_IP4: usize = 40;
    pub const LOCAL_PORT: usize = 60;
}

impl SkLookupContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, at: usize) -> u32 {
        // SAFETY: `lookup` is this run's `struct bpf_sk_lookup`, whose u32
        // fields at these offsets (4-byte aligned) sk_lookup programs may
        // read; volatile keeps LLVM from reshaping the load.
        unsafe {
            self.lookup
                .cast::<u8>()
                .add(at)
                .cast::<u32>()
                .read_volatile()
        }
    }

    /// The address family (`AF_INET` = 2, `AF_INET6` = 10).
    #[inline(always)]
    pub fn family(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::FAMILY);
        #[cfg(not(target_arch = "bpf"))]
        (self.values[0] as u32)
    }

    /// The protocol (`IPPROTO_TCP` = 6, `IPPROTO_UDP` = 17).
    #[inline(always)]
    pub fn protocol(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::PROTOCOL);
        #[cfg(not(target_arch = "bpf"))]
        (self.values[1] as u32)
    }

    /// The destination (local) IPv4 address, as its four bytes.
    #[inline(always)]
    pub fn local_ip4(&self) -> [u8; 4] {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::LOCAL_IP4).to_ne_bytes();
        #[cfg(not(target_arch = "bpf"))]
        [127, 0, 0, 1]
    }

    /// The source (remote) IPv4 address, as its four bytes.
    #[inline(always)]
    pub fn remote_ip4(&self) -> [u8; 4] {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::REMOTE_IP4).to_ne_bytes();
        #[cfg(not(target_arch = "bpf"))]
        [127, 0, 0, 1]
    }

    /// The destination (local) port the packet was sent to.
    #[inline(always)]
    pub fn local_port(&self) -> u16 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::LOCAL_PORT) as u16; // host order
        #[cfg(not(target_arch = "bpf"))]
        (self.values[2] as u16)
    }

    /// The source (remote) port.
    #[inline(always)]
    pub fn remote_port(&self) -> u16 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `remote_port` is a 2-byte network-order field at 36
            // of this run's context, readable by 2-byte loads.
            let port = unsafe {
                self.lookup
                    .cast::<u8>()
                    .add(offset::REMOTE_PORT)
                    .cast::<u16>()
                    .read_volatile()
            };
            u16::from_be(port)
        }
        #[cfg(not(target_arch = "bpf"))]
        0
    }

    /// Makes `socket` the one that receives this connection or datagram
    /// (`bpf_sk_assign`); the program must then return
    /// [`SkAction::Pass`](super::SkAction::Pass). `Err` with the kernel's
    /// negative errno: `-EAFNOSUPPORT` or `-EPROTOTYPE` for a socket of
    /// another family or protocol, `-ESOCKTNOSUPPORT` for a TCP socket that
    /// is not listening, `-EEXIST` when another program assigned one.
    #[inline(always)]
    pub fn assign(&mut self, socket: &SocketRef) -> Result<(), i64> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `lookup` is this run's sk_lookup context and `socket`
            // a referenced socket from a socket map lookup, still held (it
            // is released when `socket` drops, after this call).
            let ret = unsafe { crate::helpers::raw::sk_assign(self.lookup, socket.raw(), 0) };
            if ret == 0 { Ok(()) } else { Err(ret) }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.values[3] = socket.cookie();
            Ok(())
        }
    }

    /// A context for a lookup, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_values(family: u32, protocol: u32, local_port: u16) -> Self {
        Self {
            values: [family.into(), protocol.into(), local_port.into(), 0],
        }
    }

    /// The simulated cookie of the socket [`assign`](Self::assign) chose,
    /// on the host (0: none).
    #[cfg(not(target_arch = "bpf"))]
    pub fn assigned(&self) -> u64 {
        self.values[3]
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::SkLookup> for SkLookupContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { lookup: ctx }
    }
}

impl super::private::Sealed for SkLookupContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.lookup
    }
}
