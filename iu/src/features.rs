//! What the running kernel supports, decided once per process.
//!
//! The answers come from the kernel version (`uname`): every feature here
//! has a fixed version in mainline, and probing each one with a syscall
//! would cost more than the whole load of a small program.

use std::{os::fd::AsFd, sync::OnceLock};

use aya_obj::{Features, btf::BtfFeatures};

/// `BPF_PROG_TYPE_*` and `BPF_MAP_TYPE_*`, for the probes below.
pub use aya_obj::generated::{bpf_attach_type, bpf_map_type, bpf_prog_type};

pub(crate) fn at_least(major: u32, minor: u32) -> bool {
    crate::sys::kernel_version().is_some_and(|(a, b, _)| (a, b) >= (major, minor))
}

/// The running kernel's version as `KERNEL_VERSION(a, b, c)`, the value
/// `BPF_PROG_LOAD` compares against for kprobes on kernels before 5.0.
pub fn kernel_version_code() -> u32 {
    crate::sys::kernel_version()
        .map(|(a, b, c)| (a << 16) | (b << 8) | c.min(255))
        .unwrap_or(0)
}

/// Features aya-obj uses to sanitize BTF and instructions.
pub(crate) fn object_features() -> &'static Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    FEATURES.get_or_init(|| {
        let btf = BtfFeatures::new(
            at_least(5, 0),  // BTF_KIND_FUNC
            at_least(5, 6),  // global functions
            at_least(5, 2),  // BTF_KIND_DATASEC
            at_least(5, 13), // zero-sized DATASEC entries
            at_least(5, 13), // BTF_KIND_FLOAT
            at_least(5, 16), // BTF_KIND_DECL_TAG
            at_least(5, 17), // BTF_KIND_TYPE_TAG
            at_least(6, 0),  // BTF_KIND_ENUM64
        );
        Features::new(
            at_least(4, 15), // program and map names
            at_least(5, 5),  // bpf_probe_read_kernel
            perf_link(),
            at_least(5, 2),  // global data
            at_least(5, 15), // bpf cookies
            at_least(5, 9),  // cpumap program ids
            at_least(5, 8),  // devmap program ids
            Some(btf),
        )
    })
}

/// Whether `BPF_LINK_CREATE` takes perf events (kprobes, uprobes,
/// tracepoints): Linux 5.15.
pub fn perf_link() -> bool {
    at_least(5, 15)
}

/// Whether the kernel reports the full verifier log size
/// (`log_true_size`): Linux 6.4.
pub fn log_true_size() -> bool {
    at_least(6, 4)
}

/// Builds one instruction.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> aya_obj::generated::bpf_insn {
    aya_obj::generated::bpf_insn {
        code,
        _bitfield_align_1: [],
        _bitfield_1: aya_obj::generated::bpf_insn::new_bitfield_1(dst, src),
        off,
        imm,
    }
}

/// `r0 = 0; exit`, or with a helper call first.
fn probe_program(helper: Option<u32>) -> Vec<aya_obj::generated::bpf_insn> {
    const MOV64_IMM: u8 = 0xb7;
    const CALL: u8 = 0x85;
    const EXIT: u8 = 0x95;
    let mut insns = vec![];
    if let Some(id) = helper {
        // Arguments zeroed so that argument checks, not the helper's
        // existence, are what fails for helpers that take pointers.
        for reg in 1..=5 {
            insns.push(insn(MOV64_IMM, reg, 0, 0, 0));
        }
        insns.push(insn(CALL, 0, 0, 0, id as i32));
    }
    insns.push(insn(MOV64_IMM, 0, 0, 0, 0));
    insns.push(insn(EXIT, 0, 0, 0, 0));
    insns
}

/// `BPF_JMP | BPF_JCOND`: `may_goto`.
pub(crate) const MAY_GOTO: u8 = 0xe5;

/// `r0 = 0; may_goto +1; r0 = 0; exit`.
fn may_goto_program() -> Vec<aya_obj::generated::bpf_insn> {
    let mut insns = probe_program(None);
    insns.insert(1, insn(MAY_GOTO, 0, 0, 1, 0));
    insns.insert(2, insn(0xb7, 0, 0, 0, 0));
    insns
}

