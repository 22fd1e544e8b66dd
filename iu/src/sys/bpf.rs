//! `bpf(2)` commands.

use std::{
    ffi::CStr,
    io, mem,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

use aya_obj::generated::{bpf_cmd, bpf_insn};

/// Kernel object names hold at most 15 bytes and a NUL (`BPF_OBJ_NAME_LEN`).
pub const OBJ_NAME_LEN: usize = 16;

/// Copies `name` into a kernel object name: at most 15 bytes, and only the
/// characters the kernel accepts (alphanumerics, `_` and `.`).
pub fn obj_name(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    for (dst, src) in out
        .iter_mut()
        .zip(
            name.bytes()
                .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.'),
        )
        .take(OBJ_NAME_LEN - 1)
    {
        *dst = src;
    }
    out
}

/// Issues `bpf(cmd, attr, size_of::<T>())`.
///
/// # Safety
///
/// `T` must be the attribute struct of `cmd`, and every pointer stored in it
/// must be valid for the access the kernel makes for `cmd` during the call.
unsafe fn sys_bpf<T>(cmd: bpf_cmd, attr: &mut T) -> io::Result<i64> {
    // SAFETY: the caller guarantees that `attr` is the right attribute struct
    // and that its pointers are valid; the size passed is exactly `T`'s, and
    // trailing fields unknown to an older kernel are zero.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_int,
            attr as *mut T,
            mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Issues a command that returns a new file descriptor.
///
/// # Safety
///
/// As [`sys_bpf`].
unsafe fn sys_bpf_fd<T>(cmd: bpf_cmd, attr: &mut T) -> io::Result<OwnedFd> {
    // SAFETY: forwarded from the caller.
    let fd = unsafe { sys_bpf(cmd, attr)? };
    // SAFETY: on success these commands return a new file descriptor that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; OBJ_NAME_LEN],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

/// Everything `BPF_MAP_CREATE` takes.
#[derive(Debug, Clone, Default)]
pub struct MapCreate<'a> {
    /// Kernel name of the map (truncated to 15 bytes).
    pub name: &'a str,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// Type-specific extra value (the bloom filter's hash count, ...).
    pub map_extra: u64,
    /// The object's BTF, with the key and value type ids in it.
    pub btf: Option<(BorrowedFd<'a>, u32, u32)>,
    /// For a map of maps: a map of the inner maps' shape (the template).
    pub inner_map_fd: Option<BorrowedFd<'a>>,
}

/// `BPF_MAP_CREATE`.
pub fn map_create(spec: &MapCreate<'_>) -> io::Result<OwnedFd> {
    let (btf_fd, key_id, value_id) = spec
        .btf
        .map(|(fd, k, v)| (fd.as_raw_fd() as u32, k, v))
        .unwrap_or_default();
    let mut attr = MapCreateAttr {
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        map_flags: spec.map_flags,
        map_name: obj_name(spec.name),
        btf_fd,
        btf_key_type_id: key_id,
        btf_value_type_id: value_id,
        map_extra: spec.map_extra,
        inner_map_fd: spec.inner_map_fd.map_or(0, |fd| fd.as_raw_fd() as u32),
        ..Default::default()
    };
    // SAFETY: `MapCreateAttr` is the `BPF_MAP_CREATE` layout; it holds no
    // pointers, and `btf_fd` and `inner_map_fd` are borrowed for the
    // duration of the call.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_MAP_CREATE, &mut attr) }
}

/// `BPF_MAP_CREATE` for a struct_ops map (`BPF_MAP_TYPE_STRUCT_OPS`):
/// one entry (key `u32`), whose value is the kernel's wrapper type
/// `value_type_id` (`struct bpf_struct_ops_<name>`, in vmlinux BTF) of
/// `value_size` bytes. The kernel wants a program BTF beside it (`btf`),
/// even though no type of it is used. `link` asks for `BPF_F_LINK`
/// (Linux 6.4): registration then waits for a link.
pub fn map_create_struct_ops(
    name: &str,
    value_size: u32,
    value_type_id: u32,
    btf: BorrowedFd<'_>,
    link: bool,
) -> io::Result<OwnedFd> {
    const BPF_MAP_TYPE_STRUCT_OPS: u32 = 26;
    const BPF_F_LINK: u32 = 1 << 13;
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_STRUCT_OPS,
        key_size: 4,
        value_size,
        max_entries: 1,
        map_flags: if link { BPF_F_LINK } else { 0 },
        map_name: obj_name(name),
        btf_fd: btf.as_raw_fd() as u32,
        btf_vmlinux_value_type_id: value_type_id,
        ..Default::default()
    };
    // SAFETY: `MapCreateAttr` is the `BPF_MAP_CREATE` layout; it holds no
    // pointers, and `btf_fd` is borrowed for the duration of the call.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_MAP_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` for a struct_ops map created with `BPF_F_LINK`
/// (`BPF_STRUCT_OPS`, Linux 6.4): registers the map's struct with its
/// subsystem until the link is closed.
pub fn link_create_struct_ops(map: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    const BPF_STRUCT_OPS: u32 = 44;
    let mut attr = LinkCreateAttr {
        // `link_create.map_fd` shares its place with `prog_fd`.
        prog_fd: map.as_raw_fd() as u32,
        attach_type: BPF_STRUCT_OPS,
        ..Default::default()
    };
    // SAFETY: the attribute holds a descriptor and integers only.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr) }
}

/// The pointer the kernel expects for a key: null for keyless maps (queues,
/// stacks, bloom filters), which refuse any other pointer.
fn ptr_or_null(bytes: &[u8]) -> u64 {
    if bytes.is_empty() {
        0
    } else {
        bytes.as_ptr() as u64
    }
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `BPF_MAP_UPDATE_ELEM`. The caller checks that `key` and `value` have the
/// map's key and value sizes: the kernel reads exactly that many bytes.
pub fn map_update_elem(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &[u8],
    flags: u64,
) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: ptr_or_null(key),
        value: value.as_ptr() as u64,
        flags,
        ..Default::default()
    };
    // SAFETY: `key` and `value` are live slices that the kernel only reads,
    // and the caller checked their sizes against the map's.
    unsafe { sys_bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr) }.map(drop)
}

