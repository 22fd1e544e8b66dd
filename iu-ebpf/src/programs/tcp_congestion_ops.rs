//! TCP congestion control in BPF (`BPF_PROG_TYPE_STRUCT_OPS` on the
//! kernel's `struct tcp_congestion_ops`, Linux 5.6): a type implements
//! [`TcpCongestionOps`], `#[struct_ops(name = "...")]` on the impl turns
//! each callback written there into a program, and user space registers
//! the set (`iu::programs::StructOps::register`) under that name, which
//! sockets then select with `setsockopt(TCP_CONGESTION)`.
//!
//! The callbacks get the socket as a [`TcpSock`]: the verifier types the
//! `struct sock *` argument of these callbacks as a `struct tcp_sock`
//! pointer, so its fields are direct loads at CO-RE offsets, and the
//! setters are the stores the kernel allows a congestion control to make
//! (`bpf_tcp_ca_btf_struct_access`: `snd_cwnd`, `snd_cwnd_cnt`,
//! `snd_ssthresh`). Nothing else of the socket can be written.

use crate::kernel::BtfAddr;

/// The socket a congestion-control callback works on (`struct tcp_sock`),
/// read with direct loads at the running kernel's field offsets (CO-RE).
/// Only the fields a BPF congestion control may write have setters.
///
/// ```
/// use iu_ebpf::{programs::TcpSock, sim::KernelObject};
/// let object = KernelObject::new("tcp_sock");
/// object.set("snd_cwnd", 10u32).set("snd_ssthresh", 7u32);
/// let sk = TcpSock::from_btf_addr(object.btf_addr());
/// assert_eq!(sk.snd_cwnd(), 10);
/// sk.set_snd_cwnd(11);
/// assert_eq!(sk.snd_cwnd(), 11);
/// assert_eq!(sk.snd_ssthresh(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TcpSock {
    addr: BtfAddr,
}

/// One `u32` field of `tcp_sock`, read with a direct load at its CO-RE
/// offset (0 if the load faults, as the JIT makes it).
macro_rules! read_u32 {
    ($self:ident, $record:literal) => {
        crate::kernel::__read::<u32>($self.addr, crate::core_value!($record)).unwrap_or(0)
    };
}

impl TcpSock {
    /// The congestion window, in packets (`snd_cwnd`).
    #[inline(always)]
    pub fn snd_cwnd(self) -> u32 {
        read_u32!(self, "o|tcp_sock|snd_cwnd|4|i")
    }

    /// Sets the congestion window (`snd_cwnd`).
    #[inline(always)]
    pub fn set_snd_cwnd(self, value: u32) {
        store_u32(
            self.addr,
            crate::core_value!("o|tcp_sock|snd_cwnd|4|i"),
            value,
        );
    }

    /// The slow-start threshold (`snd_ssthresh`).
    #[inline(always)]
    pub fn snd_ssthresh(self) -> u32 {
        read_u32!(self, "o|tcp_sock|snd_ssthresh|4|i")
    }

    /// Sets the slow-start threshold (`snd_ssthresh`).
    #[inline(always)]
    pub fn set_snd_ssthresh(self, value: u32) {
        store_u32(
            self.addr,
            crate::core_value!("o|tcp_sock|snd_ssthresh|4|i"),
            value,
        );
    }

    /// The linear-increase counter of congestion avoidance
    /// (`snd_cwnd_cnt`).
    #[inline(always)]
    pub fn snd_cwnd_cnt(self) -> u32 {
        read_u32!(self, "o|tcp_sock|snd_cwnd_cnt|4|i")
    }

    /// Sets the linear-increase counter (`snd_cwnd_cnt`).
    #[inline(always)]
    pub fn set_snd_cwnd_cnt(self, value: u32) {
        store_u32(
            self.addr,
            crate::core_value!("o|tcp_sock|snd_cwnd_cnt|4|i"),
            value,
        );
    }

    /// The largest value the window may take (`snd_cwnd_clamp`).
    #[inline(always)]
    pub fn snd_cwnd_clamp(self) -> u32 {
        read_u32!(self, "o|tcp_sock|snd_cwnd_clamp|4|i")
    }

    /// The window before the last reduction (`prior_cwnd`), for undo.
    #[inline(always)]
    pub fn prior_cwnd(self) -> u32 {
        read_u32!(self, "o|tcp_sock|prior_cwnd|4|i")
    }

    /// The current maximum segment size (`mss_cache`).
    #[inline(always)]
    pub fn mss_cache(self) -> u32 {
        read_u32!(self, "o|tcp_sock|mss_cache|4|i")
    }

    /// Packets in flight, sent and not yet acknowledged (`packets_out`).
    #[inline(always)]
    pub fn packets_out(self) -> u32 {
        read_u32!(self, "o|tcp_sock|packets_out|4|i")
    }

