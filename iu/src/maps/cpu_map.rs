//! `CpuMap`: the per-CPU queues XDP programs redirect packets to.

use super::{BPF_ANY, Map, map_type};
use crate::Result;

/// A handle on a `BPF_MAP_TYPE_CPUMAP` (Linux 4.15): one slot per CPU,
/// each empty or holding a queue (and a kernel thread) that builds the
/// redirected packets' `sk_buff`s on that CPU (`CpuMap::redirect` in
/// `iu_ebpf`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let cpus = ebpf.cpu_map("CPUS")?;
/// cpus.set(0, 2048)?; // CPU 0, a queue of 2048 packets
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CpuMap<'a> {
    map: &'a Map,
}

impl<'a> CpuMap<'a> {
    /// Checks that `map` is a cpumap of queue sizes.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::CPUMAP], "cpumap", Some(4), Some(4))?;
        Ok(Self { map })
    }

    /// Gives CPU `cpu` a queue of `qsize` packets. A CPU that is not
    /// online, or a size of 0 or over 16 Ki, is an `EINVAL` or `ENODEV`
    /// [`crate::Error::MapOp`].
    pub fn set(&self, cpu: u32, qsize: u32) -> Result<()> {
        if cpu >= self.map.max_entries() {
            return Err(super::array::out_of_range(self.map, cpu));
        }
        self.map
            .update(&cpu.to_ne_bytes(), &qsize.to_ne_bytes(), BPF_ANY)
    }

    /// The queue size of CPU `cpu`, or `None` when it has none.
    pub fn get(&self, cpu: u32) -> Result<Option<u32>> {
        let mut value = [0u8; 4];
        Ok(self
            .map
            .lookup(&cpu.to_ne_bytes(), &mut value)?
            .then(|| u32::from_ne_bytes(value)))
    }

    /// Removes CPU `cpu`'s queue; whether it had one.
    pub fn clear(&self, cpu: u32) -> Result<bool> {
        self.map.delete(&cpu.to_ne_bytes())
    }
}
