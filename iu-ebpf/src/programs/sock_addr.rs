//! cgroup socket-address programs (`BPF_PROG_TYPE_CGROUP_SOCK_ADDR`,
//! Linux 4.17; sendmsg 4.18, recvmsg 5.2): see and rewrite the address a
//! process of the cgroup connects, sends or binds to.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// The context of a `#[cgroup_sock_addr]` program: `struct bpf_sock_addr`,
/// the address the call names (readable and writable) and the socket's
/// family, type and protocol. The verifier allows only the fields of the
/// program's own family (`user_ip4` in `connect4`, `user_ip6` in
/// `connect6`, ...): reading the other is a load-time error naming the
/// line.
///
/// ```
/// use iu_ebpf::programs::SockAddrContext;
/// let mut ctx = SockAddrContext::from_ip4([10, 0, 0, 1], 80);
/// ctx.set_user_port(8080);
/// ctx.set_user_ip4([127, 0, 0, 1]);
/// assert_eq!((ctx.user_ip4(), ctx.user_port()), ([127, 0, 0, 1], 8080));
/// ```
pub struct SockAddrContext {
    #[cfg(target_arch = "bpf")]
    addr: *mut c_void,
    /// On the host: the IPv4 address, the IPv6 address, the port.
    #[cfg(not(target_arch = "bpf"))]
    host: ([u8; 4], [u8; 16], u16, u32),
}

/// Offsets in `struct bpf_sock_addr`.
#[cfg(target_arch = "bpf")]
mod offset {
    pub const USER_IP4: usize = 4;
    pub const USER_IP6: usize = 8;
    pub const USER_PORT: usize = 24;
    pub const FAMILY: usize = 28;
    pub const TYPE: usize = 32;
    pub const PROTOCOL: usize = 36;
}

impl SockAddrContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, at: usize) -> u32 {
        // SAFETY: `addr` is this run's `struct bpf_sock_addr`; `at` is one
        // of its u32 fields (4-byte aligned), which the verifier checks
        // against the attach type; volatile keeps the 4-byte access.
        unsafe { self.addr.cast::<u8>().add(at).cast::<u32>().read_volatile() }
    }

    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn set_field(&mut self, at: usize, value: u32) {
        // SAFETY: as `field`, for the writable fields (`user_ip4`,
        // `user_ip6`, `user_port`), which the verifier checks.
        unsafe {
            self.addr
                .cast::<u8>()
                .add(at)
                .cast::<u32>()
                .write_volatile(value)
        }
    }

    /// The IPv4 address of the call (4 hooks), as its four bytes.
    #[inline(always)]
    pub fn user_ip4(&self) -> [u8; 4] {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::USER_IP4).to_ne_bytes();
        #[cfg(not(target_arch = "bpf"))]
        self.host.0
    }

    /// Rewrites the IPv4 address of the call.
    #[inline(always)]
    pub fn set_user_ip4(&mut self, ip: [u8; 4]) {
        #[cfg(target_arch = "bpf")]
        self.set_field(offset::USER_IP4, u32::from_ne_bytes(ip));
        #[cfg(not(target_arch = "bpf"))]
        {
            self.host.0 = ip;
        }
    }

    /// The IPv6 address of the call (6 hooks), as its 16 bytes.
    #[inline(always)]
    pub fn user_ip6(&self) -> [u8; 16] {
        #[cfg(target_arch = "bpf")]
        {
            let mut ip = [0u8; 16];
            for (i, chunk) in ip.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&self.field(offset::USER_IP6 + 4 * i).to_ne_bytes());
            }
            ip
        }
        #[cfg(not(target_arch = "bpf"))]
        self.host.1
    }

    /// Rewrites the IPv6 address of the call.
    #[inline(always)]
    pub fn set_user_ip6(&mut self, ip: [u8; 16]) {
        #[cfg(target_arch = "bpf")]
        for i in 0..4 {
            let word = u32::from_ne_bytes([ip[4 * i], ip[4 * i + 1], ip[4 * i + 2], ip[4 * i + 3]]);
            self.set_field(offset::USER_IP6 + 4 * i, word);
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.host.1 = ip;
        }
    }

    /// The port of the call.
    #[inline(always)]
    pub fn user_port(&self) -> u16 {
        // Network order in the low 16 bits.
        #[cfg(target_arch = "bpf")]
        return u16::from_be(self.field(offset::USER_PORT) as u16);
        #[cfg(not(target_arch = "bpf"))]
        self.host.2
    }

    /// Rewrites the port of the call.
    #[inline(always)]
    pub fn set_user_port(&mut self, port: u16) {
        #[cfg(target_arch = "bpf")]
        self.set_field(offset::USER_PORT, u32::from(port.to_be()));
        #[cfg(not(target_arch = "bpf"))]
        {
            self.host.2 = port;
        }
    }

    /// The socket's family (`AF_INET` = 2, `AF_INET6` = 10).
    #[inline(always)]
    pub fn family(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::FAMILY);
        #[cfg(not(target_arch = "bpf"))]
        self.host.3
    }

    /// The socket's type (`SOCK_STREAM` = 1, `SOCK_DGRAM` = 2).
    #[inline(always)]
    pub fn sock_type(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::TYPE);
        #[cfg(not(target_arch = "bpf"))]
        1
    }

    /// The socket's protocol (`IPPROTO_TCP` = 6, `IPPROTO_UDP` = 17).
    #[inline(always)]
    pub fn protocol(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::PROTOCOL);
        #[cfg(not(target_arch = "bpf"))]
        6
    }

    /// A context for an IPv4 call, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_ip4(ip: [u8; 4], port: u16) -> Self {
        Self {
            host: (ip, [0; 16], port, 2),
        }
    }

    /// A context for an IPv6 call, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_ip6(ip: [u8; 16], port: u16) -> Self {
        Self {
            host: ([0; 4], ip, port, 10),
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::CgroupSockAddr> for SockAddrContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { addr: ctx }
    }
}

impl super::private::Sealed for SockAddrContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.addr
    }
}