/// `BPF_MAP_LOOKUP_ELEM` into `value`, which must have the map's value size
/// (times the number of possible CPUs for per-CPU maps). `flags` may be
/// `BPF_F_LOCK`.
#[inline]
pub fn map_lookup_elem(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: ptr_or_null(key),
        value: value.as_mut_ptr() as u64,
        flags,
        ..Default::default()
    };
    // SAFETY: `key` is read and `value` written by the kernel, both live for
    // the call; the caller checked their sizes against the map's.
    unsafe { sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr) }.map(drop)
}

#[repr(C)]
#[derive(Default)]
struct MapFdAttr {
    map_fd: u32,
}

/// `BPF_MAP_FREEZE`: no more writes from user space.
pub fn map_freeze(map: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = MapFdAttr {
        map_fd: map.as_raw_fd() as u32,
    };
    // SAFETY: the attribute holds only a file descriptor.
    unsafe { sys_bpf(bpf_cmd::BPF_MAP_FREEZE, &mut attr) }.map(drop)
}

#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    btf_log_true_size: u32,
}

/// `BPF_BTF_LOAD`. With a non-empty `log`, the kernel writes its BTF
/// verifier log there.
pub fn btf_load(btf: &[u8], log: &mut [u8]) -> io::Result<OwnedFd> {
    let mut attr = BtfLoadAttr {
        btf: btf.as_ptr() as u64,
        btf_size: btf.len() as u32,
        ..Default::default()
    };
    if !log.is_empty() {
        attr.btf_log_buf = log.as_mut_ptr() as u64;
        attr.btf_log_size = log.len() as u32;
        attr.btf_log_level = 1;
    }
    // SAFETY: `btf` is read and `log` written, both live for the call, with
    // their lengths passed alongside.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_BTF_LOAD, &mut attr) }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; OBJ_NAME_LEN],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
    core_relos: u64,
    core_relo_rec_size: u32,
    log_true_size: u32,
}

/// BTF function and line information for a program (from `.BTF.ext`).
#[derive(Debug, Clone, Default)]
pub struct ProgBtfInfo<'a> {
    /// The object's BTF.
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// `bpf_func_info` records.
    pub func_info: &'a [u8],
    /// Size of one func info record.
    pub func_info_rec_size: u32,
    /// `bpf_line_info` records.
    pub line_info: &'a [u8],
    /// Size of one line info record.
    pub line_info_rec_size: u32,
}

/// Everything `BPF_PROG_LOAD` takes.
#[derive(Debug, Clone)]
pub struct ProgLoad<'a> {
    /// Kernel name of the program (truncated to 15 bytes).
    pub name: &'a str,
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// `BPF_*` attach type the program will be attached with, if the type
    /// needs it.
    pub expected_attach_type: u32,
    /// The instructions.
    pub insns: &'a [bpf_insn],
    /// The license, for example `GPL`.
    pub license: &'a CStr,
    /// `LINUX_VERSION_CODE` the program targets (only checked before 5.0).
    pub kern_version: u32,
    /// `BPF_F_*` program flags.
    pub prog_flags: u32,
    /// BTF id of the attach target, for BTF-based program types.
    pub attach_btf_id: u32,
    /// The program whose function `attach_btf_id` names (freplace, and
    /// tracing programs attached to a BPF program); `None`: the kernel's.
    pub attach_prog_fd: Option<BorrowedFd<'a>>,
    /// BTF func and line info.
    pub btf: ProgBtfInfo<'a>,
    /// The descriptors kfunc calls name by index (`insn.off`): module BTF
    /// objects; index 0 is the kernel's own and unused. Empty: none.
    pub fd_array: &'a [i32],
}

/// The outcome of a program load attempt that failed.
#[derive(Debug)]
pub struct ProgLoadError {
    /// The error `bpf()` returned.
    pub error: io::Error,
    /// The size of the complete verifier log, where the kernel reports it
    /// (Linux 6.4+).
    pub log_true_size: u32,
}

/// `BPF_PROG_LOAD`. With a non-empty `log`, the verifier writes its log
/// there at `log_level`.
pub fn prog_load(
    spec: &ProgLoad<'_>,
    log: &mut [u8],
    log_level: u32,
) -> Result<OwnedFd, ProgLoadError> {
    let btf = &spec.btf;
    let mut attr = ProgLoadAttr {
        prog_type: spec.prog_type,
        insn_cnt: spec.insns.len() as u32,
        insns: spec.insns.as_ptr() as u64,
        license: spec.license.as_ptr() as u64,
        kern_version: spec.kern_version,
        prog_flags: spec.prog_flags,
        prog_name: obj_name(spec.name),
        expected_attach_type: spec.expected_attach_type,
        attach_btf_id: spec.attach_btf_id,
        attach_prog_fd: spec.attach_prog_fd.map_or(0, |fd| fd.as_raw_fd() as u32),
        fd_array: if spec.fd_array.is_empty() {
            0
        } else {
            spec.fd_array.as_ptr() as u64
        },
        ..Default::default()
    };
    if let Some(fd) = btf.btf_fd {
        attr.prog_btf_fd = fd.as_raw_fd() as u32;
        if btf.func_info_rec_size != 0 && !btf.func_info.is_empty() {
            attr.func_info_rec_size = btf.func_info_rec_size;
            attr.func_info = btf.func_info.as_ptr() as u64;
            attr.func_info_cnt = (btf.func_info.len() as u32) / btf.func_info_rec_size;
        }
        if btf.line_info_rec_size != 0 && !btf.line_info.is_empty() {
            attr.line_info_rec_size = btf.line_info_rec_size;
            attr.line_info = btf.line_info.as_ptr() as u64;
            attr.line_info_cnt = (btf.line_info.len() as u32) / btf.line_info_rec_size;
        }
    }
    if !log.is_empty() {
        attr.log_buf = log.as_mut_ptr() as u64;
        attr.log_size = log.len() as u32;
        attr.log_level = log_level;
    }
    // SAFETY: every pointer in `attr` comes from a slice or C string borrowed
    // by `spec` or `log` for the duration of the call, with its length (or
    // record count) set from that same slice; the kernel reads `fd_array`
    // only at the indices the instructions name, which the loader takes
    // from that array.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_PROG_LOAD, &mut attr) }.map_err(|error| ProgLoadError {
        error,
        log_true_size: attr.log_true_size,
    })
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    /// The per-attach-type union (`perf_event.bpf_cookie`, ...).
    target: [u64; 4],
}

