//! A loaded object's handle: its maps and programs by name and type.
//! Loading is [`crate::loader`]'s.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    error::{Error, Result},
    loader::{ABORTS_MAP, EbpfLoader, sorted},
    maps::{self, Map},
    programs::{Program, TracePoint},
    trace_pipe::PrintkFormat,
};

/// A loaded object: its maps and programs. Dropping it closes their file
/// descriptors; programs stay in the kernel only while a link (or a pin)
/// holds them.
///
/// ```no_run
/// # async fn run() -> Result<(), iu::Error> {
/// let ebpf = iu::Ebpf::load_file("target/bpf/bpfel-unknown-none/release/hello")?;
/// let _link = ebpf.tracepoint("hello")?.attach()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Ebpf {
    pub(crate) maps: HashMap<String, Map>,
    pub(crate) programs: HashMap<String, Program>,
    /// Each program's slot in `IU_ABORTS`, for programs that can panic.
    pub(crate) abort_slots: HashMap<String, u32>,
    /// The loop-budget exhaustion counters, where a program got budgets.
    pub(crate) loop_budget: Option<LoopCounters>,
    pub(crate) printk_formats: Vec<PrintkFormat>,
    pub(crate) log_sites: Arc<HashMap<u64, crate::logger::LogSite>>,
    /// Slots of `IU_USDT_SPECS` held by USDT links.
    pub(crate) usdt_slots: Arc<crate::programs::usdt::SpecSlots>,
    /// The object's struct_ops, resolved against the kernel, in name order.
    // struct_ops (C): each with the map created at load.
    pub(crate) struct_ops: Vec<crate::programs::struct_ops::Loaded>,
}

/// The counters of the loops the loader gave a budget.
#[derive(Debug)]
pub(crate) struct LoopCounters {
    /// `iu_loop_budget`: one element, a word that stays 0 (see
    /// `loop_budget::forget_loop_counters`), then 8 bytes per program of
    /// the object.
    pub(crate) map: Map,
    /// Each budgeted program's slot.
    pub(crate) slots: HashMap<String, u32>,
}

impl Ebpf {
    /// Loads an object with default options; see [`EbpfLoader`].
    pub fn load(bytes: &[u8]) -> Result<Self> {
        EbpfLoader::new().load(bytes)
    }

    /// Reads and loads an object with default options.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Self> {
        EbpfLoader::new().load_file(path)
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Result<&Program> {
        self.programs
            .get(name)
            .ok_or_else(|| Error::UnknownProgram {
                name: name.to_owned(),
                available: sorted(self.programs.keys()),
            })
    }

    /// Every program, in no particular order.
    pub fn programs(&self) -> impl Iterator<Item = &Program> {
        self.programs.values()
    }

