//! Values protected by a `bpf_spin_lock`, locked through an RAII guard.

use core::ops::{Deref, DerefMut};

use crate::Pod;

/// The kernel's `struct bpf_spin_lock`. The verifier finds it by this exact
/// name in the map value's BTF.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct bpf_spin_lock {
    pub(crate) val: u32,
}

/// A map value made of a `T` and the spin lock that protects it. Use it as
/// the value type of a `HashMap` or `Array`; programs lock it with
/// `lock()`, user space reads and writes it under the lock (`BPF_F_LOCK`).
/// Programs cannot `get` it: that would copy the lock word, which the
/// verifier refuses, so it does not compile.
///
/// ```ignore
/// #[map]
/// static STATS: HashMap<u32, SpinLocked<Stats>, 1024> = HashMap::new();
/// if let Some(mut stats) = STATS.lock(&key) {
///     stats.count += 1;
///     stats.bytes += len;
/// } // unlocked here
/// ```
///
/// The layout is the lock, 4 bytes of explicit padding (zeroed by
/// [`new`](Self::new)) and the value at offset 8, with nothing after it: the
/// struct is `packed`, so it has no padding for any `T` (a
/// `SpinLocked<u8>` is 9 bytes), and no uninitialized byte reaches the
/// kernel or user space. Map values are 8-byte aligned in the kernel, so the
/// lock and the value are aligned there.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SpinLocked<T> {
    pub(crate) lock: bpf_spin_lock,
    _pad: u32,
    pub(crate) value: T,
}

impl<T: Pod> SpinLocked<T> {
    /// `T` fits the 8-byte alignment of map values, and the struct is
    /// exactly lock, padding and value.
    pub(crate) const LAYOUT: () = assert!(
        core::mem::align_of::<T>() <= 8
            && core::mem::size_of::<Self>() == 8 + core::mem::size_of::<T>(),
        "SpinLocked values must have an alignment of at most 8"
    );

    /// A new value with the lock released.
    pub const fn new(value: T) -> Self {
        let () = Self::LAYOUT;
        Self {
            lock: bpf_spin_lock { val: 0 },
            _pad: 0,
            value,
        }
    }

    /// The value (user space: a copy read under the lock).
    pub fn value(&self) -> T {
        let () = Self::LAYOUT;
        self.value
    }
}

// SAFETY: `repr(C, packed)` of a u32, an explicit u32 of padding and a
// `T: Pod`: a packed struct has no padding at all (`LAYOUT` checks it once
// more), and every field is valid for any bytes.
unsafe impl<T: Pod> Pod for SpinLocked<T> {
    const __SPIN_LOCKED: bool = true;
}

/// `*dst = *src` without any function call, for copies made while a
/// [`SpinGuard`] is held: the verifier refuses every call under a spin
/// lock, and LLVM turns a plain assignment or `copy_from_slice` of more
/// than about 1 KiB into a call of `memcpy`, whose reads go through a
/// helper (`iu_ebpf`'s builtins). This copies 8 bytes at a time (4, 2 or 1
/// when `T`'s alignment is smaller) in a loop the verifier walks once per
/// word, so keep `T` to a few KiB.
///
/// ```
/// # use iu_ebpf::{Pod, map, maps::{Array, SpinLocked, copy_under_lock}};
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Value { len: u64, bytes: [u8; 2048] }
///
/// #[map]
/// static VALUES: Array<SpinLocked<Value>, 4> = Array::new();
///
/// let new = Value { len: 3, bytes: [7; 2048] };
/// if let Some(mut value) = VALUES.lock(1) {
///     copy_under_lock(&mut *value, &new);
/// }
/// # assert_eq!(VALUES.lock(1).unwrap().bytes[2047], 7);
/// ```
#[inline(always)]
pub fn copy_under_lock<T: Pod>(dst: &mut T, src: &T) {
    copy_prefix_under_lock(dst, src, core::mem::size_of::<T>());
}

