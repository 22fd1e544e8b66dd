//! A socket filter on a real UDP socket over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{net::UdpSocket, time::Duration};

use iu::{Ebpf, EbpfLoader, Error};

/// Linux 6.1's verifier walks branches whose bounds are impossible (umin >
/// umax), and through them the word-at-a-time scan of `contains` over a
/// stack buffer of run-time length reads past the buffer: it refuses
/// `drop_x`. Newer kernels prune such branches. (A known gap of iu on 6.1.)
fn scan_refused_here() -> bool {
    std::env::var("IU_VM_KERNEL").as_deref() == Ok("6.1")
}

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
    let ebpf = EbpfLoader::new()
        .autoload("drop_x", !scan_refused_here())
        .load_file(iu::object_dir().join("socket_filter"))
        .unwrap();
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
    let loaded = Ebpf::load_file(iu::object_dir().join("socket_filter"));
    if scan_refused_here() {
        let Err(Error::Verifier { name, log, .. }) = &loaded else {
            panic!("drop_x loaded on 6.1: remove it from the known gaps");
        };
        assert_eq!(name, "drop_x");
        assert!(
            log.full().contains("invalid read from stack"),
            "{}",
            log.full()
        );
        iu::testing::skip_missing(
            "a stack scan of run-time length",
            "verifier pruning of impossible branches",
        );
        return;
    }
    let ebpf = loaded.unwrap();
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