/// `BPF_LINK_CREATE` with a program and a target (perf event fd, cgroup fd,
/// ifindex, ...). `cookie` goes to the type-specific part where it exists
/// (`bpf_get_attach_cookie`).
pub fn link_create(
    prog: BorrowedFd<'_>,
    target: u32,
    attach_type: u32,
    flags: u32,
    cookie: u64,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: target,
        attach_type,
        flags,
        target: [cookie, 0, 0, 0],
    };
    // SAFETY: the attribute holds file descriptors and integers only.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` for a kprobe.multi program
/// (`BPF_TRACE_KPROBE_MULTI`): one link on every function in `symbols`;
/// `ret` makes them return probes (`BPF_F_KPROBE_MULTI_RETURN`).
pub fn link_create_kprobe_multi(
    prog: BorrowedFd<'_>,
    symbols: &[std::ffi::CString],
    ret: bool,
) -> io::Result<OwnedFd> {
    let pointers: Vec<*const libc::c_char> = symbols.iter().map(|s| s.as_ptr()).collect();
    let flags = u64::from(ret); // BPF_F_KPROBE_MULTI_RETURN
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: 0,
        attach_type: aya_obj::generated::bpf_attach_type::BPF_TRACE_KPROBE_MULTI as u32,
        flags: 0,
        // `kprobe_multi`: flags and count (two u32s), then the address of
        // the array of symbol names, no addresses, no cookies.
        target: [
            flags | ((pointers.len() as u64) << 32),
            pointers.as_ptr() as u64,
            0,
            0,
        ],
    };
    // SAFETY: `pointers` holds `cnt` pointers to NUL-terminated names that
    // `symbols` owns; both outlive the call, in which the kernel only
    // reads them.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE`'s attribute for uprobe.multi, whose part of the
/// union (44 bytes) is larger than [`LinkCreateAttr`]'s.
#[repr(C)]
#[derive(Default)]
struct LinkCreateUprobeMultiAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    path: u64,
    offsets: u64,
    ref_ctr_offsets: u64,
    cookies: u64,
    cnt: u32,
    multi_flags: u32,
    pid: u32,
    _pad: u32,
}