/// [`copy_under_lock`] of the first `len` bytes only, rounded up to `T`'s
/// word (8 bytes when `T` is aligned to 8): for a value whose used length
/// is known at run time, such as a short reply in a buffer sized for the
/// longest, where copying all of it would keep the lock (and the CPU's
/// interrupts) for longer. A `len` past the value's size copies all of it.
/// The loop's bound is the value's size in words, so the verifier walks it
/// as it walks [`copy_under_lock`]'s.
///
/// ```
/// # use iu_ebpf::{Pod, map, maps::{Array, SpinLocked, copy_prefix_under_lock}};
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C, align(8))]
/// struct Bytes([u8; 1024]);
///
/// #[map]
/// static REPLIES: Array<SpinLocked<Bytes>, 4> = Array::new();
///
/// let reply = Bytes([7; 1024]);
/// if let Some(mut stored) = REPLIES.lock(1) {
///     copy_prefix_under_lock(&mut *stored, &reply, 13);
/// }
/// let stored = REPLIES.lock(1).unwrap();
/// assert_eq!((stored.0[15], stored.0[16]), (7, 0));
/// ```
#[inline(always)]
pub fn copy_prefix_under_lock<T: Pod>(dst: &mut T, src: &T, len: usize) {
    macro_rules! words {
        ($ty:ty) => {{
            const WORD: usize = core::mem::size_of::<$ty>();
            let n = core::mem::size_of::<T>() / WORD;
            let wanted = len.div_ceil(WORD);
            let dst = (dst as *mut T).cast::<$ty>();
            let src = (src as *const T).cast::<$ty>();
            let mut i = 0;
            while i < n && i < wanted {
                // SAFETY: `i < n` words of `$ty` lie inside both values (the
                // size is a multiple of the word, as of the alignment), which are
                // aligned for it (`T`'s alignment is at least the word's);
                // `&mut`/`&` guarantee validity and no overlap, and `T: Pod`
                // is valid for any bytes. Volatile, so that LLVM does not
                // turn the loop back into a `memcpy` call.
                unsafe {
                    core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i)))
                };
                i += 1;
            }
        }};
    }
    // A type's size is a multiple of its alignment.
    let align = core::mem::align_of::<T>();
    if align >= 8 {
        words!(u64)
    } else if align >= 4 {
        words!(u32)
    } else if align >= 2 {
        words!(u16)
    } else {
        words!(u8)
    }
}

/// Exclusive access to a [`SpinLocked`] value while the lock is held.
/// Dropping the guard releases the lock. The verifier refuses programs that
/// call other functions while holding it, and any path that would keep it
/// (`mem::forget`), so a guard can never leak a held lock.
#[cfg(target_arch = "bpf")]
pub struct SpinGuard<'a, T> {
    lock: *mut bpf_spin_lock,
    value: &'a mut T,
}

/// Exclusive access to a [`SpinLocked`] value while the lock is held.
///
/// On the host the guard works on a copy of the value, taken when the lock
/// is acquired and written back when the guard drops (unless the entry was
/// deleted meanwhile, in which case the write is lost, as the kernel's write
/// to a freed element is). Other lockers of the same entry wait meanwhile.
#[cfg(not(target_arch = "bpf"))]
pub struct SpinGuard<'a, T> {
    value: T,
    entry: &'a dyn HostEntry<T>,
    slot: usize,
    generation: u64,
    cpu: usize,
}

#[cfg(target_arch = "bpf")]
impl<'a, T> SpinGuard<'a, T> {
    /// Takes the lock of the value at `value`.
    ///
    /// # Safety
    ///
    /// `value` must point to a live `SpinLocked<T>` in map memory that
    /// outlives `'a`, and `SpinLocked::<T>::LAYOUT` must hold (the caller
    /// evaluates it).
    #[inline(always)]
    pub(crate) unsafe fn lock(value: *mut SpinLocked<T>) -> Self {
        // SAFETY: the caller passes a live map value; the helper takes its
        // lock, after which this program has exclusive access to it (every
        // other accessor, program or user space, takes the same lock).
        unsafe {
            let lock = core::ptr::addr_of_mut!((*value).lock);
            crate::helpers::raw::spin_lock(lock.cast());
            // The value is at offset 8 of a map value, which the kernel
            // aligns to 8 bytes, and `T`'s alignment is at most 8
            // (`LAYOUT`): the reference is aligned although the struct is
            // packed.
            Self {
                lock,
                value: &mut *core::ptr::addr_of_mut!((*value).value),
            }
        }
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        #[cfg(target_arch = "bpf")]
        {
            self.value
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            &self.value
        }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        #[cfg(target_arch = "bpf")]
        {
            self.value
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            &mut self.value
        }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: the lock was taken in `lock` and is released once, here.
        unsafe {
            crate::helpers::raw::spin_unlock(self.lock.cast());
        }
        #[cfg(not(target_arch = "bpf"))]
        self.entry
            .unlock(self.slot, self.generation, self.cpu, &self.value);
    }
}

