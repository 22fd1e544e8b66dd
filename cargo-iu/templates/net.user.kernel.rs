//! {{name}} in the running kernel (root): the program runs on a packet
//! (BPF_PROG_TEST_RUN) and attaches to the loopback interface.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::programs::TestRun;

#[test]
fn passes_and_counts_a_frame_in_the_kernel() {
    let ebpf = {{crate}}::load().unwrap();
    let packet = [0u8; 64];
    let out = ebpf
        .program("{{crate}}")
        .unwrap()
        .test_run(&TestRun::packet(&packet))
        .unwrap();
    assert_eq!(out.retval, {{pass_value}});
    assert_eq!({{crate}}::counts(&ebpf).unwrap(), (1, 64));
}

#[test]
fn sees_loopback_traffic_once_attached() {
    let ebpf = {{crate}}::load().unwrap();
    let link = {{crate}}::attach(&ebpf, "lo").unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"hello", socket.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(socket.recv(&mut buf).unwrap(), 5, "{{kind}} passes the datagram");
    drop(link);
    let (packets, bytes) = {{crate}}::counts(&ebpf).unwrap();
    assert!(packets >= 1 && bytes >= 47, "saw {packets} packets, {bytes} bytes");
}
