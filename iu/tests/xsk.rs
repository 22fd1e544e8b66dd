//! AF_XDP: an `#[xdp]` program on one end of a veth pair redirects UDP
//! packets to one port into the `XskMap` slot of their receive queue,
//! where an `iu::xsk::XskSocket` bound to that queue receives them; the
//! socket also transmits frames that the peer's UDP socket receives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    net::{Ipv4Addr, UdpSocket},
    process::Command,
    time::{Duration, Instant},
};

use iu::{
    Ebpf, Error,
    programs::XdpMode,
    testing::Veth,
    xsk::{XskConfig, XskSocket},
};

/// The port the program redirects.
const PORT: u16 = 47_001;
/// A port it leaves alone.
const OTHER_PORT: u16 = 47_002;
/// The peer's port for transmitted frames.
const PEER_PORT: u16 = 47_003;
const N: usize = 16;

/// The tests run one at a time: one counts this process's descriptors.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `f` on a thread inside network namespace `ns`.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    iu::testing::in_netns(ns, f).unwrap()
}

fn payload(round: usize, i: usize) -> Vec<u8> {
    format!("iu af_xdp round {round} datagram {i:02} ")
        .into_bytes()
        .into_iter()
        .chain((0..i * 7).map(|b| b as u8))
        .collect()
}

/// Sends `count` datagrams from the peer namespace to the host end.
fn send_from_peer(veth: &Veth, port: u16, round: usize, count: usize) {
    let to = (Ipv4Addr::from(veth.host_addr()), port);
    in_netns(veth.netns(), || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        for i in 0..count {
            socket.send_to(&payload(round, i), to).unwrap();
        }
    });
}

/// The UDP payload of an Ethernet/IPv4 (no options)/UDP frame to `port`.
fn udp_payload(frame: &[u8], port: u16) -> Option<&[u8]> {
    if frame.len() < 42 || frame[12..14] != [8, 0] || frame[14] != 0x45 || frame[23] != 17 {
        return None;
    }
    if u16::from_be_bytes([frame[36], frame[37]]) != port {
        return None;
    }
    let udp_len = u16::from_be_bytes([frame[38], frame[39]]) as usize;
    frame.get(42..34 + udp_len)
}

fn mac(text: &str) -> [u8; 6] {
    let mut out = [0; 6];
    for (byte, part) in out.iter_mut().zip(text.trim().split(':')) {
        *byte = u8::from_str_radix(part, 16).unwrap();
    }
    out
}