/// Writes a guarded value back into a simulated map and releases its lock.
#[cfg(not(target_arch = "bpf"))]
pub(crate) trait HostEntry<T> {
    fn unlock(&self, slot: usize, generation: u64, cpu: usize, value: &T);
}

#[cfg(not(target_arch = "bpf"))]
impl<K: Pod, T: Pod, const N: usize, const C: usize> HostEntry<T>
    for super::host::Hash<K, SpinLocked<T>, N, C>
{
    fn unlock(&self, slot: usize, generation: u64, cpu: usize, value: &T) {
        self.update_slot(slot, generation, cpu, |locked| {
            locked.value = *value;
            locked.lock.val = 0;
        });
    }
}

#[cfg(not(target_arch = "bpf"))]
impl<T: Pod, const N: usize> HostEntry<T> for super::host::Array<SpinLocked<T>, N, 1> {
    fn unlock(&self, slot: usize, _generation: u64, _cpu: usize, value: &T) {
        let _ = self.update(slot as u32, |locked| {
            locked.value = *value;
            locked.lock.val = 0;
        });
    }
}

/// Locks slot `index` of a simulated array.
#[cfg(not(target_arch = "bpf"))]
pub(crate) fn host_lock_array<T: Pod, const N: usize>(
    map: &super::host::Array<SpinLocked<T>, N, 1>,
    index: u32,
) -> Option<SpinGuard<'_, T>> {
    let mut spins = 0u64;
    loop {
        let taken = map.update(index, |locked| {
            if locked.lock.val != 0 {
                return None;
            }
            locked.lock.val = 1;
            Some(locked.value)
        })?;
        if let Some(value) = taken {
            return Some(SpinGuard {
                value,
                entry: map,
                slot: index as usize,
                generation: 0,
                cpu: 0,
            });
        }
        spins += 1;
        assert!(
            spins < SPIN_LIMIT,
            "deadlock: the SpinLocked value is already locked (a program holds at most one lock at a time)"
        );
        core::hint::spin_loop();
    }
}

/// Spins this long on a held lock before deciding it can never be released.
#[cfg(not(target_arch = "bpf"))]
const SPIN_LIMIT: u64 = 1 << 30;

/// Locks the entry at `key` of a simulated hash map.
#[cfg(not(target_arch = "bpf"))]
pub(crate) fn host_lock<'a, K: Pod, T: Pod, const N: usize, const C: usize>(
    map: &'a super::host::Hash<K, SpinLocked<T>, N, C>,
    key: &K,
) -> Option<SpinGuard<'a, T>> {
    let cpu = if C == 1 { 0 } else { crate::sim::cpu_index() };
    let mut spins = 0u64;
    loop {
        let taken = map
            .update(key, false, false, |locked| {
                if locked.lock.val != 0 {
                    return None;
                }
                locked.lock.val = 1;
                Some(locked.value)
            })
            .ok()?;
        if let (Some(value), slot, generation) = taken {
            return Some(SpinGuard {
                value,
                entry: map,
                slot,
                generation,
                cpu,
            });
        }
        spins += 1;
        assert!(
            spins < SPIN_LIMIT,
            "deadlock: the SpinLocked value is already locked (a program holds at most one lock at a time)"
        );
        core::hint::spin_loop();
    }
}