/// `BPF_LINK_CREATE` for a uprobe.multi program
/// (`BPF_TRACE_UPROBE_MULTI`, Linux 6.6): one link on every file offset
/// of `offsets` in the binary `path`, with `cookies[i]` for `offsets[i]`
/// (`cookies` is empty or as long as `offsets`) and the reference counter
/// (USDT semaphore) at file offset `ref_ctr_offsets[i]` (likewise); `ret` makes them return
/// probes (`BPF_F_UPROBE_MULTI_RETURN`); `pid` 0 for every process.
pub fn link_create_uprobe_multi(
    prog: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    offsets: &[u64],
    ref_ctr_offsets: &[u64],
    cookies: &[u64],
    ret: bool,
    pid: u32,
) -> io::Result<OwnedFd> {
    if (!cookies.is_empty() && cookies.len() != offsets.len())
        || (!ref_ctr_offsets.is_empty() && ref_ctr_offsets.len() != offsets.len())
    {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut attr = LinkCreateUprobeMultiAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: aya_obj::generated::bpf_attach_type::BPF_TRACE_UPROBE_MULTI as u32,
        path: path.as_ptr() as u64,
        offsets: offsets.as_ptr() as u64,
        ref_ctr_offsets: if ref_ctr_offsets.is_empty() {
            0
        } else {
            ref_ctr_offsets.as_ptr() as u64
        },
        cookies: if cookies.is_empty() {
            0
        } else {
            cookies.as_ptr() as u64
        },
        cnt: offsets.len() as u32,
        multi_flags: u32::from(ret),
        pid,
        ..Default::default()
    };
    // SAFETY: `path` is NUL-terminated, `offsets` holds `cnt` u64s and
    // `cookies` and `ref_ctr_offsets` none or `cnt`; all outlive the call, in which the kernel
    // only reads them.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` for a netfilter program (`BPF_NETFILTER`, Linux 6.4):
/// family `pf`, hook `hooknum`, `priority`, and `defrag`
/// (`BPF_F_NETFILTER_IP_DEFRAG`).
pub fn link_create_netfilter(
    prog: BorrowedFd<'_>,
    pf: u32,
    hooknum: u32,
    priority: i32,
    defrag: bool,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: 0,
        attach_type: aya_obj::generated::bpf_attach_type::BPF_NETFILTER as u32,
        flags: 0,
        // `netfilter`: pf, hooknum, priority, flags (four 32-bit fields).
        target: [
            u64::from(pf) | u64::from(hooknum) << 32,
            u64::from(priority as u32) | u64::from(u32::from(defrag)) << 32,
            0,
            0,
        ],
    };
    // SAFETY: the attribute holds a descriptor and integers only.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` for an iterator (`BPF_TRACE_ITER`), with the map to
/// walk for map iterators (`union bpf_iter_link_info`'s `map.map_fd`).
pub fn link_create_iter(prog: BorrowedFd<'_>, map: Option<BorrowedFd<'_>>) -> io::Result<OwnedFd> {
    // `union bpf_iter_link_info`: its largest member is 16 bytes.
    let info: [u32; 4] = [map.map_or(0, |m| m.as_raw_fd() as u32), 0, 0, 0];
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: 0,
        attach_type: aya_obj::generated::bpf_attach_type::BPF_TRACE_ITER as u32,
        flags: 0,
        // `iter_info` (the address of the union) and `iter_info_len`, or
        // neither for iterators that take no target.
        target: match map {
            Some(_) => [info.as_ptr() as u64, size_of_val(&info) as u64, 0, 0],
            None => [0; 4],
        },
    };
    // SAFETY: `info` outlives the call, in which the kernel copies
    // `iter_info_len` bytes from it; the rest are descriptors and integers.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_ITER_CREATE`'s attribute.
#[repr(C)]
#[derive(Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}

/// `BPF_ITER_CREATE`: a readable descriptor that runs the iterator link's
/// program over its objects as it is read.
pub fn iter_create(link: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = IterCreateAttr {
        link_fd: link.as_raw_fd() as u32,
        flags: 0,
    };
    // SAFETY: the attribute holds a borrowed descriptor and flags only.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_ITER_CREATE, &mut attr) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn attr_layouts_match_uapi() {
        assert_eq!(offset_of!(LinkCreateUprobeMultiAttr, path), 16);
        assert_eq!(offset_of!(LinkCreateUprobeMultiAttr, cnt), 48);
        assert_eq!(offset_of!(LinkCreateUprobeMultiAttr, pid), 56);
        assert_eq!(offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(offset_of!(MapCreateAttr, btf_fd), 48);
        assert_eq!(offset_of!(MapCreateAttr, map_extra), 64);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, func_info), 80);
        assert_eq!(offset_of!(ProgLoadAttr, line_info), 96);
        assert_eq!(offset_of!(ProgLoadAttr, fd_array), 120);
        assert_eq!(offset_of!(ProgLoadAttr, log_true_size), 140);
        assert_eq!(size_of::<BtfLoadAttr>(), 32);
        assert_eq!(offset_of!(LinkCreateAttr, target), 16);
        assert_eq!(offset_of!(ProgAttachAttr, replace_bpf_fd), 16);
        assert_eq!(size_of::<ProgAttachAttr>(), 24);
        assert_eq!(offset_of!(ProgInfo, name), 64);
        assert_eq!(offset_of!(ProgInfo, btf_id), 128);
        assert_eq!(offset_of!(ProgInfo, run_time_ns), 192);
        assert_eq!(offset_of!(ProgInfo, verified_insns), 216);
        assert_eq!(offset_of!(MapInfo, btf_id), 64);
        assert_eq!(offset_of!(MapInfo, map_extra), 80);
        assert_eq!(offset_of!(LinkInfo, data), 16);
        assert_eq!(size_of::<BtfInfo>(), 32);
        assert_eq!(size_of::<ProgAttachAttr>(), 24);
        assert_eq!(offset_of!(ProgQueryAttr, prog_ids), 16);
        assert_eq!(offset_of!(ProgQueryAttr, prog_cnt), 24);
    }

    #[test]
    fn obj_names_are_truncated_and_filtered() {
        assert_eq!(&obj_name("hello")[..6], b"hello\0");
        assert_eq!(&obj_name("a-b c")[..4], b"abc\0");
        let long = obj_name("a_very_long_program_name");
        assert_eq!(long[15], 0);
        assert_eq!(&long[..15], b"a_very_long_pro");
    }
}

