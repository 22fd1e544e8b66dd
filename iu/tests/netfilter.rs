//! A netfilter program at IPv4 LOCAL_IN in a network namespace this test
//! creates (its thread unshares one; only its loopback is used): UDP to
//! one port is dropped and counted, another port gets through, and
//! detaching lets the first through again. Linux 6.4+ (the host and the
//! 6.12 guest); 6.1 skips, naming it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{net::UdpSocket, time::Duration};

use iu::{
    Ebpf, Error,
    programs::{NetfilterFamily, NetfilterHook, NetfilterPoint},
};

fn arrives(receiver: &UdpSocket, sender: &UdpSocket) -> bool {
    let to = receiver.local_addr().unwrap();
    sender.send_to(b"knock", to).unwrap();
    let mut buf = [0u8; 16];
    match receiver.recv(&mut buf) {
        Ok(n) => {
            assert_eq!(&buf[..n], b"knock");
            true
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn netfilter_drops_the_port_it_is_told_in_its_namespace() {
    if !iu::features::netfilter() {
        iu::testing::skip_missing(
            "netfilter programs",
            "netfilter links (Linux 6.4 with CONFIG_NETFILTER_BPF_LINK)",
        );
        return;
    }
    iu::testing::in_new_netns(|| {
        let ebpf = Ebpf::load_file(iu::object_dir().join("netfilter")).unwrap();
        let blocked = UdpSocket::bind("127.0.0.1:0").unwrap();
        let open = UdpSocket::bind("127.0.0.1:0").unwrap();
        for socket in [&blocked, &open] {
            socket
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
        }
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = blocked.local_addr().unwrap().port();
        ebpf.array::<u32>("CONFIG")
            .unwrap()
            .set(0, &u32::from(port))
            .unwrap();
        let seen = ebpf.array::<u64>("SEEN").unwrap();
        assert!(arrives(&blocked, &sender), "nothing attached yet");

        let point = NetfilterPoint::new(NetfilterFamily::Ipv4, NetfilterHook::LocalIn, -50);
        let link = ebpf.netfilter("drop_port").unwrap().attach(point).unwrap();
        assert!(!arrives(&blocked, &sender), "dropped at LOCAL_IN");
        assert!(arrives(&open, &sender), "another port");
        assert!(!arrives(&blocked, &sender), "dropped again");
        assert_eq!(seen.get(0).unwrap(), 2, "two datagrams dropped");
        assert!(seen.get(1).unwrap() >= 3);
        assert_eq!(seen.get(2).unwrap(), NetfilterHook::LocalIn as u64);

        drop(link);
        assert!(arrives(&blocked, &sender), "detached");
        assert_eq!(seen.get(0).unwrap(), 2);

        // The reserved priorities are refused with a hint.
        let first = NetfilterPoint::new(NetfilterFamily::Ipv4, NetfilterHook::LocalIn, i32::MIN);
        assert!(matches!(
            ebpf.netfilter("drop_port").unwrap().attach(first),
            Err(Error::Attach { .. })
        ));
        assert!(matches!(
            ebpf.kprobe("drop_port"),
            Err(Error::WrongProgramType { .. })
        ));
    })
    .unwrap();
}
