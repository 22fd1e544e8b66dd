//! Record layouts of kernel tracepoints, as in
//! `/sys/kernel/tracing/events/<category>/<name>/format`.

/// Plain-old-data record of a tracepoint.
///
/// # Safety
///
/// The type must be `#[repr(C)]`, `Copy`, and valid for every bit pattern,
/// and its layout must follow the tracepoint's `format` file.
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
