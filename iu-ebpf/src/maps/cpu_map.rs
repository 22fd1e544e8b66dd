//! `CpuMap`: XDP redirect to another CPU, which builds the packet's
//! `sk_buff` there (`BPF_MAP_TYPE_CPUMAP`, Linux 4.15).

use super::{map_def, map_type};
use crate::programs::XdpAction;

map_def! {
    /// `BPF_MAP_TYPE_CPUMAP`: one slot per CPU (`MAX_ENTRIES` at most the
    /// number of possible CPUs), each empty or holding a queue that user
    /// space created (`iu::maps::CpuMap::set`, with its size). An XDP
    /// program moves a packet's network-stack processing to that CPU with
    /// [`CpuMap::redirect`].
    ///
    /// ```
    /// use iu_ebpf::{map, maps::CpuMap, programs::{XdpAction, XdpContext}, xdp};
    ///
    /// #[map]
    /// static CPUS: CpuMap<4> = CpuMap::new();
    ///
    /// #[xdp]
    /// fn spread(ctx: XdpContext) -> XdpAction {
    ///     let cpu = ctx.read::<u8>(0).map_or(0, |b| b as u32 % 4);
    ///     CPUS.redirect(cpu, XdpAction::Pass)
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # CPUS.host_set(1, 256);
    /// # assert_eq!(spread(XdpContext::from_packet(&[1; 64])), XdpAction::Redirect);
    /// # assert_eq!(spread(XdpContext::from_packet(&[2; 64])), XdpAction::Pass);
    /// ```
    pub struct CpuMap<; MAX_ENTRIES> {
        r#type: [i32; map_type::CPUMAP],
        key_size: [i32; 4],
        value_size: [i32; 4],
        max_entries: [i32; MAX_ENTRIES],
    }
    host: super::host::Array<u32, MAX_ENTRIES, 1>;
}

impl<const MAX_ENTRIES: usize> CpuMap<MAX_ENTRIES> {
    /// Hands the packet to CPU `cpu`: returns [`XdpAction::Redirect`],
    /// which the program must return, or `fallback` (at most
    /// [`XdpAction::Tx`]) when that CPU has no queue.
    #[inline(always)]
    pub fn redirect(&self, cpu: u32, fallback: XdpAction) -> XdpAction {
        #[cfg(target_arch = "bpf")]
        {
            super::dev_map::redirect(self.as_ptr(), cpu, fallback)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            match self.sim.get(cpu) {
                Some(qsize) if qsize != 0 => XdpAction::Redirect,
                _ => fallback,
            }
        }
    }

    /// Gives CPU `cpu` a queue of `qsize` packets (0 removes it), as user
    /// space would. Host only.
    #[cfg(not(target_arch = "bpf"))]
    pub fn host_set(&self, cpu: u32, qsize: u32) {
        let _ = self.sim.set(cpu, &qsize, super::BPF_ANY);
    }
}
