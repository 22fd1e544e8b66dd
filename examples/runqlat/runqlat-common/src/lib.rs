//! What runqlat's kernel and user sides share: the log2 histogram's slots.
#![no_std]
#![forbid(unsafe_code)]

/// Slots of the histogram: slot `i` counts latencies in
/// `[2^i, 2^(i+1) - 1]` microseconds (slot 0: 0 and 1), the last one
/// everything longer (as bcc's `runqlat`).
pub const MAX_SLOTS: usize = 26;

/// The slot of a latency of `us` microseconds: `floor(log2(us))`, 0 for 0,
/// capped at the last slot. Branches on halves, as libbpf-tools'
/// `log2l`, so it compiles to a few BPF instructions without a loop.
///
/// ```
/// assert_eq!(runqlat_common::slot(0), 0);
/// assert_eq!(runqlat_common::slot(1), 0);
/// assert_eq!(runqlat_common::slot(3), 1);
/// assert_eq!(runqlat_common::slot(1024), 10);
/// assert_eq!(runqlat_common::slot(u64::MAX), runqlat_common::MAX_SLOTS as u32 - 1);
/// ```
#[inline(always)]
pub fn slot(us: u64) -> u32 {
    let mut v = us;
    let mut log = 0u32;
    let mut step = 32u32;
    // Five halvings: 32, 16, 8, 4, 2, then the last bit.
    while step > 0 {
        if v >> step != 0 {
            v >>= step;
            log += step;
        }
        step /= 2;
    }
    log.min(MAX_SLOTS as u32 - 1)
}

/// The bounds of slot `i` as bcc prints them: `low -> high`.
///
/// ```
/// assert_eq!(runqlat_common::bounds(0), (0, 1));
/// assert_eq!(runqlat_common::bounds(3), (8, 15));
/// ```
pub fn bounds(i: u32) -> (u64, u64) {
    let low = (1u64 << (i + 1)) >> 1;
    let high = (1u64 << (i + 1)) - 1;
    (if low == high { low - 1 } else { low }, high)
}
