//! Typed handles on kernel structures, relocated at load time (CO-RE,
//! "compile once, run everywhere"), without compiler support.
//!
//! `cargo xtask codegen vmlinux task_struct:pid,tgid,real_parent,comm`
//! writes a handle type per kernel struct (`TaskStruct`), whose accessors
//! read one field each through `bpf_probe_read_kernel`:
//!
//! ```ignore
//! let task: TaskStruct = iu_ebpf::kernel::current_task();
//! let ppid = task.real_parent()?.tgid()?;
//! ```
//!
//! # How a field's offset reaches the program
//!
//! Every access site is a [`core_value!`](crate::core_value) expansion: it
//! emits a relocation record (root type, field path, kind, the local size)
//! in its own ELF section `iu_core.<hash>`, and a 64-bit load
//! `rX = MAGIC << 32 | hash` (written in `asm!`, so LLVM cannot fold or
//! split it). The loader (`iu/src/core_relo.rs`) finds each such load,
//! resolves its record against the running kernel's BTF with libbpf's
//! rules, and patches the load into the answer: the field's byte offset,
//! its size, whether it exists, an enum's value. Inlining copies a site
//! into several places; every copy carries the same constant and gets the
//! same answer.
//!
//! A field or type that the kernel lacks turns its load into a call the
//! verifier refuses *if it is reached*; behind an existence check
//! ([`field_exists!`](crate::field_exists)) the verifier proves the branch
//! dead, so one object runs on kernels with and without the field. Reached
//! unconditionally, the load fails with `iu::Error::CoreRelocation`, which
//! names the Rust line, the type and the field path.
//!
//! On the host (unit tests), offsets come from the simulated kernel of
//! [`crate::sim`]: objects made with `sim::KernelObject` serve the field
//! values the test sets.

use crate::Pod;

/// The high 32 bits of every relocation placeholder (`ld_imm64`); the low
/// 32 bits are the record's hash.
pub const MAGIC: u32 = 0x1c0e_7e00;

/// Section-name prefix of the relocation records.
pub const SECTION_PREFIX: &str = "iu_core.";

/// The 4 bytes that start each record in an `iu_core.<hash>` section,
/// followed by the hash (u32, little-endian), the text's length (u16) and
/// the text `kind|type|path|local size|shape`.
pub const RECORD_TAG: [u8; 4] = *b"IUCR";

/// A kernel type for which `cargo xtask codegen vmlinux` generated a
/// handle: a kernel address, read only through fault-safe copies.
///
/// ```ignore
/// fn tgid_of<T: iu_ebpf::kernel::KernelType>(t: T) -> u64 { t.addr() }
/// ```
pub trait KernelType: Copy {
    /// The type's name in the kernel's BTF (`task_struct`).
    const TYPE_NAME: &'static str;
    /// A handle on the object at kernel address `addr`. Any value is safe:
    /// reads through a wrong address fail (`None`), they do not fault.
    fn from_addr(addr: u64) -> Self;
    /// The object's kernel address.
    fn addr(self) -> u64;
}

/// The relocated value of one access site. Used by the code that
/// [`core_value!`](crate::core_value) emits; `record` is the site's record
/// text, which only the host simulation reads.
#[doc(hidden)]
#[inline(always)]
pub fn __value<const HASH: u32>(record: &'static str) -> u64 {
    #[cfg(target_arch = "bpf")]
    {
        let _ = record;
        let value: u64;
        // SAFETY: a constant load into a register; it touches no memory.
        // The loader replaces it before the kernel sees it.
        unsafe {
            core::arch::asm!(
                "{0} = {1} ll",
                out(reg) value,
                const ((MAGIC as u64) << 32) | HASH as u64,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        value
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        crate::sim::core_value(record)
    }
}

/// Reads a `T` at `base + offset` (`bpf_probe_read_kernel`).
#[doc(hidden)]
#[inline(always)]
pub fn __read<T: Pod>(base: u64, offset: u64) -> Option<T> {
    crate::memory::read_kernel(base.wrapping_add(offset))
}

/// Reads a `bool` field.
#[doc(hidden)]
#[inline(always)]
pub fn __read_bool(base: u64, offset: u64) -> Option<bool> {
    __read::<u8>(base, offset).map(|b| b != 0)
}

/// Reads a pointer field into a handle; a null pointer is `None`.
#[doc(hidden)]
#[inline(always)]
pub fn __read_ptr<K: KernelType>(base: u64, offset: u64) -> Option<K> {
    let addr = __read::<u64>(base, offset)?;
    (addr != 0).then(|| K::from_addr(addr))
}

/// Whether two strings are equal, at compile time.
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The task running on this CPU (`bpf_get_current_task`), as the
/// generated `task_struct` handle. Works in every tracing program
/// (kprobes, tracepoints, raw tracepoints, perf events); on the host it is
/// the object set with `sim::set_current_task`. `T` must be the handle of
/// `task_struct` (checked at compile time).
///
/// ```ignore
/// let task: TaskStruct = iu_ebpf::kernel::current_task();
/// let pid = task.pid()?;
/// ```
#[inline(always)]
pub fn current_task<T: KernelType>() -> T {
    const {
        assert!(
            same(T::TYPE_NAME, "task_struct"),
            "current_task: the type is not the handle of task_struct"
        )
    };
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: `bpf_get_current_task` (35) takes no argument and returns
        // an address, which the handle only reads through probe reads.
        let addr = unsafe {
            let f: extern "C" fn() -> u64 = core::mem::transmute(35usize);
            f()
        };
        T::from_addr(addr)
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        T::from_addr(crate::sim::current_task())
    }
}

/// FNV-1a (32 bits) of a record's text: the low half of its placeholder.
/// The proc macros compute the same value; the loader checks it.
pub const fn record_hash(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        hash = (hash ^ bytes[i] as u32).wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}
