//! BTF-defined maps (the `.maps` section, as libbpf defines it), one module
//! per map type. Declare one with `#[map]` on a static:
//!
//! ```ignore
//! use iu_ebpf::{map, maps::HashMap};
//!
//! #[map]
//! static COUNTS: HashMap<u32, u64, 1024> = HashMap::new();
//! ```
//!
//! Each map type is a `#[repr(C)]` struct of pointer fields whose pointee
//! types carry the definition (`type`, `max_entries`, `key`, `value`, ...),
//! the encoding libbpf reads from BTF. The fields are never dereferenced;
//! the static's address is what the loader relocates to the map's fd.
//!
//! Values of shared maps are handed out as copies, through atomics on a
//! `u64` inside the value (`add`, `add_at`, `add_at_offset`) or under
//! their spin lock (`lock()` on `SpinLocked` values), never as a bare
//! `&mut`: other CPUs may write the same value at the same time. Values of
//! per-CPU maps are borrowed in place as `&mut` inside a closure
//! (`with`, on `PerCpuCell` values), guarded against nested programs on
//! the same CPU by a busy word. Neither copies a large value to the
//! 512-byte stack.

mod array;
mod bloom_filter;
mod cgrp_storage;
mod cpu_map;
mod dev_map;
mod field;
mod hash_map;
#[cfg(not(target_arch = "bpf"))]
pub(crate) mod host;
mod inode_storage;
pub(crate) mod local_storage;
mod lpm_trie;
mod map_in_map;
mod per_cpu_cell;
mod per_cpu_scratch;
mod perf_event_array;
mod program_array;
mod queue;
mod ring_buf;
mod sk_storage;
mod sock_map;
mod spin_lock;
mod stack;
mod stack_trace;
mod task_storage;
mod user_ring_buf;
mod xsk_map;

pub use array::{Array, PerCpuArray};
pub use bloom_filter::BloomFilter;
pub use cgrp_storage::{CgrpStorage, CgrpStorageOwner};
pub use cpu_map::CpuMap;
pub use dev_map::{DevMap, DevMapHash};
pub use field::{AtomicInt, Field, SharedValue};
pub use hash_map::{HashMap, LruHashMap, LruPerCpuHashMap, PerCpuHashMap};
pub use inode_storage::{InodeStorage, InodeStorageOwner};
pub use lpm_trie::{LpmKey, LpmTrie};
pub use map_in_map::{ArrayOfMaps, HashOfMaps, InnerMap};
pub use per_cpu_cell::PerCpuCell;
#[cfg(not(target_arch = "bpf"))]
#[doc(hidden)]
pub use per_cpu_scratch::HostSlot;
pub use per_cpu_scratch::PerCpuScratch;
#[doc(hidden)]
pub use per_cpu_scratch::ScratchSlot;
pub use perf_event_array::{PERF_SIM_BYTES, PerfEventArray};
pub use program_array::ProgramArray;
pub use queue::Queue;
pub use ring_buf::{RingBuf, RingBufEntry};
pub use sk_storage::{SkStorage, SkStorageOwner};
pub use sock_map::{SockDirection, SockHash, SockMap, SocketRef};
pub use spin_lock::{
    SpinGuard, SpinLocked, bpf_spin_lock, copy_prefix_under_lock, copy_under_lock,
};
pub use stack::Stack;
pub use stack_trace::{MAX_DEPTH as STACK_MAX_DEPTH, StackTrace, USER_STACK};
pub use task_storage::TaskStorage;
pub use user_ring_buf::UserRingBuf;
pub use xsk_map::XskMap;

/// `BPF_MAP_TYPE_*` values, from `include/uapi/linux/bpf.h`.
pub(crate) mod map_type {
    pub const HASH: usize = 1;
    pub const ARRAY: usize = 2;
    pub const PROG_ARRAY: usize = 3;
    pub const PERF_EVENT_ARRAY: usize = 4;
    pub const PERCPU_HASH: usize = 5;
    pub const PERCPU_ARRAY: usize = 6;
    pub const STACK_TRACE: usize = 7;
    pub const LRU_HASH: usize = 9;
    pub const LRU_PERCPU_HASH: usize = 10;
    pub const LPM_TRIE: usize = 11;
    pub const QUEUE: usize = 22;
    pub const STACK: usize = 23;
    pub const RINGBUF: usize = 27;
    pub const BLOOM_FILTER: usize = 30;
    pub const DEVMAP: usize = 14;
    pub const CPUMAP: usize = 16;
    pub const DEVMAP_HASH: usize = 25;
    pub const TASK_STORAGE: usize = 29;
    pub const USER_RINGBUF: usize = 31;
    pub const SOCKMAP: usize = 15;
    pub const SOCKHASH: usize = 18;
    pub const SK_STORAGE: usize = 24;
    pub const INODE_STORAGE: usize = 28;
    pub const CGRP_STORAGE: usize = 32;
    pub const XSKMAP: usize = 17;
}

