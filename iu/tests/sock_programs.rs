//! sock_ops and cgroup socket-address programs on a new cgroup v2 that
//! holds this test process while a test runs (one test at a time: the
//! whole process moves), with real loopback connections and datagrams.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    io::ErrorKind,
    net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    path::PathBuf,
    time::Duration,
};

use iu::Ebpf;

mod cgroup_support;

use cgroup_support::InNewCgroup;

fn setup() -> Option<(PathBuf, Ebpf)> {
    let mount = cgroup_support::mount()?;
    let ebpf = Ebpf::load_file(iu::object_dir().join("sock_programs")).unwrap();
    Some((mount, ebpf))
}

/// A port nothing listens on (bound once, then released).
fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sock_ops_counts_established_connections_of_the_cgroup() {
    let Some((mount, ebpf)) = setup() else { return };
    let cgroup = InNewCgroup::enter(&mount, "sockops");
    let counts = ebpf.array::<u64>("ESTABLISHED").unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let link = ebpf
        .sock_ops("count_established")
        .unwrap()
        .attach(&cgroup.dir)
        .unwrap();
    let mut streams = vec![];
    for _ in 0..3 {
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        streams.push((client, server));
    }
    // Data both ways, so that RTT samples are taken.
    for (client, server) in &mut streams {
        use std::io::{Read, Write};
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        server.write_all(b"pong").unwrap();
        client.read_exact(&mut buf).unwrap();
    }
    let seen = counts.values().unwrap();
    assert_eq!(seen[0], 3, "active established: {seen:?}");
    assert_eq!(seen[1], 3, "passive established: {seen:?}");
    assert_eq!(seen[2], u64::from(port), "the accepted side's local port");
    assert!(
        seen[3] > 0,
        "RTT callbacks turned on by the program: {seen:?}"
    );

    drop(link);
    let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _server = listener.accept().unwrap();
    assert_eq!(counts.get(0).unwrap(), 3, "detached on drop");
}

#[test]
fn sock_addr_programs_redirect_connects_and_datagrams() {
    let Some((mount, ebpf)) = setup() else { return };
    let cgroup = InNewCgroup::enter(&mount, "sockaddr");
    let rewrites = ebpf.array::<u64>("REWRITES").unwrap();
    let ports = ebpf.array::<u32>("PORTS").unwrap();
    let links: Vec<_> = ["connect4", "connect6", "sendmsg4", "recvmsg4"]
        .into_iter()
        .map(|name| {
            ebpf.cgroup_sock_addr(name)
                .unwrap()
                .attach(&cgroup.dir)
                .unwrap()
        })
        .collect();

    // connect4: a connect to a port nothing listens on reaches the listener.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap().port();
    let from = unused_port();
    let denied = unused_port();
    ports.set(0, &u32::from(from)).unwrap();
    ports.set(1, &u32::from(to)).unwrap();
    ports.set(2, &u32::from(denied)).unwrap();
    let client = TcpStream::connect(("127.0.0.1", from)).expect("redirected to the listener");
    let (_server, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(client.peer_addr().unwrap().port(), to);
    assert_eq!(rewrites.get(0).unwrap(), 1);
    let error = TcpStream::connect(("127.0.0.1", denied)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");

    // connect6, on the IPv6 loopback where there is one.
    match TcpListener::bind((Ipv6Addr::LOCALHOST, to)) {
        Ok(listener6) => {
            let _client = TcpStream::connect((Ipv6Addr::LOCALHOST, from)).unwrap();
            let _server = listener6.accept().unwrap();
            assert_eq!(rewrites.get(1).unwrap(), 1);
        }
        Err(e) => {
            assert!(
                std::env::var_os("IU_HOST_TIER").is_none(),
                "the host has an IPv6 loopback: {e}"
            );
            eprintln!("skipping the connect6 part: no IPv6 loopback here ({e})");
        }
    }

    // sendmsg4 sends to the other port; recvmsg4 makes the reply look as
    // if it came from the port the client named.
    let server = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    let to = server.local_addr().unwrap().port();
    let from = UdpSocket::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ports.set(0, &u32::from(from)).unwrap();
    ports.set(1, &u32::from(to)).unwrap();
    let client = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send_to(b"hello", ("127.0.0.1", from)).unwrap();
    let mut buf = [0u8; 16];
    let (n, sender) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(sender, client.local_addr().unwrap());
    server.send_to(b"reply", sender).unwrap();
    let (n, replier) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply");
    assert_eq!(
        replier,
        SocketAddr::from(([127, 0, 0, 1], from)),
        "the source rewritten back"
    );
    assert_eq!(rewrites.get(2).unwrap(), 1);
    assert_eq!(rewrites.get(3).unwrap(), 1);
    drop(links);
}