/// What loading a probe program says.
fn probe_load(prog_type: u32, expected_attach_type: u32, helper: Option<u32>) -> (bool, String) {
    let mut insns = probe_program(helper);
    if prog_type == bpf_prog_type::BPF_PROG_TYPE_CGROUP_SOCK_ADDR as u32
        && let Some(ret) = insns.iter_mut().rev().nth(1)
    {
        // recvmsg, getpeername and getsockname hooks must return 1; 1 is
        // valid at every hook of the type.
        ret.imm = 1;
    }
    match load_probe(prog_type, expected_attach_type, &insns) {
        Ok(_) => (true, String::new()),
        Err(log) => (false, log),
    }
}

/// Loads `insns` as a program of `prog_type`: its descriptor, or what the
/// verifier said.
fn load_probe(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[aya_obj::generated::bpf_insn],
) -> Result<std::os::fd::OwnedFd, String> {
    use crate::sys::{ProgBtfInfo, ProgLoad, prog_load};
    let spec = ProgLoad {
        name: "iu_probe",
        prog_type,
        expected_attach_type,
        insns,
        license: c"GPL",
        kern_version: kernel_version_code(),
        prog_flags: 0,
        attach_btf_id: 0,
        attach_prog_fd: None,
        btf: ProgBtfInfo::default(),
        fd_array: &[],
    };
    let mut log = vec![0u8; 4096];
    prog_load(&spec, &mut log, 1).map_err(|_| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        String::from_utf8_lossy(&log[..end]).into_owned()
    })
}

/// Probe results: (probe kind, type, detail) -> supported.
type ProbeCache = std::collections::HashMap<(u8, u32, u32), bool>;

fn cached(key: (u8, u32, u32), probe: impl FnOnce() -> bool) -> bool {
    static CACHE: std::sync::Mutex<Option<ProbeCache>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    *cache
        .get_or_insert_with(Default::default)
        .entry(key)
        .or_insert_with(probe)
}

/// Whether this process can load programs of type `prog_type`
/// (`BPF_PROG_TYPE_*`, with the expected attach type the type needs, or
/// 0), probed once per process by loading a two-instruction program.
/// `false` also when the kernel refuses the type to this process (missing
/// capability, lockdown). BTF-attached types (tracing, LSM) need a target
/// and are not probed here: try loading them.
///
/// ```no_run
/// use iu::features::{bpf_prog_type, program_type};
/// let xdp = program_type(bpf_prog_type::BPF_PROG_TYPE_XDP as u32, 0);
/// ```
pub fn program_type(prog_type: u32, expected_attach_type: u32) -> bool {
    cached((0, prog_type, expected_attach_type), || {
        probe_load(prog_type, expected_attach_type, None).0
    })
}

/// Whether programs of type `prog_type` may call helper `helper`
/// (`BPF_FUNC_*` number), probed once per process: the verifier either
/// reports the helper unknown or refused for the type, or complains about
/// something else (it exists).
pub fn helper(prog_type: u32, helper: u32) -> bool {
    cached((1, prog_type, helper), || {
        let (loaded, log) = probe_load(prog_type, 0, Some(helper));
        loaded
            || !(log.contains("invalid func")
                || log.contains("unknown func")
                || log.contains("program of this type cannot use helper"))
    })
}

