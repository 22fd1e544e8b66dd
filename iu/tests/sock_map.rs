//! Socket maps with real loopback TCP connections: sk_msg redirects what
//! one client sends out of another connection, sk_skb parses and passes,
//! drops or redirects what a server socket receives, and socket maps
//! refuse sockets they cannot hold with a typed error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    io::{ErrorKind, Read, Write},
    net::{TcpListener, TcpStream},
    time::Duration,
};

use iu::{Ebpf, Error};

fn load() -> Ebpf {
    Ebpf::load_file(iu::object_dir().join("sock_map")).unwrap()
}

/// Two loopback connections: `(client, server)` pairs.
fn two_connections() -> [(TcpStream, TcpStream); 2] {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = || {
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        for s in [&client, &server] {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.set_nodelay(true).unwrap();
        }
        (client, server)
    };
    [connect(), connect()]
}

/// Reads exactly `n` bytes (failing after the read timeout).
fn read_n(socket: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    socket.read_exact(&mut buf).unwrap();
    buf
}

/// Whether anything arrives on `socket` within 300 ms.
fn nothing_arrives(socket: &mut TcpStream) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let got = socket.read(&mut buf);
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    matches!(got, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

fn port(s: &TcpStream) -> u32 {
    u32::from(s.local_addr().unwrap().port())
}

#[test]
fn sk_msg_redirects_sends_to_another_connection_and_drops() {
    let ebpf = load();
    let [(mut c1, mut s1), (c2, mut s2)] = two_connections();
    let by_port = ebpf.sock_hash::<u32>("BY_PORT").unwrap();
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    let counts = ebpf.array::<u64>("COUNTS").unwrap();
    // Programs first: a socket takes the map's programs when it is
    // inserted.
    let link = ebpf.sk_msg("splice").unwrap().attach(&by_port).unwrap();
    by_port.insert(&port(&c1), &c1).unwrap();
    by_port.insert(&port(&c2), &c2).unwrap();
    assert_eq!(
        by_port.cookie(&port(&c2)).unwrap(),
        Some(iu::maps::socket_cookie(&c2).unwrap()),
        "the map holds c2 itself"
    );

    // Redirect: what c1 sends leaves through c2, so s2 receives it.
    config.set(0, &port(&c2)).unwrap();
    c1.write_all(b"redirected").unwrap();
    assert_eq!(read_n(&mut s2, 10), b"redirected");
    assert!(nothing_arrives(&mut s1), "s1 got the redirected bytes");

    // Pass: back on its own connection.
    config.set(0, &0).unwrap();
    c1.write_all(b"own").unwrap();
    assert_eq!(read_n(&mut s1, 3), b"own");

    // Drop: the send fails with EACCES and nothing arrives.
    config.set(0, &u32::MAX).unwrap();
    let err = c1.write_all(b"dropped").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
    assert!(nothing_arrives(&mut s1));
    let seen = counts.get(0).unwrap();
    assert!(seen >= 3, "messages the program saw: {seen}");
    assert!(counts.get(1).unwrap() >= 10 + 3, "bytes seen");

    // Detached on drop: a socket inserted afterwards no longer runs the
    // program (sockets keep the programs they were inserted with).
    drop(link);
    assert!(by_port.remove(&port(&c1)).unwrap());
    by_port.insert(&port(&c1), &c1).unwrap();
    c1.write_all(b"free").unwrap();
    assert_eq!(read_n(&mut s1, 4), b"free");
    assert_eq!(counts.get(0).unwrap(), seen, "the program ran after detach");
}

#[test]
fn sk_skb_parses_and_redirects_or_drops_received_data() {
    let ebpf = load();
    let [(mut c1, mut s1), (mut c2, mut s2)] = two_connections();
    let pair = ebpf.sock_map("PAIR").unwrap();
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    let counts = ebpf.array::<u64>("COUNTS").unwrap();
    let parser = ebpf.sk_skb("whole").unwrap();
    assert!(parser.is_parser());
    let _parser = parser.attach(&pair).unwrap();
    let verdict = ebpf.sk_skb("forward").unwrap().attach(&pair).unwrap();
    pair.insert(0, &s1).unwrap();
    pair.insert(1, &c2).unwrap();

    // Pass: s1 receives what c1 sent, through parser and verdict.
    c1.write_all(b"pass").unwrap();
    assert_eq!(read_n(&mut s1, 4), b"pass");
    assert!(counts.get(2).unwrap() >= 1, "parser runs");
    assert!(counts.get(3).unwrap() >= 1, "verdicts");

    // Redirect out of c2: s2 receives what c1 sent to s1.
    config.set(1, &1).unwrap();
    c1.write_all(b"egress").unwrap();
    assert_eq!(read_n(&mut s2, 6), b"egress");
    assert!(nothing_arrives(&mut s1));

    // Redirect into c2's receive queue: c2 reads it as if s2 had sent it.
    config.set(1, &3).unwrap();
    c1.write_all(b"ingress").unwrap();
    assert_eq!(read_n(&mut c2, 7), b"ingress");

    // Drop: nothing arrives anywhere, but the verdict ran.
    config.set(1, &2).unwrap();
    let before = counts.get(3).unwrap();
    c1.write_all(b"dropped").unwrap();
    assert!(nothing_arrives(&mut s1));
    assert!(nothing_arrives(&mut s2));
    assert!(counts.get(3).unwrap() > before, "the verdict saw the data");

    drop(verdict);
    assert_eq!(
        pair.cookie(0).unwrap(),
        Some(iu::maps::socket_cookie(&s1).unwrap())
    );
    assert!(pair.remove(0).unwrap());
    assert_eq!(pair.cookie(0).unwrap(), None);
}

#[test]
fn socket_maps_refuse_sockets_they_cannot_hold() {
    let ebpf = load();
    let pair = ebpf.sock_map("PAIR").unwrap();

    // A TCP socket that never connected.
    let unconnected = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::empty(),
        None,
    )
    .unwrap();
    let err = pair.insert(0, &unconnected).unwrap_err();
    assert!(matches!(err, Error::SocketRefused { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("unconnected TCP socket"), "{message}");
    assert!(message.contains("established TCP socket"), "{message}");

    // Not a socket at all.
    let file = std::fs::File::open("/dev/null").unwrap();
    let err = pair.insert(0, &file).unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");

    // Out of range.
    let [(c, _s), _] = two_connections();
    assert!(pair.insert(2, &c).is_err());

    // Handles check the map and program types.
    let err = ebpf.sock_map("BY_PORT").unwrap_err();
    assert!(matches!(err, Error::WrongMapType { .. }), "{err}");
    let err = ebpf.sk_msg("forward").unwrap_err();
    assert!(matches!(err, Error::WrongProgramType { .. }), "{err}");
    assert!(err.to_string().contains("sk_msg"), "{err}");
    let err = ebpf.sk_skb("splice").unwrap_err();
    assert!(matches!(err, Error::WrongProgramType { .. }), "{err}");
}
