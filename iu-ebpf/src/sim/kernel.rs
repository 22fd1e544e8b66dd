//! The simulated kernel behind `iu_ebpf::kernel`: objects whose fields the
//! test sets, a field layout made up on first use, and fields or types the
//! test declares missing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::string::{String, ToString};
use std::vec::Vec;

use core::cell::RefCell;

/// Where simulated kernel objects start, and the room each one gets.
const HEAP: u64 = 0xffff_8880_0000_0000;
const OBJECT_ROOM: u64 = 1 << 20;

#[derive(Default)]
struct Kernel {
    /// Field offsets by (type, path), assigned on first use.
    layout: HashMap<(String, String), u64>,
    /// Next free offset, by type.
    next: HashMap<String, u64>,
    /// Bytes written by tests, by address.
    memory: BTreeMap<u64, Vec<u8>>,
    objects: u64,
    missing_fields: HashSet<(String, String)>,
    missing_types: HashSet<String>,
    enums: HashMap<(String, String), u64>,
    current_task: u64,
}

std::thread_local! {
    static KERNEL: RefCell<Kernel> = RefCell::new(Kernel::default());
}

pub(crate) fn reset() {
    KERNEL.with(|k| *k.borrow_mut() = Kernel::default());
}

/// A type's name without its `___flavor` suffix: flavors share the
/// layout of the type they stand for, as the loader matches them.
fn essential(ty: &str) -> &str {
    ty.find("___").map_or(ty, |end| &ty[..end])
}

impl Kernel {
    fn offset(&mut self, ty: &str, path: &str, size: u64) -> u64 {
        let ty = essential(ty);
        let key = (ty.to_string(), path.to_string());
        if let Some(&off) = self.layout.get(&key) {
            return off;
        }
        let next = self.next.entry(ty.to_string()).or_insert(0);
        let off = *next;
        *next += size.max(8).next_multiple_of(8);
        self.layout.insert(key, off);
        off
    }
}

/// The value of a relocation site on the simulated kernel: offsets are
/// assigned on first use; a field declared missing with
/// [`remove_field`] panics when read, as the loader refuses such a read.
pub(crate) fn core_value(record: &str) -> u64 {
    let mut parts = record.split('|');
    let (kind, ty, path, size) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0),
    );
    KERNEL.with(|k| {
        let mut k = k.borrow_mut();
        let missing = k.missing_fields.contains(&(ty.to_string(), path.to_string()))
            || k.missing_types.contains(ty);
        match kind {
            "e" => u64::from(!missing),
            "o" | "s" | "g" if missing => panic!(
                "CO-RE: `{ty}.{path}` does not exist on the simulated kernel (sim::remove_field) and is read without a field_exists! check"
            ),
            "o" => k.offset(ty, path, size),
            "s" => size,
            "g" => 1,
            "t" => {
                let name = ty.split(' ').next_back().unwrap_or(ty);
                u64::from(!k.missing_types.contains(name))
            }
            "z" | "i" => 1,
            "V" => u64::from(k.enums.contains_key(&(ty.to_string(), path.to_string()))),
            "v" => *k
                .enums
                .get(&(ty.to_string(), path.to_string()))
                .unwrap_or_else(|| panic!("CO-RE: enum value `{ty}::{path}` is not set (sim::set_enum_value)")),
            _ => panic!("CO-RE: bad record `{record}`"),
        }
    })
}

/// Reads `len` bytes at `addr` from the simulated kernel objects.
pub(crate) fn read(addr: u64, len: usize) -> Option<Vec<u8>> {
    KERNEL.with(|k| {
        let k = k.borrow();
        let (&start, bytes) = k.memory.range(..=addr).next_back()?;
        let from = usize::try_from(addr - start).ok()?;
        bytes.get(from..from.checked_add(len)?).map(<[u8]>::to_vec)
    })
}

