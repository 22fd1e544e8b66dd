//! Local storage of sockets, cgroups and inodes: values created by
//! programs on first use, read and written from user space by descriptor
//! (socket), directory (cgroup) or open file (inode).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::net::{TcpListener, TcpStream, UdpSocket};

use iu::{Ebpf, Error, maps::BPF_ANY};

mod cgroup_support;

use cgroup_support::InNewCgroup;

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, iu::Pod)]
struct Seen {
    established: u64,
    port: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, iu::Pod)]
struct Made {
    mkdirs: u64,
    level: u64,
    tag: u64,
}

#[test]
fn sk_storage_keeps_a_value_per_socket_from_sock_ops_and_cgroup_sock() {
    let Some(mount) = cgroup_support::mount() else {
        return;
    };
    let ebpf = Ebpf::load_file(iu::object_dir().join("sk_storage")).unwrap();
    let cgroup = InNewCgroup::enter(&mount, "skstorage");
    let _ops = ebpf
        .sock_ops("established")
        .unwrap()
        .attach(&cgroup.dir)
        .unwrap();
    let _create = ebpf
        .cgroup_sock("created")
        .unwrap()
        .attach(&cgroup.dir)
        .unwrap();
    let seen = ebpf.sk_storage::<Seen>("SEEN").unwrap();
    let created = ebpf.sk_storage::<u64>("CREATED").unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();

    // Each socket has its own value, made by the program.
    let port = |s: &TcpStream| u64::from(s.local_addr().unwrap().port());
    assert_eq!(
        seen.get(&client).unwrap(),
        Some(Seen {
            established: 1,
            port: port(&client)
        })
    );
    assert_eq!(
        seen.get(&server).unwrap(),
        Some(Seen {
            established: 1,
            port: port(&server)
        })
    );
    assert_eq!(
        seen.get(&listener).unwrap(),
        None,
        "no event on the listener"
    );
    assert_eq!(created.get(&client).unwrap(), Some(1 + (6 << 8)), "TCP");
    assert_eq!(created.get(&udp).unwrap(), Some(1 + (17 << 8)), "UDP");

    // User space writes and deletes.
    seen.insert(
        &client,
        &Seen {
            established: 7,
            port: 0,
        },
        BPF_ANY,
    )
    .unwrap();
    assert_eq!(seen.get(&client).unwrap().unwrap().established, 7);
    assert!(seen.remove(&client).unwrap());
    assert_eq!(seen.get(&client).unwrap(), None);

    // A descriptor that is not a socket is named as such.
    let file = std::fs::File::open("/dev/null").unwrap();
    let err = seen.get(&file).unwrap_err();
    assert!(err.to_string().contains("descriptor of a socket"), "{err}");
    // The handle checks the map type and the value size.
    assert!(matches!(
        ebpf.sk_storage::<u32>("SEEN").unwrap_err(),
        Error::MapSize { .. }
    ));
}

#[test]
fn cgrp_storage_keeps_a_value_per_cgroup_from_tp_btf() {
    if !iu::features::map_type(iu::maps::map_type::CGRP_STORAGE) {
        iu::testing::skip_missing("cgroup storage", "BPF_MAP_TYPE_CGRP_STORAGE (Linux 6.2)");
        return;
    }
    let Some(mount) = cgroup_support::mount() else {
        return;
    };
    let ebpf = Ebpf::load_file(iu::object_dir().join("cgrp_storage")).unwrap();
    let made = ebpf.cgrp_storage::<Made>("MADE").unwrap();
    let link = ebpf.btf_tracepoint("mkdir").unwrap().attach().unwrap();
    let parent = mount.join(format!("iupt-cgrp-{}", std::process::id()));
    let child = parent.join("child");
    std::fs::create_dir(&parent).unwrap();
    std::fs::create_dir(&child).unwrap();
    let result = std::panic::catch_unwind(|| {
        let level = |p: &std::path::Path| made.get(p).unwrap().map(|m| (m.mkdirs, m.level));
        let parent_level = level(&parent).expect("the parent's value").1;
        assert!(parent_level >= 1, "below the root: {parent_level}");
        assert_eq!(level(&child), Some((1, parent_level + 1)));
        // User space writes; the program's next event keeps the tag.
        made.insert(
            &parent,
            &Made {
                mkdirs: 5,
                level: parent_level,
                tag: 42,
            },
            BPF_ANY,
        )
        .unwrap();
        assert_eq!(made.get(&parent).unwrap().unwrap().tag, 42);
        assert!(made.remove(&child).unwrap());
        assert_eq!(made.get(&child).unwrap(), None);
        // Not a cgroup directory.
        let err = made.get("/proc").unwrap_err();
        assert!(err.to_string().contains("cgroup v2 directory"), "{err}");
    });
    drop(link);
    let _ = std::fs::remove_dir(&child);
    let _ = std::fs::remove_dir(&parent);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn inode_storage_counts_files_created_per_directory_from_lsm() {
    let ebpf = match Ebpf::load_file(iu::object_dir().join("inode_storage")) {
        Ok(ebpf) => ebpf,
        Err(e @ Error::PermissionDenied { .. })
            if nix::unistd::geteuid().is_root() && std::env::var_os("IU_VM_TIER").is_none() =>
        {
            eprintln!(
                "skipping: inode storage from LSM: this kernel refuses LSM programs even to root (lockdown): {e}"
            );
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let link = ebpf.btf_tracing("created").unwrap().attach().unwrap();
    let dir = std::env::temp_dir().join(format!("iupt-inode-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    for i in 0..3 {
        std::fs::write(dir.join(format!("f{i}")), b"x").unwrap();
    }
    drop(link);
    let created = ebpf.inode_storage::<u64>("CREATED_IN").unwrap();
    let handle = std::fs::File::open(&dir).unwrap();
    let count = created.get(&handle).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(count, Some(3), "files created in the directory");
}
