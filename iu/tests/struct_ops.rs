//! A TCP congestion control written in Rust (`iu_reno`, a struct_ops of
//! `tcp_congestion_ops`): registered, selected with
//! `setsockopt(TCP_CONGESTION)` on a loopback connection in a network
//! namespace this test creates, its callbacks seen running while a few MB
//! go through, and unregistered when the handle drops (the name can no
//! longer be selected, and nothing of it is left in the kernel). Linux
//! 6.4+ registers through a link; older kernels (the 6.1 guest) through
//! the map update, which the test checks too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    ffi::OsString,
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use iu::{Ebpf, Error, programs::XdpMode};
use nix::sys::socket::{getsockopt, setsockopt, sockopt::TcpCongestion};

const NAME: &str = "iu_reno";

fn available() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap()
}

/// Whether anything of `iu_reno` is still in the kernel: its programs
/// (names cut to 15 bytes), its map, a struct_ops link.
fn leftovers() -> Vec<String> {
    let mut out: Vec<String> = iu::programs::loaded()
        .unwrap()
        .into_iter()
        .filter(|p| p.name.starts_with("iu_reno"))
        .map(|p| format!("program {}", p.name))
        .collect();
    out.extend(
        iu::maps::loaded()
            .unwrap()
            .into_iter()
            .filter(|m| m.name == NAME)
            .map(|m| format!("map {}", m.name)),
    );
    out.extend(
        iu::links::loaded()
            .unwrap()
            .into_iter()
            .filter(|l| l.type_name() == "struct_ops")
            .map(|l| format!("struct_ops link {}", l.id)),
    );
    out
}

#[test]
fn struct_ops_tcp_congestion_control_in_rust_runs_on_a_real_connection() {
    if !iu::features::struct_ops("tcp_congestion_ops") {
        iu::testing::skip_missing(
            "TCP congestion control in Rust",
            "struct_ops of tcp_congestion_ops (Linux 5.6 with CONFIG_BPF_JIT)",
        );
        return;
    }
    iu::testing::in_new_netns(|| {
        let ebpf = Ebpf::load_file(iu::object_dir().join("struct_ops_reno")).unwrap();
        let ops = ebpf.struct_ops(NAME).unwrap();
        assert_eq!(ops.kernel_struct(), "tcp_congestion_ops");
        let mut members: Vec<&str> = ops.members().map(|(m, _)| m).collect();
        members.sort();
        assert_eq!(
            members,
            ["cong_avoid", "init", "release", "ssthresh", "undo_cwnd"]
        );
        assert!(matches!(
            ebpf.struct_ops("nope"),
            Err(Error::UnknownStructOps { available, .. }) if available == [NAME]
        ));
        assert!(!available().split_whitespace().any(|n| n == NAME));

        // ANCHOR: register
        let registration = ops.register().unwrap();
        assert_eq!(registration.has_link(), iu::features::struct_ops_link());
        assert!(
            available().split_whitespace().any(|n| n == NAME),
            "{}",
            available()
        );
        // A second registration under the same name is refused.
        assert!(matches!(
            ops.register(),
            Err(Error::StructOpsRegister { .. })
        ));
        // ANCHOR_END: register

        let calls = ebpf.array::<u64>("CALLS").unwrap();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        // Losses for the connection: one data segment in 16 dropped as
        // loopback receives it, so that the kernel calls `ssthresh`.
        ebpf.array::<u32>("CONFIG")
            .unwrap()
            .set(0, &u32::from(port))
            .unwrap();
        let lossy = ebpf
            .xdp("lossy")
            .unwrap()
            .attach("lo", XdpMode::Generic)
            .unwrap();
        let reader = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut total = 0usize;
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match peer.read(&mut buf).unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        // ANCHOR: select
        let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        setsockopt(&client, TcpCongestion, &OsString::from(NAME)).unwrap();
        let selected = getsockopt(&client, TcpCongestion).unwrap();
        assert_eq!(selected.to_str(), Some(NAME));
        // ANCHOR_END: select
        assert_eq!(calls.get(0).unwrap(), 1, "init ran once, at the selection");

        const SENT: usize = 8 << 20;
        let chunk = vec![0x5au8; 64 << 10];
        for _ in 0..SENT / chunk.len() {
            client.write_all(&chunk).unwrap();
        }
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), SENT);
        drop(client);

        drop(lossy);
        let cong_avoid = calls.get(1).unwrap();
        eprintln!(
            "iu_reno: init {}, cong_avoid {cong_avoid} ({} packets acked), ssthresh {}, undo_cwnd {}, largest window {}, {} of {} data segments dropped, link {}",
            calls.get(0).unwrap(),
            calls.get(5).unwrap(),
            calls.get(2).unwrap(),
            calls.get(3).unwrap(),
            calls.get(6).unwrap(),
            calls.get(8).unwrap(),
            calls.get(7).unwrap(),
            registration.has_link()
        );
        assert!(cong_avoid > 0, "cong_avoid never ran");
        assert!(calls.get(5).unwrap() > 0, "no packet acknowledged");
        assert!(calls.get(8).unwrap() > 0, "no segment dropped");
        assert!(calls.get(2).unwrap() > 0, "ssthresh never ran, despite losses");
        assert!(
            calls.get(6).unwrap() > 10,
            "the window grew beyond the initial 10: {}",
            calls.get(6).unwrap()
        );
        // `release` runs when the socket is destroyed (after TIME_WAIT
        // handling the socket itself is gone at once on close).
        let deadline = Instant::now() + Duration::from_secs(5);
        while calls.get(4).unwrap() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(calls.get(4).unwrap(), 1, "release ran once");

        drop(registration);
        assert!(!available().split_whitespace().any(|n| n == NAME));
        let late = TcpStream::connect((Ipv4Addr::LOCALHOST, port));
        // The listener is gone; any socket will do for the option.
        let socket = late.unwrap_or_else(|_| {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            TcpStream::connect(l.local_addr().unwrap()).unwrap()
        });
        let refused = setsockopt(&socket, TcpCongestion, &OsString::from(NAME)).unwrap_err();
        assert_eq!(refused, nix::errno::Errno::ENOENT);
        drop(socket);
        drop(ebpf);
        // The struct_ops map and programs are freed after RCU grace
        // periods.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !leftovers().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(leftovers(), Vec::<String>::new());
    })
    .unwrap();
}

#[test]
fn struct_ops_programs_are_not_kprobes() {
    if !iu::features::struct_ops("tcp_congestion_ops") {
        iu::testing::skip_missing(
            "TCP congestion control in Rust",
            "struct_ops of tcp_congestion_ops (Linux 5.6 with CONFIG_BPF_JIT)",
        );
        return;
    }
    let ebpf = Ebpf::load_file(iu::object_dir().join("struct_ops_reno")).unwrap();
    assert!(matches!(
        ebpf.kprobe("iu_reno_ssthresh"),
        Err(Error::WrongProgramType { .. })
    ));
}
