//! Typed handles on kernel structures, relocated at load time (CO-RE,
//! "compile once, run everywhere"), without compiler support.
//!
//! `cargo xtask codegen vmlinux task_struct:pid,tgid,real_parent,comm`
//! writes a handle type per kernel struct (`TaskStruct`), whose accessors
//! read one field each: through `bpf_probe_read_kernel` for a handle over
//! a [`KernelAddr`] (any program type), with a direct load for a handle
//! over a [`BtfAddr`] (a BTF pointer in a `#[tp_btf]`, `#[fentry]`,
//! `#[fexit]` or `#[lsm]` program):
//!
//! ```ignore
//! let task: TaskStruct = iu_ebpf::kernel::current_task();
//! let ppid = task.real_parent()?.tgid()?;
//! // In a BTF-enabled program: direct loads.
//! let prev = ctx.arg_ptr::<TaskStruct>(1)?;
//! let pid = prev.pid()?;
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

/// A kernel pointer that the verifier knows the type of
/// (`PTR_TO_BTF_ID`): a pointer argument of a BTF-enabled program
/// (`#[tp_btf]`, `#[fentry]`, `#[fexit]`, `#[lsm]`), the task from
/// `BtfContext::current_task`, or a pointer field read through one of
/// them. Handles on it read their fields with direct loads, which the
/// verifier checks against the kernel's BTF (offset and size inside a
/// field of the pointed-to type) and the JIT makes fault-safe: a load
/// that faults yields 0. It has no public constructor, so a program
/// cannot make one from a number (the verifier would refuse the load).
///
/// ```ignore
/// let prev: TaskStruct<BtfAddr> = ctx.arg_ptr::<TaskStruct>(1)?;
/// let pid = prev.pid()?; // one `ldxw`, relocated
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BtfAddr(u64);

impl BtfAddr {
    /// The pointer `addr`, which must come from the kernel as a BTF
    /// pointer (see the type's documentation). Only iu builds these.
    #[inline(always)]
    pub(crate) const fn new(addr: u64) -> Self {
        BtfAddr(addr)
    }

    /// Whether the pointer is null.
    #[inline(always)]
    pub fn is_null(self) -> bool {
        self.0 == 0
    }

    /// The pointer, for helpers that take a BTF pointer (local storage).
    #[inline(always)]
    #[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
    pub(crate) fn raw(self) -> u64 {
        self.0
    }

    /// The same address, for reads through probe reads (strings).
    ///
    /// ```ignore
    /// let name = file.name()?.read_str(&mut buf)?;
    /// ```
    #[inline(always)]
    pub fn probed(self) -> KernelAddr {
        KernelAddr(self.0)
    }
}

/// How a handle reads the object it points to: [`KernelAddr`] through
/// `bpf_probe_read_kernel` (any program type, any address), [`BtfAddr`]
/// through direct loads (BTF pointers in BTF-enabled programs). Sealed.
pub trait Address: Copy + PartialEq + private::Sealed {
    /// Reads a `T` at `self + offset`; `None` if a probe read faults.
    #[doc(hidden)]
    fn __read<T: Pod>(self, offset: u64) -> Option<T>;
    /// The address `offset` bytes further, of the same kind (an embedded
    /// struct).
    #[doc(hidden)]
    fn __offset(self, offset: u64) -> Self;
    /// An address of the same kind read from a pointer field. The token
    /// (unnameable outside iu-ebpf) keeps programs from calling it to make
    /// a `BtfAddr` from a number.
    #[doc(hidden)]
    fn __from_field(value: u64, token: private::Token) -> Self;
    /// The address, for probe reads.
    #[doc(hidden)]
    fn __probed(self) -> KernelAddr;
}

mod private {
    /// Only iu-ebpf can make one.
    pub struct Token(pub(super) ());
    pub trait Sealed {}
    impl Sealed for super::KernelAddr {}
    impl Sealed for super::BtfAddr {}
}

impl Address for KernelAddr {
    #[inline(always)]
    fn __read<T: Pod>(self, offset: u64) -> Option<T> {
        crate::memory::read_kernel(self.0.wrapping_add(offset))
    }
    #[inline(always)]
    fn __offset(self, offset: u64) -> Self {
        KernelAddr(self.0.wrapping_add(offset))
    }
    #[inline(always)]
    fn __from_field(value: u64, _: private::Token) -> Self {
        KernelAddr(value)
    }
    #[inline(always)]
    fn __probed(self) -> KernelAddr {
        self
    }
}

impl Address for BtfAddr {
    #[inline(always)]
    fn __read<T: Pod>(self, offset: u64) -> Option<T> {
        #[cfg(target_arch = "bpf")]
        {
            Some(direct_load(self.0.wrapping_add(offset)))
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            crate::memory::read_kernel(self.0.wrapping_add(offset))
        }
    }
    #[inline(always)]
    fn __offset(self, offset: u64) -> Self {
        BtfAddr(self.0.wrapping_add(offset))
    }
    /// A pointer field read with a direct load from a BTF pointer is a BTF
    /// pointer itself: the verifier types it from the field.
    #[inline(always)]
    fn __from_field(value: u64, _: private::Token) -> Self {
        BtfAddr(value)
    }
    #[inline(always)]
    fn __probed(self) -> KernelAddr {
        KernelAddr(self.0)
    }
}

