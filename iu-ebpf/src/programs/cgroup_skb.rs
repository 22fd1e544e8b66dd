//! cgroup socket-buffer programs (`BPF_PROG_TYPE_CGROUP_SKB`): allow or
//! deny each packet that the sockets of a cgroup send or receive.
//!
//! The context is a [`SkBuffContext`](super::SkBuffContext) whose packet
//! starts at the network (IP) header: these hooks run above the link layer.

/// What a `#[cgroup_skb]` program decides about a packet.
///
/// A denied egress packet makes the sending call fail with `EPERM`; a denied
/// ingress packet is dropped.
///
/// ```ignore
/// #[cgroup_skb(attach = "egress")]
/// fn no_telnet(ctx: SkBuffContext) -> CgroupSkbAction {
///     // IPv4 without options: TCP destination port at 22.
///     if ctx.read::<[u8; 2]>(22) == Some(23u16.to_be_bytes()) {
///         CgroupSkbAction::Deny
///     } else {
///         CgroupSkbAction::Allow
///     }
/// }
/// ```
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupSkbAction {
    /// Drop the packet.
    Deny = 0,
    /// Let the packet through.
    Allow = 1,
}

impl crate::ProgramReturn for CgroupSkbAction {
    #[inline(always)]
    fn into_return_code(self) -> u32 {
        self as u32
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::CgroupSkb> for super::SkBuffContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut core::ffi::c_void) -> Self {
        // SAFETY: the caller passes this run's `__sk_buff`, which is what a
        // socket filter's context is too.
        unsafe { <Self as super::FromRawContext<super::kind::SocketFilter>>::from_raw(ctx) }
    }
}
