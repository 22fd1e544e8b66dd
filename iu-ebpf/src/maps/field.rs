//! Typed fields of shared map values, added to atomically in place: the
//! safe form of C's `__sync_fetch_and_add(&v->bytes, len)`.
//!
//! [`field!`](crate::field) names a `u32` or `u64` field of a value type
//! (`field!(Stats, bytes)`); `in_place` on a shared map (`HashMap`,
//! `LruHashMap`, `Array`) looks the value up once and lends a
//! [`SharedValue`] whose `add` is one atomic instruction on that field.
//! The field's offset, size and alignment are checked when the program is
//! compiled, so no byte offset is ever written by hand.

use core::marker::PhantomData;

use crate::Pod;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// An integer a program can add to atomically inside a shared map value:
/// `u32` or `u64` (the BPF atomic instructions' two sizes).
pub trait AtomicInt: Pod + sealed::Sealed {
    #[doc(hidden)]
    fn wrapping_add_int(self, other: Self) -> Self;

    /// Adds `delta` at `ptr` with one `BPF_ATOMIC | BPF_ADD` (no fetch),
    /// what clang emits for a `__sync_fetch_and_add` whose result is unused.
    ///
    /// # Safety
    ///
    /// `ptr` must point into a live map value, aligned for `Self`.
    #[doc(hidden)]
    #[cfg(target_arch = "bpf")]
    unsafe fn atomic_add(ptr: *mut Self, delta: Self);

    /// Adds `delta` at `ptr` with `BPF_ATOMIC | BPF_ADD | BPF_FETCH` and
    /// returns the value before the add.
    ///
    /// # Safety
    ///
    /// As for `atomic_add`.
    #[doc(hidden)]
    #[cfg(target_arch = "bpf")]
    unsafe fn atomic_fetch_add(ptr: *mut Self, delta: Self) -> Self;
}

macro_rules! atomic_int {
    ($t:ty) => {
        impl AtomicInt for $t {
            #[inline(always)]
            fn wrapping_add_int(self, other: Self) -> Self {
                self.wrapping_add(other)
            }

            #[cfg(target_arch = "bpf")]
            #[inline(always)]
            unsafe fn atomic_add(ptr: *mut Self, delta: Self) {
                use core::intrinsics::{AtomicOrdering, atomic_xadd};
                // Relaxed with the result unused: LLVM emits the plain
                // locked add (`lock *(u64 *)(r1 + 8) += r2`), as clang does
                // for `__sync_fetch_and_add`. (A Relaxed add whose result
                // is used is miscompiled into the same instruction, which
                // is why `atomic_fetch_add` is SeqCst; see docs/safety.md.)
                // SAFETY: the caller passes an aligned `$t` in map memory,
                // which other CPUs access atomically or through copies.
                let _ = unsafe { atomic_xadd::<$t, $t, { AtomicOrdering::Relaxed }>(ptr, delta) };
            }

            #[cfg(target_arch = "bpf")]
            #[inline(always)]
            unsafe fn atomic_fetch_add(ptr: *mut Self, delta: Self) -> Self {
                use core::intrinsics::{AtomicOrdering, atomic_xadd};
                // SAFETY: as for `atomic_add`.
                unsafe { atomic_xadd::<$t, $t, { AtomicOrdering::SeqCst }>(ptr, delta) }
            }
        }
    };
}
atomic_int!(u32);
atomic_int!(u64);

/// A `T` field at byte `OFFSET` of a type `V` (a map value or a packet
/// header), made by [`field!`](crate::field): `field!(Stats, bytes)`.
///
/// Compiling a `Field` checks that the `T` at `OFFSET` lies inside `V`;
/// the atomic adds of [`SharedValue`] also check that it is aligned for
/// `T` (map values start 8-byte aligned), so an add always lands on
/// `size_of::<T>()` aligned bytes of the value, and `V: Pod` is valid for
/// any bytes. `field!` takes `T` and `OFFSET` from the field itself.
///
/// ```
/// use iu_ebpf::{Pod, field, maps::Field};
///
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Stats { packets: u64, bytes: u64, drops: u32, pad: u32 }
///
/// let bytes: Field<Stats, u64, 8> = field!(Stats, bytes);
/// let drops = field!(Stats, drops);
/// assert_eq!((bytes.offset(), drops.offset()), (8, 16));
/// ```
pub struct Field<V, T, const OFFSET: usize> {
    _types: PhantomData<fn(&V) -> &T>,
}