    /// The smoothed round-trip time, in 1/8 microseconds (`srtt_us`).
    #[inline(always)]
    pub fn srtt_us(self) -> u32 {
        read_u32!(self, "o|tcp_sock|srtt_us|4|i")
    }

    /// Whether the socket is in slow start (`snd_cwnd < snd_ssthresh`,
    /// the kernel's `tcp_in_slow_start`).
    #[inline(always)]
    pub fn in_slow_start(self) -> bool {
        self.snd_cwnd() < self.snd_ssthresh()
    }

    /// A handle on the simulated `tcp_sock` at `addr`
    /// (`sim::KernelObject::btf_addr`), for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_btf_addr(addr: u64) -> Self {
        Self {
            addr: BtfAddr::new(addr),
        }
    }
}

/// Stores `value` at `base + offset`, a field of a `tcp_sock` that the
/// kernel lets congestion controls write.
#[inline(always)]
fn store_u32(base: BtfAddr, offset: u64, value: u32) {
    let addr = base.raw().wrapping_add(offset);
    #[cfg(target_arch = "bpf")]
    // SAFETY: the kernel checks this store, not Rust: `addr` is the
    // callback's `tcp_sock` BTF pointer plus a relocated offset of one of
    // the fields `bpf_tcp_ca_btf_struct_access` allows (the only callers
    // are the setters above); any other store is refused at load time. No
    // Rust memory is written.
    unsafe {
        core::arch::asm!(
            "*(u32 *)({0} + 0) = {1}",
            in(reg) addr,
            in(reg) value,
            options(nostack, preserves_flags)
        );
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let _ = crate::sim::write_kernel(addr, &value.to_le_bytes());
    }
}

/// An RTT sample of an acknowledgement (`struct ack_sample`), given to
/// [`TcpCongestionOps::pkts_acked`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AckSample {
    addr: BtfAddr,
}

impl AckSample {
    /// Packets this acknowledgement covers (`pkts_acked`).
    #[inline(always)]
    pub fn pkts_acked(self) -> u32 {
        crate::kernel::__read::<u32>(self.addr, crate::core_value!("o|ack_sample|pkts_acked|4|i"))
            .unwrap_or(0)
    }

    /// The round-trip time measured, in microseconds; negative when there
    /// is no sample (`rtt_us`).
    #[inline(always)]
    pub fn rtt_us(self) -> i32 {
        crate::kernel::__read::<i32>(self.addr, crate::core_value!("o|ack_sample|rtt_us|4|i"))
            .unwrap_or(-1)
    }
}

/// A TCP congestion control (`struct tcp_congestion_ops`). Implement it on
/// a type and put `#[struct_ops(name = "...")]` on the impl: each callback
/// written in the impl becomes a program in the kernel's slot of the same
/// name. Callbacks left out stay empty (the kernel's default applies),
/// so the provided bodies here are never called. `ssthresh`, `cong_avoid`
/// and `undo_cwnd` are required, as the kernel requires them.
///
/// ```
/// use iu_ebpf::{programs::{TcpCongestionOps, TcpSock}, struct_ops};
///
/// pub struct Reno;
///
/// #[struct_ops(name = "my_reno")]
/// impl TcpCongestionOps for Reno {
///     fn ssthresh(sk: TcpSock) -> u32 {
///         (sk.snd_cwnd() >> 1).max(2)
///     }
///     fn cong_avoid(sk: TcpSock, _ack: u32, acked: u32) {
///         if sk.in_slow_start() {
///             sk.set_snd_cwnd(sk.snd_cwnd().saturating_add(acked));
///         }
///     }
///     fn undo_cwnd(sk: TcpSock) -> u32 {
///         sk.snd_cwnd().max(sk.prior_cwnd())
///     }
/// }
/// # let object = iu_ebpf::sim::KernelObject::new("tcp_sock");
/// # object.set("snd_cwnd", 10u32).set("snd_ssthresh", 100u32);
/// # let sk = TcpSock::from_btf_addr(object.btf_addr());
/// # Reno::cong_avoid(sk, 0, 2);
/// # assert_eq!(sk.snd_cwnd(), 12);
/// # assert_eq!(Reno::ssthresh(sk), 6);
/// ```
pub trait TcpCongestionOps {
    /// The slow-start threshold after a loss (`ssthresh`, required).
    fn ssthresh(sk: TcpSock) -> u32;
    /// Grows the window on an acknowledgement of `acked` packets up to
    /// sequence `ack` (`cong_avoid`, required).
    fn cong_avoid(sk: TcpSock, ack: u32, acked: u32);
    /// The window to go back to when a reduction proves spurious
    /// (`undo_cwnd`, required).
    fn undo_cwnd(sk: TcpSock) -> u32;
    /// A socket starts using this congestion control (`init`).
    fn init(sk: TcpSock) {
        let _ = sk;
    }
    /// A socket stops using it (`release`).
    fn release(sk: TcpSock) {
        let _ = sk;
    }
    /// The congestion state changes to `new_state` (`TCP_CA_Open` = 0,
    /// ..., `TCP_CA_Loss` = 4) (`set_state`).
    fn set_state(sk: TcpSock, new_state: u8) {
        let _ = (sk, new_state);
    }
    /// An event (`enum tcp_ca_event`: `CA_EVENT_TX_START` = 0, ...)
    /// (`cwnd_event`).
    fn cwnd_event(sk: TcpSock, event: u32) {
        let _ = (sk, event);
    }
    /// An acknowledgement arrived, with `CA_ACK_*` flags (`in_ack_event`).
    fn in_ack_event(sk: TcpSock, flags: u32) {
        let _ = (sk, flags);
    }
    /// Packets were acknowledged, with an RTT sample (`pkts_acked`).
    fn pkts_acked(sk: TcpSock, sample: AckSample) {
        let _ = (sk, sample);
    }
    /// The smallest TSO segment count (`min_tso_segs`).
    fn min_tso_segs(sk: TcpSock) -> u32 {
        let _ = sk;
        2
    }
    /// The factor by which the send buffer grows (`sndbuf_expand`).
    fn sndbuf_expand(sk: TcpSock) -> u32 {
        let _ = sk;
        2
    }
}

