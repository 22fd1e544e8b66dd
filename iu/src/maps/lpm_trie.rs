//! `LpmTrie`: longest-prefix match.

use std::{marker::PhantomData, mem::size_of};

use iu_ebpf::Pod;
pub use iu_ebpf::maps::LpmKey;

use super::{Map, hash_map::bytes_mut, map_type, read};
use crate::Result;

/// A typed view of an LPM trie (`BPF_MAP_TYPE_LPM_TRIE`) with keys
/// `LpmKey<K>` (prefix length in bits + data, most significant byte first).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::maps::LpmKey;
/// let blocked = ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")?;
/// blocked.insert(&LpmKey::new(8, [10, 0, 0, 0]), &1, iu::maps::BPF_ANY)?;
/// assert_eq!(blocked.get(&LpmKey::new(32, [10, 1, 2, 3]))?, Some(1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LpmTrie<'a, K, V> {
    map: &'a Map,
    _types: PhantomData<(K, V)>,
}

impl<'a, K: Pod, V: Pod> LpmTrie<'a, K, V> {
    /// Checks that `map` is an LPM trie with keys `LpmKey<K>` and values `V`.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(
            &[map_type::LPM_TRIE],
            "LPM trie",
            Some(size_of::<LpmKey<K>>()),
            Some(size_of::<V>()),
        )?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    /// The value of the longest stored prefix matching `key`.
    pub fn get(&self, key: &LpmKey<K>) -> Result<Option<V>> {
        let mut value = V::zeroed();
        let found = self.map.lookup(key.as_bytes(), bytes_mut(&mut value))?;
        Ok(found.then_some(value))
    }

    /// Inserts or updates a prefix.
    pub fn insert(&self, key: &LpmKey<K>, value: &V, flags: u64) -> Result<()> {
        self.map.update(key.as_bytes(), value.as_bytes(), flags)
    }

    /// Removes a prefix (exact match); returns whether it was there.
    pub fn remove(&self, key: &LpmKey<K>) -> Result<bool> {
        self.map.delete(key.as_bytes())
    }

    /// Every stored prefix.
    pub fn keys(&self) -> Result<Vec<LpmKey<K>>> {
        let mut keys = vec![];
        self.map.for_each_key(|k| {
            keys.push(read(k));
            Ok(())
        })?;
        Ok(keys)
    }
}