#[repr(C)]
#[derive(Default)]
struct GetIdAttr {
    start_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `BPF_PROG_GET_NEXT_ID`: the id of the first loaded program after
/// `start`, or `None` at the end.
pub fn prog_get_next_id(start: u32) -> io::Result<Option<u32>> {
    let mut attr = GetIdAttr {
        start_id: start,
        ..Default::default()
    };
    // SAFETY: the attribute holds integers only; the kernel writes `next_id`.
    match unsafe { sys_bpf(bpf_cmd::BPF_PROG_GET_NEXT_ID, &mut attr) } {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetIdAttr {
        start_id: id,
        ..Default::default()
    };
    // SAFETY: the attribute holds integers only.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_PROG_GET_FD_BY_ID, &mut attr) }
}

/// The start of `struct bpf_prog_info`, up to `verified_insns`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgInfo {
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// The kernel's id for the program.
    pub id: u32,
    /// The program's tag (a hash of its instructions).
    pub tag: [u8; 8],
    /// Size of the JITed code in bytes.
    pub jited_prog_len: u32,
    /// Size of the translated (xlated) instructions in bytes.
    pub xlated_prog_len: u32,
    /// Pointer to a buffer for the JITed code (not requested here).
    pub jited_prog_insns: u64,
    /// Pointer to a buffer for the xlated code (not requested here).
    pub xlated_prog_insns: u64,
    /// Load time in ns since boot.
    pub load_time: u64,
    /// The uid that loaded it.
    pub created_by_uid: u32,
    /// Number of maps it uses.
    pub nr_map_ids: u32,
    /// Pointer to a buffer for the map ids (not requested here).
    pub map_ids: u64,
    /// The program's name, NUL-padded.
    pub name: [u8; OBJ_NAME_LEN],
    /// For offloaded programs, the device.
    pub ifindex: u32,
    /// Bit 0: GPL-compatible license.
    pub gpl_compatible: u32,
    /// Network namespace device, for offloaded programs.
    pub netns_dev: u64,
    /// Network namespace inode, for offloaded programs.
    pub netns_ino: u64,
    /// Number of JITed symbols.
    pub nr_jited_ksyms: u32,
    /// Number of JITed function lengths.
    pub nr_jited_func_lens: u32,
    /// Buffer pointer (not requested here).
    pub jited_ksyms: u64,
    /// Buffer pointer (not requested here).
    pub jited_func_lens: u64,
    /// Id of the program's BTF.
    pub btf_id: u32,
    /// Size of one func info record.
    pub func_info_rec_size: u32,
    /// Buffer pointer (not requested here).
    pub func_info: u64,
    /// Number of func info records.
    pub nr_func_info: u32,
    /// Number of line info records.
    pub nr_line_info: u32,
    /// Buffer pointer (not requested here).
    pub line_info: u64,
    /// Buffer pointer (not requested here).
    pub jited_line_info: u64,
    /// Number of JITed line info records.
    pub nr_jited_line_info: u32,
    /// Size of one line info record.
    pub line_info_rec_size: u32,
    /// Size of one JITed line info record.
    pub jited_line_info_rec_size: u32,
    /// Number of program tags.
    pub nr_prog_tags: u32,
    /// Buffer pointer (not requested here).
    pub prog_tags: u64,
    /// Total run time in ns (with `kernel.bpf_stats_enabled`).
    pub run_time_ns: u64,
    /// Number of runs (with `kernel.bpf_stats_enabled`).
    pub run_cnt: u64,
    /// Runs skipped because of recursion.
    pub recursion_misses: u64,
    /// Instructions the verifier processed.
    pub verified_insns: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program.
pub fn prog_info(prog: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    let mut info = ProgInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    // SAFETY: `info` is a writable `ProgInfo` of `info_len` bytes, and all
    // the buffer pointers inside it are null, so the kernel writes nothing
    // else.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info)
}

/// `BPF_MAP_DELETE_ELEM`. The caller checks the key size.
pub fn map_delete_elem(map: BorrowedFd<'_>, key: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: ptr_or_null(key),
        ..Default::default()
    };
    // SAFETY: `key` is a live slice the kernel reads `key_size` bytes of; the
    // caller checked its size.
    unsafe { sys_bpf(bpf_cmd::BPF_MAP_DELETE_ELEM, &mut attr) }.map(drop)
}

/// `BPF_MAP_GET_NEXT_KEY`: writes the key after `key` (or the first key when
/// `key` is `None`) into `next`; `Ok(false)` at the end.
#[inline]
pub fn map_get_next_key(
    map: BorrowedFd<'_>,
    key: Option<&[u8]>,
    next: &mut [u8],
) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value: next.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `key` (or null) is read and `next` written, both of the map's
    // key size as checked by the caller, and live for the call.
    match unsafe { sys_bpf(bpf_cmd::BPF_MAP_GET_NEXT_KEY, &mut attr) } {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` without a key: pops a queue or stack
/// into `value`. `Ok(false)` when empty.
pub fn map_pop_elem(map: BorrowedFd<'_>, value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `value` is written with the map's value size, checked by the
    // caller.
    match unsafe { sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_AND_DELETE_ELEM, &mut attr) } {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_ELEM` without a key: peeks a queue or stack, or tests a
/// bloom filter when `value` is the value to test (`Ok(true)`: present).
pub fn map_peek_elem(map: BorrowedFd<'_>, value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `value` has the map's value size, checked by the caller.
    match unsafe { sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr) } {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

#[repr(C)]
#[derive(Default)]
struct MapBatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `BPF_MAP_LOOKUP_BATCH`: reads up to `keys.len() / key_size` entries after
/// the position in `batch` (`None`: from the start) into `keys` and
/// `values`, and writes the next position into `next`. Returns the number
/// of entries read and whether the map is exhausted.
pub fn map_lookup_batch(
    map: BorrowedFd<'_>,
    batch: Option<&[u8]>,
    next: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: u32,
) -> io::Result<(u32, bool)> {
    let mut attr = MapBatchAttr {
        in_batch: batch.map_or(0, |b| b.as_ptr() as u64),
        out_batch: next.as_mut_ptr() as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count,
        map_fd: map.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: the caller sizes `keys` and `values` for `count` entries of the
    // map's key and value sizes, and `batch`/`next` for the map's batch
    // token; all are live for the call.
    match unsafe { sys_bpf(bpf_cmd::BPF_MAP_LOOKUP_BATCH, &mut attr) } {
        Ok(_) => Ok((attr.count, false)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok((attr.count, true)),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_UPDATE_BATCH`: writes `count` entries. Returns how many the
/// kernel wrote before an error.
pub fn map_update_batch(
    map: BorrowedFd<'_>,
    keys: &[u8],
    values: &[u8],
    count: u32,
    elem_flags: u64,
) -> Result<u32, (u32, io::Error)> {
    let mut attr = MapBatchAttr {
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        count,
        map_fd: map.as_raw_fd() as u32,
        elem_flags,
        ..Default::default()
    };
    // SAFETY: `keys` and `values` hold `count` entries of the map's sizes
    // (checked by the caller) and are only read.
    match unsafe { sys_bpf(bpf_cmd::BPF_MAP_UPDATE_BATCH, &mut attr) } {
        Ok(_) => Ok(attr.count),
        Err(e) => Err((attr.count, e)),
    }
}

/// `BPF_MAP_DELETE_BATCH`: deletes `count` keys.
pub fn map_delete_batch(
    map: BorrowedFd<'_>,
    keys: &[u8],
    count: u32,
) -> Result<u32, (u32, io::Error)> {
    let mut attr = MapBatchAttr {
        keys: keys.as_ptr() as u64,
        count,
        map_fd: map.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: `keys` holds `count` keys of the map's key size, only read.
    match unsafe { sys_bpf(bpf_cmd::BPF_MAP_DELETE_BATCH, &mut attr) } {
        Ok(_) => Ok(attr.count),
        Err(e) => Err((attr.count, e)),
    }
}

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    _pad: u32,
}

/// `BPF_OBJ_PIN`: pins a map, program or link at `path` in bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &CStr) -> io::Result<()> {
    let mut attr = ObjAttr {
        pathname: path.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: `path` is a NUL-terminated string live for the call.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_PIN, &mut attr) }.map(drop)
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`.
pub fn obj_get(path: &CStr) -> io::Result<OwnedFd> {
    let mut attr = ObjAttr {
        pathname: path.as_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `path` is a NUL-terminated string live for the call.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_OBJ_GET, &mut attr) }
}

/// The start of `struct bpf_map_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MapInfo {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// The kernel's id for the map.
    pub id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// The map's name, NUL-padded.
    pub name: [u8; OBJ_NAME_LEN],
    /// For offloaded maps, the device.
    pub ifindex: u32,
    /// For struct_ops maps, the vmlinux type of the value.
    pub btf_vmlinux_value_type_id: u32,
    /// Network namespace device, for offloaded maps.
    pub netns_dev: u64,
    /// Network namespace inode, for offloaded maps.
    pub netns_ino: u64,
    /// Id of the BTF the key and value types are in (0: none).
    pub btf_id: u32,
    /// The key's type id in that BTF.
    pub btf_key_type_id: u32,
    /// The value's type id in that BTF.
    pub btf_value_type_id: u32,
    /// Id of the vmlinux BTF for struct_ops maps.
    pub btf_vmlinux_id: u32,
    /// Type-specific extra value (the bloom filter's hash count, ...).
    pub map_extra: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a map.
pub fn map_info(map: BorrowedFd<'_>) -> io::Result<MapInfo> {
    let mut info = MapInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: map.as_raw_fd() as u32,
        info_len: mem::size_of::<MapInfo>() as u32,
        info: &mut info as *mut MapInfo as u64,
    };
    // SAFETY: `info` is a writable `MapInfo` of `info_len` bytes.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info)
}

#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// What `BPF_PROG_TEST_RUN` returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestRunResult {
    /// The program's return value (of the last run).
    pub retval: u32,
    /// Bytes written to `data_out`.
    pub data_size_out: u32,
    /// Bytes written to `ctx_out`.
    pub ctx_size_out: u32,
    /// Mean duration of one run in nanoseconds.
    pub duration_ns: u32,
}

/// `BPF_PROG_TEST_RUN`: runs the program `repeat` times on `data_in` (and
/// `ctx_in`), writing the output packet and context into the out buffers.
pub fn prog_test_run(
    prog: BorrowedFd<'_>,
    data_in: &[u8],
    data_out: &mut [u8],
    ctx_in: &[u8],
    ctx_out: &mut [u8],
    repeat: u32,
) -> io::Result<TestRunResult> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: data_in.len() as u32,
        data_size_out: data_out.len() as u32,
        data_in: ptr_or_null(data_in),
        data_out: if data_out.is_empty() {
            0
        } else {
            data_out.as_mut_ptr() as u64
        },
        repeat,
        ctx_size_in: ctx_in.len() as u32,
        ctx_size_out: ctx_out.len() as u32,
        ctx_in: ptr_or_null(ctx_in),
        ctx_out: if ctx_out.is_empty() {
            0
        } else {
            ctx_out.as_mut_ptr() as u64
        },
        ..Default::default()
    };
    // SAFETY: the in buffers are read and the out buffers written by the
    // kernel, each with its length passed alongside; all live for the call.
    unsafe { sys_bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr) }?;
    Ok(TestRunResult {
        retval: attr.retval,
        data_size_out: attr.data_size_out,
        ctx_size_out: attr.ctx_size_out,
        duration_ns: attr.duration,
    })
}

/// Runs a syscall program on `ctx` (`BPF_PROG_TEST_RUN`), which the kernel
/// copies in and, after the run, writes back. Returns the program's return
/// value.
pub fn prog_run_syscall(prog: BorrowedFd<'_>, ctx: &mut [u8]) -> io::Result<u32> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        ctx_size_in: ctx.len() as u32,
        ctx_in: if ctx.is_empty() {
            0
        } else {
            ctx.as_mut_ptr() as u64
        },
        ..Default::default()
    };
    // SAFETY: the kernel reads `ctx` and writes it back, `ctx.len()` bytes
    // at most, through the exclusive borrow that lives for the call.
    unsafe { sys_bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr) }?;
    Ok(attr.retval)
}