/// The arguments of a struct_ops callback: 64-bit values, which the
/// verifier types from the member's prototype. Only the entry stubs
/// `#[struct_ops]` emits make one.
#[doc(hidden)]
pub struct StructOpsArgs {
    #[cfg(target_arch = "bpf")]
    args: *const u64,
    #[cfg(not(target_arch = "bpf"))]
    args: [u64; 4],
}

impl StructOpsArgs {
    /// # Safety
    ///
    /// `ctx` must be the context the kernel passed to a struct_ops
    /// program, and the value must not outlive that run.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    pub unsafe fn from_raw(ctx: *mut core::ffi::c_void) -> Self {
        Self {
            args: ctx.cast_const().cast(),
        }
    }

    /// Arguments for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_args(args: [u64; 4]) -> Self {
        Self { args }
    }

    #[inline(always)]
    fn arg(&self, n: usize) -> u64 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `args` is this run's argument array; the verifier
            // refuses reads past the member's prototype.
            unsafe { self.args.add(n).read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.args.get(n).copied().unwrap_or(0)
        }
    }

    /// Argument 0 of every `tcp_congestion_ops` callback: the socket,
    /// which the verifier types as a `struct tcp_sock` pointer.
    #[inline(always)]
    fn sock(&self) -> TcpSock {
        TcpSock {
            addr: BtfAddr::new(self.arg(0)),
        }
    }
}

/// Entry glue, one function per `tcp_congestion_ops` member, called by the
/// stubs `#[struct_ops]` emits. Each returns the callback's value (0 for
/// the `void` ones).
#[doc(hidden)]
pub mod glue {
    use super::{AckSample, BtfAddr, StructOpsArgs, TcpCongestionOps};

    #[inline(always)]
    pub fn ssthresh<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::ssthresh(a.sock())
    }
    #[inline(always)]
    pub fn cong_avoid<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::cong_avoid(a.sock(), a.arg(1) as u32, a.arg(2) as u32);
        0
    }
    #[inline(always)]
    pub fn undo_cwnd<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::undo_cwnd(a.sock())
    }
    #[inline(always)]
    pub fn init<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::init(a.sock());
        0
    }
    #[inline(always)]
    pub fn release<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::release(a.sock());
        0
    }
    #[inline(always)]
    pub fn set_state<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::set_state(a.sock(), a.arg(1) as u8);
        0
    }
    #[inline(always)]
    pub fn cwnd_event<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::cwnd_event(a.sock(), a.arg(1) as u32);
        0
    }
    #[inline(always)]
    pub fn in_ack_event<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::in_ack_event(a.sock(), a.arg(1) as u32);
        0
    }
    #[inline(always)]
    pub fn pkts_acked<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        // The sample is a `const struct ack_sample *`: a BTF pointer.
        let sample = AckSample {
            addr: BtfAddr::new(a.arg(1)),
        };
        T::pkts_acked(a.sock(), sample);
        0
    }
    #[inline(always)]
    pub fn min_tso_segs<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::min_tso_segs(a.sock())
    }
    #[inline(always)]
    pub fn sndbuf_expand<T: TcpCongestionOps>(a: StructOpsArgs) -> u32 {
        T::sndbuf_expand(a.sock())
    }
}
