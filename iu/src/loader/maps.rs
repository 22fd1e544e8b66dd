//! Stage 6: maps. Each map of the object is planned first (what the
//! kernel is asked for: its type, sizes, BTF and pin, as libbpf would
//! create it), without a system call, then created, or reopened where it
//! is pinned, and global data is written and frozen.

use std::{
    collections::HashMap,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use aya_obj::{EbpfSectionKind, Object, btf::BtfKind, generated::bpf_map_type};

use super::externs::BPF_F_RDONLY_PROG;
use crate::{
    error::{CAP_BPF_HINT, Error, Result},
    maps::{self, InnerTemplate, Map},
    sys::{self, MapCreate, SyscallError},
};

/// The abort counters every iu object declares (`iu_ebpf::panic`).
pub(crate) const ABORTS_MAP: &str = "IU_ABORTS";

/// What the maps stage needs to know of the rest of the object.
pub(super) struct Context<'a> {
    /// Whether some program can panic: only then is [`ABORTS_MAP`] made.
    pub can_abort: bool,
    /// Whether the object has USDT programs: only then is iu-ebpf's USDT
    /// spec map made.
    pub has_usdt: bool,
    /// Whether the object's BTF was loaded (map BTF ids refer to it).
    pub has_btf: bool,
    /// The directory maps are pinned in
    /// ([`EbpfLoader::pin_maps_in`](super::EbpfLoader::pin_maps_in)).
    pub pin_dir: Option<&'a Path>,
}

/// One map as the kernel is asked to create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MapSpec {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub map_extra: u64,
    /// The key and value type ids in the object's BTF.
    pub btf: Option<(u32, u32)>,
    /// A global-data section (`.data`, `.rodata`, `.bss`, ...): written
    /// with its initial bytes, `.rodata` frozen.
    pub is_data: bool,
    /// Where the map is pinned, or reopened from if it is there.
    pub pin: Option<PathBuf>,
    /// For a map of maps, its inner maps' shape, and their key and value
    /// types in the object's BTF.
    pub inner: Option<InnerTemplate>,
    pub inner_btf: Option<(u32, u32)>,
}

/// The maps of `obj` to create, in name order, as libbpf would create
/// them. Maps nothing can refer to are left out.
pub(super) fn plan(obj: &Object, context: &Context<'_>) -> Result<Vec<MapSpec>> {
    let mut specs = vec![];
    let mut names: Vec<&String> = obj.maps.keys().collect();
    names.sort();
    for name in names {
        let map = &obj.maps[name];
        if name == ABORTS_MAP && !context.can_abort {
            // Every object declares it; only objects with panic paths
            // use it.
            continue;
        }
        if name == crate::programs::usdt::SPECS_MAP && !context.has_usdt {
            continue;
        }
        let is_data = matches!(
            map.section_kind(),
            EbpfSectionKind::Data | EbpfSectionKind::Rodata | EbpfSectionKind::Bss
        );
        if is_data && map.value_size() == 0 {
            // An empty data section: nothing can refer to it.
            continue;
        }
        let btf = match map {
            _ if !context.has_btf => None,
            aya_obj::Map::Btf(m) if !map_refuses_btf(map.map_type()) => {
                Some((m.def.btf_key_type_id, m.def.btf_value_type_id))
            }
            // A global data section's value is its DATASEC, as libbpf
            // creates it: the kernel needs it for a `bpf_spin_lock` (or a
            // kptr, a list head) in global data.
            _ if is_data => obj
                .btf
                .as_ref()
                .and_then(|btf| btf.id_by_type_name_kind(name, BtfKind::DataSec).ok())
                .map(|id| (0, id)),
            _ => None,
        };
        let map_type = if is_data {
            bpf_map_type::BPF_MAP_TYPE_ARRAY as u32
        } else {
            map.map_type()
        };
        let mut max_entries = map.max_entries();
        if max_entries == 0 && map_type == maps::map_type::PERF_EVENT_ARRAY {
            // One slot per possible CPU, as libbpf does.
            max_entries = maps::possible_cpus()? as u32;
        }
        if matches!(
            map_type,
            maps::map_type::RINGBUF | maps::map_type::USER_RINGBUF
        ) {
            max_entries = maps::ring_size(max_entries, sys::page_size());
        }
        let mut value_size = map.value_size();
        if value_size == 0 && map_type == maps::map_type::PROG_ARRAY {
            // A program array declared with `__array(values, ...)` only
            // holds program descriptors, as libbpf sizes it.
            value_size = 4;
        }
        let inner = map.inner();
        specs.push(MapSpec {
            name: name.clone(),
            map_type,
            key_size: map.key_size(),
            value_size,
            max_entries,
            map_flags: map.map_flags(),
            map_extra: map.map_extra(),
            btf,
            is_data,
            pin: context
                .pin_dir
                .filter(|_| !is_data)
                .map(|dir| maps::pin_path(dir, name)),
            inner_btf: match &inner {
                Some(aya_obj::Map::Btf(m)) if context.has_btf => {
                    Some((m.def.btf_key_type_id, m.def.btf_value_type_id))
                        .filter(|&(_, value)| value != 0)
                }
                _ => None,
            },
            inner: inner.as_ref().map(InnerTemplate::of),
        });
    }
    Ok(specs)
}