#[repr(C)]
#[derive(Default)]
struct RawTracepointAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
    cookie: u64,
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw tracepoint program to `name`,
/// or a BTF-attached program (fentry, fexit, LSM) to the target it was
/// loaded for when `name` is `None`; the returned descriptor is the link.
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>, name: Option<&CStr>) -> io::Result<OwnedFd> {
    let mut attr = RawTracepointAttr {
        name: name.map_or(0, |n| n.as_ptr() as u64),
        prog_fd: prog.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: `name` is null or a NUL-terminated string live for the call.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_RAW_TRACEPOINT_OPEN, &mut attr) }
}

/// `BPF_MAP_GET_NEXT_ID`: the id of the first map after `start`, or `None`
/// at the end.
pub fn map_get_next_id(start: u32) -> io::Result<Option<u32>> {
    get_next_id(bpf_cmd::BPF_MAP_GET_NEXT_ID, start)
}

/// `BPF_LINK_GET_NEXT_ID`: the id of the first link after `start`, or
/// `None` at the end.
pub fn link_get_next_id(start: u32) -> io::Result<Option<u32>> {
    get_next_id(bpf_cmd::BPF_LINK_GET_NEXT_ID, start)
}

fn get_next_id(cmd: bpf_cmd, start: u32) -> io::Result<Option<u32>> {
    let mut attr = GetIdAttr {
        start_id: start,
        ..Default::default()
    };
    // SAFETY: the attribute holds integers only; the kernel writes `next_id`.
    match unsafe { sys_bpf(cmd, &mut attr) } {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn get_fd_by_id(cmd: bpf_cmd, id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetIdAttr {
        start_id: id,
        ..Default::default()
    };
    // SAFETY: the attribute holds integers only.
    unsafe { sys_bpf_fd(cmd, &mut attr) }
}

/// `BPF_MAP_GET_FD_BY_ID`.
pub fn map_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    get_fd_by_id(bpf_cmd::BPF_MAP_GET_FD_BY_ID, id)
}

/// `BPF_LINK_GET_FD_BY_ID`.
pub fn link_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    get_fd_by_id(bpf_cmd::BPF_LINK_GET_FD_BY_ID, id)
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub fn btf_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    get_fd_by_id(bpf_cmd::BPF_BTF_GET_FD_BY_ID, id)
}

