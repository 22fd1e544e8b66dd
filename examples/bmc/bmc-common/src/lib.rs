//! Types shared by bmc's programs and daemon: the cache entry, the
//! statistics' indices and the key hash.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::Pod;

/// memcached's port, UDP and TCP.
pub const PORT: u16 = 11211;
/// The longest key memcached accepts, and so the longest one cached.
pub const MAX_KEY_LEN: usize = 250;
/// The largest value cached (BMC's `BMC_MAX_VAL_LENGTH`); larger ones are
/// counted as too large and left to memcached.
pub const MAX_VAL_LEN: usize = 1000;
/// Room for a cached reply: `VALUE <key> <flags> <bytes>\r\n<data>\r\n`
/// (at most 6 + 250 + 1 + 10 + 1 + 4 + 2 + 1000 + 2 = 1276 bytes), plus
/// `END\r\n` appended when it is sent, rounded up to 8.
pub const MAX_DATA: usize = 1288;
/// How long an armed slot waits for its reply before another miss may
/// arm it again (the reply was lost, or memcached dropped the request).
pub const ARM_TIMEOUT_NS: u64 = 20_000_000;
/// The first of the client ports the AF_XDP load generator sends from
/// (`bmc_bench --client xsk`): above Linux's ephemeral range (32768–60999),
/// so no UDP socket of the client's namespace has one.
pub const XSK_PORT_BASE: u16 = 61000;
/// How many client ports, from [`XSK_PORT_BASE`], `bmc_client` hands to
/// the AF_XDP socket.
pub const XSK_PORTS: u16 = 256;
/// Cache slots (a key's slot is its hash modulo this). BMC's configuration
/// has 3,250,000; each slot is 1,584 bytes of kernel memory, so that would
/// be 5.1 GB, taking seconds to create when the page cache must give way
/// and more than the 3 GiB test guests have. 262,144 slots are 415 MB
/// (created in well under a second) and, for the benchmark's 100,000 keys,
/// hold nearly every hot key in its own slot (docs/bmc.md).
pub const CACHE_ENTRIES: u32 = 262_144;
/// The payload bytes the programs look at (an MTU-sized datagram or
/// segment); larger payloads are never cached and their writes invalidate
/// the whole cache.
pub const MAX_PAYLOAD: usize = 1536;

/// One cache slot (a `SpinLocked<Entry>` in the `CACHE` array).
#[derive(Clone, Copy, Pod)]
#[repr(C, align(8))]
pub struct Entry {
    /// 1 when `data` holds the reply for `key`.
    pub valid: u32,
    /// The flush generation the entry was filled in (a `flush_all`, or a
    /// write the programs could not parse, moves the generation on and so
    /// invalidates every entry at once).
    pub generation: u32,
    /// The token of the `get` miss that armed this slot (client address,
    /// port and request id), 0 for none: only the reply to that request
    /// may fill the slot, and every write disarms it, so a reply that was
    /// in flight while the key was written cannot bring back the old
    /// value. A miss arms only a slot not already armed in the current
    /// generation within [`ARM_TIMEOUT_NS`], so that a hot key refills
    /// after one round trip to memcached.
    pub armed: u32,
    /// The generation `armed` was set in.
    pub armed_generation: u32,
    /// When `armed` was set (`bpf_ktime_get_ns`).
    pub armed_ns: u64,
    /// Length of `key`.
    pub key_len: u32,
    /// Length of the reply in `data`.
    pub data_len: u32,
    /// The key.
    pub key: Key,
    /// memcached's reply: `VALUE <key> <flags> <bytes>\r\n<data>\r\n`.
    pub data: Reply,
}

/// A cached key's bytes, of which an entry's `key_len` are used. Aligned
/// to 8 so that `copy_prefix_under_lock` copies it 8 bytes at a time.
#[derive(Clone, Copy, Pod)]
#[repr(C, align(8))]
pub struct Key(pub [u8; 256]);

/// A cached reply's bytes, of which an entry's `data_len` are used.
/// Aligned to 8 as [`Key`] is.
#[derive(Clone, Copy, Pod)]
#[repr(C, align(8))]
pub struct Reply(pub [u8; MAX_DATA]);

/// Indices of the per-CPU `STATS` array.
pub mod stats {
    /// UDP `get`s answered from the cache in XDP.
    pub const HITS: u32 = 0;
    /// Single-key UDP `get`s passed to memcached (key not cached).
    pub const MISSES: u32 = 1;
    /// memcached requests passed up without a lookup: multi-key gets,
    /// other commands, malformed or truncated packets.
    pub const PASSES: u32 = 2;
    /// `get`s over TCP (always passed up).
    pub const TCP_GETS: u32 = 3;
    /// Cache slots invalidated by a write command.
    pub const INVALIDATIONS: u32 = 4;
    /// Whole-cache invalidations (`flush_all`, or a write the programs
    /// could not parse: a line split across packets, an odd spacing).
    pub const FLUSHES: u32 = 5;
    /// Entries filled from memcached's replies.
    pub const FILLS: u32 = 6;
    /// `VALUE` replies too large to cache.
    pub const TOO_LARGE: u32 = 7;
    /// Hits that could not be sent (the packet could not grow): passed up.
    pub const TX_FAILED: u32 = 8;
    /// Number of counters.
    pub const COUNT: u32 = 9;
    /// The counters' names, by index.
    pub const NAMES: [&str; COUNT as usize] = [
        "hits",
        "misses",
        "passes",
        "tcp_gets",
        "invalidations",
        "flushes",
        "fills",
        "too_large",
        "tx_failed",
    ];
}

/// FNV-1a's offset basis: the hash of the empty key.
pub const HASH_INIT: u32 = 0x811c_9dc5;

/// One step of the key hash (32-bit FNV-1a).
///
/// ```
/// let h = b"a".iter().fold(bmc_common::HASH_INIT, |h, &b| bmc_common::hash_step(h, b));
/// assert_eq!(h, 0xe40c_292c);
/// ```
#[inline(always)]
pub const fn hash_step(hash: u32, byte: u8) -> u32 {
    (hash ^ byte as u32).wrapping_mul(0x0100_0193)
}

/// The cache slot of a key's hash.
#[inline(always)]
pub const fn slot(hash: u32) -> u32 {
    hash % CACHE_ENTRIES
}

/// Whether memcached's text protocol and this cache agree on `byte` as
/// part of a key: printable ASCII other than space. Keys with any other
/// byte are left to memcached.
#[inline(always)]
pub const fn key_byte(byte: u8) -> bool {
    byte > b' ' && byte < 0x7f
}