/// Writes `bytes` at `addr` into a simulated kernel object (what a
/// struct_ops program's field setters do); `false` outside every object.
pub(crate) fn write(addr: u64, bytes: &[u8]) -> bool {
    KERNEL.with(|k| {
        let mut k = k.borrow_mut();
        let Some((&start, region)) = k.memory.range_mut(..=addr).next_back() else {
            return false;
        };
        let Ok(from) = usize::try_from(addr - start) else {
            return false;
        };
        match region.get_mut(from..from.saturating_add(bytes.len())) {
            Some(at) => {
                at.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    })
}

pub(crate) fn current_task() -> u64 {
    KERNEL.with(|k| k.borrow().current_task)
}

/// An object of the simulated kernel, such as a `task_struct`, whose fields
/// the test sets; generated handles (`TaskStruct::from_addr(obj.addr())`,
/// or `kernel::current_task()` after [`set_current_task`]) read them.
///
/// ```
/// use iu_ebpf::sim::KernelObject;
/// let parent = KernelObject::new("task_struct");
/// parent.set("tgid", 1i32);
/// let task = KernelObject::new("task_struct");
/// task.set("pid", 42i32).set_ptr("real_parent", &parent);
/// let offset = iu_ebpf::core_value!("o|task_struct|pid|4|i");
/// assert_eq!(iu_ebpf::kernel::__read::<i32>(task.kernel_addr(), offset), Some(42));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelObject {
    type_name: String,
    addr: u64,
}

impl KernelObject {
    /// A new, zero-filled object of kernel type `type_name`.
    pub fn new(type_name: &str) -> Self {
        let addr = KERNEL.with(|k| {
            let mut k = k.borrow_mut();
            k.objects += 1;
            let addr = HEAP + k.objects * OBJECT_ROOM;
            k.memory.insert(addr, std::vec![0; OBJECT_ROOM as usize]);
            addr
        });
        KernelObject {
            type_name: type_name.to_string(),
            addr,
        }
    }

    /// The object's simulated kernel address.
    pub fn kernel_addr(&self) -> crate::kernel::KernelAddr {
        crate::kernel::KernelAddr::new(self.addr)
    }

    /// A generated handle (`TaskStruct`) on this object.
    pub fn handle<T: crate::kernel::KernelType<Addr = crate::kernel::KernelAddr>>(&self) -> T {
        T::from_kernel_addr(self.kernel_addr())
    }

    /// The object's address as a BTF pointer (what a `BtfContext`
    /// argument holds): put it in `BtfContext::from_args`.
    pub fn btf_addr(&self) -> u64 {
        self.addr
    }

    /// Sets field `path` (`"pid"`, or `"se.vruntime"` for a nested one).
    pub fn set<T: crate::Pod>(&self, path: &str, value: T) -> &Self {
        let bytes = value.as_bytes().to_vec();
        KERNEL.with(|k| {
            let mut k = k.borrow_mut();
            let off = k.offset(&self.type_name, path, bytes.len() as u64);
            let off = off as usize;
            // Objects are never freed, so the region is there.
            if let Some(region) = k.memory.get_mut(&self.addr) {
                assert!(
                    off + bytes.len() <= region.len(),
                    "sim: object of `{}` full",
                    self.type_name
                );
                region[off..off + bytes.len()].copy_from_slice(&bytes);
            }
        });
        self
    }

    /// Sets pointer field `path` to `target`'s address.
    pub fn set_ptr(&self, path: &str, target: &KernelObject) -> &Self {
        self.set(path, target.addr)
    }

    /// Sets a `char[N]` field from a string (NUL-padded, truncated).
    pub fn set_str<const N: usize>(&self, path: &str, value: &str) -> &Self {
        let mut bytes = [0u8; N];
        let len = value.len().min(N.saturating_sub(1));
        bytes[..len].copy_from_slice(&value.as_bytes()[..len]);
        self.set(path, bytes)
    }
}

/// Makes `task` what `iu_ebpf::kernel::current_task` returns.
///
/// ```
/// let task = iu_ebpf::sim::KernelObject::new("task_struct");
/// iu_ebpf::sim::set_current_task(&task);
/// ```
pub fn set_current_task(task: &KernelObject) {
    KERNEL.with(|k| k.borrow_mut().current_task = task.addr);
}

/// Declares that the simulated kernel's `type_name` has no field `path`:
/// `field_exists!` is then `false`, and a read panics (the loader would
/// refuse the object).
///
/// ```
/// iu_ebpf::sim::remove_field("task_struct", "__state");
/// assert!(!iu_ebpf::field_exists!(task_struct.__state));
/// ```
pub fn remove_field(type_name: &str, path: &str) {
    KERNEL.with(|k| {
        k.borrow_mut()
            .missing_fields
            .insert((type_name.to_string(), path.to_string()))
    });
}

/// Declares that the simulated kernel has no type `type_name`.
///
/// ```
/// iu_ebpf::sim::remove_type("bpf_iter_num");
/// assert!(!iu_ebpf::type_exists!(struct bpf_iter_num));
/// ```
pub fn remove_type(type_name: &str) {
    KERNEL.with(|k| k.borrow_mut().missing_types.insert(type_name.to_string()));
}

/// Sets the value of enumerator `variant` of enum `enum_name`, which
/// `enum_value!` returns (`None` until set).
///
/// ```
/// iu_ebpf::sim::set_enum_value("pid_type", "PIDTYPE_TGID", 1);
/// assert_eq!(iu_ebpf::enum_value!(pid_type::PIDTYPE_TGID), Some(1));
/// ```
pub fn set_enum_value(enum_name: &str, variant: &str, value: u64) {
    KERNEL.with(|k| {
        k.borrow_mut()
            .enums
            .insert((enum_name.to_string(), variant.to_string()), value)
    });
}
