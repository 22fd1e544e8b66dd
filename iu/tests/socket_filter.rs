//! A socket filter on a real UDP socket over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{net::UdpSocket, time::Duration};

use iu::Ebpf;

/// A receiving socket with a short read timeout, a sender, and where to
/// send.
fn sockets() -> (UdpSocket, UdpSocket, std::net::SocketAddr) {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap();
    (receiver, sender, to)
}

#[test]
fn drops_matching_datagrams_until_detached() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("socket_filter")).unwrap();
    let (receiver, sender, to) = sockets();
    let link = ebpf
        .socket_filter("drop_d")
        .unwrap()
        .attach(&receiver)
        .unwrap();

    sender.send_to(b"Drop me", to).unwrap();
    sender.send_to(b"Keep me", to).unwrap();
    let mut buf = [0u8; 64];
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Keep me");
    assert!(
        receiver.recv(&mut buf).is_err(),
        "the dropped datagram arrived"
    );

    drop(link);
    sender.send_to(b"Drop me too", to).unwrap();
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Drop me too", "still filtering after detach");
}

#[test]
fn a_payload_copied_at_its_run_time_length_is_scanned() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("socket_filter")).unwrap();
    let (receiver, sender, to) = sockets();
    let _link = ebpf
        .socket_filter("drop_x")
        .unwrap()
        .attach(&receiver)
        .unwrap();
    // An X within the first 32 payload bytes drops the datagram; one past
    // them does not, nor does an empty payload.
    sender.send_to(b"no ex here", to).unwrap();
    sender.send_to(b"has an X", to).unwrap();
    let mut late = vec![b'.'; 40];
    late[35] = b'X';
    sender.send_to(&late, to).unwrap();
    sender.send_to(b"", to).unwrap();
    let mut received = vec![];
    let mut buf = [0u8; 64];
    while let Ok(n) = receiver.recv(&mut buf) {
        received.push(buf[..n].to_vec());
    }
    assert_eq!(received, [b"no ex here".to_vec(), late, vec![]]);
}
