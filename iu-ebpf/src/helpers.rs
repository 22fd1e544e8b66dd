//! Safe wrappers over the kernel's BPF helpers.
//!
//! On the BPF target each function compiles to one `call <helper id>`
//! instruction. On the host they read the simulated values in
//! [`crate::sim`], so that program logic can be unit-tested.

/// Helper ids from `include/uapi/linux/bpf.h` (`__BPF_FUNC_MAPPER`).
#[cfg(target_arch = "bpf")]
pub(crate) mod id {
    pub const KTIME_GET_NS: usize = 5;
    pub const GET_PRANDOM_U32: usize = 7;
    pub const TRACE_PRINTK: usize = 6;
    pub const GET_SMP_PROCESSOR_ID: usize = 8;
    pub const GET_CURRENT_PID_TGID: usize = 14;
    pub const TRACE_VPRINTK: usize = 177;
}

/// Calls a helper that takes no argument.
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn call0(helper: usize) -> u64 {
    // SAFETY: on the BPF target a call through a function pointer whose
    // value is a small constant is the `call imm` instruction, that is a call
    // of kernel helper `helper`. Every helper routed here takes no argument,
    // has no precondition, and returns a 64-bit value.
    let f: extern "C" fn() -> u64 = unsafe { core::mem::transmute(helper) };
    f()
}

/// Returns `tgid << 32 | tid` of the current task
/// (`bpf_get_current_pid_tgid`).
///
/// ```ignore
/// let pid_tgid = iu_ebpf::helpers::pid_tgid();
/// ```
#[inline(always)]
pub fn pid_tgid() -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        call0(id::GET_CURRENT_PID_TGID)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::pid_tgid()
    }
}

/// Returns the process id of the current task, the value `getpid()`
/// returns in user space (the kernel calls it the tgid).
///
/// ```ignore
/// let pid = iu_ebpf::helpers::pid();
/// ```
#[inline(always)]
pub fn pid() -> u32 {
    (pid_tgid() >> 32) as u32
}

/// Alias of [`pid`] with the kernel's name for it.
#[inline(always)]
pub fn tgid() -> u32 {
    pid()
}

/// Returns the thread id of the current task, the value `gettid()` returns
/// in user space (the kernel calls it the pid).
///
/// ```ignore
/// let tid = iu_ebpf::helpers::tid();
/// ```
#[inline(always)]
pub fn tid() -> u32 {
    pid_tgid() as u32
}

/// Returns the id of the CPU running the program
/// (`bpf_get_smp_processor_id`).
///
/// ```ignore
/// let cpu = iu_ebpf::helpers::cpu();
/// ```
#[inline(always)]
pub fn cpu() -> u32 {
    #[cfg(target_arch = "bpf")]
    {
        call0(id::GET_SMP_PROCESSOR_ID) as u32
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::cpu()
    }
}

/// Returns the time since boot in nanoseconds, not counting suspend
/// (`bpf_ktime_get_ns`, `CLOCK_MONOTONIC`).
///
/// ```ignore
/// let start = iu_ebpf::helpers::ktime();
/// ```
#[inline(always)]
pub fn ktime() -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        call0(id::KTIME_GET_NS)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::ktime()
    }
}

/// Returns the current task's user id and group id
/// (`bpf_get_current_uid_gid`).
///
/// ```ignore
/// let (uid, gid) = iu_ebpf::helpers::uid_gid();
/// ```
#[inline(always)]
pub fn uid_gid() -> (u32, u32) {
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: the helper takes no argument.
        let v = unsafe { raw::get_current_uid_gid() };
        (v as u32, (v >> 32) as u32)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let v = crate::sim::uid_gid();
        (v as u32, (v >> 32) as u32)
    }
}

/// Returns the current task's command name, NUL-padded
/// (`bpf_get_current_comm`).
///
/// ```ignore
/// let comm = iu_ebpf::helpers::comm();
/// ```
#[inline(always)]
pub fn comm() -> [u8; 16] {
    #[cfg(target_arch = "bpf")]
    {
        let mut comm = [0u8; 16];
        // SAFETY: the helper writes at most 16 bytes into `comm`.
        unsafe {
            raw::get_current_comm(comm.as_mut_ptr().cast(), 16);
        }
        comm
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::comm()
    }
}

/// Returns a pseudo-random number (`bpf_get_prandom_u32`), for sampling
/// decisions; not for cryptography. On the host the sequence is
/// deterministic (`iu_ebpf::sim::set_random_seed`).
///
/// ```ignore
/// if iu_ebpf::helpers::random() % 100 == 0 { /* sample 1% */ }
/// ```
#[inline(always)]
pub fn random() -> u32 {
    #[cfg(target_arch = "bpf")]
    {
        call0(id::GET_PRANDOM_U32) as u32
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::random()
    }
}

/// Raw helper calls used by the map types. Each one is `unsafe`: the caller
/// passes a map from a `#[map]` static and key/value pointers of that map's
/// sizes.
#[cfg(target_arch = "bpf")]
pub(crate) mod raw {
    use core::ffi::c_void;

