//! A socket filter on a real UDP socket over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{net::UdpSocket, time::Duration};

use iu::Ebpf;

#[test]
fn drops_matching_datagrams_until_detached() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("socket_filter")).unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr().unwrap();
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
