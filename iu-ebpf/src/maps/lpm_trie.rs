//! `LpmTrie`: longest-prefix match (`BPF_MAP_TYPE_LPM_TRIE`).

use super::MapError;
use super::{map_def, map_type};
use crate::Pod;

/// A key of an [`LpmTrie`]: a prefix length in bits and the data, most
/// significant byte first (network order for IP addresses).
///
/// The layout is the kernel's `struct bpf_lpm_trie_key_u8`: the data
/// starts right after the 4-byte prefix length and the key is
/// `4 + size_of::<K>()` bytes. It is `packed`, so it has no padding for any
/// `K` (an `LpmKey<u8>` is 5 bytes, an `LpmKey<u64>` 12): every byte the
/// kernel compares, and every byte user space sees, is the key's own. Read
/// fields by value (`key.data`); references to them are refused by the
/// compiler, since they may be unaligned.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LpmKey<K> {
    /// Number of leading bits of `data` that count.
    pub prefix_len: u32,
    /// The address or other bit string.
    pub data: K,
}

impl<K> LpmKey<K> {
    /// A key matching the first `prefix_len` bits of `data`.
    pub const fn new(prefix_len: u32, data: K) -> Self {
        Self { prefix_len, data }
    }
}

// SAFETY: `repr(C, packed)` of a u32 and a `K: Pod`: a packed struct has
// alignment 1 and its fields follow each other with no gap, so there is no
// padding at all (`LAYOUT` below checks it once more); both fields are
// valid for every bit pattern.
unsafe impl<K: Pod> Pod for LpmKey<K> {}

impl<K: Pod> LpmKey<K> {
    /// The key is exactly the prefix length and the data: no padding.
    pub(crate) const LAYOUT: () = assert!(
        core::mem::size_of::<Self>() == 4 + core::mem::size_of::<K>(),
        "LpmKey has padding"
    );
}

map_def! {
    /// `BPF_MAP_TYPE_LPM_TRIE`: lookups return the value of the longest
    /// stored prefix that matches the key. The kernel requires
    /// `BPF_F_NO_PREALLOC`, which the type sets.
    ///
    /// ```ignore
    /// #[map]
    /// static BLOCKED: LpmTrie<[u8; 4], u32, 1024> = LpmTrie::new();
    /// let hit = BLOCKED.get(&LpmKey::new(32, src_addr));
    /// ```
    pub struct LpmTrie<K, V; MAX_ENTRIES> {
        r#type: [i32; map_type::LPM_TRIE],
        key: LpmKey<K>,
        value: V,
        max_entries: [i32; MAX_ENTRIES],
        // BPF_F_NO_PREALLOC
        map_flags: [i32; 1],
    }
    host: super::host::Lpm<K, V, MAX_ENTRIES>;
}

impl<K: Pod, V: Pod, const MAX_ENTRIES: usize> LpmTrie<K, V, MAX_ENTRIES> {
    /// Refuses, at compile time, a key type with padding (none can have
    /// any: `LpmKey` is packed; this keeps it so).
    const KEY_HAS_NO_PADDING: () = LpmKey::<K>::LAYOUT;

    /// A copy of the value of the longest prefix matching `key`.
    #[inline(always)]
    pub fn get(&self, key: &LpmKey<K>) -> Option<V> {
        let () = Self::KEY_HAS_NO_PADDING;
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: key points to an `LpmKey<K>`, the map's key type; the
            // helper returns null or a pointer to a `V`.
            let value = unsafe {
                crate::helpers::raw::map_lookup_elem(
                    self.as_ptr(),
                    (key as *const LpmKey<K>).cast(),
                )
            };
            // SAFETY: non-null values are valid `V: Pod`, possibly written
            // concurrently, hence volatile.
            (!value.is_null()).then(|| unsafe { core::ptr::read_volatile(value.cast::<V>()) })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.get(key.prefix_len, &{ key.data })
        }
    }

    /// Whether a prefix in the trie matches `key`: [`get`](Self::get)
    /// without the copy of the value, for when only the match matters.
    ///
    /// ```ignore
    /// let blocked = BLOCKED.contains_key(&LpmKey::new(32, source));
    /// ```
    #[inline(always)]
    pub fn contains_key(&self, key: &LpmKey<K>) -> bool {
        let () = Self::KEY_HAS_NO_PADDING;
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: key points to an `LpmKey<K>`, the map's key type; only
            // the result's nullness is used.
            !unsafe {
                crate::helpers::raw::map_lookup_elem(
                    self.as_ptr(),
                    (key as *const LpmKey<K>).cast(),
                )
            }
            .is_null()
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.get(key).is_some()
        }
    }

    /// Inserts or updates a prefix.
    #[inline(always)]
    pub fn insert(&self, key: &LpmKey<K>, value: &V, flags: u64) -> Result<(), MapError> {
        let () = Self::KEY_HAS_NO_PADDING;
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: key and value are the map's key and value types.
            super::check(unsafe {
                crate::helpers::raw::map_update_elem(
                    self.as_ptr(),
                    (key as *const LpmKey<K>).cast(),
                    (value as *const V).cast(),
                    flags,
                )
            })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.insert(key.prefix_len, &{ key.data }, value, flags)
        }
    }

    /// Removes a prefix.
    #[inline(always)]
    pub fn remove(&self, key: &LpmKey<K>) -> Result<(), MapError> {
        let () = Self::KEY_HAS_NO_PADDING;
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: key is the map's key type.
            super::check(unsafe {
                crate::helpers::raw::map_delete_elem(
                    self.as_ptr(),
                    (key as *const LpmKey<K>).cast(),
                )
            })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.remove(key.prefix_len, &{ key.data })
        }
    }
}
