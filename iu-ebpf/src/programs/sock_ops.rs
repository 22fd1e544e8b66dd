//! sock_ops programs (`BPF_PROG_TYPE_SOCK_OPS`, Linux 4.13): TCP events
//! of the sockets of a cgroup.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// `BPF_SOCK_OPS_*` operations (`SockOpsContext::op`).
pub mod op {
    /// A connection's timeout is asked for (`reply`).
    pub const TIMEOUT_INIT: u32 = 1;
    /// A receive window is asked for (`reply`).
    pub const RWND_INIT: u32 = 2;
    /// This side is about to connect.
    pub const TCP_CONNECT: u32 = 3;
    /// A connection this side opened is established.
    pub const ACTIVE_ESTABLISHED: u32 = 4;
    /// A connection this side accepted is established.
    pub const PASSIVE_ESTABLISHED: u32 = 5;
    /// A retransmit timer fired (with `RTO_CB_FLAG`).
    pub const RTO: u32 = 8;
    /// A segment was retransmitted (with `RETRANS_CB_FLAG`).
    pub const RETRANS: u32 = 9;
    /// The TCP state changed (with `STATE_CB_FLAG`): `arg(0)` old, `arg(1)` new.
    pub const STATE: u32 = 10;
    /// An RTT sample was taken (with `RTT_CB_FLAG`, Linux 5.3).
    pub const RTT: u32 = 12;
}

/// `BPF_SOCK_OPS_*_CB_FLAG`: the optional callbacks
/// [`SockOpsContext::set_callbacks`] turns on for a socket.
pub mod callbacks {
    /// [`super::op::RTO`].
    pub const RTO: u32 = 1 << 0;
    /// [`super::op::RETRANS`].
    pub const RETRANS: u32 = 1 << 1;
    /// [`super::op::STATE`].
    pub const STATE: u32 = 1 << 2;
    /// [`super::op::RTT`].
    pub const RTT: u32 = 1 << 3;
}

/// The context of a `#[sock_ops]` program: `struct bpf_sock_ops`, the
/// operation and the socket's addresses and TCP state.
///
/// ```
/// use iu_ebpf::programs::{SockOpsContext, sock_ops};
/// let ctx = SockOpsContext::from_values(sock_ops::op::PASSIVE_ESTABLISHED, 2, 8080, 40000);
/// assert_eq!((ctx.op(), ctx.family(), ctx.local_port(), ctx.remote_port()), (5, 2, 8080, 40000));
/// ```
pub struct SockOpsContext {
    #[cfg(target_arch = "bpf")]
    ops: *mut c_void,
    /// On the host: op, family, local port, remote port, srtt, reply.
    #[cfg(not(target_arch = "bpf"))]
    values: [u32; 6],
}

/// Offsets in `struct bpf_sock_ops`.
#[cfg(target_arch = "bpf")]
mod offset {
    pub const OP: usize = 0;
    pub const ARGS: usize = 4;
    pub const REPLY: usize = 4;
    pub const FAMILY: usize = 20;
    pub const REMOTE_IP4: usize = 24;
    pub const LOCAL_IP4: usize = 28;
    pub const REMOTE_PORT: usize = 64;
    pub const LOCAL_PORT: usize = 68;
    pub const SRTT_US: usize = 80;
    pub const SK: usize = 184;
}

impl SockOpsContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, at: usize) -> u32 {
        // SAFETY: `ops` is this run's `struct bpf_sock_ops`, whose u32
        // fields (4-byte aligned at `at`, one of the offsets above) the
        // verifier lets sock_ops programs read; volatile keeps LLVM from
        // merging the load into one the verifier refuses.
        unsafe { self.ops.cast::<u8>().add(at).cast::<u32>().read_volatile() }
    }

    #[cfg(not(target_arch = "bpf"))]
    fn value(&self, i: usize) -> u32 {
        self.values[i]
    }

    /// The operation (see [`op`]).
    #[inline(always)]
    pub fn op(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::OP);
        #[cfg(not(target_arch = "bpf"))]
        self.value(0)
    }

    /// Argument `n` (0 to 3) of the operation; 0 past the end.
    #[inline(always)]
    pub fn arg(&self, n: usize) -> u32 {
        if n >= 4 {
            return 0;
        }
        #[cfg(target_arch = "bpf")]
        return self.field(offset::ARGS + 4 * n);
        #[cfg(not(target_arch = "bpf"))]
        0
    }

    /// The address family (`AF_INET` = 2, `AF_INET6` = 10).
    #[inline(always)]
    pub fn family(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::FAMILY);
        #[cfg(not(target_arch = "bpf"))]
        self.value(1)
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
        (self.value(2) as u16)
    }

    /// The remote port.
    #[inline(always)]
    pub fn remote_port(&self) -> u16 {
        // Network order in the low 16 bits.
        #[cfg(target_arch = "bpf")]
        return u16::from_be(self.field(offset::REMOTE_PORT) as u16);
        #[cfg(not(target_arch = "bpf"))]
        (self.value(3) as u16)
    }

    /// The smoothed RTT, in microseconds shifted left by 3 (as the kernel
    /// keeps it); 0 for a socket that is not a full TCP socket yet.
    #[inline(always)]
    pub fn srtt_us(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(offset::SRTT_US);
        #[cfg(not(target_arch = "bpf"))]
        self.value(4)
    }

    /// Answers an operation that asks for a value ([`op::TIMEOUT_INIT`],
    /// [`op::RWND_INIT`], ...).
    #[inline(always)]
    pub fn set_reply(&mut self, reply: u32) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: `reply` is the one writable u32 of `struct bpf_sock_ops`
        // (4-byte aligned at 4), and the context is this run's.
        unsafe {
            self.ops
                .cast::<u8>()
                .add(offset::REPLY)
                .cast::<u32>()
                .write_volatile(reply)
        };
        #[cfg(not(target_arch = "bpf"))]
        {
            self.values[5] = reply;
        }
    }

    /// Turns on the optional callbacks of [`callbacks`] for this socket
    /// (replacing the set); `Err` with the kernel's negative errno, or the
    /// flags this kernel does not know.
    #[inline(always)]
    pub fn set_callbacks(&mut self, flags: u32) -> Result<(), i64> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: helper 59 (`bpf_sock_ops_cb_flags_set`) takes this
            // program's own context and an integer.
            let ret = unsafe { crate::helpers::raw::sock_ops_cb_flags_set(self.ops, flags as i32) };
            if ret == 0 { Ok(()) } else { Err(ret) }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = flags;
            Ok(())
        }
    }

    /// The event's full socket (`struct bpf_sock *`, null when there is
    /// none), for local storage.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    pub(crate) fn sk(&self) -> *mut c_void {
        // SAFETY: `sk` is the pointer field at 184 of this run's
        // `struct bpf_sock_ops` (8-byte aligned), readable with an 8-byte
        // load; the verifier types the result as a socket or null.
        unsafe {
            self.ops
                .cast::<u8>()
                .add(offset::SK)
                .cast::<*mut c_void>()
                .read_volatile()
        }
    }

    /// A context for one operation, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_values(op: u32, family: u32, local_port: u16, remote_port: u16) -> Self {
        Self {
            values: [op, family, local_port.into(), remote_port.into(), 0, 0],
        }
    }

    /// What [`set_reply`](Self::set_reply) set, on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn reply(&self) -> u32 {
        self.values[5]
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::SockOps> for SockOpsContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ops: ctx }
    }
}

impl super::private::Sealed for SockOpsContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ops
    }
}