/// Whether this process can create maps of type `map_type`
/// (`BPF_MAP_TYPE_*`), probed once per process with a minimal map.
pub fn map_type(map_type: u32) -> bool {
    use crate::maps::map_type::*;
    cached((2, map_type, 0), || {
        let page = crate::sys::page_size() as u32;
        let (key, value, max, flags) = match map_type {
            QUEUE | STACK | BLOOM_FILTER => (0, 4, 1, 0),
            RINGBUF | USER_RINGBUF => (0, 0, page, 0),
            // Local storage needs BTF: a refusal for that (EINVAL) still
            // tells an unknown type (also EINVAL) apart only by version.
            TASK_STORAGE => return at_least(5, 11),
            SK_STORAGE => return at_least(5, 2),
            INODE_STORAGE => return at_least(5, 10),
            CGRP_STORAGE => return at_least(6, 2),
            STACK_TRACE => (4, 8, 1, 0),
            LPM_TRIE => (8, 4, 1, 1),
            _ => (4, 4, 1, 0),
        };
        // Maps of maps need an inner map to take their shape from.
        let inner = matches!(map_type, ARRAY_OF_MAPS | HASH_OF_MAPS)
            .then(|| {
                crate::sys::map_create(&crate::sys::MapCreate {
                    name: "iu_probe_inner",
                    map_type: ARRAY,
                    key_size: 4,
                    value_size: 4,
                    max_entries: 1,
                    ..Default::default()
                })
            })
            .transpose();
        let Ok(inner) = inner else {
            return false;
        };
        crate::sys::map_create(&crate::sys::MapCreate {
            name: "iu_probe",
            map_type,
            key_size: key,
            value_size: value,
            max_entries: max,
            map_flags: flags,
            inner_map_fd: inner.as_ref().map(|fd| fd.as_fd()),
            ..Default::default()
        })
        .is_ok()
    })
}

/// A kprobe program loaded for a multi-probe link of `attach_type`
/// (`kprobe.multi` or `uprobe.multi`), if this kernel takes one.
fn multi_probe_program(attach_type: u32) -> Option<std::os::fd::OwnedFd> {
    let kprobe = bpf_prog_type::BPF_PROG_TYPE_KPROBE as u32;
    load_probe(kprobe, attach_type, &probe_program(None)).ok()
}

/// Whether `kprobe.multi` links work (Linux 5.18, and the kernel built
/// with `CONFIG_FPROBE` and working ftrace: Debian's 6.1 has no fprobe,
/// this host refuses the attach): a probe program is linked to
/// `bpf_fentry_test1`, the function the kernel keeps for tests of
/// tracing programs, and the link closed at once.
pub fn kprobe_multi() -> bool {
    cached((4, 0, 0), || {
        let Some(fd) =
            multi_probe_program(aya_obj::generated::bpf_attach_type::BPF_TRACE_KPROBE_MULTI as u32)
        else {
            return false;
        };
        crate::sys::link_create_kprobe_multi(fd.as_fd(), &[c"bpf_fentry_test1".to_owned()], false)
            .is_ok()
    })
}

/// Whether `uprobe.multi` links work (Linux 6.6 with `CONFIG_UPROBES`):
/// as libbpf probes it, a probe program is linked to the binary `/`,
/// which a kernel that knows uprobe.multi refuses with `EBADF` (not a
/// regular file) and an older one with `EINVAL` (unknown attach type).
///
/// ```no_run
/// if !iu::features::uprobe_multi() {
///     eprintln!("uprobe.multi needs Linux 6.6: attach one uprobe per function");
/// }
/// ```
pub fn uprobe_multi() -> bool {
    cached((5, 0, 0), || {
        let Some(fd) =
            multi_probe_program(aya_obj::generated::bpf_attach_type::BPF_TRACE_UPROBE_MULTI as u32)
        else {
            return false;
        };
        crate::sys::link_create_uprobe_multi(fd.as_fd(), c"/", &[0], &[], &[], false, 0)
            .is_err_and(|e| e.raw_os_error() == Some(libc::EBADF))
    })
}

/// Whether `#[usdt]` programs attach (`iu::programs::Usdt`): the uprobe
/// PMU (`CONFIG_UPROBE_EVENTS`) and BPF cookies, through which each site
/// names its argument spec (perf links, Linux 5.15). With
/// [`uprobe_multi`] (6.6) every site goes into one link; before, each
/// gets its own uprobe.
///
/// ```no_run
/// if !iu::features::usdt() {
///     eprintln!("USDT probes need Linux 5.15 with CONFIG_UPROBE_EVENTS");
/// }
/// ```
pub fn usdt() -> bool {
    perf_link() && std::path::Path::new("/sys/bus/event_source/devices/uprobe/type").exists()
}