/// The MAC addresses of the host end and of the peer.
fn macs(veth: &Veth) -> ([u8; 6], [u8; 6]) {
    let host = std::fs::read_to_string(format!("/sys/class/net/{}/address", veth.host())).unwrap();
    let out = Command::new("ip")
        .args(["-n", veth.netns(), "-o", "link", "show", "dev", veth.peer()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let peer = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {text:?}"));
    (mac(&host), mac(peer))
}

/// An Ethernet/IPv4/UDP frame from the host end to the peer's
/// `PEER_PORT` (UDP checksum 0: none, as IPv4 allows).
fn frame_to_peer(veth: &Veth, macs: ([u8; 6], [u8; 6]), payload: &[u8]) -> Vec<u8> {
    udp_frame(macs, (veth.host_addr(), veth.peer_addr()), payload)
}

/// An Ethernet/IPv4/UDP frame to `PEER_PORT`.
fn udp_frame(
    (src, dst): ([u8; 6], [u8; 6]),
    (from, to): ([u8; 4], [u8; 4]),
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[8, 0]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&from);
    ip[16..20].copy_from_slice(&to);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&40_000u16.to_be_bytes());
    f.extend_from_slice(&PEER_PORT.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn counts(ebpf: &Ebpf) -> Vec<u64> {
    ebpf.array::<u64>("COUNTS").unwrap().values().unwrap()
}

#[test]
fn af_xdp_socket_receives_redirected_packets_and_transmits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !Veth::tools_available() {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "iproute2 and ping are required on the host"
        );
        eprintln!("skipping: iproute2 or ping is not installed here");
        return;
    }
    if !iu::features::af_xdp() {
        iu::testing::skip_missing(
            "AF_XDP sockets",
            "CONFIG_XDP_SOCKETS (Linux 5.4 ring layout)",
        );
        return;
    }
    let veth = Veth::new(46).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fds = fd_count();
    let ebpf = Ebpf::load_file(iu::object_dir().join("xsk")).unwrap();
    ebpf.array::<u16>("PORT").unwrap().set(0, &PORT).unwrap();
    // ANCHOR: xsk_user
    let link = ebpf
        .xdp("to_socket")
        .unwrap()
        .attach(veth.host(), XdpMode::Auto)
        .unwrap();
    let mut socket = XskSocket::new(
        veth.host(),
        0,
        XskConfig {
            ring_size: 32,
            ..XskConfig::default()
        },
    )
    .unwrap();
    let sockets = ebpf.xsk_map("SOCKETS").unwrap();
    sockets.set(0, &socket).unwrap();
    // ANCHOR_END: xsk_user
    assert!(socket.recv().unwrap().is_none(), "nothing sent yet");

    // Receive, waiting in tokio: the datagrams are sent while the test
    // waits on the socket. 3 × N packets are more than the 32 receive
    // frames: the later ones arrive in frames that dropped packets gave
    // back.
    let (netns, to) = (
        veth.netns().to_owned(),
        (Ipv4Addr::from(veth.host_addr()), PORT),
    );
    let sender = std::thread::spawn(move || {
        in_netns(&netns, || {
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            for round in 0..3 {
                std::thread::sleep(Duration::from_millis(200));
                for i in 0..N {
                    socket.send_to(&payload(round, i), to).unwrap();
                }
            }
        });
    });
    let received = runtime.block_on(async {
        let mut received = vec![];
        for _ in 0..3 * N {
            let packet = tokio::time::timeout(Duration::from_secs(10), socket.recv_async())
                .await
                .expect("a redirected packet within 10 s")
                .unwrap();
            received.push(packet.to_vec());
        }
        received
    });
    sender.join().unwrap();
    for (i, frame) in received.iter().enumerate() {
        assert_eq!(
            udp_payload(frame, PORT),
            Some(&payload(i / N, i % N)[..]),
            "datagram {i}, byte for byte"
        );
    }
    assert_eq!(counts(&ebpf), [3 * N as u64, 3 * N as u64]);

    // More rounds through the batch API, on recycled frames too.
    for round in 3..=5 {
        send_from_peer(&veth, PORT, round, N);
        let mut got = vec![];
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < N && Instant::now() < deadline {
            socket
                .recv_batch(64, |frame| got.push(frame.to_vec()))
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(got.len(), N, "round {round}");
        for (i, frame) in got.iter().enumerate() {
            assert_eq!(udp_payload(frame, PORT), Some(&payload(round, i)[..]));
        }
    }
    let stats = socket.statistics().unwrap();
    assert_eq!(stats.rx_dropped, 0, "{stats:?}");
    assert_eq!(stats.rx_fill_ring_empty_descs, 0, "{stats:?}");

    // Other traffic still goes up the stack (XDP_PASS).
    assert!(veth.ping(2), "pings pass");
    let other = UdpSocket::bind((Ipv4Addr::from(veth.host_addr()), OTHER_PORT)).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    send_from_peer(&veth, OTHER_PORT, 9, 1);
    let mut buf = [0u8; 2048];
    let n = other.recv(&mut buf).expect("the datagram to another port");
    assert_eq!(&buf[..n], &payload(9, 0)[..]);
    assert!(socket.recv().unwrap().is_none(), "not redirected");

    // Transmit: N frames out of the host end, received by the peer's UDP
    // socket; every frame's completion comes back.
    let macs = macs(&veth);
    let received = std::thread::scope(|scope| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ns = veth.netns();
        let receiver = scope.spawn(move || {
            in_netns(ns, || {
                let peer = UdpSocket::bind(("0.0.0.0", PEER_PORT)).unwrap();
                peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                ready_tx.send(()).unwrap();
                let mut got = vec![];
                let mut buf = [0u8; 2048];
                while got.len() < N {
                    match peer.recv(&mut buf) {
                        Ok(n) => got.push(buf[..n].to_vec()),
                        Err(_) => break,
                    }
                }
                got
            })
        });
        ready_rx.recv().unwrap();
        for i in 0..N / 2 {
            let frame = frame_to_peer(&veth, macs, &payload(100, i));
            assert!(socket.send(&frame).unwrap(), "a free transmit frame");
        }
        // The other half queued as a batch, sent by one flush.
        for i in N / 2..N {
            let frame = frame_to_peer(&veth, macs, &payload(100, i));
            assert!(socket.enqueue(&frame).unwrap(), "a free transmit frame");
        }
        socket.flush().unwrap();
        receiver.join().unwrap()
    });
    assert_eq!(received.len(), N, "frames the peer received");
    for (i, datagram) in received.iter().enumerate() {
        assert_eq!(datagram, &payload(100, i), "transmitted datagram {i}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while socket.in_flight() > 0 && Instant::now() < deadline {
        socket.reclaim().unwrap();
        socket.flush().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(socket.in_flight(), 0, "every completion came back");
    let stats = socket.statistics().unwrap();
    assert_eq!(stats.tx_invalid_descs, 0, "{stats:?}");

    // Dropping the socket takes it out of the map: the program's redirect
    // falls back to XDP_PASS and the stack delivers the datagrams.
    drop(socket);
    let fallback = UdpSocket::bind((Ipv4Addr::from(veth.host_addr()), PORT)).unwrap();
    fallback
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let before = counts(&ebpf);
    send_from_peer(&veth, PORT, 7, 3);
    for i in 0..3 {
        let n = fallback
            .recv(&mut buf)
            .expect("passed after the socket closed");
        assert_eq!(&buf[..n], &payload(7, i)[..]);
    }
    let after = counts(&ebpf);
    assert_eq!(after[0], before[0] + 3);
    assert_eq!(after[1], before[1], "nothing redirected any more");
    sockets.clear(0).unwrap();
    assert!(sockets.clear(4).is_err(), "past the end");

    drop((fallback, other, link, ebpf));
    assert_eq!(fd_count(), fds, "no descriptor left behind");
}

#[test]
fn af_xdp_sockets_refuse_bad_sizes_busy_queues_and_unknown_interfaces() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !iu::features::af_xdp() {
        iu::testing::skip_missing("AF_XDP sockets", "CONFIG_XDP_SOCKETS");
        return;
    }
    // On the loopback of a network namespace of its own.
    iu::testing::in_new_netns(|| {
        refusals();
    })
    .unwrap();
}

fn refusals() {
    let bad = XskSocket::new(
        "lo",
        0,
        XskConfig {
            frame_size: 3000,
            ..XskConfig::default()
        },
    )
    .unwrap_err();
    assert!(matches!(bad, Error::XskConfig { .. }), "{bad}");
    let bad = XskSocket::new(
        "lo",
        0,
        XskConfig {
            ring_size: 100,
            ..XskConfig::default()
        },
    )
    .unwrap_err();
    assert!(bad.to_string().contains("power of two"), "{bad}");
    let missing = XskSocket::new("iu-no-such-if", 0, XskConfig::default()).unwrap_err();
    assert!(
        matches!(&missing, Error::Xsk { op, .. } if op.contains("interface")),
        "{missing}"
    );

    let small = XskConfig {
        ring_size: 8,
        ..XskConfig::default()
    };
    let mut first = XskSocket::new("lo", 0, small).unwrap();
    let busy = XskSocket::new("lo", 0, small).unwrap_err();
    assert!(
        matches!(&busy, Error::Xsk { op: "bind", source, .. } if source.errno() == Some(libc::EBUSY)),
        "{busy}"
    );
    assert!(busy.to_string().contains("another AF_XDP socket"), "{busy}");
    let no_queue = XskSocket::new("lo", 9, small).unwrap_err();
    assert!(
        matches!(&no_queue, Error::Xsk { op: "bind", .. }),
        "{no_queue}"
    );
    let big = first.send(&[0; 2049]).unwrap_err();
    assert!(
        matches!(
            big,
            Error::XskPacketSize {
                len: 2049,
                max: 2048
            }
        ),
        "{big}"
    );

    // Only XSK maps take sockets.
    let ebpf = Ebpf::load_file(iu::object_dir().join("xsk")).unwrap();
    assert!(matches!(
        ebpf.xsk_map("COUNTS").unwrap_err(),
        Error::WrongMapType { .. }
    ));
    assert!(
        ebpf.xsk_map("SOCKETS").unwrap().set(4, &first).is_err(),
        "past the end"
    );
    // A closed socket frees the queue, a moment later (the kernel
    // releases it from a work item).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match XskSocket::new("lo", 0, small) {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(e.to_string().contains("EBUSY"), "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the queue stayed busy: {e}"),
        }
    }
}

