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

/// A kernel address, opaque to programs: handles keep one to read through,
/// but a program cannot turn it back into a number, so it cannot store it
/// in a map or send it to user space (which would defeat KASLR; see
/// docs/safety.md, "Addresses").
///
/// ```ignore
/// let parent = task.real_parent()?; // a handle, built on a KernelAddr
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KernelAddr(u64);

impl KernelAddr {
    /// The address `addr`. Any value is safe: reads through a wrong
    /// address fail (`None`), they do not fault.
    #[inline(always)]
    pub const fn new(addr: u64) -> Self {
        KernelAddr(addr)
    }

    /// Whether the address is 0.
    ///
    /// ```ignore
    /// if task.mm()?.is_null() { /* a kernel thread */ }
    /// ```
    #[inline(always)]
    pub fn is_null(self) -> bool {
        self.0 == 0
    }

    /// Copies the NUL-terminated string at this address into `buf` and
    /// returns it without the NUL, or `None` if it cannot be read (for
    /// `char *` fields).
    ///
    /// ```ignore
    /// let mut buf = [0u8; 64];
    /// let name = file.name()?.read_str(&mut buf)?;
    /// ```
    #[inline(always)]
    pub fn read_str(self, buf: &mut [u8]) -> Option<&[u8]> {
        crate::memory::read_kernel_str(self.0, buf)
    }

    /// The address `offset` bytes further.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __offset(self, offset: u64) -> Self {
        KernelAddr(self.0.wrapping_add(offset))
    }
}

/// A kernel type for which `cargo xtask codegen vmlinux` generated a
/// handle: an object's kernel address, read only through fault-safe
/// copies.
///
/// ```ignore
/// fn same_object<T: iu_ebpf::kernel::KernelType>(a: T, b: T) -> bool {
///     a.kernel_addr() == b.kernel_addr()
/// }
/// ```
pub trait KernelType: Copy {
    /// The type's name in the kernel's BTF (`task_struct`).
    const TYPE_NAME: &'static str;
    /// A handle on the object at `addr`.
    fn from_kernel_addr(addr: KernelAddr) -> Self;
    /// The object's address.
    fn kernel_addr(self) -> KernelAddr;
}

/// The same object seen through another handle type: for a flavor of the
/// type (`task_struct___old`, whose relocations match `task_struct`) with
/// fields that only older kernels have.
///
/// ```ignore
/// let old: TaskStructOld = iu_ebpf::kernel::cast(task);
/// ```
#[inline(always)]
pub fn cast<T: KernelType, U: KernelType>(from: T) -> U {
    U::from_kernel_addr(from.kernel_addr())
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
pub fn __read<T: Pod>(base: KernelAddr, offset: u64) -> Option<T> {
    crate::memory::read_kernel(base.0.wrapping_add(offset))
}

/// Reads a `bool` field.
#[doc(hidden)]
#[inline(always)]
pub fn __read_bool(base: KernelAddr, offset: u64) -> Option<bool> {
    __read::<u8>(base, offset).map(|b| b != 0)
}

/// Reads a pointer field into a handle; a null pointer is `None`.
#[doc(hidden)]
#[inline(always)]
pub fn __read_ptr<K: KernelType>(base: KernelAddr, offset: u64) -> Option<K> {
    let addr = __read::<u64>(base, offset)?;
    (addr != 0).then(|| K::from_kernel_addr(KernelAddr(addr)))
}

/// Reads a pointer field as an opaque address (null included).
#[doc(hidden)]
#[inline(always)]
pub fn __read_addr(base: KernelAddr, offset: u64) -> Option<KernelAddr> {
    __read::<u64>(base, offset).map(KernelAddr)
}

/// Whether two strings are equal, at compile time.
pub(crate) const fn same(a: &str, b: &str) -> bool {
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
        T::from_kernel_addr(KernelAddr(addr))
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        T::from_kernel_addr(KernelAddr(crate::sim::current_task()))
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
