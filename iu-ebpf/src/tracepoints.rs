//! Record layouts of kernel tracepoints, as in
//! `/sys/kernel/tracing/events/<category>/<name>/format`.

use crate::Pod;

/// The record of a tracepoint: any [`Pod`] type laid out as the
/// tracepoint's `format` file says (`#[derive(Pod)]`, `#[repr(C)]`,
/// explicit padding). `cargo xtask codegen tracepoint <category>/<name>`
/// writes such structs from the running kernel's format files.
///
/// A wrong layout reads the wrong bytes, never out of bounds: the kernel
/// refuses to attach a program that reads past the record.
pub trait TracePointArgs: Pod {}

impl<T: Pod> TracePointArgs for T {}

/// The fields every tracepoint record starts with (`common_*`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
pub struct TraceEntry {
    /// `common_type`: the event id.
    pub common_type: u16,
    /// `common_flags`.
    pub common_flags: u8,
    /// `common_preempt_count`.
    pub common_preempt_count: u8,
    /// `common_pid`: the thread id that hit the tracepoint.
    pub common_pid: i32,
}

/// A `__data_loc` field: where a variable-length field (a string) lives in
/// the record, as `length << 16 | offset`. Read it with
/// [`crate::programs::TracePointContext::read_str`].
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
pub struct DataLoc(pub u32);

impl DataLoc {
    /// The field of data at byte `offset` of the record, `len` bytes long
    /// (both are 16-bit in the kernel's encoding; larger values are cut to
    /// their low 16 bits).
    ///
    /// ```
    /// use iu_ebpf::tracepoints::DataLoc;
    /// let field = DataLoc::new(24, 14);
    /// assert_eq!((field.offset(), field.len()), (24, 14));
    /// ```
    pub fn new(offset: usize, len: usize) -> Self {
        Self(((len as u32 & 0xffff) << 16) | (offset as u32 & 0xffff))
    }

    /// Offset of the data from the start of the record.
    pub fn offset(self) -> usize {
        (self.0 & 0xffff) as usize
    }

    /// Length of the data in bytes (with the NUL of a string).
    pub fn len(self) -> usize {
        (self.0 >> 16) as usize
    }

    /// Whether the field is empty.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Tracepoints in the `sched` category (layouts of Linux 6.10 and later,
/// where task names became `__data_loc` strings).
pub mod sched {
    use super::{DataLoc, Pod, TraceEntry};

    /// Record of `sched/sched_process_exec`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
    pub struct ProcessExec {
        /// Common fields.
        pub common: TraceEntry,
        /// The path that was executed.
        pub filename: DataLoc,
        /// The process id after exec.
        pub pid: i32,
        /// The thread id that called exec.
        pub old_pid: i32,
    }

    /// Record of `sched/sched_process_fork`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
    pub struct ProcessFork {
        /// Common fields.
        pub common: TraceEntry,
        /// The parent's command name.
        pub parent_comm: DataLoc,
        /// The parent's thread id.
        pub parent_pid: i32,
        /// The child's command name.
        pub child_comm: DataLoc,
        /// The child's thread id.
        pub child_pid: i32,
    }
}

/// Tracepoints in the `syscalls` and `raw_syscalls` categories.
pub mod syscalls {
    use super::{Pod, TraceEntry};

    /// Record of every `syscalls/sys_enter_*` tracepoint. A given syscall
    /// has only as many arguments as its `format` file lists; reading
    /// `args[i]` beyond that makes the kernel refuse to attach the program.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
    pub struct SysEnter {
        /// Common fields.
        pub common: TraceEntry,
        /// `__syscall_nr`.
        pub syscall_nr: i32,
        _pad: u32,
        /// The syscall's arguments, each widened to 64 bits.
        pub args: [u64; 6],
    }

    impl SysEnter {
        /// Builds a record from plain values, for host unit tests.
        pub const fn new(common: TraceEntry, syscall_nr: i32, args: [u64; 6]) -> Self {
            Self {
                common,
                syscall_nr,
                _pad: 0,
                args,
            }
        }
    }

    /// Record of every `syscalls/sys_exit_*` tracepoint.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
    pub struct SysExit {
        /// Common fields.
        pub common: TraceEntry,
        /// `__syscall_nr`.
        pub syscall_nr: i32,
        _pad: u32,
        /// The syscall's return value.
        pub ret: i64,
    }

    impl SysExit {
        /// Builds a record from plain values, for host unit tests.
        pub const fn new(common: TraceEntry, syscall_nr: i32, ret: i64) -> Self {
            Self {
                common,
                syscall_nr,
                _pad: 0,
                ret,
            }
        }
    }
}

/// Tracepoints in the `raw_syscalls` category: every syscall, with its
/// number.
pub mod raw_syscalls {
    use super::{Pod, TraceEntry};

    /// Record of `raw_syscalls/sys_enter`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
    pub struct SysEnter {
        /// Common fields.
        pub common: TraceEntry,
        /// `id`: the syscall number.
        pub id: i64,
        /// The syscall's arguments.
        pub args: [u64; 6],
    }

    /// Record of `raw_syscalls/sys_exit`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
    pub struct SysExit {
        /// Common fields.
        pub common: TraceEntry,
        /// `id`: the syscall number.
        pub id: i64,
        /// The return value; negative values are `-errno`.
        pub ret: i64,
    }
}
