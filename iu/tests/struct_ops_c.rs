//! A TCP congestion control written in C as libbpf objects write it
//! (`iu/tests/c/struct_ops_c.bpf.c`: `.struct_ops.link` and `.struct_ops`
//! variables of `struct tcp_congestion_ops`), loaded and registered
//! through the same `Ebpf::struct_ops` path as Rust struct_ops: selected
//! with `setsockopt(TCP_CONGESTION)` on a loopback connection in a
//! network namespace this test creates, its callbacks seen running, and
//! unregistered when the handle drops. Linux 6.4+ registers the
//! `.struct_ops.link` variable through a link; older kernels (the 6.1
//! guest) through the map update, as the `.struct_ops` one everywhere.
//! A struct no kernel has is refused with its name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    ffi::OsString,
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use iu::{Ebpf, Error};
use nix::sys::socket::{getsockopt, setsockopt, sockopt::TcpCongestion};

/// The `.struct_ops.link` variable, and the name it registers under.
const LINKED: &str = "iu_c_reno";
/// The `.struct_ops` variable, and its name.
const MAPPED: &str = "iu_c_reno_map";

fn object(name: &str) -> std::path::PathBuf {
    let path = iu::object_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    path
}

fn available() -> Vec<String> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Whether anything of the object is still in the kernel: its programs,
/// its struct_ops maps, a struct_ops link.
fn leftovers() -> Vec<String> {
    let mut out: Vec<String> = iu::programs::loaded()
        .unwrap()
        .into_iter()
        .filter(|p| p.name.starts_with("iu_c_"))
        .map(|p| format!("program {}", p.name))
        .collect();
    out.extend(
        iu::maps::loaded()
            .unwrap()
            .into_iter()
            .filter(|m| m.name.starts_with("iu_c_reno"))
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

/// Sends `bytes` over a fresh loopback connection whose congestion control
/// is `name`, and checks the selection.
fn transfer(name: &str, bytes: usize) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
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
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    setsockopt(&client, TcpCongestion, &OsString::from(name)).unwrap();
    let selected = getsockopt(&client, TcpCongestion).unwrap();
    assert_eq!(selected.to_str(), Some(name));
    let chunk = vec![0x5au8; 64 << 10];
    for _ in 0..bytes / chunk.len() {
        client.write_all(&chunk).unwrap();
    }
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(reader.join().unwrap(), bytes);
}

#[test]
fn struct_ops_tcp_congestion_control_in_c_runs_on_a_real_connection() {
    if !iu::features::struct_ops("tcp_congestion_ops") {
        iu::testing::skip_missing(
            "TCP congestion control in C",
            "struct_ops of tcp_congestion_ops (Linux 5.6 with CONFIG_BPF_JIT)",
        );
        return;
    }
    iu::testing::in_new_netns(|| {
        let ebpf = Ebpf::load_file(object("struct_ops_c")).unwrap();
        let mut names: Vec<&str> = ebpf.all_struct_ops().map(|o| o.name()).collect();
        names.sort();
        assert_eq!(names, [LINKED, MAPPED]);
        let ops = ebpf.struct_ops(LINKED).unwrap();
        assert_eq!(ops.kernel_struct(), "tcp_congestion_ops");
        let mut members: Vec<(&str, &str)> = ops.members().collect();
        members.sort();
        assert_eq!(
            members,
            [
                ("cong_avoid", "iu_c_cong_avoid"),
                ("init", "iu_c_init"),
                ("ssthresh", "iu_c_ssthresh"),
                ("undo_cwnd", "iu_c_undo_cwnd"),
            ]
        );
        // The callbacks load at `Ebpf::load`, as struct_ops programs.
        let mut programs: Vec<&str> = ebpf.programs().map(|p| p.name()).collect();
        programs.sort();
        assert_eq!(
            programs,
            [
                "iu_c_cong_avoid",
                "iu_c_init",
                "iu_c_ssthresh",
                "iu_c_undo_cwnd"
            ]
        );
        assert!(matches!(
            ebpf.struct_ops("nope"),
            Err(Error::UnknownStructOps { available, .. }) if available == [LINKED, MAPPED]
        ));
        assert!(!available().iter().any(|n| n == LINKED));

        // `.struct_ops.link`: a link where the kernel has them (6.4+), the
        // map update before.
        let registration = ops.register().unwrap();
        assert_eq!(registration.has_link(), iu::features::struct_ops_link());
        assert!(available().iter().any(|n| n == LINKED), "{:?}", available());
        assert!(matches!(
            ops.register(),
            Err(Error::StructOpsRegister { .. })
        ));

        let calls = ebpf.array::<u64>("calls").unwrap();
        transfer(LINKED, 4 << 20);
        assert_eq!(calls.get(0).unwrap(), 1, "init ran once, at the selection");
        let cong_avoid = calls.get(1).unwrap();
        eprintln!(
            "iu_c_reno: init {}, cong_avoid {cong_avoid}, ssthresh {}, undo_cwnd {}, link {}",
            calls.get(0).unwrap(),
            calls.get(2).unwrap(),
            calls.get(3).unwrap(),
            registration.has_link()
        );
        assert!(cong_avoid > 0, "cong_avoid never ran");

        // `.struct_ops`: always the map update, as libbpf registers it.
        let mapped = ebpf.struct_ops(MAPPED).unwrap().register().unwrap();
        assert!(!mapped.has_link());
        assert!(available().iter().any(|n| n == MAPPED), "{:?}", available());
        transfer(MAPPED, 1 << 20);
        assert!(
            calls.get(1).unwrap() > cong_avoid,
            "the shared cong_avoid ran for the second struct too"
        );
        assert_eq!(calls.get(0).unwrap(), 1, "the second struct has no init");

        drop(mapped);
        drop(registration);
        let names = available();
        assert!(
            !names.iter().any(|n| n == LINKED || n == MAPPED),
            "{names:?}"
        );
        drop(ebpf);
        // The struct_ops maps and programs are freed after RCU grace
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
fn a_struct_the_kernel_lacks_is_refused_by_name() {
    let err = Ebpf::load_file(object("struct_ops_unknown")).unwrap_err();
    let Error::StructOpsUnknownStruct {
        name,
        kernel_struct,
    } = &err
    else {
        panic!("expected StructOpsUnknownStruct, got {err}");
    };
    assert_eq!(
        (name.as_str(), kernel_struct.as_str()),
        ("iu_missing", "iu_no_such_ops")
    );
    assert!(err.to_string().contains("struct iu_no_such_ops"), "{err}");
    // Nothing of it stays loaded.
    assert!(
        !iu::programs::loaded()
            .unwrap()
            .iter()
            .any(|p| p.name.starts_with("iu_no_such")),
    );
}
