//! Maps of maps: `ArrayOfMaps` and `HashOfMaps`.
//!
//! The object declares the inner maps' definition (`ArrayOfMaps<Array<u64,
//! 4>, 1>` in the program); the loader keeps it as the map's template.
//! User space creates inner maps from it ([`ArrayOfMaps::create_inner`]),
//! fills them with the usual typed handles, and inserts them; inserting
//! over an existing one replaces it in one update, so a program sees either
//! the old map or the new one, never a half-written config.

use std::{
    marker::PhantomData,
    mem::size_of,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
};

use iu_ebpf::Pod;

use super::{BPF_ANY, Map, map_type, type_name};
use crate::{
    Error, Result,
    sys::{self, SyscallError},
};

/// The definition every inner map of a map of maps must have: the kernel
/// compares type, sizes, flags and (except for arrays created with
/// `BPF_F_INNER_MAP`) `max_entries` on insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InnerTemplate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

impl InnerTemplate {
    /// The inner definition aya-obj parsed from the object.
    pub(crate) fn of(map: &aya_obj::Map) -> Self {
        Self {
            map_type: map.map_type(),
            key_size: map.key_size(),
            value_size: map.value_size(),
            // A ring buffer's size as the outer map's own would be made.
            max_entries: match map.map_type() {
                super::map_type::RINGBUF | super::map_type::USER_RINGBUF => {
                    super::ring_size(map.max_entries(), crate::sys::page_size())
                }
                _ => map.max_entries(),
            },
            map_flags: map.map_flags(),
        }
    }

    /// Creates a map of this shape. Inner maps carry no BTF, so they cannot
    /// hold a `bpf_spin_lock` (the kernel refuses the whole map of maps
    /// then, with the map's name).
    pub(crate) fn create(&self, name: &str) -> Result<Map> {
        let mut map = Map::create(
            name,
            self.map_type,
            self.key_size,
            self.value_size,
            self.max_entries,
            self.map_flags,
        )?;
        map.inner = None;
        Ok(map)
    }

    /// Creates the map a map of maps is created with, from an object: with
    /// the inner definition's key and value types in the object's BTF
    /// where there are some (as libbpf creates it), so that inner maps
    /// whose values hold a `bpf_spin_lock` or other special fields match.
    pub(crate) fn create_template(
        &self,
        name: &str,
        btf: Option<(BorrowedFd<'_>, u32, u32)>,
    ) -> std::io::Result<OwnedFd> {
        let create = |btf| {
            sys::map_create(&sys::MapCreate {
                name,
                map_type: self.map_type,
                key_size: self.key_size,
                value_size: self.value_size,
                max_entries: self.max_entries,
                map_flags: self.map_flags,
                map_extra: 0,
                btf,
                inner_map_fd: None,
            })
        };
        match create(btf) {
            Err(first) if btf.is_some() => create(None).map_err(|_| first),
            other => other,
        }
    }

    /// Why `map` cannot be inserted, if it cannot.
    fn mismatch(&self, map: &Map) -> Option<String> {
        let actual = (map.map_type, map.key_size, map.value_size, map.max_entries);
        let expected = (
            self.map_type,
            self.key_size,
            self.value_size,
            self.max_entries,
        );
        (actual != expected).then(|| {
            format!(
                "inner maps must be {} key {} value {} max {}, `{}` is {} key {} value {} max {}",
                type_name(expected.0),
                expected.1,
                expected.2,
                expected.3,
                map.name,
                type_name(actual.0),
                actual.1,
                actual.2,
                actual.3
            )
        })
    }
}

/// What both kinds share: the template and the fd-valued update.
#[derive(Debug, Clone, Copy)]
struct Outer<'a> {
    map: &'a Map,
    template: InnerTemplate,
}

impl<'a> Outer<'a> {
    fn new(map: &'a Map, kind: u32, expected: &'static str, key: usize) -> Result<Self> {
        map.check(&[kind], expected, Some(key), Some(4))?;
        let template = map.inner.ok_or_else(|| Error::NoInnerTemplate {
            name: map.name.clone(),
        })?;
        Ok(Self { map, template })
    }

    fn create_inner(&self, name: &str) -> Result<Map> {
        self.template.create(name)
    }

    fn insert(&self, key: &[u8], inner: &Map, flags: u64) -> Result<()> {
        if let Some(detail) = self.template.mismatch(inner) {
            return Err(Error::InnerMapMismatch {
                name: self.map.name.clone(),
                inner: inner.name.clone(),
                detail,
            });
        }
        let fd = inner.fd.as_raw_fd() as u32;
        sys::map_update_elem(self.map.fd.as_fd(), key, &fd.to_ne_bytes(), flags).map_err(|e| {
            match e.raw_os_error() {
                // The sizes matched: the kernel compared what iu does not
                // see (flags, BTF-described fields).
                Some(libc::EINVAL) => Error::InnerMapMismatch {
                    name: self.map.name.clone(),
                    inner: inner.name.clone(),
                    detail: format!(
                        "the kernel refused it ({}): its flags or special fields differ from the template's; create it with `create_inner`",
                        SyscallError::new("bpf(BPF_MAP_UPDATE_ELEM)", e)
                    ),
                },
                _ => self.map.op_error("inserting an inner map", e),
            }
        })
    }

