//! Packet headers shared by the test programs that parse IPv4 and UDP
//! (`#[path = "../headers.rs"] mod headers;`).

use iu_ebpf::Pod;

/// The IPv4 header without options.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
pub struct Ipv4 {
    pub version_ihl: u8,
    pub tos: u8,
    pub total_len: [u8; 2],
    pub id: [u8; 2],
    pub fragment: [u8; 2],
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: [u8; 2],
    pub source: [u8; 4],
    pub dest: [u8; 4],
}

/// The UDP header.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
pub struct Udp {
    pub source_port: [u8; 2],
    pub dest_port: [u8; 2],
    pub len: [u8; 2],
    pub checksum: [u8; 2],
}
