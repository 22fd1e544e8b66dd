//! cgroup socket-buffer programs (`BPF_PROG_TYPE_CGROUP_SKB`): allow or
//! deny each packet that the sockets of a cgroup send or receive.
//!
//! The context is a [`SkBuffContext`](super::SkBuffContext) whose packet
//! starts at the network (IP) header: these hooks run above the link layer.

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::CgroupSkb> for super::SkBuffContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut core::ffi::c_void) -> Self {
        // SAFETY: the caller passes this run's `__sk_buff`, which is what a
        // socket filter's context is too.
        unsafe { <Self as super::FromRawContext<super::kind::SocketFilter>>::from_raw(ctx) }
    }
}
