//! Record layouts of kernel tracepoints, as in
//! `/sys/kernel/tracing/events/<category>/<name>/format`.

/// Plain-old-data record of a tracepoint.
///
/// # Safety
///
/// The type must be `#[repr(C)]`, `Copy`, valid for every bit pattern and
/// without padding (use explicit padding fields), and its layout must
/// follow the tracepoint's `format` file.
pub unsafe trait TracePointArgs: Copy {}

/// The fields every tracepoint record starts with (`common_*`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataLoc(pub u32);

impl DataLoc {
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
    use super::{DataLoc, TraceEntry, TracePointArgs};

    /// Record of `sched/sched_process_exec`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

    // SAFETY: `repr(C)` integers only, matching the `format` files of
    // Linux 6.10+; on other layouts reads past the record are refused at
    // attach time.
    unsafe impl TracePointArgs for ProcessExec {}
    // SAFETY: as above.
    unsafe impl TracePointArgs for ProcessFork {}
}

/// Tracepoints in the `syscalls` and `raw_syscalls` categories.
pub mod syscalls {
    use super::{TraceEntry, TracePointArgs};

    /// Record of every `syscalls/sys_enter_*` tracepoint. A given syscall
    /// has only as many arguments as its `format` file lists; reading
    /// `args[i]` beyond that makes the kernel refuse to attach the program.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

    // SAFETY: `repr(C)` integers and explicit padding fields only, matching
    // the `format` files of `syscalls/sys_enter_*` and `sys_exit_*`.
    unsafe impl TracePointArgs for SysEnter {}
    // SAFETY: as above.
    unsafe impl TracePointArgs for SysExit {}
}

/// Tracepoints in the `raw_syscalls` category: every syscall, with its
/// number.
pub mod raw_syscalls {
    use super::{TraceEntry, TracePointArgs};

    /// Record of `raw_syscalls/sys_enter`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct SysExit {
        /// Common fields.
        pub common: TraceEntry,
        /// `id`: the syscall number.
        pub id: i64,
        /// The return value; negative values are `-errno`.
        pub ret: i64,
    }

    // SAFETY: `repr(C)` integers only, matching the `format` files of
    // `raw_syscalls/sys_enter` and `sys_exit`.
    unsafe impl TracePointArgs for SysEnter {}
    // SAFETY: as above.
    unsafe impl TracePointArgs for SysExit {}
}