impl<V, T, const OFFSET: usize> Clone for Field<V, T, OFFSET> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V, T, const OFFSET: usize> Copy for Field<V, T, OFFSET> {}

impl<V: Pod, T: Pod, const OFFSET: usize> Field<V, T, OFFSET> {
    /// Refuses, at compile time, a field that leaves `V` (only a `Field`
    /// built by hand can).
    pub(crate) const IN_BOUNDS: () = assert!(
        OFFSET + core::mem::size_of::<T>() <= core::mem::size_of::<V>(),
        "this field does not lie inside the value"
    );

    /// Used by [`field!`](crate::field): `project` is never called, it only
    /// ties `T` to the field's type.
    #[doc(hidden)]
    #[inline(always)]
    pub const fn __project(project: fn(&V) -> &T) -> Self {
        let _ = project;
        let () = Self::IN_BOUNDS;
        Self {
            _types: PhantomData,
        }
    }

    /// The field's byte offset in `V`.
    #[inline(always)]
    pub const fn offset(self) -> usize {
        OFFSET
    }
}

impl<V: Pod, T: AtomicInt, const OFFSET: usize> Field<V, T, OFFSET> {
    /// Refuses, at compile time, an atomic add on a field that leaves the
    /// value or is misaligned (a `#[repr(packed)]` value).
    const ATOMIC: () = assert!(
        OFFSET.is_multiple_of(core::mem::align_of::<T>())
            && OFFSET + core::mem::size_of::<T>() <= core::mem::size_of::<V>()
            && core::mem::align_of::<V>() <= 8,
        "this field is not an aligned u32/u64 inside the map value (a packed struct?): atomic adds need an aligned field"
    );
}

/// Names a field of a map value type, for atomic adds in place
/// (`field!(Stats, bytes)`, or `field!(Flow, counters.bytes)` for a field
/// of a nested struct; the adds take `u32` and `u64` fields and do not
/// compile for others, or for misaligned ones in packed structs), or of a
/// packet header, for one load from a bounds-checked header
/// (`XdpContext::header`).
///
/// ```
/// use iu_ebpf::{Pod, field, map, maps::HashMap};
///
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Stats { packets: u64, bytes: u64 }
///
/// #[map]
/// static COUNTS: HashMap<u32, Stats, 1024> = HashMap::new();
///
/// let (source, len) = (0x0a000001u32, 1500u64);
/// COUNTS.insert(&source, &Stats { packets: 0, bytes: 0 }, 0).unwrap();
/// COUNTS.in_place(&source, |v| {
///     v.add(field!(Stats, packets), 1);
///     v.add(field!(Stats, bytes), len);
/// });
/// assert_eq!(COUNTS.get(&source).map(|s| (s.packets, s.bytes)), Some((1, 1500)));
/// ```
#[macro_export]
macro_rules! field {
    ($value:ty, $($field:ident).+ $(,)?) => {
        $crate::maps::Field::<$value, _, { ::core::mem::offset_of!($value, $($field).+) }>::__project(
            |v: &$value| &v.$($field).+,
        )
    };
}

/// A shared map value lent in place by `in_place` (on `HashMap`,
/// `LruHashMap`, `Array`): fields are added to atomically, since other
/// CPUs and user space may write the same value. It cannot leave the
/// closure it is lent to.
pub struct SharedValue<'a, V> {
    #[cfg(target_arch = "bpf")]
    ptr: *mut V,
    #[cfg(target_arch = "bpf")]
    _value: PhantomData<&'a V>,
    #[cfg(not(target_arch = "bpf"))]
    cell: &'a core::cell::Cell<V>,
}