/// Loads a `T` at `addr` with `ldx` instructions of 8, 4, 2 and 1 bytes,
/// written in `asm!` so that LLVM can neither widen nor split them, nor
/// reason about the address (it is not a Rust pointer).
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn direct_load<T: Pod>(addr: u64) -> T {
    let mut value = T::zeroed();
    let size = core::mem::size_of::<T>();
    let out = (&mut value as *mut T).cast::<u8>();
    let mut done = 0usize;
    while done < size {
        let at = addr.wrapping_add(done as u64);
        let (word, width): (u64, usize) = match size - done {
            8.. => (load::<8>(at), 8),
            4..=7 => (load::<4>(at), 4),
            2..=3 => (load::<2>(at), 2),
            _ => (load::<1>(at), 1),
        };
        // SAFETY: `done + width <= size`, so the bytes written are inside
        // `value` (unaligned writes), and any bytes are a valid `T: Pod`.
        unsafe {
            let at = out.add(done);
            match width {
                8 => at.cast::<u64>().write_unaligned(word),
                4 => at.cast::<u32>().write_unaligned(word as u32),
                2 => at.cast::<u16>().write_unaligned(word as u16),
                _ => at.write(word as u8),
            }
        };
        done += width;
    }
    value
}

/// One `ldx` of `N` bytes at `addr`, zero-extended.
#[cfg(target_arch = "bpf")]
#[inline(always)]
fn load<const N: usize>(addr: u64) -> u64 {
    let value: u64;
    // SAFETY: the kernel checks this load, not Rust: `addr` is only ever a
    // `BtfAddr` (plus a relocated field offset), which the verifier types
    // as a BTF pointer and bounds-checks against the pointed-to type's
    // fields; the JIT turns it into a fault-safe load (`BPF_PROBE_MEM`)
    // that yields 0 instead of faulting. A register that is not such a
    // pointer is refused at load time ("invalid mem access"). No Rust
    // memory is read.
    unsafe {
        match N {
            8 => {
                core::arch::asm!("{0} = *(u64 *)({1} + 0)", lateout(reg) value, in(reg) addr, options(readonly, nostack, preserves_flags))
            }
            4 => {
                core::arch::asm!("{0} = *(u32 *)({1} + 0)", lateout(reg) value, in(reg) addr, options(readonly, nostack, preserves_flags))
            }
            2 => {
                core::arch::asm!("{0} = *(u16 *)({1} + 0)", lateout(reg) value, in(reg) addr, options(readonly, nostack, preserves_flags))
            }
            _ => {
                core::arch::asm!("{0} = *(u8 *)({1} + 0)", lateout(reg) value, in(reg) addr, options(readonly, nostack, preserves_flags))
            }
        }
    }
    value
}

/// A kernel type for which `cargo xtask codegen vmlinux` generated a
/// handle: an object's address `A` ([`KernelAddr`]: probe reads, or
/// [`BtfAddr`]: direct loads), read only through fault-safe accesses.
///
/// ```ignore
/// fn same_object<T: iu_ebpf::kernel::KernelType>(a: T, b: T) -> bool {
///     a.kernel_addr() == b.kernel_addr()
/// }
/// ```
pub trait KernelType: Copy {
    /// The type's name in the kernel's BTF (`task_struct`).
    const TYPE_NAME: &'static str;
    /// How the handle reads: [`KernelAddr`] or [`BtfAddr`].
    type Addr: Address;
    /// A handle on the object at `addr`.
    fn from_kernel_addr(addr: Self::Addr) -> Self;
    /// The object's address.
    fn kernel_addr(self) -> Self::Addr;
}

/// The same generated handle over another kind of address:
/// `TaskStruct<KernelAddr>` and `TaskStruct<BtfAddr>`. Generated with
/// every handle; `BtfContext::arg_ptr::<TaskStruct>` uses it.
///
/// ```ignore
/// type Direct = <TaskStruct as iu_ebpf::kernel::Rebind>::On<BtfAddr>;
/// ```
pub trait Rebind: KernelType {
    /// This handle over `B`.
    type On<B: Address>: KernelType<Addr = B>;
}

/// The same object seen through another handle type: for a flavor of the
/// type (`task_struct___old`, whose relocations match `task_struct`) with
/// fields that only older kernels have.
///
/// ```ignore
/// let old: TaskStructOld = iu_ebpf::kernel::cast(task);
/// ```
#[inline(always)]
pub fn cast<T: KernelType, U: KernelType<Addr = T::Addr>>(from: T) -> U {
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

/// Reads a `T` at `base + offset`: a probe read for a [`KernelAddr`], a
/// direct load for a [`BtfAddr`].
#[doc(hidden)]
#[inline(always)]
pub fn __read<T: Pod>(base: impl Address, offset: u64) -> Option<T> {
    base.__read(offset)
}

/// Reads a `bool` field.
#[doc(hidden)]
#[inline(always)]
pub fn __read_bool<A: Address>(base: A, offset: u64) -> Option<bool> {
    base.__read::<u8>(offset).map(|b| b != 0)
}

/// Reads a pointer field into a handle of the same kind of address; a
/// null pointer is `None`.
#[doc(hidden)]
#[inline(always)]
pub fn __read_ptr<K: KernelType>(base: K::Addr, offset: u64) -> Option<K> {
    let addr = base.__read::<u64>(offset)?;
    (addr != 0)
        .then(|| K::from_kernel_addr(<K::Addr as Address>::__from_field(addr, private::Token(()))))
}

/// Reads a pointer field as an opaque address (null included), for probe
/// reads.
#[doc(hidden)]
#[inline(always)]
pub fn __read_addr<A: Address>(base: A, offset: u64) -> Option<KernelAddr> {
    base.__read::<u64>(offset).map(KernelAddr)
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
pub fn current_task<T: KernelType<Addr = KernelAddr>>() -> T {
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
