//! Socket maps: `SockMap` and `SockHash`, filled from user space with
//! socket descriptors (`std::net::TcpStream`, `TcpListener`, ... through
//! `AsFd`); sk_msg and sk_skb programs attach to them
//! (`crate::programs::SkMsg`, `crate::programs::SkSkb`).

use std::{marker::PhantomData, mem::size_of, os::fd::AsFd};

use iu_ebpf::Pod;

use super::{BPF_ANY, Map, map_type};
use crate::{Error, Result, sys};

/// What to put in a socket map instead of a refused socket.
const SOCKET_FIX: &str = "put an established TCP socket (a connected or accepted `TcpStream`) or a listening `TcpListener` in it (UDP sockets from Linux 5.7, Unix sockets from 5.15)";

/// The kernel's name of TCP state `state`.
fn tcp_state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "unknown",
    }
}

/// Describes `socket` for an error message.
fn describe(socket: std::os::fd::BorrowedFd<'_>) -> String {
    let Ok(kind) = sys::socket_kind(socket) else {
        return "a descriptor that is not a socket".to_owned();
    };
    match (kind.protocol, kind.tcp_state) {
        (libc::IPPROTO_TCP, Some(7)) => "an unconnected TCP socket (state CLOSE)".to_owned(),
        (libc::IPPROTO_TCP, Some(state)) => {
            format!("a TCP socket in state {}", tcp_state_name(state))
        }
        (libc::IPPROTO_UDP, _) => "a UDP socket".to_owned(),
        _ => {
            let domain = match kind.domain {
                libc::AF_INET => "IPv4",
                libc::AF_INET6 => "IPv6",
                libc::AF_UNIX => "Unix",
                libc::AF_NETLINK => "netlink",
                libc::AF_PACKET => "packet",
                _ => "other-family",
            };
            let ty = match kind.sock_type {
                libc::SOCK_STREAM => "stream",
                libc::SOCK_DGRAM => "datagram",
                libc::SOCK_RAW => "raw",
                libc::SOCK_SEQPACKET => "seqpacket",
                _ => "other-type",
            };
            format!("an {domain} {ty} socket (protocol {})", kind.protocol)
                .replace("an Unix", "a Unix")
                .replace("an packet", "a packet")
                .replace("an netlink", "a netlink")
        }
    }
}

/// Inserts `socket` at `key` of `map`, naming a refused socket.
fn insert(map: &Map, key: &[u8], socket: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd() as u64;
    let value = fd.to_ne_bytes();
    let value = &value[..map.value_size as usize];
    sys::map_update_elem(map.fd.as_fd(), key, value, BPF_ANY).map_err(|e| {
        let source = sys::SyscallError::new("bpf(BPF_MAP_UPDATE_ELEM)", e);
        match source.errno() {
            Some(libc::EOPNOTSUPP | libc::ENOTSOCK | libc::EINVAL | libc::EBADF) => {
                Error::SocketRefused {
                    name: map.name.clone(),
                    socket: describe(socket),
                    fix: SOCKET_FIX,
                    source,
                }
            }
            _ => Error::MapOp {
                name: map.name.clone(),
                op: "inserting a socket",
                source,
            },
        }
    })
}

/// The cookie at `key` (socket maps of 8-byte values return it).
fn cookie(map: &Map, key: &[u8]) -> Result<Option<u64>> {
    if map.value_size != 8 {
        return Ok(None);
    }
    let mut value = [0u8; 8];
    Ok(map
        .lookup(key, &mut value)?
        .then(|| u64::from_ne_bytes(value)))
}

/// The cookie of `socket` (`SO_COOKIE`, Linux 4.12): the id socket maps
/// and programs know it by, what [`SockMap::cookie`] returns.
///
/// ```no_run
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// println!("{}", iu::maps::socket_cookie(&socket)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn socket_cookie(socket: &impl AsFd) -> Result<u64> {
    sys::socket_cookie(socket.as_fd()).map_err(|source| Error::Io {
        context: "reading a socket's cookie (getsockopt SO_COOKIE)".to_owned(),
        source,
    })
}

