//! `Queue`: first in, first out (`BPF_MAP_TYPE_QUEUE`).

use super::{map_type, push_pop_map};

push_pop_map!(
    /// `BPF_MAP_TYPE_QUEUE`: a FIFO of up to `MAX_ENTRIES` values.
    ///
    /// ```ignore
    /// #[map]
    /// static JOBS: Queue<u64, 64> = Queue::new();
    /// JOBS.push(&42, 0).ok();
    /// let next = JOBS.pop();
    /// ```
    Queue,
    map_type::QUEUE,
    lifo = false
);