/// `BPF_ANY`: create or update.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST`: update only.
pub const BPF_EXIST: u64 = 2;

/// An error a map helper returned: a negative errno (`-ENOENT`, `-E2BIG`,
/// `-EEXIST`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapError(pub i64);

impl MapError {
    /// `-ENOENT`: no such key.
    pub const NOT_FOUND: MapError = MapError(-2);
    /// `-EEXIST`: the key exists (with `BPF_NOEXIST`).
    pub const EXISTS: MapError = MapError(-17);
    /// `-E2BIG`: the map is full.
    pub const FULL: MapError = MapError(-7);
}

#[cfg(target_arch = "bpf")]
#[inline(always)]
pub(crate) fn check(ret: i64) -> Result<(), MapError> {
    if ret < 0 { Err(MapError(ret)) } else { Ok(()) }
}

/// Declares a map definition struct: its BTF fields and `new()`. On the
/// host it also gets a `sim` field, the in-memory storage of the simulated
/// backend (`host.rs`); BPF objects never contain it.
/// A BTF map definition: the types `#[map]` accepts on its static (every
/// map type of this module, and nothing else: the trait is sealed).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a map type",
    label = "`#[map]` statics must have one of `iu_ebpf::maps`' map types"
)]
pub trait MapDef: sealed::Sealed {}

pub(crate) mod sealed {
    /// Keeps [`super::MapDef`] to this module's types.
    pub trait Sealed {}
}