/// The socket maps programs can be attached to ([`SockMap`], [`SockHash`]).
/// Sealed.
pub trait SocketMap: private::Sealed {
    /// The map.
    fn map(&self) -> &Map;
}

mod private {
    pub trait Sealed {}
}

/// A handle on a `BPF_MAP_TYPE_SOCKMAP` (Linux 4.14): slots holding
/// sockets, indexed by `u32`, that sk_msg and sk_skb programs attached to
/// the map see and redirect between (`iu_ebpf::maps::SockMap`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (server, _) = listener.accept()?;
/// let pair = ebpf.sock_map("PAIR")?;
/// pair.insert(0, &client)?;
/// pair.insert(1, &server)?;
/// let _link = ebpf.sk_msg("swap")?.attach(&pair)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SockMap<'a> {
    map: &'a Map,
}

impl<'a> SockMap<'a> {
    /// Checks that `map` is a sockmap.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::SOCKMAP], "sockmap", Some(4), None)?;
        Ok(Self { map })
    }

    /// Puts `socket` in slot `index` (replacing what was there). The map
    /// holds its own reference: closing the descriptor afterwards does not
    /// take it out, closing the connection does. The socket runs the
    /// programs attached to the map at this moment: attach them first. A socket that is not an
    /// established or listening TCP socket (or UDP, Unix on newer kernels)
    /// is refused with [`Error::SocketRefused`].
    pub fn insert(&self, index: u32, socket: &impl AsFd) -> Result<()> {
        if index >= self.map.max_entries {
            return Err(super::array::out_of_range(self.map, index));
        }
        insert(self.map, &index.to_ne_bytes(), socket.as_fd())
    }

    /// The cookie (`SO_COOKIE`) of the socket in slot `index`, or `None`
    /// when it is empty.
    pub fn cookie(&self, index: u32) -> Result<Option<u64>> {
        cookie(self.map, &index.to_ne_bytes())
    }

    /// Empties slot `index`; whether it held a socket.
    pub fn remove(&self, index: u32) -> Result<bool> {
        self.map.delete(&index.to_ne_bytes())
    }
}

impl private::Sealed for SockMap<'_> {}
impl SocketMap for SockMap<'_> {
    fn map(&self) -> &Map {
        self.map
    }
}

/// A handle on a `BPF_MAP_TYPE_SOCKHASH` (Linux 4.18): sockets under keys
/// of type `K` (`iu_ebpf::maps::SockHash`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf, stream: &std::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
/// let by_port = ebpf.sock_hash::<u32>("BY_PORT")?;
/// by_port.insert(&u32::from(stream.local_addr()?.port()), stream)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SockHash<'a, K> {
    map: &'a Map,
    _key: PhantomData<K>,
}

impl<'a, K: Pod> SockHash<'a, K> {
    /// Checks that `map` is a sockhash with `K` keys.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(
            &[map_type::SOCKHASH],
            "sockhash",
            Some(size_of::<K>()),
            None,
        )?;
        Ok(Self {
            map,
            _key: PhantomData,
        })
    }

    /// Puts `socket` at `key` (replacing what was there); see
    /// [`SockMap::insert`].
    pub fn insert(&self, key: &K, socket: &impl AsFd) -> Result<()> {
        insert(self.map, key.as_bytes(), socket.as_fd())
    }

    /// The cookie (`SO_COOKIE`) of the socket at `key`, or `None`.
    pub fn cookie(&self, key: &K) -> Result<Option<u64>> {
        cookie(self.map, key.as_bytes())
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.map.delete(key.as_bytes())
    }
}

impl<K> private::Sealed for SockHash<'_, K> {}
impl<K> SocketMap for SockHash<'_, K> {
    fn map(&self) -> &Map {
        self.map
    }
}