/// The same on loopback, in a network namespace of the test's own (its
/// thread unshares one): no veth, no second namespace, so it also runs
/// where iproute2 is busybox's (the VM tier's guests). Generic XDP on
/// `lo`; frames the socket sends come back in through `lo`.
#[test]
fn af_xdp_socket_on_a_private_loopback() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !iu::features::af_xdp() {
        iu::testing::skip_missing("AF_XDP sockets", "CONFIG_XDP_SOCKETS");
        return;
    }
    iu::testing::in_new_netns(|| {
        // Transmitted frames come from 10.198.0.2 to 10.198.0.1: a
        // loopback source would be a martian to the receive path, a local
        // one too.
        let out = Command::new("ip")
            .args(["addr", "add", "10.198.0.1/24", "dev", "lo"])
            .output()
            .unwrap();
        assert!(out.status.success(), "ip addr add: {out:?}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let fds = fd_count();
        let localhost = Ipv4Addr::LOCALHOST;
        let ebpf = Ebpf::load_file(iu::object_dir().join("xsk")).unwrap();
        ebpf.array::<u16>("PORT").unwrap().set(0, &PORT).unwrap();
        let link = ebpf
            .xdp("to_socket")
            .unwrap()
            .attach("lo", XdpMode::Generic)
            .unwrap();
        let mut socket = XskSocket::new(
            "lo",
            0,
            XskConfig {
                ring_size: 16,
                frame_size: 4096,
                need_wakeup: false,
            },
        )
        .unwrap();
        let sockets = ebpf.xsk_map("SOCKETS").unwrap();
        sockets.set(0, &socket).unwrap();
        let sender = UdpSocket::bind((localhost, 0)).unwrap();

        // Receive: 4 rounds of 12 (more than the 16 receive frames), the
        // first with recv_async, the others with recv_batch.
        for round in 0..4 {
            for i in 0..12 {
                sender
                    .send_to(&payload(round, i), (localhost, PORT))
                    .unwrap();
            }
            let mut got = vec![];
            if round == 0 {
                runtime.block_on(async {
                    for _ in 0..12 {
                        let packet =
                            tokio::time::timeout(Duration::from_secs(10), socket.recv_async())
                                .await
                                .expect("a redirected packet within 10 s")
                                .unwrap();
                        got.push(packet.to_vec());
                    }
                });
            } else {
                let deadline = Instant::now() + Duration::from_secs(10);
                while got.len() < 12 && Instant::now() < deadline {
                    socket
                        .recv_batch(64, |frame| got.push(frame.to_vec()))
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            assert_eq!(got.len(), 12, "round {round}");
            for (i, frame) in got.iter().enumerate() {
                assert_eq!(
                    udp_payload(frame, PORT),
                    Some(&payload(round, i)[..]),
                    "round {round}, datagram {i}"
                );
            }
        }
        assert_eq!(counts(&ebpf), [48, 48]);

        // Another port goes up the stack.
        let other = UdpSocket::bind((localhost, OTHER_PORT)).unwrap();
        other
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        sender
            .send_to(b"to the stack", (localhost, OTHER_PORT))
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = other.recv(&mut buf).expect("the datagram to another port");
        assert_eq!(&buf[..n], b"to the stack");

        // Transmit: 24 frames (more than the 16 transmit frames, so
        // completions must come back for the later ones) to a UDP socket
        // on 10.198.0.1, each a 3000-byte datagram (4096-byte frames).
        let peer = UdpSocket::bind(("10.198.0.1", PEER_PORT)).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let big = |i: usize| -> Vec<u8> { (0..3000).map(|b| (b * 7 + i) as u8).collect() };
        for i in 0..24 {
            let frame = udp_frame(
                ([0; 6], [0; 6]),
                ([10, 198, 0, 2], [10, 198, 0, 1]),
                &big(i),
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while !socket.send(&frame).unwrap() {
                assert!(Instant::now() < deadline, "no transmit frame came back");
                socket.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        for i in 0..24 {
            let n = peer.recv(&mut buf).expect("a transmitted datagram");
            assert_eq!(&buf[..n], &big(i)[..], "transmitted datagram {i}");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while socket.in_flight() > 0 && Instant::now() < deadline {
            socket.reclaim().unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(socket.in_flight(), 0, "every completion came back");
        let stats = socket.statistics().unwrap();
        assert_eq!(
            (stats.rx_dropped, stats.tx_invalid_descs),
            (0, 0),
            "{stats:?}"
        );

        // Closed, the socket leaves the map: the stack gets the port back.
        drop(socket);
        let fallback = UdpSocket::bind((localhost, PORT)).unwrap();
        fallback
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        sender.send_to(b"after", (localhost, PORT)).unwrap();
        let n = fallback
            .recv(&mut buf)
            .expect("passed after the socket closed");
        assert_eq!(&buf[..n], b"after");
        assert_eq!(counts(&ebpf), [49, 48]);
        drop((fallback, peer, other, sender, link, ebpf));
        assert_eq!(fd_count(), fds, "no descriptor left behind");
    })
    .unwrap();
}
