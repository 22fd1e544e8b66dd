//! Netfilter programs (`BPF_PROG_TYPE_NETFILTER`, Linux 6.4): a hook of
//! the kernel's netfilter (the one iptables and nftables use), attached
//! with a link for one protocol family, hook and priority, deciding
//! whether each packet goes on.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use crate::Pod;

/// What a netfilter program decides. The verifier allows only these two.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetfilterAction {
    /// Drop the packet (`NF_DROP`).
    Drop = 0,
    /// Let it go on (`NF_ACCEPT`).
    Accept = 1,
}

impl crate::ProgramReturn for NetfilterAction {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as u32
    }
}

/// The context of a `#[netfilter]` program (`struct bpf_nf_ctx`): the hook
/// it runs at and the packet, whose linear data (from the network header
/// on, at the IP hooks) it reads with fault-checked reads.
///
/// ```
/// use iu_ebpf::{netfilter, programs::{NetfilterAction, NetfilterContext}};
///
/// /// Drops UDP to port 9 (IPv4 without options).
/// #[netfilter]
/// fn no_discard(ctx: NetfilterContext) -> NetfilterAction {
///     match ctx.read::<[u8; 24]>(0) {
///         Some(h) if h[9] == 17 && h[22..24] == [0, 9] => NetfilterAction::Drop,
///         _ => NetfilterAction::Accept,
///     }
/// }
/// # static UDP_TO_9: [u8; 28] = [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0,
/// #     127, 0, 0, 1, 127, 0, 0, 1, 0x30, 0x39, 0, 9, 0, 8, 0, 0];
/// # assert_eq!(no_discard(NetfilterContext::from_packet(&UDP_TO_9, 2, 1)), NetfilterAction::Drop);
/// # assert_eq!(no_discard(NetfilterContext::from_packet(&UDP_TO_9[..20], 2, 1)), NetfilterAction::Accept);
/// ```
pub struct NetfilterContext {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    /// On the host: the packet, the family and the hook.
    #[cfg(not(target_arch = "bpf"))]
    host: (&'static [u8], u8, u8),
}

impl NetfilterContext {
    /// `struct bpf_nf_ctx`'s pointer field `index` (0: the hook state, 1:
    /// the socket buffer), as a number for probe reads.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, index: usize) -> crate::kernel::KernelAddr {
        // SAFETY: `ctx` is this run's `struct bpf_nf_ctx` of two pointers,
        // which netfilter programs may read (8 bytes each).
        let addr = unsafe { self.ctx.cast::<u64>().add(index).read_volatile() };
        crate::kernel::KernelAddr::new(addr)
    }

    /// The protocol family of the hook (`NFPROTO_IPV4` = 2,
    /// `NFPROTO_IPV6` = 10); `None` if the read faults.
    #[inline(always)]
    pub fn family(&self) -> Option<u8> {
        #[cfg(target_arch = "bpf")]
        return crate::kernel::__read::<u8>(
            self.field(0),
            crate::core_value!("o|nf_hook_state|pf|1|i"),
        );
        #[cfg(not(target_arch = "bpf"))]
        Some(self.host.1)
    }

    /// The hook (`NF_INET_PRE_ROUTING` = 0, `LOCAL_IN` = 1, `FORWARD` = 2,
    /// `LOCAL_OUT` = 3, `POST_ROUTING` = 4); `None` if the read faults.
    #[inline(always)]
    pub fn hook(&self) -> Option<u8> {
        #[cfg(target_arch = "bpf")]
        return crate::kernel::__read::<u8>(
            self.field(0),
            crate::core_value!("o|nf_hook_state|hook|1|i"),
        );
        #[cfg(not(target_arch = "bpf"))]
        Some(self.host.2)
    }

    /// A copy of the `T` at byte `offset` of the packet's linear data (the
    /// network header at the IP hooks), or `None` if that is shorter or a
    /// read faults.
    #[inline(always)]
    pub fn read<T: Pod>(&self, offset: usize) -> Option<T> {
        #[cfg(target_arch = "bpf")]
        {
            use crate::kernel::{__read, __read_addr};
            let skb = self.field(1);
            let len = __read::<u32>(skb, crate::core_value!("o|sk_buff|len|4|i"))?;
            let data_len = __read::<u32>(skb, crate::core_value!("o|sk_buff|data_len|4|i"))?;
            let linear = len.checked_sub(data_len)? as usize;
            if offset > linear || core::mem::size_of::<T>() > linear - offset {
                return None;
            }
            let data = __read_addr(skb, crate::core_value!("o|sk_buff|data|8|p"))?;
            __read::<T>(data, offset as u64)
        }
        #[cfg(not(target_arch = "bpf"))]
        T::from_bytes(self.host.0.get(offset..)?)
    }

    /// A context for `packet` (from its network header) at hook `hook` of
    /// family `family`, for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_packet(packet: &'static [u8], family: u8, hook: u8) -> Self {
        Self {
            host: (packet, family, hook),
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::Netfilter> for NetfilterContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ctx }
    }
}

impl super::private::Sealed for NetfilterContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}
