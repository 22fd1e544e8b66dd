//! AF_XDP: an `#[xdp]` program on one end of a veth pair redirects UDP
//! packets to one port into the `XskMap` slot of their receive queue,
//! where an `iu::xsk::XskSocket` bound to that queue receives them; the
//! socket also transmits frames that the peer's UDP socket receives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    net::{Ipv4Addr, UdpSocket},
    os::fd::AsFd,
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
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
    })
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
fn frame_to_peer(veth: &Veth, (src, dst): ([u8; 6], [u8; 6]), payload: &[u8]) -> Vec<u8> {
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
    ip[12..16].copy_from_slice(&veth.host_addr());
    ip[16..20].copy_from_slice(&veth.peer_addr());
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
        for i in 0..N {
            let frame = frame_to_peer(&veth, macs, &payload(100, i));
            assert!(socket.send(&frame).unwrap(), "a free transmit frame");
        }
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
    if !Veth::tools_available() || !iu::features::af_xdp() {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "the host has iproute2 and AF_XDP"
        );
        iu::testing::skip_missing("AF_XDP sockets", "CONFIG_XDP_SOCKETS");
        return;
    }
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

    let veth = Veth::new(47).unwrap();
    let small = XskConfig {
        ring_size: 8,
        ..XskConfig::default()
    };
    let mut first = XskSocket::new(veth.host(), 0, small).unwrap();
    let busy = XskSocket::new(veth.host(), 0, small).unwrap_err();
    assert!(
        matches!(&busy, Error::Xsk { op: "bind", source, .. } if source.errno() == Some(libc::EBUSY)),
        "{busy}"
    );
    assert!(busy.to_string().contains("another AF_XDP socket"), "{busy}");
    let no_queue = XskSocket::new(veth.host(), 9, small).unwrap_err();
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
}