macro_rules! map_def {
    (
        $(#[$doc:meta])*
        pub struct $name:ident<$($param:ident $(: $bound:path)?),* ; $($cparam:ident $(= $default:literal)?),*> {
            $($field:ident: $fty:ty),* $(,)?
        }
        $(host: $host:ty;)?
    ) => {
        $(#[$doc])*
        #[repr(C)]
        pub struct $name<$($param $(: $bound)?,)* $(const $cparam: usize $(= $default)?,)*> {
            $($field: *const $fty,)*
            $(
                #[cfg(not(target_arch = "bpf"))]
                sim: $host,
            )?
        }

        // SAFETY: the pointer fields are null pointers that only carry types
        // for BTF; nothing reads or writes through them. The host-only `sim`
        // storage is only reached through methods that need `Pod` (hence
        // `Send`) keys and values, and only under its own lock.
        unsafe impl<$($param $(: $bound)?,)* $(const $cparam: usize,)*> Sync for $name<$($param,)* $($cparam,)*> {}

        impl<$($param $(: $bound)?,)* $(const $cparam: usize,)*> $crate::maps::sealed::Sealed for $name<$($param,)* $($cparam,)*> {}
        impl<$($param $(: $bound)?,)* $(const $cparam: usize,)*> $crate::maps::MapDef for $name<$($param,)* $($cparam,)*> {}

        impl<$($param $(: $bound)?,)* $(const $cparam: usize,)*> $name<$($param,)* $($cparam,)*> {
            /// The definition; its parameters are in the type.
            #[allow(clippy::new_without_default)]
            pub const fn new() -> Self {
                Self {
                    $($field: core::ptr::null(),)*
                    $(
                        #[cfg(not(target_arch = "bpf"))]
                        sim: <$host>::new(),
                    )?
                }
            }

            /// The map as the helpers take it.
            #[cfg(target_arch = "bpf")]
            #[inline(always)]
            pub(crate) fn as_ptr(&self) -> *const core::ffi::c_void {
                (self as *const Self).cast()
            }
        }
    };
}
pub(crate) use map_def;

/// Declares a queue-like map (`Queue`, `Stack`): push, pop and peek.
macro_rules! push_pop_map {
    ($(#[$doc:meta])* $name:ident, $ty:expr, lifo = $lifo:literal) => {
        $crate::maps::map_def! {
            $(#[$doc])*
            pub struct $name<V; MAX_ENTRIES, FLAGS = 0> {
                r#type: [i32; $ty],
                value: V,
                max_entries: [i32; MAX_ENTRIES],
                map_flags: [i32; FLAGS],
            }
            host: $crate::maps::host::PushPop<V, MAX_ENTRIES>;
        }

        impl<V: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize> $name<V, MAX_ENTRIES, FLAGS> {
            /// Appends a value; with `BPF_EXIST` in `flags` a full map drops its
            /// oldest value instead of failing.
            #[inline(always)]
            pub fn push(&self, value: &V, flags: u64) -> Result<(), $crate::maps::MapError> {
                #[cfg(target_arch = "bpf")]
                {
                    // SAFETY: value points to a `V`, the map's value type.
                    $crate::maps::check(unsafe {
                        crate::helpers::raw::map_push_elem(self.as_ptr(), (value as *const V).cast(), flags)
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.push(value, flags)
                }
            }

            /// Removes and returns the next value: the oldest for a queue, the
            /// newest for a stack.
            #[inline(always)]
            pub fn pop(&self) -> Option<V> {
                #[cfg(target_arch = "bpf")]
                {
                    let mut value = <V as crate::Pod>::zeroed();
                    // SAFETY: the kernel writes one `V` into `value`.
                    let ret = unsafe {
                        crate::helpers::raw::map_pop_elem(self.as_ptr(), (&mut value as *mut V).cast())
                    };
                    (ret == 0).then_some(value)
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.take($lifo, true)
                }
            }

            /// Returns the next value without removing it.
            #[inline(always)]
            pub fn peek(&self) -> Option<V> {
                #[cfg(target_arch = "bpf")]
                {
                    let mut value = <V as crate::Pod>::zeroed();
                    // SAFETY: the kernel writes one `V` into `value`.
                    let ret = unsafe {
                        crate::helpers::raw::map_peek_elem(self.as_ptr(), (&mut value as *mut V).cast())
                    };
                    (ret == 0).then_some(value)
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.take($lifo, false)
                }
            }
        }
    };
}
pub(crate) use push_pop_map;

/// Refuses, at compile time, map operations that copy a whole value when
/// the value holds a `bpf_spin_lock`: the verifier refuses any program
/// that reads or writes the lock word ("bpf_spin_lock cannot be accessed
/// directly by load/store").
pub(crate) struct NoSpinLock<V>(core::marker::PhantomData<V>);

impl<V: crate::Pod> NoSpinLock<V> {
    pub(crate) const CHECK: () = assert!(
        !V::__SPIN_LOCKED,
        "this map value holds a `bpf_spin_lock` (`SpinLocked`), and the verifier refuses programs that copy the lock: \
         use `lock()` on the map and copy the fields you need from the guard"
    );
}

/// Adds `delta` to a simulated counter and returns the new value (the
/// caller holds the map's lock, which makes it atomic).
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
pub(crate) fn host_add(value: &mut u64, delta: u64) -> u64 {
    *value = value.wrapping_add(delta);
    *value
}

/// Adds `delta` to the `u64` at byte `offset` of a simulated value (the
/// caller checked that it fits) and returns the new value.
#[cfg(not(target_arch = "bpf"))]
pub(crate) fn host_add_at<V: crate::Pod>(value: &mut V, offset: usize, delta: u64) -> u64 {
    let bytes = &mut value.as_bytes_mut()[offset..offset + 8];
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    let sum = u64::from_ne_bytes(word).wrapping_add(delta);
    bytes.copy_from_slice(&sum.to_ne_bytes());
    sum
}

/// Atomically adds `delta` to the `u64` at `value` and returns the new value.
///
/// # Safety
///
/// `value` must point to a live, 8-byte aligned map value.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub(crate) unsafe fn atomic_add(value: *mut u64, delta: u64) -> u64 {
    use core::intrinsics::{AtomicOrdering, atomic_xadd};
    // SeqCst: this toolchain miscompiles a Relaxed fetch-add whose result is
    // used into a plain locked add (see docs/safety.md); SeqCst emits
    // BPF_ATOMIC | BPF_FETCH.
    // SAFETY: the caller passes a live, aligned u64 in map memory, which
    // other CPUs only access atomically or through copies.
    let old = unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::SeqCst }>(value, delta) };
    old.wrapping_add(delta)
}
