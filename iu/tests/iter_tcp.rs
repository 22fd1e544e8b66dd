//! A TCP socket iterator read from user space through its link: the
//! test's own loopback listener and connection appear with their ports,
//! addresses, states and owner.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod iter_support;

use std::net::{Ipv4Addr, TcpListener, TcpStream};

use iu::{Ebpf, Pod};

/// `Socket` of the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, PartialEq, Eq)]
struct Socket {
    local_port: u16,
    remote_port: u16,
    state: u8,
    _pad: u8,
    family: u16,
    local_addr: u32,
    remote_addr: u32,
    uid: u32,
}

const TCP_ESTABLISHED: u8 = 1;
const TCP_LISTEN: u8 = 10;

fn load() -> Option<Ebpf> {
    iter_support::load("iter_tcp", "TCP iterators")
}

#[test]
fn tcp_iterator_sees_the_tests_loopback_sockets() {
    let Some(ebpf) = load() else { return };
    let link = ebpf.iter("sockets").unwrap().attach().unwrap();
    assert_eq!(link.target(), "iter/tcp");

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();

    let sockets: Vec<Socket> = link
        .stream::<Socket>()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let loopback = u32::from_ne_bytes(Ipv4Addr::LOCALHOST.octets());
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let expect = |local_port, remote_port, state, remote_addr| Socket {
        local_port,
        remote_port,
        state,
        _pad: 0,
        family: libc::AF_INET as u16,
        local_addr: loopback,
        remote_addr,
        uid,
    };
    for wanted in [
        expect(port, 0, TCP_LISTEN, 0),
        expect(client_port, port, TCP_ESTABLISHED, loopback),
        expect(port, client_port, TCP_ESTABLISHED, loopback),
    ] {
        assert!(
            sockets.contains(&wanted),
            "{wanted:?} not among {} sockets: {:?}",
            sockets.len(),
            sockets
                .iter()
                .filter(|s| s.local_port == port || s.remote_port == port)
                .collect::<Vec<_>>()
        );
    }

    // Closed sockets leave the walk (the listener's port is no longer
    // listened on; the connection may linger in time-wait states).
    drop((client, server, listener));
    let after = link.records::<Socket>().unwrap();
    assert!(
        !after
            .iter()
            .any(|s| s.local_port == port && s.state == TCP_LISTEN),
        "the listener was closed"
    );
    assert!(
        !after
            .iter()
            .any(|s| s.state == TCP_ESTABLISHED && (s.local_port == port || s.remote_port == port)),
        "the connection was closed"
    );
}
