//! `XskMap`: XDP redirect to AF_XDP sockets (`BPF_MAP_TYPE_XSKMAP`,
//! Linux 4.18).

use super::{map_def, map_type};
use crate::programs::XdpAction;

map_def! {
    /// `BPF_MAP_TYPE_XSKMAP`: `MAX_ENTRIES` slots indexed by `u32`
    /// (usually the receive queue), each empty or holding an AF_XDP socket
    /// that user space bound to an interface and queue
    /// (`iu::xsk::XskSocket`, put in with `iu::maps::XskMap::set`). An XDP
    /// program hands a packet to that socket's user-space rings with
    /// [`XskMap::redirect`]; the kernel takes it only when the socket is
    /// bound to the queue the packet arrived on.
    ///
    /// ```
    /// use iu_ebpf::{map, maps::XskMap, programs::{XdpAction, XdpContext}, xdp};
    ///
    /// #[map]
    /// static SOCKETS: XskMap<4> = XskMap::new();
    ///
    /// #[xdp]
    /// fn to_user_space(ctx: XdpContext) -> XdpAction {
    ///     SOCKETS.redirect(ctx.rx_queue_index(), XdpAction::Pass)
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # assert_eq!(to_user_space(XdpContext::from_packet(&[0; 64])), XdpAction::Pass);
    /// # SOCKETS.host_set(0, 5);
    /// # assert_eq!(to_user_space(XdpContext::from_packet(&[0; 64])), XdpAction::Redirect);
    /// ```
    pub struct XskMap<; MAX_ENTRIES> {
        r#type: [i32; map_type::XSKMAP],
        key_size: [i32; 4],
        value_size: [i32; 4],
        max_entries: [i32; MAX_ENTRIES],
    }
    host: super::host::Array<u32, MAX_ENTRIES, 1>;
}

impl<const MAX_ENTRIES: usize> XskMap<MAX_ENTRIES> {
    /// Hands the packet to the AF_XDP socket in slot `index` (pass the
    /// packet's receive queue, [`crate::programs::XdpContext::rx_queue_index`]):
    /// returns [`XdpAction::Redirect`], which the program must return, or
    /// `fallback` (at most [`XdpAction::Tx`]) when the slot is empty.
    #[inline(always)]
    pub fn redirect(&self, index: u32, fallback: XdpAction) -> XdpAction {
        #[cfg(target_arch = "bpf")]
        {
            super::dev_map::redirect(self.as_ptr(), index, fallback)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            match self.sim.get(index) {
                Some(fd) if fd != 0 => XdpAction::Redirect,
                _ => fallback,
            }
        }
    }

    /// Puts a socket (any non-zero stand-in for its fd) in slot `index`
    /// (0 empties it), as user space would. Host only.
    #[cfg(not(target_arch = "bpf"))]
    pub fn host_set(&self, index: u32, fd: u32) {
        let _ = self.sim.set(index, &fd, super::BPF_ANY);
    }
}