    /// How many times program `name` has aborted on a panic since the
    /// object was loaded, over every CPU. A panic (an index out of bounds,
    /// an `unwrap` on `None`, an overflow check) ends the run: the program
    /// returns the `on_panic` value of its attribute and the count grows.
    /// Always 0 for programs without a panic path.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let aborts = ebpf.aborts("firewall")?;
    /// if aborts > 0 {
    ///     log::warn!("firewall aborted {aborts} times");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn aborts(&self, name: &str) -> Result<u64> {
        self.program(name)?;
        let Some(&slot) = self.abort_slots.get(name) else {
            return Ok(0);
        };
        let counts = self.per_cpu_array::<u64>(ABORTS_MAP)?.get(slot)?;
        Ok(counts.iter().sum())
    }

    /// Whether the loader gave program `name`'s loops a runtime budget:
    /// the verifier refused its loops as written, and the kernel has the
    /// loop budget (`may_goto`, Linux 6.9+). See docs/safety.md, "Loops".
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// if ebpf.loop_budgeted("dns_labels")? {
    ///     println!("dns_labels' loops stop after a runtime budget");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn loop_budgeted(&self, name: &str) -> Result<bool> {
        self.program(name)?;
        Ok(self
            .loop_budget
            .as_ref()
            .is_some_and(|b| b.slots.contains_key(name)))
    }

    /// How many times a loop of program `name` ran out of its runtime
    /// budget since the object was loaded, over every CPU. An exhausted
    /// budget leaves the loop as a `break` would, and the program goes on
    /// after the loop with the state it has. Always 0 for programs whose
    /// loops got no budget ([`Ebpf::loop_budgeted`]).
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let cut = ebpf.loop_budget_exhausted("dns_labels")?;
    /// if cut > 0 {
    ///     log::warn!("dns_labels left a loop early {cut} times");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn loop_budget_exhausted(&self, name: &str) -> Result<u64> {
        self.program(name)?;
        let Some(budget) = &self.loop_budget else {
            return Ok(0);
        };
        let Some(&slot) = budget.slots.get(name) else {
            return Ok(0);
        };
        let mut value = vec![0u8; budget.map.value_size as usize];
        budget.map.lookup(&0u32.to_ne_bytes(), &mut value)?;
        let at = (slot as usize + 1) * 8;
        let bytes: [u8; 8] = value
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default();
        Ok(u64::from_ne_bytes(bytes))
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Result<&Map> {
        self.maps.get(name).ok_or_else(|| Error::UnknownMap {
            name: name.to_owned(),
            // Not the global-data maps (`.rodata`, `.bss`, ...), which have
            // no name of the user's.
            available: sorted(self.maps.keys().filter(|n| !n.starts_with('.'))),
        })
    }

    /// Every map, in no particular order.
    pub fn maps(&self) -> impl Iterator<Item = &Map> {
        self.maps.values()
    }

    /// The `printk!` formats in the object, to keep only its lines in a
    /// [`crate::TracePipe`] (see [`crate::TracePipe::only`]).
    pub fn printk_formats(&self) -> Vec<PrintkFormat> {
        self.printk_formats.clone()
    }

    /// The hash map (or LRU hash map) called `name`, typed.
    pub fn hash_map<K: crate::Pod, V: crate::Pod>(
        &self,
        name: &str,
    ) -> Result<maps::HashMap<'_, K, V>> {
        maps::HashMap::new(self.map(name)?)
    }

    /// The per-CPU hash map called `name`, typed.
    pub fn per_cpu_hash_map<K: crate::Pod, V: crate::Pod>(
        &self,
        name: &str,
    ) -> Result<maps::PerCpuHashMap<'_, K, V>> {
        maps::PerCpuHashMap::new(self.map(name)?)
    }

    /// The array called `name`, typed.
    pub fn array<V: crate::Pod>(&self, name: &str) -> Result<maps::Array<'_, V>> {
        maps::Array::new(self.map(name)?)
    }

    /// The per-CPU array called `name`, typed.
    pub fn per_cpu_array<V: crate::Pod>(&self, name: &str) -> Result<maps::PerCpuArray<'_, V>> {
        maps::PerCpuArray::new(self.map(name)?)
    }

    /// The queue called `name`, typed.
    pub fn queue<V: crate::Pod>(&self, name: &str) -> Result<maps::Queue<'_, V>> {
        maps::Queue::new(self.map(name)?)
    }

    /// The stack called `name`, typed.
    pub fn stack<V: crate::Pod>(&self, name: &str) -> Result<maps::Stack<'_, V>> {
        maps::Stack::new(self.map(name)?)
    }

    /// The LPM trie called `name`, typed.
    pub fn lpm_trie<K: crate::Pod, V: crate::Pod>(
        &self,
        name: &str,
    ) -> Result<maps::LpmTrie<'_, K, V>> {
        maps::LpmTrie::new(self.map(name)?)
    }

    /// The bloom filter called `name`, typed.
    pub fn bloom_filter<V: crate::Pod>(&self, name: &str) -> Result<maps::BloomFilter<'_, V>> {
        maps::BloomFilter::new(self.map(name)?)
    }

    /// The array of maps `name` (see [`maps::ArrayOfMaps`]).
    pub fn array_of_maps(&self, name: &str) -> Result<maps::ArrayOfMaps<'_>> {
        maps::ArrayOfMaps::new(self.map(name)?)
    }

    /// The hash of maps `name`, keyed by `K` (see [`maps::HashOfMaps`]).
    pub fn hash_of_maps<K: crate::Pod>(&self, name: &str) -> Result<maps::HashOfMaps<'_, K>> {
        maps::HashOfMaps::new(self.map(name)?)
    }

    /// The task storage `name`, typed (see [`maps::TaskStorage`]).
    pub fn task_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::TaskStorage<'_, V>> {
        maps::TaskStorage::new(self.map(name)?)
    }

    /// The devmap `name` (see [`maps::DevMap`]).
    pub fn dev_map(&self, name: &str) -> Result<maps::DevMap<'_>> {
        maps::DevMap::new(self.map(name)?)
    }

    /// The devmap hash `name` (see [`maps::DevMapHash`]).
    pub fn dev_map_hash(&self, name: &str) -> Result<maps::DevMapHash<'_>> {
        maps::DevMapHash::new(self.map(name)?)
    }

    /// The socket storage `name` of `V`s (see [`maps::SkStorage`]).
    pub fn sk_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::SkStorage<'_, V>> {
        maps::SkStorage::new(self.map(name)?)
    }

    /// The inode storage `name` of `V`s (see [`maps::InodeStorage`]).
    pub fn inode_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::InodeStorage<'_, V>> {
        maps::InodeStorage::new(self.map(name)?)
    }

    /// The cgroup storage `name` of `V`s (see [`maps::CgrpStorage`]).
    pub fn cgrp_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::CgrpStorage<'_, V>> {
        maps::CgrpStorage::new(self.map(name)?)
    }

    /// The sockmap `name` (see [`maps::SockMap`]).
    pub fn sock_map(&self, name: &str) -> Result<maps::SockMap<'_>> {
        maps::SockMap::new(self.map(name)?)
    }

    /// The sockhash `name` with `K` keys (see [`maps::SockHash`]).
    pub fn sock_hash<K: crate::Pod>(&self, name: &str) -> Result<maps::SockHash<'_, K>> {
        maps::SockHash::new(self.map(name)?)
    }

    /// The XSK map `name` (see [`maps::XskMap`]).
    pub fn xsk_map(&self, name: &str) -> Result<maps::XskMap<'_>> {
        maps::XskMap::new(self.map(name)?)
    }

    /// The cpumap `name` (see [`maps::CpuMap`]).
    pub fn cpu_map(&self, name: &str) -> Result<maps::CpuMap<'_>> {
        maps::CpuMap::new(self.map(name)?)
    }

    /// The program array called `name`.
    pub fn program_array(&self, name: &str) -> Result<maps::ProgramArray<'_>> {
        maps::ProgramArray::new(self.map(name)?)
    }

    /// The stack-trace map called `name`.
    pub fn stack_trace_map(&self, name: &str) -> Result<maps::StackTraceMap<'_>> {
        maps::StackTraceMap::new(self.map(name)?)
    }

    /// The log call sites of the object (`info!` and friends), by id.
    pub fn log_sites(&self) -> Arc<HashMap<u64, crate::logger::LogSite>> {
        Arc::clone(&self.log_sites)
    }

    /// The kprobe or kretprobe program called `name`.
    pub fn kprobe(&self, name: &str) -> Result<crate::programs::KProbe<'_>> {
        crate::programs::KProbe::new(self.program(name)?)
    }

    /// The uprobe or uretprobe program called `name`.
    pub fn uprobe(&self, name: &str) -> Result<crate::programs::UProbe<'_>> {
        crate::programs::UProbe::new(self.program(name)?)
    }

    /// The `#[usdt]` program `name`.
    pub fn usdt(&self, name: &str) -> Result<crate::programs::Usdt<'_>> {
        crate::programs::Usdt::new(
            self.program(name)?,
            self.maps.get(crate::programs::usdt::SPECS_MAP),
            &self.usdt_slots,
        )
    }

    /// The struct_ops `name`, to register: a Rust `#[struct_ops(name =
    /// "...")]`, or a C object's `.struct_ops`/`.struct_ops.link` variable.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let registration = ebpf.struct_ops("iu_reno")?.register()?;
    /// # Ok(()) }
    /// ```
    pub fn struct_ops(&self, name: &str) -> Result<crate::programs::StructOps<'_>> {
        // struct_ops (C): looked up in the struct_ops module.
        crate::programs::struct_ops::find(&self.struct_ops, &self.programs, name)
    }

    /// Every struct_ops of the object, in name order.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let registrations = ebpf
    ///     .all_struct_ops()
    ///     .map(|ops| ops.register())
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// # Ok(()) }
    /// ```
    pub fn all_struct_ops(&self) -> impl Iterator<Item = crate::programs::StructOps<'_>> {
        // struct_ops (C): listed by the struct_ops module.
        crate::programs::struct_ops::iter(&self.struct_ops, &self.programs)
    }

    /// The netfilter program `name`.
    pub fn netfilter(&self, name: &str) -> Result<crate::programs::Netfilter<'_>> {
        crate::programs::Netfilter::new(self.program(name)?)
    }

    /// The flow dissector `name`.
    pub fn flow_dissector(&self, name: &str) -> Result<crate::programs::FlowDissector<'_>> {
        crate::programs::FlowDissector::new(self.program(name)?)
    }

    /// The uprobe.multi or uretprobe.multi program `name`.
    pub fn uprobe_multi(&self, name: &str) -> Result<crate::programs::UProbeMulti<'_>> {
        crate::programs::UProbeMulti::new(self.program(name)?)
    }

    /// The raw tracepoint program called `name`.
    pub fn raw_tracepoint(&self, name: &str) -> Result<crate::programs::RawTracePoint<'_>> {
        crate::programs::RawTracePoint::new(self.program(name)?)
    }

    /// The BTF tracepoint (`#[tp_btf]`) program called `name`.
    pub fn btf_tracepoint(&self, name: &str) -> Result<crate::programs::BtfTracePoint<'_>> {
        crate::programs::BtfTracePoint::new(self.program(name)?)
    }

    /// The fentry, fexit or LSM program called `name`.
    pub fn btf_tracing(&self, name: &str) -> Result<crate::programs::BtfTracing<'_>> {
        crate::programs::BtfTracing::new(self.program(name)?)
    }

    /// The perf_event program called `name`.
    pub fn perf_event(&self, name: &str) -> Result<crate::programs::PerfEvent<'_>> {
        crate::programs::PerfEvent::new(self.program(name)?)
    }

    /// The cgroup socket-buffer program called `name`.
    pub fn cgroup_skb(&self, name: &str) -> Result<crate::programs::CgroupSkb<'_>> {
        crate::programs::CgroupSkb::new(self.program(name)?)
    }

    /// The cgroup socket program called `name`.
    pub fn cgroup_sock(&self, name: &str) -> Result<crate::programs::CgroupSock<'_>> {
        crate::programs::CgroupSock::new(self.program(name)?)
    }

    /// The cgroup socket-address program `name`.
    pub fn cgroup_sock_addr(&self, name: &str) -> Result<crate::programs::CgroupSockAddr<'_>> {
        crate::programs::CgroupSockAddr::new(self.program(name)?)
    }

    /// The cgroup sysctl program `name`.
    pub fn cgroup_sysctl(&self, name: &str) -> Result<crate::programs::CgroupSysctl<'_>> {
        crate::programs::CgroupSysctl::new(self.program(name)?)
    }

    /// The cgroup device program `name`.
    pub fn cgroup_device(&self, name: &str) -> Result<crate::programs::CgroupDevice<'_>> {
        crate::programs::CgroupDevice::new(self.program(name)?)
    }

    /// The cgroup socket-option program `name`.
    pub fn cgroup_sockopt(&self, name: &str) -> Result<crate::programs::CgroupSockopt<'_>> {
        crate::programs::CgroupSockopt::new(self.program(name)?)
    }

    /// The iterator program `name`.
    pub fn iter(&self, name: &str) -> Result<crate::programs::Iter<'_>> {
        crate::programs::Iter::new(self.program(name)?)
    }

    /// The sk_msg program `name`.
    pub fn sk_msg(&self, name: &str) -> Result<crate::programs::SkMsg<'_>> {
        crate::programs::SkMsg::new(self.program(name)?)
    }

    /// The kprobe.multi or kretprobe.multi program `name`.
    pub fn kprobe_multi(&self, name: &str) -> Result<crate::programs::KProbeMulti<'_>> {
        crate::programs::KProbeMulti::new(self.program(name)?)
    }

    /// The sk_lookup program `name`.
    pub fn sk_lookup(&self, name: &str) -> Result<crate::programs::SkLookup<'_>> {
        crate::programs::SkLookup::new(self.program(name)?)
    }

    /// The sk_skb program `name` (stream parser or verdict).
    pub fn sk_skb(&self, name: &str) -> Result<crate::programs::SkSkb<'_>> {
        crate::programs::SkSkb::new(self.program(name)?)
    }

    /// The sock_ops program `name`.
    pub fn sock_ops(&self, name: &str) -> Result<crate::programs::SockOps<'_>> {
        crate::programs::SockOps::new(self.program(name)?)
    }

    /// The syscall program called `name`.
    pub fn syscall(&self, name: &str) -> Result<crate::programs::Syscall<'_>> {
        crate::programs::Syscall::new(self.program(name)?)
    }

    /// The socket filter called `name`.
    pub fn socket_filter(&self, name: &str) -> Result<crate::programs::SocketFilter<'_>> {
        crate::programs::SocketFilter::new(self.program(name)?)
    }

    /// The tc classifier called `name`.
    pub fn classifier(&self, name: &str) -> Result<crate::programs::Classifier<'_>> {
        crate::programs::Classifier::new(self.program(name)?)
    }

    /// The XDP program called `name`.
    pub fn xdp(&self, name: &str) -> Result<crate::programs::Xdp<'_>> {
        crate::programs::Xdp::new(self.program(name)?)
    }

    /// The tracepoint program called `name`.
    pub fn tracepoint(&self, name: &str) -> Result<TracePoint<'_>> {
        TracePoint::new(self.program(name)?)
    }

    /// The freplace program called `name`, loaded against the target given
    /// to [`EbpfLoader::extension_target`].
    pub fn extension(&self, name: &str) -> Result<crate::programs::Extension<'_>> {
        crate::programs::Extension::new(self.program(name)?)
    }
}

/// The directory `cargo xtask build` writes BPF objects to:
/// `$IU_OBJECT_DIR` when set (xtask sets it for `run` and `test`, in the VM
/// guest too), else `bpf/bpfel-unknown-none/release` in the cargo target
/// directory the running executable was built in.
///
/// ```no_run
/// let ebpf = iu::Ebpf::load_file(iu::object_dir().join("hello"))?;
/// # Ok::<(), iu::Error>(())
/// ```
pub fn object_dir() -> PathBuf {
    const OBJECTS: &str = "bpf/bpfel-unknown-none/release";
    if let Some(dir) = std::env::var_os("IU_OBJECT_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .map(|dir| dir.join(OBJECTS))
                .find(|dir| dir.is_dir())
        })
        .unwrap_or_else(|| PathBuf::from("target").join(OBJECTS))
}