impl<'a, V: Pod> SharedValue<'a, V> {
    /// # Safety
    ///
    /// `ptr` must be a live map value of `size_of::<V>()` bytes, 8-byte
    /// aligned, valid for `'a` (until the program ends: RCU).
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    pub(crate) unsafe fn new(ptr: *mut V) -> Self {
        Self {
            ptr,
            _value: PhantomData,
        }
    }

    #[cfg(not(target_arch = "bpf"))]
    pub(crate) fn host(value: &'a mut V) -> Self {
        Self {
            cell: core::cell::Cell::from_mut(value),
        }
    }

    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field_ptr<T: AtomicInt, const OFFSET: usize>(&self, field: Field<V, T, OFFSET>) -> *mut T {
        let _ = field;
        // Evaluated for every field used, even one built by hand.
        let () = Field::<V, T, OFFSET>::ATOMIC;
        // SAFETY: `ATOMIC` holds: the `T` at `OFFSET` is inside the value.
        unsafe { self.ptr.cast::<u8>().add(OFFSET).cast::<T>() }
    }

    #[cfg(not(target_arch = "bpf"))]
    fn host_update<T: AtomicInt, const OFFSET: usize>(&self, f: impl FnOnce(T) -> T) -> T {
        let () = Field::<V, T, OFFSET>::ATOMIC;
        let mut value = self.cell.get();
        let bytes = &mut value.as_bytes_mut()[OFFSET..OFFSET + core::mem::size_of::<T>()];
        let old = T::from_bytes(bytes).unwrap_or_else(T::zeroed);
        bytes.copy_from_slice(f(old).as_bytes());
        self.cell.set(value);
        old
    }

    /// Atomically adds `delta` to `field` (wrapping): one `BPF_ATOMIC`
    /// add, as `__sync_fetch_and_add(&v->field, delta)` with its result
    /// unused.
    #[inline(always)]
    pub fn add<T: AtomicInt, const OFFSET: usize>(&self, field: Field<V, T, OFFSET>, delta: T) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: the field is an aligned `T` inside the live value.
        unsafe {
            T::atomic_add(self.field_ptr(field), delta)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = field;
            self.host_update::<T, OFFSET>(|old| old.wrapping_add_int(delta));
        }
    }

    /// Atomically adds `delta` to `field` (wrapping) and returns the value
    /// it held before (`BPF_ATOMIC | BPF_FETCH`, sequentially consistent).
    #[inline(always)]
    pub fn fetch_add<T: AtomicInt, const OFFSET: usize>(
        &self,
        field: Field<V, T, OFFSET>,
        delta: T,
    ) -> T {
        #[cfg(target_arch = "bpf")]
        // SAFETY: the field is an aligned `T` inside the live value.
        unsafe {
            T::atomic_fetch_add(self.field_ptr(field), delta)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = field;
            self.host_update::<T, OFFSET>(|old| old.wrapping_add_int(delta))
        }
    }

    /// Reads `field` (one load; other CPUs may be adding to it).
    #[inline(always)]
    pub fn load<T: AtomicInt, const OFFSET: usize>(&self, field: Field<V, T, OFFSET>) -> T {
        #[cfg(target_arch = "bpf")]
        // SAFETY: the field is an aligned `T` inside the live value; the
        // read is volatile because other CPUs write it.
        unsafe {
            core::ptr::read_volatile(self.field_ptr(field))
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = field;
            self.host_update::<T, OFFSET>(|old| old)
        }
    }

    /// A copy of the whole value (other CPUs may be adding to it: each
    /// field is as one of them left it).
    #[inline(always)]
    pub fn get(&self) -> V {
        let () = super::NoSpinLock::<V>::CHECK;
        #[cfg(target_arch = "bpf")]
        // SAFETY: the value is live and any bytes are a valid `V: Pod`.
        unsafe {
            core::ptr::read_volatile(self.ptr)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.cell.get()
        }
    }
}
