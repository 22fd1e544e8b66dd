//! cgroup sysctl, device and socket-option programs, on a new cgroup v2
//! that holds this test process while the test runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod cgroup_support;

use std::{io::ErrorKind, net::UdpSocket, os::fd::AsFd};

use cgroup_support::InNewCgroup;
use iu::Ebpf;

fn counts(ebpf: &Ebpf) -> Vec<u64> {
    ebpf.array::<u64>("COUNTS").unwrap().values().unwrap()
}

#[test]
fn sysctl_device_and_sockopt_programs_deny_what_they_name() {
    let Some(mount) = cgroup_support::mount() else {
        return;
    };
    // ANCHOR: attach
    let ebpf = Ebpf::load_file(iu::object_dir().join("cgroup_guards")).unwrap();
    let cgroup = InNewCgroup::enter(&mount, "guards");
    let links: Vec<_> = vec![
        ebpf.cgroup_sysctl("guard_sysctl")
            .unwrap()
            .attach(&cgroup.dir)
            .unwrap(),
        ebpf.cgroup_device("guard_device")
            .unwrap()
            .attach(&cgroup.dir)
            .unwrap(),
        ebpf.cgroup_sockopt("guard_setsockopt")
            .unwrap()
            .attach(&cgroup.dir)
            .unwrap(),
        ebpf.cgroup_sockopt("watch_getsockopt")
            .unwrap()
            .attach(&cgroup.dir)
            .unwrap(),
    ];
    // ANCHOR_END: attach

    // sysctl: kernel/ostype is denied, its neighbours are not.
    let error = std::fs::read_to_string("/proc/sys/kernel/ostype").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(counts(&ebpf)[0], 1);
    assert_eq!(
        counts(&ebpf)[1],
        u64::from(b'L'),
        "the value the program read"
    );

    // device: /dev/zero (1:5) is denied, /dev/null (1:3) is not.
    let error = std::fs::File::open("/dev/zero").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");
    std::fs::File::open("/dev/null").unwrap();
    assert_eq!(counts(&ebpf)[2], 1);

    // setsockopt(IP_TOS) is denied, other options are not; getsockopt is
    // seen after the kernel answered.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let error = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv4Tos, &0x10)
        .unwrap_err();
    assert_eq!(error, nix::errno::Errno::EPERM);
    socket.set_ttl(32).unwrap();
    let rcvbuf =
        nix::sys::socket::getsockopt(&socket.as_fd(), nix::sys::socket::sockopt::RcvBuf).unwrap();
    assert!(rcvbuf > 0);
    assert_eq!(counts(&ebpf)[3], 1);
    assert_eq!(counts(&ebpf)[4], 1);

    drop(links);
    std::fs::read_to_string("/proc/sys/kernel/ostype").expect("detached on drop");
    std::fs::File::open("/dev/zero").expect("detached on drop");
}