/// Whether netfilter programs attach (Linux 6.4 with
/// `CONFIG_NETFILTER_BPF_LINK`): a probe program is linked to IPv4's
/// LOCAL_IN hook of this thread's network namespace (accepting every
/// packet) and the link closed at once.
///
/// ```no_run
/// if !iu::features::netfilter() {
///     eprintln!("netfilter programs need Linux 6.4");
/// }
/// ```
pub fn netfilter() -> bool {
    cached((6, 0, 0), || {
        // `r0 = 1 (NF_ACCEPT); exit`: the probe lets every packet through
        // while it is attached.
        let insns = [insn(0xb7, 0, 0, 0, 1), insn(0x95, 0, 0, 0, 0)];
        let Ok(fd) = load_probe(
            bpf_prog_type::BPF_PROG_TYPE_NETFILTER as u32,
            aya_obj::generated::bpf_attach_type::BPF_NETFILTER as u32,
            &insns,
        ) else {
            return false;
        };
        crate::sys::link_create_netfilter(fd.as_fd(), 2, 1, 0x7eef_0001, false).is_ok()
    })
}

/// Whether BPF can implement kernel struct `kernel_struct` through
/// struct_ops (`#[struct_ops]`; `tcp_congestion_ops`: Linux 5.6 with
/// `CONFIG_BPF_JIT`): the kernel's BTF has its wrapper
/// `struct bpf_struct_ops_<kernel_struct>`.
///
/// ```no_run
/// if !iu::features::struct_ops("tcp_congestion_ops") {
///     eprintln!("TCP congestion control in BPF needs Linux 5.6");
/// }
/// ```
pub fn struct_ops(kernel_struct: &str) -> bool {
    let Ok(btf) = crate::core_relo::kernel_btf() else {
        return false;
    };
    let wrapper = format!("bpf_struct_ops_{kernel_struct}");
    btf.by_name(&wrapper).any(|id| {
        btf.get(id)
            .is_some_and(|t| t.kind == crate::btf::Kind::Struct && t.name == wrapper)
    })
}

/// Whether struct_ops register through links (`BPF_F_LINK` maps and
/// `BPF_LINK_CREATE` with `BPF_STRUCT_OPS`, Linux 6.4): a struct_ops map
/// of `tcp_congestion_ops` is created with `BPF_F_LINK` and closed at
/// once. Without them, `StructOps::register` registers through the map
/// update and unregisters by deleting the element.
///
/// ```no_run
/// if !iu::features::struct_ops_link() {
///     eprintln!("struct_ops without links: registered until the handle drops");
/// }
/// ```
pub fn struct_ops_link() -> bool {
    cached((7, 0, 0), || {
        let Ok(btf) = crate::core_relo::kernel_btf() else {
            return false;
        };
        let wrapper = "bpf_struct_ops_tcp_congestion_ops";
        let Some((id, size)) = btf.by_name(wrapper).find_map(|id| {
            let t = btf.get(id)?;
            (t.kind == crate::btf::Kind::Struct && t.name == wrapper).then_some((id, t.size))
        }) else {
            return false;
        };
        let Ok(placeholder) =
            crate::sys::btf_load(&crate::programs::struct_ops::placeholder_btf(), &mut [])
        else {
            return false;
        };
        crate::sys::map_create_struct_ops("iu_probe", size, id, placeholder.as_fd(), true).is_ok()
    })
}

