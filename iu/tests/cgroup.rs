//! cgroup programs on a new cgroup v2 that holds this test process while a
//! test runs (one test at a time: the whole process moves).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    net::{TcpListener, UdpSocket},
    path::PathBuf,
    time::Duration,
};

use iu::Ebpf;

mod cgroup_support;

use cgroup_support::{InNewCgroup, cgroup2_mount};

/// The cgroup2 mount and the loaded object, or `None` (saying why) where
/// no cgroup v2 hierarchy is mounted.
fn setup() -> Option<(PathBuf, Ebpf)> {
    let Some(mount) = cgroup2_mount() else {
        assert!(
            std::env::var_os("IU_VM_TIER").is_none(),
            "the VM guest mounts cgroup2"
        );
        eprintln!("skipping: cgroup programs: no cgroup v2 hierarchy is mounted (cgroup2)");
        return None;
    };
    let ebpf = Ebpf::load_file(iu::object_dir().join("cgroup")).unwrap();
    Some((mount, ebpf))
}

#[test]
fn cgroup_skb_denies_one_udp_port_of_the_cgroup_until_detached() {
    let Some((mount, ebpf)) = setup() else { return };
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let open = UdpSocket::bind("127.0.0.1:0").unwrap();
    let denied = open.local_addr().unwrap();
    drop(open);
    ebpf.array::<u32>("CONFIG")
        .unwrap()
        .set(0, &u32::from(denied.port()))
        .unwrap();

    let cgroup = InNewCgroup::enter(&mount, "cgroup-skb");
    let link = ebpf
        .cgroup_skb("deny_udp_port")
        .unwrap()
        .attach(&cgroup.dir)
        .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let error = sender.send_to(b"denied", denied).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EPERM), "{error}");
    sender
        .send_to(b"allowed", receiver.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 64];
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"allowed");
    let counts = ebpf.array::<u64>("COUNTS").unwrap();
    assert_eq!(counts.get(1).unwrap(), 1, "one packet denied");
    assert!(counts.get(0).unwrap() >= 2, "both packets seen");

    drop(link);
    // Port `denied` is closed: the datagram leaves and finds no socket.
    sender.send_to(b"after detach", denied).unwrap();
    assert_eq!(counts.get(1).unwrap(), 1, "still filtering after detach");
    drop(cgroup);
}

#[test]
fn sock_create_denies_udp_sockets_until_detached() {
    let Some((mount, ebpf)) = setup() else { return };
    ebpf.array::<u32>("CONFIG").unwrap().set(1, &1).unwrap();
    let cgroup = InNewCgroup::enter(&mount, "sock-create");
    let link = ebpf
        .cgroup_sock("deny_udp_sockets")
        .unwrap()
        .attach(&cgroup.dir)
        .unwrap();
    let error = UdpSocket::bind("127.0.0.1:0").unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EPERM), "{error}");
    TcpListener::bind("127.0.0.1:0").expect("TCP sockets are allowed");
    let counts = ebpf.array::<u64>("COUNTS").unwrap();
    assert_eq!(counts.get(2).unwrap(), 1, "one socket denied");

    drop(link);
    UdpSocket::bind("127.0.0.1:0").expect("UDP sockets after detach");
    assert_eq!(counts.get(2).unwrap(), 1);
    drop(cgroup);
}
