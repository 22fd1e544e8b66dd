//! `SkStorage`: a value per socket (`BPF_MAP_TYPE_SK_STORAGE`, Linux 5.2),
//! from `#[sock_ops]` programs (the event's socket) and `#[cgroup_sock]`
//! programs (the socket being created).

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use super::{local_storage::local_storage_api, map_def, map_type};
use crate::programs::{SockContext, SockOpsContext};

map_def! {
    /// `BPF_MAP_TYPE_SK_STORAGE`: one `V` per socket, created on first use
    /// and freed with the socket. Programs name the socket by their
    /// context ([`SkStorageOwner`]); user space reads and writes a value
    /// by the socket's descriptor (`iu::maps::SkStorage`).
    ///
    /// ```
    /// use iu_ebpf::{map, maps::SkStorage, programs::{CgroupAction, SockOpsContext, sock_ops as ops}, sock_ops};
    ///
    /// #[map]
    /// static EVENTS: SkStorage<u64> = SkStorage::new();
    ///
    /// #[sock_ops]
    /// fn count(ctx: SockOpsContext) -> CgroupAction {
    ///     EVENTS.add(&ctx, 1); // this socket's count, created at 0
    ///     CgroupAction::Allow
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # let ctx = SockOpsContext::from_values(ops::op::RTT, 2, 80, 4000);
    /// # count(SockOpsContext::from_values(ops::op::RTT, 2, 80, 4000));
    /// # count(SockOpsContext::from_values(ops::op::RTT, 2, 80, 4000));
    /// # assert_eq!(EVENTS.get(&ctx), Some(2));
    /// # assert_eq!(EVENTS.get(&SockOpsContext::from_values(ops::op::RTT, 2, 81, 4000)), None);
    /// ```
    pub struct SkStorage<V;> {
        r#type: [i32; map_type::SK_STORAGE],
        map_flags: [i32; 1], // BPF_F_NO_PREALLOC, which the kernel requires
        key: i32,
        value: V,
    }
    host: super::host::Hash<u64, V, 64, 1>;
}

/// What names a socket for [`SkStorage`]: a `&SockOpsContext` (the
/// event's socket; no value when the event has no full socket) or a
/// `&SockContext` (the socket being created, released or bound).
pub trait SkStorageOwner: Copy + super::sealed::Sealed {
    /// The socket as the helper takes it; `None` for no socket.
    #[cfg(target_arch = "bpf")]
    #[doc(hidden)]
    fn __raw(self) -> Option<*mut c_void>;
    /// The simulated socket's key, on the host.
    #[cfg(not(target_arch = "bpf"))]
    #[doc(hidden)]
    fn __host_key(self) -> u64;
}

impl super::sealed::Sealed for &SockOpsContext {}
impl SkStorageOwner for &SockOpsContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn __raw(self) -> Option<*mut c_void> {
        let sk = self.sk();
        if sk.is_null() { None } else { Some(sk) }
    }

    #[cfg(not(target_arch = "bpf"))]
    fn __host_key(self) -> u64 {
        (u64::from(self.local_port()) << 16) | u64::from(self.remote_port())
    }
}

impl super::sealed::Sealed for &SockContext {}
impl SkStorageOwner for &SockContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn __raw(self) -> Option<*mut c_void> {
        // The context of a cgroup socket program is the socket itself.
        Some(crate::programs::raw_context(self))
    }

    #[cfg(not(target_arch = "bpf"))]
    fn __host_key(self) -> u64 {
        (u64::from(self.family()) << 32)
            | (u64::from(self.sock_type()) << 16)
            | u64::from(self.protocol())
    }
}

local_storage_api!(SkStorage, SkStorageOwner, sk_storage_get, sk_storage_delete);
