//! A flow dissector: the keys it fills for frames given to
//! BPF_PROG_TEST_RUN, and the kernel running it for real datagrams in a
//! network namespace this test creates (an AF_PACKET socket with hash
//! fanout makes the kernel dissect every packet on its loopback).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{net::UdpSocket, os::fd::FromRawFd};

use iu::{Ebpf, Error, programs::TestRun};

const OK: u32 = 0;
const DROP: u32 = 2;
const CONTINUE: u32 = 129;

/// An Ethernet frame of IPv4 (header length `ihl` words) carrying UDP
/// from 10.0.0.1:4242 to 10.0.0.2:53.
fn frame(ethertype: [u8; 2], ihl: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&ethertype);
    let mut ip = vec![0x40 | ihl, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    ip.resize(usize::from(ihl) * 4, 0);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x10, 0x92, 0x00, 0x35, 0, 16, 0, 0]);
    f.extend_from_slice(&[0xab; 8]);
    f
}

fn supported() -> bool {
    use iu::features::{bpf_attach_type, bpf_prog_type};
    if iu::features::program_type(
        bpf_prog_type::BPF_PROG_TYPE_FLOW_DISSECTOR as u32,
        bpf_attach_type::BPF_FLOW_DISSECTOR as u32,
    ) {
        return true;
    }
    iu::testing::skip_missing("flow dissectors", "flow dissector programs (Linux 4.20)");
    false
}

#[test]
fn flow_dissector_test_run_gives_the_keys_the_program_filled() {
    if !supported() {
        return;
    }
    let ebpf = Ebpf::load_file(iu::object_dir().join("flow_dissector")).unwrap();
    let program = ebpf.program("dissect").unwrap();
    let out = program
        .test_run(&TestRun::packet(&frame([0x08, 0x00], 5)))
        .unwrap();
    assert_eq!(out.retval, OK);
    // struct bpf_flow_keys
    let keys = &out.data;
    assert!(keys.len() >= 56, "{} bytes", keys.len());
    let u16_at = |at: usize| u16::from_ne_bytes([keys[at], keys[at + 1]]);
    assert_eq!(u16_at(0), 14, "nhoff: after the Ethernet header");
    assert_eq!(u16_at(2), 34, "thoff");
    assert_eq!(u16_at(4), 0x0800, "addr_proto");
    assert_eq!(keys[9], 17, "ip_proto");
    assert_eq!(&keys[10..12], &[0x08, 0x00], "n_proto");
    assert_eq!(&keys[12..14], &4242u16.to_be_bytes(), "sport");
    assert_eq!(&keys[14..16], &53u16.to_be_bytes(), "dport");
    assert_eq!(&keys[16..24], &[10, 0, 0, 1, 10, 0, 0, 2], "addresses");

    // ARP: the kernel's dissector; IPv4 with options: refused.
    let arp = program
        .test_run(&TestRun::packet(&frame([0x08, 0x06], 5)))
        .unwrap();
    assert_eq!(arp.retval, CONTINUE);
    let options = program
        .test_run(&TestRun::packet(&frame([0x08, 0x00], 6)))
        .unwrap();
    assert_eq!(options.retval, DROP);

    assert!(matches!(
        ebpf.sk_lookup("dissect"),
        Err(Error::WrongProgramType { .. })
    ));
}

/// An AF_PACKET socket on every interface that joins a hash fanout group:
/// the kernel hashes (dissects) each packet to pick the group's member.
fn hash_fanout_socket() -> std::fs::File {
    let eth_p_all = (libc::ETH_P_ALL as u16).to_be() as i32;
    // SAFETY: plain socket(2); the descriptor is owned by the File below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, eth_p_all) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    let fanout: i32 = 0x1234 | (libc::PACKET_FANOUT_HASH as i32) << 16;
    // SAFETY: the option value is an int that lives through the call.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            (&fanout as *const i32).cast(),
            size_of::<i32>() as u32,
        )
    };
    assert_eq!(ret, 0, "{}", std::io::Error::last_os_error());
    file
}

#[test]
fn flow_dissector_runs_for_the_packets_of_its_namespace() {
    if !supported() {
        return;
    }
    // Its own thread, moved to a new network namespace (which dies with
    // the thread's last reference).
    iu::testing::in_new_netns(|| {
        let ebpf = Ebpf::load_file(iu::object_dir().join("flow_dissector")).unwrap();
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = receiver.local_addr().unwrap().port();
        ebpf.array::<u32>("CONFIG")
            .unwrap()
            .set(0, &u32::from(port))
            .unwrap();
        let seen = ebpf.array::<u64>("SEEN").unwrap();
        let _fanout = hash_fanout_socket();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender_port = sender.local_addr().unwrap().port();
        let send = || {
            sender.send_to(b"dissect me", ("127.0.0.1", port)).unwrap();
            let mut buf = [0u8; 32];
            assert_eq!(receiver.recv(&mut buf).unwrap(), 10);
        };

        send();
        assert_eq!(seen.get(0).unwrap(), 0, "not attached yet");

        let link = ebpf
            .flow_dissector("dissect")
            .unwrap()
            .attach_current()
            .unwrap();
        for _ in 0..3 {
            send();
        }
        let dissected = seen.get(0).unwrap();
        // Each datagram is dissected at least once (on its way out and in).
        assert!(dissected >= 3, "{dissected} dissections of 3 datagrams");
        assert_eq!(seen.get(1).unwrap(), u64::from(sender_port));

        // One flow dissector per namespace.
        assert!(matches!(
            ebpf.flow_dissector("dissect").unwrap().attach_current(),
            Err(Error::Attach { .. })
        ));

        drop(link);
        send();
        assert_eq!(seen.get(0).unwrap(), dissected, "detached");
    })
    .unwrap();
}
