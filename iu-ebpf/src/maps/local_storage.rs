//! What the local-storage maps (`SkStorage`, `InodeStorage`,
//! `CgrpStorage`) share: one value per kernel object, created on first
//! use with `BPF_LOCAL_STORAGE_GET_F_CREATE` and freed with the object.
//! Each map type lives in its own module and names its owner (a socket, an
//! inode, a cgroup); the methods are the same for all three.

/// `BPF_LOCAL_STORAGE_GET_F_CREATE`.
#[cfg(target_arch = "bpf")]
pub(crate) const CREATE: u64 = 1;

/// Declares the methods of a local-storage map type `$name<V>` whose
/// owners implement `$owner` (with `__raw`, the helper's argument, and
/// `__host_key`), calling helpers `$get` and `$delete`.
macro_rules! local_storage_api {
    ($name:ident, $owner:ident, $get:ident, $delete:ident) => {
        #[cfg(target_arch = "bpf")]
        impl<V> $name<V> {
            /// The owner's value, created from `init` when `init` is given
            /// and it has none; null when there is none (or no owner).
            #[inline(always)]
            fn slot<O: $owner>(&self, owner: O, init: Option<&V>) -> *mut V {
                let Some(raw) = owner.__raw() else {
                    return core::ptr::null_mut();
                };
                let (init, flags) = match init {
                    Some(v) => ((v as *const V).cast(), $crate::maps::local_storage::CREATE),
                    None => (core::ptr::null(), 0),
                };
                // SAFETY: `self` is a `#[map]` storage of `V`s; `raw` is the
                // owner as the helper takes it (the verifier checks its
                // type); `init` is null or points to a `V`, which the
                // kernel copies; the helper returns null or the owner's
                // `V`, live until the program returns.
                unsafe { $crate::helpers::raw::$get(self.as_ptr(), raw, init, flags) }.cast()
            }
        }

        impl<V: $crate::Pod> $name<V> {
            /// A copy of `owner`'s value, or `None` when it has none.
            #[inline(always)]
            pub fn get<O: $owner>(&self, owner: O) -> Option<V> {
                let () = $crate::maps::NoSpinLock::<V>::CHECK;
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(owner, None);
                    // SAFETY: a non-null slot is valid for reading a
                    // `V: Pod`; volatile since other CPUs may write it.
                    (!slot.is_null()).then(|| unsafe { core::ptr::read_volatile(slot) })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.get(&owner.__host_key())
                }
            }

            /// A copy of `owner`'s value, created as `init` first if it has
            /// none. `None` when the kernel cannot allocate it.
            #[inline(always)]
            pub fn get_or_insert<O: $owner>(&self, owner: O, init: &V) -> Option<V> {
                let () = $crate::maps::NoSpinLock::<V>::CHECK;
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(owner, Some(init));
                    // SAFETY: as in `get`.
                    (!slot.is_null()).then(|| unsafe { core::ptr::read_volatile(slot) })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    let key = owner.__host_key();
                    if self.sim.get(&key).is_none() {
                        self.sim
                            .insert(&key, init, $crate::maps::BPF_NOEXIST, false)
                            .ok()?;
                    }
                    self.sim.get(&key)
                }
            }

            /// Sets `owner`'s value, creating it if needed.
            #[inline(always)]
            pub fn set<O: $owner>(
                &self,
                owner: O,
                value: &V,
            ) -> Result<(), $crate::maps::MapError> {
                let () = $crate::maps::NoSpinLock::<V>::CHECK;
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(owner, Some(value));
                    if slot.is_null() {
                        return Err($crate::maps::MapError(-12)); // -ENOMEM
                    }
                    // SAFETY: a non-null slot is the owner's live `V`;
                    // volatile as other CPUs may read it.
                    unsafe { core::ptr::write_volatile(slot, *value) };
                    Ok(())
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim
                        .insert(&owner.__host_key(), value, $crate::maps::BPF_ANY, false)
                }
            }

            /// Atomically adds `delta` to the `u64` at byte `offset` of
            /// `owner`'s value (created zeroed if needed) and returns the
            /// new value; `None` when `offset` is not a multiple of 8 or
            /// the `u64` would not fit, or the value cannot be created.
            #[inline(always)]
            pub fn add_at_offset<O: $owner>(
                &self,
                owner: O,
                offset: usize,
                delta: u64,
            ) -> Option<u64> {
                let () = $crate::maps::NoSpinLock::<V>::CHECK;
                if !offset.is_multiple_of(8) || offset + 8 > core::mem::size_of::<V>() {
                    return None;
                }
                #[cfg(target_arch = "bpf")]
                {
                    let zero = <V as $crate::Pod>::zeroed();
                    let slot = self.slot(owner, Some(&zero));
                    // SAFETY: a non-null slot is a live value of
                    // `size_of::<V>()` bytes, 8-byte aligned as map values
                    // are; `offset` is a multiple of 8 with 8 bytes inside.
                    (!slot.is_null()).then(|| unsafe {
                        $crate::maps::atomic_add(slot.cast::<u8>().add(offset).cast::<u64>(), delta)
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim
                        .update(&owner.__host_key(), true, false, |v| {
                            $crate::maps::host_add_at(v, offset, delta)
                        })
                        .ok()
                        .map(|(sum, _, _)| sum)
                }
            }

            /// Deletes `owner`'s value; whether it had one.
            #[inline(always)]
            pub fn delete<O: $owner>(&self, owner: O) -> bool {
                #[cfg(target_arch = "bpf")]
                {
                    let Some(raw) = owner.__raw() else {
                        return false;
                    };
                    // SAFETY: as in `slot`.
                    unsafe { $crate::helpers::raw::$delete(self.as_ptr(), raw) == 0 }
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.remove(&owner.__host_key()).is_ok()
                }
            }
        }

        impl $name<u64> {
            /// Atomically adds `delta` to `owner`'s counter (created at 0
            /// if needed) and returns the new count.
            #[inline(always)]
            pub fn add<O: $owner>(&self, owner: O, delta: u64) -> Option<u64> {
                self.add_at_offset(owner, 0, delta)
            }
        }
    };
}
pub(crate) use local_storage_api;

/// A BTF handle (`K: KernelType<Addr = BtfAddr>`) as a local-storage
/// owner: its pointer for the helper, after checking at compile time that
/// the handle is of kernel type `name`.
macro_rules! btf_owner {
    ($(#[$doc:meta])* $trait:ident, $name:literal) => {
        $(#[$doc])*
        pub trait $trait: Copy {
            /// The owner as the helper takes it; `None` for no owner.
            #[doc(hidden)]
            fn __raw(self) -> Option<u64>;
            /// The simulated owner's key, on the host.
            #[doc(hidden)]
            fn __host_key(self) -> u64;
        }

        impl<K: $crate::kernel::KernelType<Addr = $crate::kernel::BtfAddr>> $trait for K {
            #[inline(always)]
            fn __raw(self) -> Option<u64> {
                const {
                    assert!(
                        $crate::kernel::same(K::TYPE_NAME, $name),
                        concat!("the owner is not a handle of `struct ", $name, "`")
                    )
                };
                let addr = self.kernel_addr();
                if addr.is_null() { None } else { Some(addr.raw()) }
            }

            #[inline(always)]
            fn __host_key(self) -> u64 {
                self.kernel_addr().raw()
            }
        }
    };
}
pub(crate) use btf_owner;
