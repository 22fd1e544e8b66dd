//! `BloomFilter` (`BPF_MAP_TYPE_BLOOM_FILTER`, Linux 5.16+).

use super::MapError;
use super::{map_def, map_type};

map_def! {
    /// `BPF_MAP_TYPE_BLOOM_FILTER`: set membership with false positives and
    /// no false negatives, sized for `MAX_ENTRIES` values and using
    /// `HASHES` hash functions (1 to 15).
    ///
    /// ```ignore
    /// #[map]
    /// static SEEN: BloomFilter<u32, 4096, 3> = BloomFilter::new();
    /// SEEN.insert(&pid).ok();
    /// if SEEN.contains(&pid) { /* probably seen */ }
    /// ```
    pub struct BloomFilter<V; MAX_ENTRIES, HASHES> {
        r#type: [i32; map_type::BLOOM_FILTER],
        value: V,
        max_entries: [i32; MAX_ENTRIES],
        map_extra: [i32; HASHES],
    }
    host: super::host::Bloom<V, MAX_ENTRIES>;
}

impl<V: crate::Pod, const MAX_ENTRIES: usize, const HASHES: usize>
    BloomFilter<V, MAX_ENTRIES, HASHES>
{
    /// Adds a value.
    #[inline(always)]
    pub fn insert(&self, value: &V) -> Result<(), MapError> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: value points to a `V`, the map's value type.
            super::check(unsafe {
                crate::helpers::raw::map_push_elem(self.as_ptr(), (value as *const V).cast(), 0)
            })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.insert(value, 0)
        }
    }

    /// Whether the value was probably added (never `false` for an added
    /// value).
    #[inline(always)]
    pub fn contains(&self, value: &V) -> bool {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: for a bloom filter, peek only reads the `V` it is given.
            let ret = unsafe {
                crate::helpers::raw::map_peek_elem(
                    self.as_ptr(),
                    (value as *const V).cast_mut().cast(),
                )
            };
            ret == 0
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.contains(value)
        }
    }
}
