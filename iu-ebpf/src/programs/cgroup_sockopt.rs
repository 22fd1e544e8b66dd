//! cgroup socket-option programs (`BPF_PROG_TYPE_CGROUP_SOCKOPT`, Linux
//! 5.3): see, allow or deny the `getsockopt` and `setsockopt` calls of a
//! cgroup.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// The context of a `#[cgroup_sockopt]` program: `struct bpf_sockopt`,
/// the option's level, name and length (the option's bytes are not
/// exposed yet).
///
/// ```
/// use iu_ebpf::programs::SockoptContext;
/// let ctx = SockoptContext::from_values(0, 1, 4);
/// assert_eq!((ctx.level(), ctx.optname(), ctx.optlen()), (0, 1, 4));
/// ```
pub struct SockoptContext {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    #[cfg(not(target_arch = "bpf"))]
    values: [i32; 4],
}

/// Offsets in `struct bpf_sockopt` (after three 8-byte pointers).
#[cfg(target_arch = "bpf")]
mod offset {
    pub const LEVEL: usize = 24;
    pub const OPTNAME: usize = 28;
    pub const OPTLEN: usize = 32;
    pub const RETVAL: usize = 36;
}

impl SockoptContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, at: usize) -> i32 {
        // SAFETY: `ctx` is this run's `struct bpf_sockopt`; `at` is one of
        // its 4-byte aligned s32 fields, which the verifier checks against
        // the hook.
        unsafe { self.ctx.cast::<u8>().add(at).cast::<i32>().read_volatile() }
    }

    /// The option's level (`SOL_SOCKET` = 1, `IPPROTO_IP` = 0, ...).
    #[inline(always)]
    pub fn level(&self) -> i32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::LEVEL);
        #[cfg(not(target_arch = "bpf"))]
        self.values[0]
    }

    /// The option's name (`IP_TOS` = 1, `SO_RCVBUF` = 8, ...).
    #[inline(always)]
    pub fn optname(&self) -> i32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::OPTNAME);
        #[cfg(not(target_arch = "bpf"))]
        self.values[1]
    }

    /// The option's length.
    #[inline(always)]
    pub fn optlen(&self) -> i32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::OPTLEN);
        #[cfg(not(target_arch = "bpf"))]
        self.values[2]
    }

    /// What the kernel's `getsockopt` returned (0, or a negative errno);
    /// `getsockopt` hooks only (elsewhere the load fails naming the line).
    #[inline(always)]
    pub fn retval(&self) -> i32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::RETVAL);
        #[cfg(not(target_arch = "bpf"))]
        self.values[3]
    }

    /// A context for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_values(level: i32, optname: i32, optlen: i32) -> Self {
        Self {
            values: [level, optname, optlen, 0],
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::CgroupSockopt> for SockoptContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ctx }
    }
}

impl super::private::Sealed for SockoptContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}
