//! XDP redirect targets by interface: `DevMap` (`BPF_MAP_TYPE_DEVMAP`,
//! Linux 4.14) and `DevMapHash` (`BPF_MAP_TYPE_DEVMAP_HASH`, 5.4).

use super::{map_def, map_type};
use crate::programs::XdpAction;

/// `bpf_redirect_map` on any redirect map: `XDP_REDIRECT` when the slot
/// holds a target, else `fallback` (the helper returns the flags' low bits).
#[inline(always)]
#[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
pub(crate) fn redirect(map: *const core::ffi::c_void, key: u32, fallback: XdpAction) -> XdpAction {
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: `map` is a `#[map]` redirect map; the flags are an XDP
        // action (at most `XDP_TX`), as the helper's fallback contract
        // wants; the helper only records the target for after the program.
        let ret = unsafe { crate::helpers::raw::redirect_map(map, key as u64, fallback as u64) };
        XdpAction::from_return(ret)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let _ = (map, key);
        fallback
    }
}

map_def! {
    /// `BPF_MAP_TYPE_DEVMAP`: `MAX_ENTRIES` slots indexed by `u32`, each
    /// empty or holding a network interface (its ifindex) that user space
    /// set (`iu::maps::DevMap::set`). An XDP program sends a packet out of
    /// one with [`DevMap::redirect`].
    ///
    /// ```
    /// use iu_ebpf::{map, maps::DevMap, programs::{XdpAction, XdpContext}, xdp};
    ///
    /// #[map]
    /// static PORTS: DevMap<8> = DevMap::new();
    ///
    /// #[xdp]
    /// fn forward(_ctx: XdpContext) -> XdpAction {
    ///     PORTS.redirect(0, XdpAction::Pass) // Pass when slot 0 is empty
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # assert_eq!(forward(XdpContext::from_packet(&[0; 64])), XdpAction::Pass);
    /// # PORTS.host_set(0, 3);
    /// # assert_eq!(forward(XdpContext::from_packet(&[0; 64])), XdpAction::Redirect);
    /// ```
    pub struct DevMap<; MAX_ENTRIES> {
        r#type: [i32; map_type::DEVMAP],
        key_size: [i32; 4],
        value_size: [i32; 4],
        max_entries: [i32; MAX_ENTRIES],
    }
    host: super::host::Array<u32, MAX_ENTRIES, 1>;
}

map_def! {
    /// `BPF_MAP_TYPE_DEVMAP_HASH`: up to `MAX_ENTRIES` network interfaces
    /// under `u32` keys of user space's choosing (often the ifindex
    /// itself), for sparse or large ifindexes. See [`DevMap`].
    ///
    /// ```
    /// use iu_ebpf::{map, maps::DevMapHash, programs::XdpAction};
    ///
    /// #[map]
    /// static BY_IFINDEX: DevMapHash<64> = DevMapHash::new();
    ///
    /// fn out_of(ifindex: u32) -> XdpAction {
    ///     BY_IFINDEX.redirect(ifindex, XdpAction::Drop)
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # BY_IFINDEX.host_set(12, 12);
    /// # assert_eq!(out_of(12), XdpAction::Redirect);
    /// # assert_eq!(out_of(13), XdpAction::Drop);
    /// ```
    pub struct DevMapHash<; MAX_ENTRIES> {
        r#type: [i32; map_type::DEVMAP_HASH],
        key_size: [i32; 4],
        value_size: [i32; 4],
        max_entries: [i32; MAX_ENTRIES],
    }
    host: super::host::Hash<u32, u32, MAX_ENTRIES, 1>;
}

impl<const MAX_ENTRIES: usize> DevMap<MAX_ENTRIES> {
    /// Sends the packet out of the interface in slot `index`: returns
    /// [`XdpAction::Redirect`], which the program must return, or
    /// `fallback` (at most [`XdpAction::Tx`]) when the slot is empty.
    #[inline(always)]
    pub fn redirect(&self, index: u32, fallback: XdpAction) -> XdpAction {
        #[cfg(target_arch = "bpf")]
        {
            redirect(self.as_ptr(), index, fallback)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            match self.sim.get(index) {
                Some(ifindex) if ifindex != 0 => XdpAction::Redirect,
                _ => fallback,
            }
        }
    }

    /// Puts interface `ifindex` in slot `index` (0 empties it), as user
    /// space would. Host only.
    #[cfg(not(target_arch = "bpf"))]
    pub fn host_set(&self, index: u32, ifindex: u32) {
        let _ = self.sim.set(index, &ifindex, super::BPF_ANY);
    }
}

impl<const MAX_ENTRIES: usize> DevMapHash<MAX_ENTRIES> {
    /// Sends the packet out of the interface at `key`: returns
    /// [`XdpAction::Redirect`], which the program must return, or
    /// `fallback` (at most [`XdpAction::Tx`]) when there is none.
    #[inline(always)]
    pub fn redirect(&self, key: u32, fallback: XdpAction) -> XdpAction {
        #[cfg(target_arch = "bpf")]
        {
            redirect(self.as_ptr(), key, fallback)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            match self.sim.get(&key) {
                Some(_) => XdpAction::Redirect,
                None => fallback,
            }
        }
    }

    /// Puts interface `ifindex` at `key`, as user space would. Host only.
    #[cfg(not(target_arch = "bpf"))]
    pub fn host_set(&self, key: u32, ifindex: u32) {
        let _ = self.sim.insert(&key, &ifindex, super::BPF_ANY, false);
    }
}
