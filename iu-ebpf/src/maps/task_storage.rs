//! `TaskStorage`: a value per task, created on first use and freed with
//! the task (`BPF_MAP_TYPE_TASK_STORAGE`, Linux 5.11; tracing programs of
//! every kind — tracepoints, raw tracepoints, kprobes, perf events,
//! fentry/fexit, LSM — from 5.12).

use super::MapError;
use super::{map_def, map_type};

/// `BPF_LOCAL_STORAGE_GET_F_CREATE`.
#[cfg(target_arch = "bpf")]
const CREATE: u64 = 1;

map_def! {
    /// `BPF_MAP_TYPE_TASK_STORAGE`: one `V` per task, for the task the
    /// program runs in (`bpf_get_current_task_btf`). A value is created on
    /// first use (zeroed, or from an initial value) and freed when the task
    /// exits; user space reads and writes it by pid
    /// (`iu::maps::TaskStorage`).
    ///
    /// ```
    /// use iu_ebpf::{map, maps::TaskStorage};
    ///
    /// #[map]
    /// static EXECS: TaskStorage<u64> = TaskStorage::new();
    ///
    /// fn on_exec() -> Option<u64> {
    ///     EXECS.add(1) // this task's count, created at 0 on first use
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # iu_ebpf::sim::set_pid(10, 11);
    /// # on_exec();
    /// # assert_eq!(on_exec(), Some(2));
    /// # iu_ebpf::sim::set_pid(10, 12);
    /// # assert_eq!(EXECS.get(), None);
    /// ```
    pub struct TaskStorage<V;> {
        r#type: [i32; map_type::TASK_STORAGE],
        map_flags: [i32; 1], // BPF_F_NO_PREALLOC, which the kernel requires
        key: i32,
        value: V,
    }
    host: super::host::Hash<u32, V, 64, 1>;
}

#[cfg(target_arch = "bpf")]
impl<V> TaskStorage<V> {
    /// The current task's value, created from `init` when `init` is given
    /// and the task has none.
    #[inline(always)]
    fn slot(&self, init: Option<&V>) -> *mut V {
        // SAFETY: `bpf_get_current_task_btf` takes no argument and returns
        // the current task as a trusted BTF pointer, which is what
        // `bpf_task_storage_get` takes.
        let task = unsafe { crate::helpers::raw::get_current_task_btf() };
        let (init, flags) = match init {
            Some(v) => ((v as *const V).cast(), CREATE),
            None => (core::ptr::null(), 0),
        };
        // SAFETY: `self` is a `#[map]` task storage of `V`s; `init` is null
        // or points to a `V`, which the kernel copies; the helper returns
        // null or the task's `V`, live until the program returns.
        unsafe { crate::helpers::raw::task_storage_get(self.as_ptr(), task, init, flags) }.cast()
    }
}

impl<V: crate::Pod> TaskStorage<V> {
    /// A copy of the current task's value, or `None` when it has none.
    #[inline(always)]
    pub fn get(&self) -> Option<V> {
        let () = super::NoSpinLock::<V>::CHECK;
        #[cfg(target_arch = "bpf")]
        {
            let slot = self.slot(None);
            // SAFETY: a non-null slot is valid for reading a `V: Pod`;
            // volatile since other CPUs may write concurrently.
            (!slot.is_null()).then(|| unsafe { core::ptr::read_volatile(slot) })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.get(&current())
        }
    }

    /// A copy of the current task's value, created as `init` first if the
    /// task has none. `None` when the kernel cannot allocate it (or the
    /// task is exiting).
    #[inline(always)]
    pub fn get_or_insert(&self, init: &V) -> Option<V> {
        let () = super::NoSpinLock::<V>::CHECK;
        #[cfg(target_arch = "bpf")]
        {
            let slot = self.slot(Some(init));
            // SAFETY: as in `get`.
            (!slot.is_null()).then(|| unsafe { core::ptr::read_volatile(slot) })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let key = current();
            if self.sim.get(&key).is_none() {
                self.sim
                    .insert(&key, init, super::BPF_NOEXIST, false)
                    .ok()?;
            }
            self.sim.get(&key)
        }
    }

    /// Sets the current task's value, creating it if needed.
    #[inline(always)]
    pub fn set(&self, value: &V) -> Result<(), MapError> {
        let () = super::NoSpinLock::<V>::CHECK;
        #[cfg(target_arch = "bpf")]
        {
            let slot = self.slot(Some(value));
            if slot.is_null() {
                return Err(MapError(-12)); // -ENOMEM
            }
            // SAFETY: a non-null slot is the task's live `V`; volatile as
            // other CPUs may read it (any bytes are a valid `V: Pod`).
            unsafe { core::ptr::write_volatile(slot, *value) };
            Ok(())
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.insert(&current(), value, super::BPF_ANY, false)
        }
    }

    /// Atomically adds `delta` to the `u64` at byte `offset` of the current
    /// task's value (created zeroed if needed) and returns the new value;
    /// `None` when `offset` is not a multiple of 8 or the `u64` would not
    /// fit, or the value cannot be created.
    #[inline(always)]
    pub fn add_at_offset(&self, offset: usize, delta: u64) -> Option<u64> {
        let () = super::NoSpinLock::<V>::CHECK;
        if !offset.is_multiple_of(8) || offset + 8 > core::mem::size_of::<V>() {
            return None;
        }
        #[cfg(target_arch = "bpf")]
        {
            let zero = <V as crate::Pod>::zeroed();
            let slot = self.slot(Some(&zero));
            // SAFETY: a non-null slot is a live value of `size_of::<V>()`
            // bytes, 8-byte aligned as map values are; `offset` is a
            // multiple of 8 with 8 bytes inside it.
            (!slot.is_null()).then(|| unsafe {
                super::atomic_add(slot.cast::<u8>().add(offset).cast::<u64>(), delta)
            })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim
                .update(&current(), true, false, |v| {
                    super::host_add_at(v, offset, delta)
                })
                .ok()
                .map(|(sum, _, _)| sum)
        }
    }

    /// Deletes the current task's value; whether it had one.
    #[inline(always)]
    pub fn delete(&self) -> bool {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: as in `slot`: a trusted task pointer for a `#[map]`
            // task storage.
            unsafe {
                let task = crate::helpers::raw::get_current_task_btf();
                crate::helpers::raw::task_storage_delete(self.as_ptr(), task) == 0
            }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sim.remove(&current()).is_ok()
        }
    }
}

impl TaskStorage<u64> {
    /// Atomically adds `delta` to the current task's counter (created at 0
    /// if needed) and returns the new count.
    #[inline(always)]
    pub fn add(&self, delta: u64) -> Option<u64> {
        self.add_at_offset(0, delta)
    }
}

/// The simulated current task: its thread id (`sim::set_pid`).
#[cfg(not(target_arch = "bpf"))]
fn current() -> u32 {
    crate::sim::pid_tgid() as u32
}
