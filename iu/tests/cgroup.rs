//! cgroup programs on a new cgroup v2 that holds this test process while a
//! test runs (one test at a time: the whole process moves).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    net::{TcpListener, UdpSocket},
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use iu::Ebpf;

/// Held while this process is in a test's cgroup.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Where cgroup v2 is mounted.
fn cgroup2_mount() -> Option<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .map(|line| line.split(' ').collect::<Vec<_>>())
        .find(|fields| fields.get(2) == Some(&"cgroup2"))
        .map(|fields| PathBuf::from(fields[1]))
}

/// This process, moved into a new cgroup until dropped.
struct InNewCgroup {
    dir: PathBuf,
    previous: PathBuf,
    _alone: MutexGuard<'static, ()>,
}

impl InNewCgroup {
    fn enter(mount: &Path, name: &str) -> Self {
        let alone = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .expect("a cgroup v2 line in /proc/self/cgroup");
        let previous = mount.join(own.trim_start_matches('/'));
        let dir = mount.join(format!("iu-test-{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).unwrap();
        Self {
            dir,
            previous,
            _alone: alone,
        }
    }
}

impl Drop for InNewCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(
            self.previous.join("cgroup.procs"),
            std::process::id().to_string(),
        );
        let _ = std::fs::remove_dir(&self.dir);
    }
}

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
