//! What {{name}}'s program and its user side share: map names and slots.
#![no_std]
#![forbid(unsafe_code)]

/// The program's counters: an `Array<u64, 2>`.
pub const COUNTS_MAP: &str = "COUNTS";
/// Slot of [`COUNTS_MAP`]: events the program saw.
pub const EVENTS: u32 = 0;
/// Slot of [`COUNTS_MAP`]: bytes of the packets it saw (networking kinds).
pub const BYTES: u32 = 1;
/// The process to count (0: every process): an `Array<u64, 1>`.
pub const TARGET_MAP: &str = "TARGET";