/// `BPF_BTF_GET_NEXT_ID`: the id of the first BTF object after `start`,
/// or `None` at the end.
pub fn btf_get_next_id(start: u32) -> io::Result<Option<u32>> {
    get_next_id(bpf_cmd::BPF_BTF_GET_NEXT_ID, start)
}

/// What [`prog_info_buffers`] asks the kernel to copy out: each buffer is
/// filled up to its length (the counts from a first [`prog_info`] call).
#[derive(Debug, Default)]
pub struct ProgInfoBuffers {
    /// The ids of the maps the program uses.
    pub map_ids: Vec<u32>,
    /// The translated instructions (8 bytes each).
    pub xlated: Vec<u8>,
    /// `struct bpf_line_info` records of `line_info_rec_size` bytes each.
    pub line_info: Vec<u8>,
    /// The size of one line info record.
    pub line_info_rec_size: u32,
    /// `struct bpf_func_info` records of `func_info_rec_size` bytes each.
    pub func_info: Vec<u8>,
    /// The size of one func info record.
    pub func_info_rec_size: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program, copying out the map ids, the
/// translated instructions, the line info and the func info into
/// `buffers` (sized by the caller). Returns the info of this second call: the kernel may report
/// more entries than fit if the program changed, and fills only what fits.
pub fn prog_info_buffers(
    prog: BorrowedFd<'_>,
    buffers: &mut ProgInfoBuffers,
) -> io::Result<ProgInfo> {
    let mut info = ProgInfo {
        nr_map_ids: buffers.map_ids.len() as u32,
        map_ids: ptr_or_null_mut(&mut buffers.map_ids),
        xlated_prog_len: buffers.xlated.len() as u32,
        xlated_prog_insns: ptr_or_null_mut(&mut buffers.xlated),
        nr_line_info: (buffers.line_info.len() as u32)
            .checked_div(buffers.line_info_rec_size)
            .unwrap_or(0),
        line_info_rec_size: buffers.line_info_rec_size,
        line_info: ptr_or_null_mut(&mut buffers.line_info),
        nr_func_info: (buffers.func_info.len() as u32)
            .checked_div(buffers.func_info_rec_size)
            .unwrap_or(0),
        func_info_rec_size: buffers.func_info_rec_size,
        func_info: ptr_or_null_mut(&mut buffers.func_info),
        ..Default::default()
    };
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    // SAFETY: `info` is a writable `ProgInfo` of `info_len` bytes; its four
    // non-null buffer pointers point into the caller's vectors, each with
    // the element count (or byte length) set from that same vector, which
    // the kernel does not write past; the vectors live for the call.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info)
}

fn ptr_or_null_mut<T>(v: &mut [T]) -> u64 {
    if v.is_empty() {
        0
    } else {
        v.as_mut_ptr() as u64
    }
}

/// `struct bpf_link_info`: the common part and the per-type union as raw
/// words (read with [`LinkInfo::word`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkInfo {
    /// `BPF_LINK_TYPE_*`.
    pub link_type: u32,
    /// The kernel's id for the link.
    pub id: u32,
    /// The id of the attached program.
    pub prog_id: u32,
    _pad: u32,
    /// The per-type union, as 32-bit words.
    pub data: [u32; 12],
}

impl LinkInfo {
    /// The 32-bit word at `index` of the per-type union.
    pub fn word(&self, index: usize) -> u32 {
        self.data.get(index).copied().unwrap_or(0)
    }

    /// The 64-bit value at 32-bit word `index` of the per-type union.
    pub fn dword(&self, index: usize) -> u64 {
        u64::from(self.word(index)) | (u64::from(self.word(index + 1)) << 32)
    }
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a link. `name` receives a raw tracepoint's
/// name (`raw_tracepoint.tp_name`) when the link is one; other types
/// ignore it.
pub fn link_info(link: BorrowedFd<'_>, name: &mut [u8]) -> io::Result<LinkInfo> {
    let mut info = LinkInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: link.as_raw_fd() as u32,
        info_len: mem::size_of::<LinkInfo>() as u32,
        info: &mut info as *mut LinkInfo as u64,
    };
    // SAFETY: `info` is a writable `LinkInfo` of `info_len` bytes whose
    // union is all zeros: no buffer pointers.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    // BPF_LINK_TYPE_RAW_TRACEPOINT: a second call with a buffer for the name
    // (`tp_name` at word 0, `tp_name_len` at word 2).
    if info.link_type == 1 && !name.is_empty() {
        let mut again = LinkInfo::default();
        let ptr = name.as_mut_ptr() as u64;
        again.data[0] = ptr as u32;
        again.data[1] = (ptr >> 32) as u32;
        again.data[2] = name.len() as u32;
        attr.info = &mut again as *mut LinkInfo as u64;
        // SAFETY: as above, and `tp_name` points to `name`, writable for the
        // `tp_name_len` bytes set from its length, live for the call.
        unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
        info = again;
    }
    Ok(info)
}

