//! `Stack`: last in, first out (`BPF_MAP_TYPE_STACK`).

use super::{map_type, push_pop_map};

push_pop_map!(
    /// `BPF_MAP_TYPE_STACK`: a LIFO of up to `MAX_ENTRIES` values.
    ///
    /// ```ignore
    /// #[map]
    /// static UNDO: Stack<u64, 64> = Stack::new();
    /// UNDO.push(&42, 0).ok();
    /// let last = UNDO.pop();
    /// ```
    Stack,
    map_type::STACK,
    lifo = true
);