    /// The id of the inner map at `key` (the kernel reports ids, not fds).
    fn id(&self, key: &[u8]) -> Result<Option<u32>> {
        let mut id = [0u8; 4];
        Ok(self
            .map
            .lookup(key, &mut id)?
            .then(|| u32::from_ne_bytes(id)))
    }
}

/// A handle on an array of maps (`BPF_MAP_TYPE_ARRAY_OF_MAPS`, Linux
/// 4.12): `max_entries` slots, each empty or holding an inner map.
///
/// Swapping a program's config atomically:
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let configs = ebpf.array_of_maps("CONFIGS")?;
/// let next = configs.create_inner("config_v2")?;
/// iu::maps::Array::<u64>::new(&next)?.set(0, &1)?;
/// configs.set(0, &next)?; // programs see the old config or this one
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ArrayOfMaps<'a> {
    outer: Outer<'a>,
}

impl<'a> ArrayOfMaps<'a> {
    /// Checks that `map` is an array of maps loaded from an object (which
    /// gives its inner template).
    pub fn new(map: &'a Map) -> Result<Self> {
        Ok(Self {
            outer: Outer::new(map, map_type::ARRAY_OF_MAPS, "array of maps", 4)?,
        })
    }

    /// The number of slots.
    pub fn len(&self) -> u32 {
        self.outer.map.max_entries()
    }

    /// Whether the array has no slots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates a map of the inner template's shape, to fill with a typed
    /// handle (`Array::new(&map)`, `HashMap::new(&map)`) and insert. It is
    /// freed when dropped and no slot holds it.
    pub fn create_inner(&self, name: &str) -> Result<Map> {
        self.outer.create_inner(name)
    }

    /// Puts `inner` in slot `index`, replacing what was there in one
    /// update. A map of another shape is an [`Error::InnerMapMismatch`];
    /// an index past the end is an [`Error::MapOp`].
    pub fn set(&self, index: u32, inner: &Map) -> Result<()> {
        self.check_index(index)?;
        self.outer.insert(&index.to_ne_bytes(), inner, BPF_ANY)
    }

    /// Empties slot `index`; whether it held a map.
    pub fn clear(&self, index: u32) -> Result<bool> {
        self.check_index(index)?;
        self.outer.map.delete(&index.to_ne_bytes())
    }

    /// The kernel id of the map in slot `index` (compare with
    /// [`Map::id`]), or `None` when the slot is empty.
    pub fn get_id(&self, index: u32) -> Result<Option<u32>> {
        self.check_index(index)?;
        self.outer.id(&index.to_ne_bytes())
    }

    fn check_index(&self, index: u32) -> Result<()> {
        if index >= self.len() {
            return Err(super::array::out_of_range(self.outer.map, index));
        }
        Ok(())
    }
}

/// A handle on a hash of maps (`BPF_MAP_TYPE_HASH_OF_MAPS`, Linux 4.12):
/// keys of type `K`, each holding an inner map.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::maps::{BPF_ANY, HashMap};
/// let tenants = ebpf.hash_of_maps::<u32>("TENANTS")?;
/// let limits = tenants.create_inner("tenant_7")?;
/// HashMap::<u32, u64>::new(&limits)?.insert(&80, &100, BPF_ANY)?;
/// tenants.insert(&7, &limits, BPF_ANY)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HashOfMaps<'a, K> {
    outer: Outer<'a>,
    _key: PhantomData<K>,
}

impl<'a, K: Pod> HashOfMaps<'a, K> {
    /// Checks that `map` is a hash of maps keyed by `K`, loaded from an
    /// object (which gives its inner template).
    pub fn new(map: &'a Map) -> Result<Self> {
        Ok(Self {
            outer: Outer::new(map, map_type::HASH_OF_MAPS, "hash of maps", size_of::<K>())?,
            _key: PhantomData,
        })
    }

    /// Creates a map of the inner template's shape, to fill and insert.
    pub fn create_inner(&self, name: &str) -> Result<Map> {
        self.outer.create_inner(name)
    }

    /// Puts `inner` at `key` (`flags`: `BPF_ANY`, `BPF_NOEXIST`,
    /// `BPF_EXIST`), replacing what was there in one update.
    pub fn insert(&self, key: &K, inner: &Map, flags: u64) -> Result<()> {
        self.outer.insert(key.as_bytes(), inner, flags)
    }

    /// Removes the map at `key`; whether there was one.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.outer.map.delete(key.as_bytes())
    }

    /// The kernel id of the map at `key`, or `None`.
    pub fn get_id(&self, key: &K) -> Result<Option<u32>> {
        self.outer.id(key.as_bytes())
    }

    /// Every key that holds a map.
    pub fn keys(&self) -> Result<Vec<K>> {
        let mut keys = Vec::new();
        self.outer.map.for_each_key(|key| {
            keys.push(super::read(key));
            Ok(())
        })?;
        Ok(keys)
    }
}