/// `struct bpf_btf_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct BtfInfo {
    btf: u64,
    btf_size: u32,
    id: u32,
    name: u64,
    name_len: u32,
    kernel_btf: u32,
}

/// The name of a BTF object (a kernel module's name for module BTF) and
/// whether it is the kernel's own (`BPF_OBJ_GET_INFO_BY_FD`).
pub fn btf_name(btf: BorrowedFd<'_>) -> io::Result<(String, bool)> {
    let mut name = [0u8; 64];
    let mut info = BtfInfo {
        name: ptr_or_null_mut(&mut name),
        name_len: name.len() as u32,
        ..Default::default()
    };
    let mut attr = InfoAttr {
        bpf_fd: btf.as_raw_fd() as u32,
        info_len: mem::size_of::<BtfInfo>() as u32,
        info: &mut info as *mut BtfInfo as u64,
    };
    // SAFETY: `info` is a writable `BtfInfo` of `info_len` bytes whose
    // `name` points to `name`, writable for `name_len` bytes and live for
    // the call.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok((
        String::from_utf8_lossy(&name[..len]).into_owned(),
        info.kernel_btf != 0,
    ))
}

/// The raw bytes of a loaded BTF object (`BPF_OBJ_GET_INFO_BY_FD` twice:
/// the size, then the data).
pub fn btf_data(btf: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let mut info = BtfInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: btf.as_raw_fd() as u32,
        info_len: mem::size_of::<BtfInfo>() as u32,
        info: &mut info as *mut BtfInfo as u64,
    };
    // SAFETY: `info` is a writable `BtfInfo` of `info_len` bytes with null
    // buffer pointers.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    let mut data = vec![0u8; info.btf_size as usize];
    let mut info = BtfInfo {
        btf: ptr_or_null_mut(&mut data),
        btf_size: data.len() as u32,
        ..Default::default()
    };
    attr.info = &mut info as *mut BtfInfo as u64;
    // SAFETY: `btf` points to `data`, writable for the `btf_size` bytes set
    // from its length and live for the call.
    unsafe { sys_bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    data.truncate(info.btf_size as usize);
    Ok(data)
}

/// `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`'s attribute.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: u32,
}

/// `BPF_F_ALLOW_MULTI`: other programs may attach to the same cgroup hook.
pub const BPF_F_ALLOW_MULTI: u32 = 2;

/// `BPF_PROG_ATTACH`: attaches `prog` to `target` (a cgroup directory's
/// descriptor, where the attachment lives as long as the cgroup, not the
/// descriptor; or a socket map, for the sk_msg and sk_skb attach types) at
/// `attach_type`.
pub fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    prog_attach_to(target.as_raw_fd() as u32, prog, attach_type, flags)
}

/// `BPF_PROG_ATTACH` to `target`: a descriptor (cgroup) or, for the TCX
/// attach types, an interface index (`target_ifindex` shares the field).
pub fn prog_attach_to(
    target: u32,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: target,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        ..Default::default()
    };
    // SAFETY: the attribute holds borrowed descriptors and integers only.
    unsafe { sys_bpf(bpf_cmd::BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// `BPF_PROG_DETACH`: detaches `prog` from `target` at `attach_type`.
pub fn prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    prog_detach_from(target.as_raw_fd() as u32, prog, attach_type)
}

/// `BPF_PROG_DETACH` from `target`: a descriptor, or an interface index
/// for the TCX attach types.
pub fn prog_detach_from(target: u32, prog: BorrowedFd<'_>, attach_type: u32) -> io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: target,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    // SAFETY: the attribute holds borrowed descriptors and integers only.
    unsafe { sys_bpf(bpf_cmd::BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// `BPF_PROG_QUERY`'s attribute, up to `prog_cnt`.
#[repr(C)]
#[derive(Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `BPF_PROG_QUERY`: the ids of the programs attached to `target` (a
/// cgroup directory's descriptor) at `attach_type`, up to `ids.len()`.
/// Returns how many are attached (more than fit: `ENOSPC`).
pub fn prog_query(target: BorrowedFd<'_>, attach_type: u32, ids: &mut [u32]) -> io::Result<u32> {
    prog_query_of(target.as_raw_fd() as u32, attach_type, ids)
}

/// `BPF_PROG_QUERY` of `target`: a descriptor, or an interface index for
/// the TCX attach types.
pub fn prog_query_of(target: u32, attach_type: u32, ids: &mut [u32]) -> io::Result<u32> {
    let mut attr = ProgQueryAttr {
        target_fd: target,
        attach_type,
        prog_ids: ptr_or_null_mut(ids),
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    // SAFETY: `prog_ids` points to `ids`, writable for the `prog_cnt`
    // entries set from its length, live for the call.
    unsafe { sys_bpf(bpf_cmd::BPF_PROG_QUERY, &mut attr) }?;
    Ok(attr.prog_cnt)
}

/// `BPF_ENABLE_STATS` with `BPF_STATS_RUN_TIME`: the kernel counts every
/// program's runs and run time while the returned descriptor is open
/// (Linux 5.8).
pub fn enable_stats() -> io::Result<OwnedFd> {
    let mut attr: u32 = 0;
    // SAFETY: the attribute is one integer, `BPF_STATS_RUN_TIME`.
    unsafe { sys_bpf_fd(bpf_cmd::BPF_ENABLE_STATS, &mut attr) }
}