/// Creates (or reopens from their pins) the planned maps of `obj`, with
/// the object's BTF `btf_fd`.
pub(super) fn create(
    obj: &Object,
    specs: Vec<MapSpec>,
    btf_fd: Option<BorrowedFd<'_>>,
) -> Result<HashMap<String, Map>> {
    if let Some(dir) = specs.iter().find_map(|s| s.pin.as_deref()?.parent()) {
        maps::bpffs_root()?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            context: format!("creating pin directory {}", dir.display()),
            source,
        })?;
    }
    let mut created = HashMap::new();
    for spec in specs {
        let pinned = match &spec.pin {
            Some(path) => maps::open_pinned(
                &spec.name,
                path,
                spec.map_type,
                spec.key_size,
                spec.value_size,
                spec.max_entries,
            )?,
            None => None,
        };
        let reused = pinned.is_some();
        let fd = match pinned {
            Some(fd) => fd,
            None => create_one(&spec, btf_fd)?,
        };
        if spec.is_data
            && let Some(map) = obj.maps.get(&spec.name)
        {
            init_data_map(&spec.name, &fd, map)?;
        }
        let map = Map {
            name: spec.name.clone(),
            fd,
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            tail_call_owner: std::sync::OnceLock::new(),
            inner: spec.inner,
        };
        if let (Some(path), false) = (&spec.pin, reused) {
            map.pin(path)?;
        }
        created.insert(spec.name, map);
    }
    Ok(created)
}

/// Creates one map. Every map gets its BTF, as libbpf gives it: the kernel
/// needs it for spin locks, timers and kptrs in values, and for local
/// storage. Where it refuses a map's BTF (older DATASEC rules), the map is
/// created without, as libbpf retries; if that fails too, the first
/// refusal is the one that says why.
fn create_one(spec: &MapSpec, btf_fd: Option<BorrowedFd<'_>>) -> Result<OwnedFd> {
    let error = |name: String, e| {
        Error::from_syscall(
            format!("creating map `{name}`"),
            SyscallError::new("bpf(BPF_MAP_CREATE)", e),
            CAP_BPF_HINT,
            |_, source| Error::MapCreate { name, source },
        )
    };
    // A map of maps is created with a map of the inner template's shape,
    // which only lives for the call.
    let template = match &spec.inner {
        Some(inner) => {
            let name = format!("{}.inner", spec.name);
            let btf = btf_fd
                .zip(spec.inner_btf)
                .map(|(fd, (key, value))| (fd, key, value));
            Some(
                inner
                    .create_template(&name, btf)
                    .map_err(|e| error(name, e))?,
            )
        }
        None => None,
    };
    let btf = btf_fd
        .zip(spec.btf)
        .map(|(fd, (key, value))| (fd, key, value));
    let create = |btf| {
        sys::map_create(&MapCreate {
            name: &spec.name,
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.map_flags,
            map_extra: spec.map_extra,
            btf,
            inner_map_fd: template.as_ref().map(|t| t.as_fd()),
        })
    };
    match create(btf) {
        Err(first) if btf.is_some() => create(None).map_err(|_| first),
        other => other,
    }
    .map_err(|e| error(spec.name.clone(), e))
}

/// Map types whose key and value are not plain data described by BTF
/// (descriptors, stack ids, nothing): the kernel refuses BTF for them, so
/// they are created without, as libbpf creates them (its list, plus the
/// types iu knows by number only).
fn map_refuses_btf(map_type: u32) -> bool {
    use crate::maps::map_type::*;
    /// `BPF_MAP_TYPE_CGROUP_ARRAY`, `XSKMAP`, `STRUCT_OPS`, `ARENA`.
    const CGROUP_ARRAY: u32 = 8;
    const XSKMAP: u32 = 17;
    const STRUCT_OPS: u32 = 26;
    const ARENA: u32 = 33;
    matches!(
        map_type,
        PERF_EVENT_ARRAY
            | CGROUP_ARRAY
            | STACK_TRACE
            | ARRAY_OF_MAPS
            | HASH_OF_MAPS
            | DEVMAP
            | DEVMAP_HASH
            | CPUMAP
            | XSKMAP
            | SOCKMAP
            | SOCKHASH
            | QUEUE
            | STACK
            | ARENA
            | STRUCT_OPS
    )
}

