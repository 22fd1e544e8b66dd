//! sk_lookup in a network namespace this test creates (its thread
//! unshares one; only its loopback is used): connections to a port with
//! no listener reach a listening socket on another port, the program
//! refuses a third port, and detaching restores the kernel's lookup.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    io::{ErrorKind, Read, Write},
    net::{TcpListener, TcpStream},
};

use iu::Ebpf;

/// A port nothing listens on (bound once, then released).
fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn refused(port: u16) -> bool {
    matches!(
        TcpStream::connect(("127.0.0.1", port)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[test]
fn sk_lookup_steers_a_port_without_listener_to_a_listening_socket() {
    if !iu::features::program_type(30, 36) {
        iu::testing::skip_missing("sk_lookup programs", "sk_lookup (Linux 5.9)");
        return;
    }
    // Its own thread, moved to a new network namespace (which dies with
    // the thread's last reference: no cleanup needed).
    iu::testing::in_new_netns(|| {
        let ebpf = Ebpf::load_file(iu::object_dir().join("sk_lookup")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (steered, refused_port) = (unused_port(), unused_port());
        assert!(refused(steered), "nothing listens on {steered} yet");

        ebpf.sock_map("SERVER")
            .unwrap()
            .insert(0, &listener)
            .unwrap();
        let ports = ebpf.array::<u32>("PORTS").unwrap();
        ports.set(0, &u32::from(steered)).unwrap();
        ports.set(1, &u32::from(refused_port)).unwrap();
        let link = ebpf.sk_lookup("steer").unwrap().attach_current().unwrap();

        let mut client = TcpStream::connect(("127.0.0.1", steered)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(
            server.local_addr().unwrap().port(),
            steered,
            "the listener took the connection to the steered port"
        );
        client.write_all(b"steered").unwrap();
        let mut buf = [0u8; 7];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"steered");

        assert!(refused(refused_port), "the program drops this port");
        let lookups = ebpf.array::<u64>("LOOKUPS").unwrap().values().unwrap();
        assert_eq!(lookups, vec![1, 1, 0], "steered, refused, failed assigns");

        drop(link);
        assert!(refused(steered), "detached: the kernel's lookup again");
    })
    .unwrap();
}

#[test]
fn sk_lookup_handles_check_the_program_type() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("sk_lookup")).unwrap();
    let err = ebpf.sk_msg("steer").unwrap_err();
    assert!(matches!(err, iu::Error::WrongProgramType { .. }), "{err}");
    let netns_not = std::fs::File::open("/dev/null").unwrap();
    let err = ebpf
        .sk_lookup("steer")
        .unwrap()
        .attach(&netns_not)
        .unwrap_err();
    assert!(err.to_string().contains("network namespace"), "{err}");
}