/// Whether the kernel has task iterators (`#[iter(task)]`, Linux 5.8).
/// Like other tracing programs they also need the kernel's BTF and may be
/// refused by lockdown; the load says so.
pub fn task_iterator() -> bool {
    at_least(5, 8) && std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// Whether the kernel has the iterator `iter/<target>` (its BTF has the
/// target's `bpf_iter_<target>` function): `bpf_map_elem` and `tcp` came
/// in Linux 5.9 (`#[iter(bpf_map_elem)]`, `#[iter(tcp)]`). Like other
/// tracing programs, iterators may still be refused by lockdown; the load
/// says so.
///
/// ```no_run
/// if !iu::features::iterator("tcp") {
///     eprintln!("TCP iterators need Linux 5.9 and the kernel's BTF");
/// }
/// ```
pub fn iterator(target: &str) -> bool {
    kernel_function_exists(&format!("bpf_iter_{target}"))
}

/// Whether freplace programs (`#[freplace]`, `BPF_PROG_TYPE_EXT`) load and
/// attach here: Linux 5.6, with the BPF JIT on (the kernel replaces only
/// functions of JITed programs; `/proc/sys/net/core/bpf_jit_enable` is
/// not 0).
///
/// ```no_run
/// if !iu::features::freplace() {
///     eprintln!("freplace needs Linux 5.6 and the BPF JIT");
/// }
/// ```
pub fn freplace() -> bool {
    at_least(5, 6)
        && std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable")
            .is_ok_and(|v| v.trim() != "0")
}

/// Whether XDP programs attach with bpf_links (Linux 5.9).
pub fn xdp_link() -> bool {
    at_least(5, 9)
}

/// Whether AF_XDP sockets work here (`iu::xsk::XskSocket`, Linux 4.18
/// with `CONFIG_XDP_SOCKETS`, and the ring layout with flags of 5.4):
/// probed once per process by opening one, which needs `CAP_NET_RAW`.
///
/// ```no_run
/// if !iu::features::af_xdp() {
///     eprintln!("AF_XDP needs Linux 5.4 built with CONFIG_XDP_SOCKETS");
/// }
/// ```
pub fn af_xdp() -> bool {
    static AF_XDP: OnceLock<bool> = OnceLock::new();
    *AF_XDP.get_or_init(|| {
        at_least(5, 4)
            && crate::sys::xsk_socket()
                .and_then(|fd| crate::sys::xsk_mmap_offsets(fd.as_fd()))
                .is_ok()
    })
}

/// Whether kprobes attach here: the kprobe perf PMU
/// (`/sys/bus/event_source/devices/kprobe`) or tracefs's `kprobe_events`.
/// Kernels built without `CONFIG_KPROBES` have neither.
///
/// ```no_run
/// if !iu::features::kprobes() {
///     eprintln!("kprobe programs will load but not attach here");
/// }
/// ```
pub fn kprobes() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || crate::tracefs::KProbeEvent::supported()
}

/// Whether tc programs attach with TCX links (Linux 6.6).
pub fn tcx_link() -> bool {
    at_least(6, 6)
}

/// Whether the kernel has BPF exceptions (the `bpf_throw` kfunc, Linux
/// 6.7+), which programs that can panic need: without them the loader
/// refuses such programs (`Error::PanicsUnsupported`). Read from the
/// kernel's BTF (parsed once per process).
///
/// ```no_run
/// if !iu::features::exceptions() {
///     eprintln!("programs with panic paths will not load here");
/// }
/// ```
pub fn exceptions() -> bool {
    crate::loader::bpf_throw_id().is_some()
}

/// Whether the running kernel's BTF, or a loaded module's, has a function
/// of that name: for a kfunc, whether an object that calls it (`__ksym`
/// in C) can load here.
///
/// ```no_run
/// if !iu::features::kernel_function_exists("bpf_iter_num_new") {
///     eprintln!("open-coded iterators need Linux 6.4");
/// }
/// ```
pub fn kernel_function_exists(name: &str) -> bool {
    crate::loader::kernel_function_id(name).is_some()
        || crate::loader::module_function(name).is_some()
}

/// Whether the kernel has the loop budget (`may_goto`, Linux 6.9+) that
/// `iu_ebpf::loops::while_budgeted` spends: probed once per process by
/// loading a socket filter that uses it. Without it the loader refuses
/// such programs (`Error::LoopBudgetUnsupported`).
///
/// ```no_run
/// if !iu::features::loop_budget() {
///     eprintln!("budgeted loops need Linux 6.9; use loops::while_bounded here");
/// }
/// ```
pub fn loop_budget() -> bool {
    cached((3, 0, 0), || {
        load_probe(
            bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER as u32,
            0,
            &may_goto_program(),
        )
        .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_programs_end_in_exit() {
        let insns = probe_program(Some(5));
        assert_eq!(insns.len(), 8);
        assert_eq!(insns[5].code, 0x85);
        assert_eq!(insns[5].imm, 5);
        assert_eq!(insns.last().map(|i| i.code), Some(0x95));
    }
}
