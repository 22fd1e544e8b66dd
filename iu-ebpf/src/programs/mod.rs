//! Program contexts: the typed, safe view of what the kernel passes to a
//! program. One module per program type.

mod btf_tracing;
pub mod cgroup_device;
mod cgroup_skb;
mod cgroup_sock;
mod cgroup_sockopt;
mod cgroup_sysctl;
mod flow_dissector;
mod header;
mod iter;
mod netfilter;
mod offset;
#[cfg(target_arch = "bpf")]
mod packet;
pub use header::Header;
mod perf_event;
mod probe;
mod raw_tracepoint;
mod sk_lookup;
mod sk_msg;
mod sk_skb;
mod sock_addr;
pub mod sock_ops;
mod socket_filter;
mod syscall;
mod tc;
pub mod tcp_congestion_ops;
mod tracepoint;
pub mod usdt;
mod xdp;

pub use btf_tracing::BtfContext;
pub use cgroup_device::DeviceContext;
pub use cgroup_sock::SockContext;
pub use cgroup_sockopt::SockoptContext;
pub use cgroup_sysctl::SysctlContext;
pub use flow_dissector::{FlowDissectorAction, FlowDissectorContext};
pub use iter::{IterMapElemContext, IterTaskContext, IterTcpContext};
pub use netfilter::{NetfilterAction, NetfilterContext};
pub use offset::{BoundedLen, Offset, PacketOffset};
pub use perf_event::PerfEventContext;
pub use probe::ProbeContext;
pub use raw_tracepoint::{RawTracePointContext, RawTracePointWritableContext};
pub use sk_lookup::SkLookupContext;
pub use sk_msg::{SkAction, SkMsgContext};
pub use sk_skb::SkSkbContext;
pub use sock_addr::SockAddrContext;
pub use sock_ops::SockOpsContext;
pub use socket_filter::SkBuffContext;
pub use syscall::SyscallContext;
pub use tc::{TcAction, TcContext};
#[doc(hidden)]
pub use tcp_congestion_ops::StructOpsArgs;
pub use tcp_congestion_ops::{AckSample, TcpCongestionOps, TcpSock};
pub use tracepoint::TracePointContext;
pub use usdt::{UsdtArgs, UsdtContext, UsdtError};
pub use xdp::{XdpAction, XdpContext};

/// What a cgroup program decides: a `#[cgroup_skb]` program about a
/// packet, a `#[cgroup_sock]` program about a socket.
///
/// A denied egress packet makes the sending call fail with `EPERM`, and a
/// denied ingress packet is dropped; a denied socket creation or bind fails
/// with `EPERM`.
///
/// ```ignore
/// #[cgroup_skb(attach = "egress")]
/// fn no_telnet(ctx: SkBuffContext) -> CgroupAction {
///     // IPv4 without options: TCP destination port at 22.
///     if ctx.read::<[u8; 2]>(22) == Some(23u16.to_be_bytes()) {
///         CgroupAction::Deny
///     } else {
///         CgroupAction::Allow
///     }
/// }
/// ```
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupAction {
    /// Refuse the packet or the operation.
    Deny = 0,
    /// Let it through.
    Allow = 1,
}

impl crate::ProgramReturn for CgroupAction {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as u32
    }
}

/// Marker types naming program types, used to tie a context type to the
/// attribute that declares the program.
pub mod kind {
    /// `BPF_PROG_TYPE_TRACEPOINT`.
    pub enum TracePoint {}
    /// `BPF_PROG_TYPE_XDP`.
    pub enum Xdp {}
    /// `BPF_PROG_TYPE_KPROBE` (kprobes and uprobes).
    pub enum Probe {}
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT`.
    pub enum RawTracePoint {}
    /// `BPF_PROG_TYPE_TRACING` (fentry, fexit).
    pub enum Tracing {}
    /// `BPF_PROG_TYPE_LSM`.
    pub enum Lsm {}
    /// `BPF_PROG_TYPE_SCHED_CLS` (tc).
    pub enum SchedCls {}
    /// `BPF_PROG_TYPE_SOCKET_FILTER`.
    pub enum SocketFilter {}
    /// `BPF_PROG_TYPE_CGROUP_SKB`.
    pub enum CgroupSkb {}
    /// `BPF_PROG_TYPE_CGROUP_SOCK`.
    pub enum CgroupSock {}
    /// `BPF_PROG_TYPE_SYSCALL`.
    pub enum Syscall {}
    /// `BPF_PROG_TYPE_PERF_EVENT`.
    pub enum PerfEvent {}
    /// `BPF_PROG_TYPE_SOCK_OPS`.
    pub enum SockOps {}
    /// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`.
    pub enum CgroupSockAddr {}
    /// `BPF_PROG_TYPE_CGROUP_SYSCTL`.
    pub enum CgroupSysctl {}
    /// `BPF_PROG_TYPE_CGROUP_DEVICE`.
    pub enum CgroupDevice {}
    /// `BPF_PROG_TYPE_CGROUP_SOCKOPT`.
    pub enum CgroupSockopt {}
    /// `BPF_PROG_TYPE_TRACING` iterators over tasks (`iter/task`).
    pub enum IterTask {}
    /// `BPF_PROG_TYPE_TRACING` iterators over a map's entries
    /// (`iter/bpf_map_elem`).
    pub enum IterMapElem {}
    /// `BPF_PROG_TYPE_TRACING` iterators over TCP sockets (`iter/tcp`).
    pub enum IterTcp {}
    /// `BPF_PROG_TYPE_FLOW_DISSECTOR`.
    pub enum FlowDissector {}
    /// `BPF_PROG_TYPE_NETFILTER`.
    pub enum Netfilter {}
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`.
    pub enum RawTracePointWritable {}
    /// `BPF_PROG_TYPE_SK_MSG`.
    pub enum SkMsg {}
    /// `BPF_PROG_TYPE_SK_SKB` (stream parser and stream verdict).
    pub enum SkSkb {}
    /// `BPF_PROG_TYPE_SK_LOOKUP`.
    pub enum SkLookup {}
}

/// A program context: what helpers that need "the current program's
/// context" (tail calls, perf output, stack ids) take. Sealed: only iu's
/// context types implement it.
pub trait Context: private::Sealed {}

impl<C: private::Sealed> Context for C {}

pub(crate) mod private {
    /// Gives iu the raw context pointer without exposing it to programs.
    pub trait Sealed {
        #[cfg(target_arch = "bpf")]
        fn raw(&self) -> *mut core::ffi::c_void;
    }
}

/// The raw context pointer of a context, for helper calls.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub(crate) fn raw_context<C: Context>(ctx: &C) -> *mut core::ffi::c_void {
    private::Sealed::raw(ctx)
}

/// Builds a context from the raw pointer the kernel hands to an entry point.
///
/// `K` is the program type (see [`kind`]), so that a function declared with
/// `#[tracepoint]` can only take a tracepoint context.
#[doc(hidden)]
pub trait FromRawContext<K> {
    /// # Safety
    ///
    /// `ctx` must be the context pointer the kernel passed to a program of
    /// type `K`, and the value must not outlive that program run.
    unsafe fn from_raw(ctx: *mut core::ffi::c_void) -> Self;
}
