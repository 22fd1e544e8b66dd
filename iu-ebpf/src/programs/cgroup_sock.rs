//! cgroup socket programs (`BPF_PROG_TYPE_CGROUP_SOCK`): allow or deny the
//! creation, release or bind of the sockets of a cgroup.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// The context of a `#[cgroup_sock]` program: the socket being created (or
/// released, or bound). Its family, type and protocol are readable at every
/// attach point.
///
/// ```ignore
/// /// No raw sockets in this cgroup.
/// #[cgroup_sock(attach = "sock_create")]
/// fn no_raw(ctx: SockContext) -> CgroupAction {
///     if ctx.sock_type() == 3 { CgroupAction::Deny } else { CgroupAction::Allow }
/// }
/// ```
pub struct SockContext {
    #[cfg(target_arch = "bpf")]
    sock: *const c_void,
    /// On the host: family, type and protocol, for unit tests.
    #[cfg(not(target_arch = "bpf"))]
    values: [u32; 3],
}

/// Offsets in `struct bpf_sock`.
#[cfg(target_arch = "bpf")]
mod offset {
    pub const FAMILY: usize = 4;
    pub const TYPE: usize = 8;
    pub const PROTOCOL: usize = 12;
}

impl SockContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, at: usize) -> u32 {
        // SAFETY: `sock` is this run's `struct bpf_sock`, whose family, type
        // and protocol (4-byte aligned u32s at `at`) the verifier lets every
        // cgroup socket program read; the volatile read keeps LLVM from
        // reshaping the access into one the verifier refuses.
        unsafe { self.sock.cast::<u8>().add(at).cast::<u32>().read_volatile() }
    }

    /// The address family (`AF_INET` = 2, `AF_INET6` = 10).
    #[inline(always)]
    pub fn family(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        {
            self.field(offset::FAMILY)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.values[0]
        }
    }

    /// The socket type (`SOCK_STREAM` = 1, `SOCK_DGRAM` = 2, `SOCK_RAW` = 3).
    #[inline(always)]
    pub fn sock_type(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        {
            self.field(offset::TYPE)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.values[1]
        }
    }

    /// The protocol (`IPPROTO_TCP` = 6, `IPPROTO_UDP` = 17, ...).
    #[inline(always)]
    pub fn protocol(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        {
            self.field(offset::PROTOCOL)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.values[2]
        }
    }

    /// A context for a socket of this family, type and protocol, for unit
    /// tests on the host.
    ///
    /// ```
    /// use iu_ebpf::programs::SockContext;
    /// let udp = SockContext::from_values(2, 2, 17);
    /// assert_eq!((udp.family(), udp.sock_type(), udp.protocol()), (2, 2, 17));
    /// ```
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_values(family: u32, sock_type: u32, protocol: u32) -> Self {
        Self {
            values: [family, sock_type, protocol],
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::CgroupSock> for SockContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            sock: ctx.cast_const(),
        }
    }
}

impl super::private::Sealed for SockContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.sock.cast_mut()
    }
}