    macro_rules! helper {
        ($(#[$doc:meta])* $name:ident = $id:literal: fn($($arg:ident: $ty:ty),*) -> $ret:ty) => {
            $(#[$doc])*
            #[inline(always)]
            pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
                // SAFETY: `call $id` is that helper; the caller upholds its
                // contract on the arguments.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute($id as usize) };
                unsafe { f($($arg),*) }
            }
        };
    }

    helper!(map_lookup_elem = 1: fn(map: *const c_void, key: *const c_void) -> *mut c_void);
    helper!(map_update_elem = 2: fn(map: *const c_void, key: *const c_void, value: *const c_void, flags: u64) -> i64);
    helper!(map_delete_elem = 3: fn(map: *const c_void, key: *const c_void) -> i64);
    helper!(get_current_uid_gid = 15: fn() -> u64);
    helper!(get_current_comm = 16: fn(buf: *mut c_void, size: u32) -> i64);
    helper!(spin_lock = 93: fn(lock: *mut c_void) -> i64);
    helper!(spin_unlock = 94: fn(lock: *mut c_void) -> i64);
    helper!(probe_read_kernel = 113: fn(dst: *mut c_void, size: u32, src: *const c_void) -> i64);
    helper!(probe_read_kernel_str = 115: fn(dst: *mut c_void, size: u32, src: *const c_void) -> i64);
    helper!(get_current_task_btf = 158: fn() -> u64);
    helper!(bpf_loop = 181: fn(count: u32, callback: *const c_void, ctx: *mut c_void, flags: u64) -> i64);
    helper!(task_storage_get = 156: fn(map: *const c_void, task: u64, value: *const c_void, flags: u64) -> *mut c_void);
    helper!(task_storage_delete = 157: fn(map: *const c_void, task: u64) -> i64);
    helper!(sk_storage_get = 107: fn(map: *const c_void, sk: *mut c_void, value: *const c_void, flags: u64) -> *mut c_void);
    helper!(sk_storage_delete = 108: fn(map: *const c_void, sk: *mut c_void) -> i64);
    helper!(inode_storage_get = 145: fn(map: *const c_void, inode: u64, value: *const c_void, flags: u64) -> *mut c_void);
    helper!(inode_storage_delete = 146: fn(map: *const c_void, inode: u64) -> i64);
    helper!(cgrp_storage_get = 210: fn(map: *const c_void, cgroup: u64, value: *const c_void, flags: u64) -> *mut c_void);
    helper!(cgrp_storage_delete = 211: fn(map: *const c_void, cgroup: u64) -> i64);
    helper!(sock_ops_cb_flags_set = 59: fn(ctx: *mut c_void, flags: i32) -> i64);
    helper!(sysctl_get_name = 101: fn(ctx: *mut c_void, buf: *mut c_void, len: u64, flags: u64) -> i64);
    helper!(sysctl_get_current_value = 102: fn(ctx: *mut c_void, buf: *mut c_void, len: u64) -> i64);
    helper!(seq_write = 127: fn(seq: *mut c_void, data: *const c_void, len: u32) -> i64);
    helper!(redirect_map = 51: fn(map: *const c_void, key: u64, flags: u64) -> i64);
    helper!(sk_redirect_map = 52: fn(skb: *mut c_void, map: *const c_void, key: u32, flags: u64) -> i64);
    helper!(msg_redirect_map = 60: fn(msg: *mut c_void, map: *const c_void, key: u32, flags: u64) -> i64);
    helper!(msg_redirect_hash = 71: fn(msg: *mut c_void, map: *const c_void, key: *const c_void, flags: u64) -> i64);
    helper!(sk_redirect_hash = 72: fn(skb: *mut c_void, map: *const c_void, key: *const c_void, flags: u64) -> i64);
    helper!(sk_release = 86: fn(sock: *mut c_void) -> i64);
    helper!(sk_assign = 124: fn(ctx: *mut c_void, sock: *mut c_void, flags: u64) -> i64);
    helper!(dynptr_read = 201: fn(dst: *mut c_void, len: u32, src: *const c_void, offset: u32, flags: u64) -> i64);
    helper!(user_ringbuf_drain = 209: fn(map: *const c_void, callback: *const c_void, ctx: *mut c_void, flags: u64) -> i64);
    helper!(get_attach_cookie = 174: fn(ctx: *mut c_void) -> u64);
    helper!(task_pt_regs = 175: fn(task: u64) -> u64);
    helper!(tail_call = 12: fn(ctx: *mut c_void, map: *const c_void, index: u32) -> i64);
    helper!(xdp_load_bytes = 189: fn(ctx: *mut c_void, offset: u32, to: *mut c_void, len: u32) -> i64);
    helper!(xdp_adjust_head = 44: fn(ctx: *mut c_void, delta: i32) -> i64);
    helper!(xdp_adjust_tail = 65: fn(ctx: *mut c_void, delta: i32) -> i64);
    helper!(xdp_store_bytes = 190: fn(ctx: *mut c_void, offset: u32, from: *const c_void, len: u32) -> i64);
    helper!(skb_load_bytes = 26: fn(skb: *mut c_void, offset: u32, to: *mut c_void, len: u32) -> i64);
    helper!(perf_event_output = 25: fn(ctx: *mut c_void, map: *const c_void, flags: u64, data: *const c_void, size: u64) -> i64);
    helper!(get_stackid = 27: fn(ctx: *mut c_void, map: *const c_void, flags: u64) -> i64);
    helper!(override_return = 58: fn(regs: *mut c_void, rc: u64) -> i64);
    helper!(map_push_elem = 87: fn(map: *const c_void, value: *const c_void, flags: u64) -> i64);
    helper!(map_pop_elem = 88: fn(map: *const c_void, value: *mut c_void) -> i64);
    helper!(map_peek_elem = 89: fn(map: *const c_void, value: *mut c_void) -> i64);
    helper!(ringbuf_output = 130: fn(map: *const c_void, data: *const c_void, size: u64, flags: u64) -> i64);
    helper!(ringbuf_reserve = 131: fn(map: *const c_void, size: u64, flags: u64) -> *mut c_void);
    helper!(ringbuf_submit = 132: fn(data: *mut c_void, flags: u64) -> ());
    helper!(ringbuf_discard = 133: fn(data: *mut c_void, flags: u64) -> ());
}