/// Writes a global-data section's initial bytes and freezes `.rodata`.
fn init_data_map(name: &str, fd: &OwnedFd, map: &aya_obj::Map) -> Result<()> {
    let io = |what: &str, source| Error::Io {
        context: format!("{what} global data map `{name}`"),
        source,
    };
    let data = map.data();
    if map.section_kind() != EbpfSectionKind::Bss && data.len() == map.value_size() as usize {
        sys::map_update_elem(fd.as_fd(), &0u32.to_ne_bytes(), data, 0)
            .map_err(|e| io("initializing", e))?;
    }
    if map.map_flags() & BPF_F_RDONLY_PROG != 0 {
        sys::map_freeze(fd.as_fd()).map_err(|e| io("freezing", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::{parse::parse, test_objects};

    fn plan_of(name: &str, context: &Context<'_>) -> Vec<MapSpec> {
        let object = test_objects::bytes(name);
        let parsed = parse(object.bytes()).unwrap();
        plan(&parsed.obj, context).unwrap()
    }

    fn context(pin_dir: Option<&Path>) -> Context<'_> {
        Context {
            can_abort: false,
            has_usdt: false,
            has_btf: true,
            pin_dir,
        }
    }

    fn spec<'s>(specs: &'s [MapSpec], name: &str) -> &'s MapSpec {
        specs
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no map {name} in {specs:?}"))
    }

    #[test]
    fn maps_are_planned_as_libbpf_creates_them() {
        let specs = plan_of("loader_stages", &context(None));
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                ".bss", ".data", ".rodata", "counts", "events", "outer", "perf"
            ]
        );
        // A hash map gets its key and value types.
        let counts = spec(&specs, "counts");
        assert_eq!(counts.map_type, maps::map_type::HASH);
        let (key, value) = counts.btf.expect("counts has BTF");
        assert!(key != 0 && value != 0);
        // A ring buffer's size is a power-of-two number of pages.
        let events = spec(&specs, "events");
        assert_eq!(events.max_entries, maps::ring_size(5000, sys::page_size()));
        assert!(events.max_entries.is_power_of_two() && events.max_entries >= 5000);
        // A perf event array without a size gets one slot per CPU, and no
        // BTF, which the kernel refuses for it.
        let perf = spec(&specs, "perf");
        assert_eq!(perf.max_entries as usize, maps::possible_cpus().unwrap());
        assert_eq!(perf.btf, None);
        // A map of maps carries its inner maps' shape, and no BTF.
        let outer = spec(&specs, "outer");
        assert!(outer.inner.is_some());
        assert_eq!(outer.btf, None);
        // Its template gets the inner definition's types, as libbpf's.
        assert!(matches!(outer.inner_btf, Some((k, v)) if k != 0 && v != 0));
        // Global data: arrays of one element whose value is the DATASEC;
        // `.rodata` is read-only for programs.
        for data in [".bss", ".data", ".rodata"] {
            let data = spec(&specs, data);
            assert!(data.is_data);
            assert_eq!(data.map_type, maps::map_type::ARRAY);
            assert_eq!((data.key_size, data.max_entries), (4, 1));
            assert!(matches!(data.btf, Some((0, id)) if id != 0), "{data:?}");
        }
        assert_ne!(spec(&specs, ".rodata").map_flags & BPF_F_RDONLY_PROG, 0);
    }

    #[test]
    fn a_program_array_declared_by_its_values_holds_descriptors() {
        let specs = plan_of("map_values", &context(None));
        let jumps = spec(&specs, "jumps");
        assert_eq!(jumps.map_type, maps::map_type::PROG_ARRAY);
        assert_eq!(
            (jumps.key_size, jumps.value_size, jumps.max_entries),
            (4, 4, 4)
        );
    }

    #[test]
    fn without_the_objects_btf_no_map_refers_to_it() {
        let specs = plan_of(
            "loader_stages",
            &Context {
                has_btf: false,
                ..context(None)
            },
        );
        assert!(
            specs
                .iter()
                .all(|s| s.btf.is_none() && s.inner_btf.is_none()),
            "{specs:?}"
        );
    }

    #[test]
    fn maps_are_pinned_but_not_global_data() {
        let dir = Path::new("/sys/fs/bpf/iu-test");
        let specs = plan_of("loader_stages", &context(Some(dir)));
        assert_eq!(spec(&specs, "counts").pin, Some(dir.join("counts")));
        assert_eq!(spec(&specs, ".data").pin, None);
    }

    #[test]
    fn maps_only_iu_uses_are_left_out_unless_used() {
        let names = |context: &Context<'_>| -> Vec<String> {
            plan_of("hello", context)
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        let unused = names(&context(None));
        assert!(!unused.iter().any(|n| n == ABORTS_MAP), "{unused:?}");
        assert!(
            !unused.iter().any(|n| n == crate::programs::usdt::SPECS_MAP),
            "{unused:?}"
        );
        let used = names(&Context {
            can_abort: true,
            has_usdt: true,
            ..context(None)
        });
        assert!(used.iter().any(|n| n == ABORTS_MAP), "{used:?}");
        assert!(
            used.iter().any(|n| n == crate::programs::usdt::SPECS_MAP),
            "{used:?}"
        );
    }
}
