//! `XskMap`: the AF_XDP sockets XDP programs redirect packets to.

use std::os::fd::AsRawFd;

use super::{BPF_ANY, Map, map_type};
use crate::{Error, Result, xsk::XskSocket};

/// A handle on a `BPF_MAP_TYPE_XSKMAP` (Linux 4.18): slots, usually one
/// per receive queue, each empty or holding a bound AF_XDP socket
/// ([`XskSocket`]) that `XskMap::redirect` in `iu_ebpf` hands packets to.
///
/// The map does not keep a socket alive: closing (dropping) the socket
/// empties its slots. The kernel does not read slots back to user space.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::xsk::{XskConfig, XskSocket};
///
/// let socket = XskSocket::new("eth0", 0, XskConfig::default())?;
/// let sockets = ebpf.xsk_map("SOCKETS")?;
/// sockets.set(socket.queue(), &socket)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct XskMap<'a> {
    map: &'a Map,
}

impl<'a> XskMap<'a> {
    /// Checks that `map` is an XSK map.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::XSKMAP], "XSK map", Some(4), Some(4))?;
        Ok(Self { map })
    }

    /// Puts `socket` in slot `index` (for packets to reach it, the index a
    /// program redirects with must be the socket's queue).
    pub fn set(&self, index: u32, socket: &XskSocket) -> Result<()> {
        if index >= self.map.max_entries() {
            return Err(super::array::out_of_range(self.map, index));
        }
        let fd = socket.fd().as_raw_fd() as u32;
        self.map
            .update(&index.to_ne_bytes(), &fd.to_ne_bytes(), BPF_ANY)
            .map_err(|e| match e {
                Error::MapOp { name, source, .. } => Error::MapOp {
                    name,
                    op: "putting an AF_XDP socket in a slot",
                    source,
                },
                e => e,
            })
    }

    /// Empties slot `index` (the kernel does not say whether it held a
    /// socket).
    pub fn clear(&self, index: u32) -> Result<()> {
        if index >= self.map.max_entries() {
            return Err(super::array::out_of_range(self.map, index));
        }
        self.map.delete(&index.to_ne_bytes()).map(drop)
    }
}
