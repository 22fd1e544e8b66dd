//! Types shared by xdp_firewall's program and daemon.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::Pod;

/// `COUNTS` key: a source address and what happened to its packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod)]
#[repr(C)]
pub struct CountKey {
    /// IPv4 source address, network order.
    pub addr: [u8; 4],
    /// [`PASSED`] or [`DROPPED`].
    pub action: u32,
}

/// Packets passed.
pub const PASSED: u32 = 0;
/// Packets dropped because the source matched a blocked prefix.
pub const DROPPED: u32 = 1;
