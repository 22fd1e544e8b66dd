//! XDP redirects through a DevMap, a DevMapHash and a CpuMap, between veth
//! pairs in the test's own network namespaces (the host's interfaces are
//! never touched).
//!
//! Namespace S (the sender) holds `iupta0` (10.201.1.1) and `iuptb0`
//! (10.201.2.1); namespace R (the router) holds their peers `iupta1`
//! (10.201.1.2) and `iuptb1`. `router` runs on `iupta1`; `counter` on
//! `iuptb0` counts and drops ICMP packets to 10.201.1.99.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::process::Command;

use iu::{Ebpf, Error, programs::XdpMode};

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The two namespaces; deleting them (on drop, also after a failed
/// assertion) deletes the veths inside.
struct Namespaces {
    sender: String,
    router: String,
}

impl Namespaces {
    fn new() -> Result<Self, String> {
        let tag = std::process::id();
        let ns = Namespaces {
            sender: format!("iuptS{tag}"),
            router: format!("iuptR{tag}"),
        };
        ip(&["netns", "add", &ns.sender])?;
        ip(&["netns", "add", &ns.router])?;
        let (s, r) = (ns.sender.as_str(), ns.router.as_str());
        for (end, peer, sender_addr, router_addr) in [
            ("iupta0", "iupta1", "10.201.1.1/24", "10.201.1.2/24"),
            ("iuptb0", "iuptb1", "10.201.2.1/24", "10.201.2.2/24"),
        ] {
            ip(&[
                "-n", s, "link", "add", end, "type", "veth", "peer", "name", peer,
            ])?;
            ip(&["-n", s, "link", "set", peer, "netns", r])?;
            ip(&["-n", s, "addr", "add", sender_addr, "dev", end])?;
            ip(&["-n", r, "addr", "add", router_addr, "dev", peer])?;
            ip(&["-n", s, "link", "set", end, "up"])?;
            ip(&["-n", r, "link", "set", peer, "up"])?;
        }
        // 10.201.1.99 does not exist: its frames leave iupta0 at once.
        ip(&[
            "-n",
            s,
            "neigh",
            "add",
            "10.201.1.99",
            "lladdr",
            "02:00:00:00:00:63",
            "dev",
            "iupta0",
        ])?;
        Ok(ns)
    }

    /// Runs `f` on a thread inside namespace `ns` (interface names, ifindexes
    /// and devmap updates are resolved in the caller's namespace).
    fn run<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        iu::testing::in_netns(ns, f).unwrap()
    }

    /// Pings `addr` from the sender `count` times; whether replies came.
    fn ping(&self, addr: &str, count: u32) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.sender, "ping", "-c"])
            .arg(count.to_string())
            .args(["-i", "0.2", "-W", "1", addr])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.sender]);
        let _ = ip(&["netns", "del", &self.router]);
    }
}

fn tools() -> bool {
    if Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("ping").arg("-V").output().is_ok()
    {
        return true;
    }
    assert!(
        std::env::var_os("IU_HOST_TIER").is_none(),
        "iproute2 and ping are required on the host"
    );
    eprintln!("skipping: iproute2 or ping is not installed here");
    false
}

fn counts(ebpf: &Ebpf) -> Vec<u64> {
    ebpf.array::<u64>("COUNTS").unwrap().values().unwrap()
}

fn reset(ebpf: &Ebpf, mode: u32, key: u32) {
    let counts = ebpf.array::<u64>("COUNTS").unwrap();
    counts.set(0, &0).unwrap();
    counts.set(1, &0).unwrap();
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    config.set(0, &mode).unwrap();
    config.set(1, &key).unwrap();
}

#[test]
fn packets_are_redirected_through_devmaps_and_cpumaps_between_veths() {
    if !tools() {
        return;
    }
    let ns = Namespaces::new().unwrap();
    let ebpf = Ebpf::load_file(iu::object_dir().join("xdp_redirect")).unwrap();

    let (_router, b1) = ns.run(&ns.router, || {
        let link = ebpf
            .xdp("router")
            .unwrap()
            .attach("iupta1", XdpMode::Auto)
            .unwrap();
        let b1 = nix::net::if_::if_nametoindex("iuptb1").unwrap();
        let ports = ebpf.dev_map("PORTS").unwrap();
        ports.set_interface(0, "iuptb1").unwrap();
        assert_eq!(ports.get(0).unwrap(), Some(b1));
        ebpf.dev_map_hash("BY_IFINDEX")
            .unwrap()
            .insert(b1, b1)
            .unwrap();
        (link, b1)
    });
    // The receiving veth needs an XDP program of its own to take
    // redirected frames (veth's ndo_xdp_xmit).
    let _counter = ns.run(&ns.sender, || {
        ebpf.xdp("counter")
            .unwrap()
            .attach("iuptb0", XdpMode::Auto)
            .unwrap()
    });

    // DevMap: what enters iupta1 leaves by iuptb1 and arrives at iuptb0.
    reset(&ebpf, 0, 0);
    assert!(!ns.ping("10.201.1.99", 5), "nothing answers .99");
    assert_eq!(counts(&ebpf), [5, 5], "redirected, then seen on iuptb0");

    // DevMapHash, keyed by the ifindex.
    reset(&ebpf, 1, b1);
    ns.ping("10.201.1.99", 3);
    assert_eq!(counts(&ebpf), [3, 3]);

    // An empty slot: the fallback (XDP_ABORTED) drops, nothing arrives.
    reset(&ebpf, 1, b1 + 1000);
    ns.ping("10.201.1.99", 2);
    assert_eq!(counts(&ebpf), [0, 0]);

    // CpuMap: packets go up the router's stack on CPU 0, so pings to the
    // router's own address are answered.
    let cpus = ebpf.cpu_map("CPUS").unwrap();
    cpus.set(0, 256).unwrap();
    assert_eq!(cpus.get(0).unwrap(), Some(256));
    reset(&ebpf, 2, 0);
    assert!(ns.ping("10.201.1.2", 3), "answered through the cpumap");
    assert!(counts(&ebpf)[0] >= 3, "{:?}", counts(&ebpf));
    assert_eq!(counts(&ebpf)[1], 0);
    // Without a queue on that CPU the packets are dropped.
    assert!(cpus.clear(0).unwrap());
    reset(&ebpf, 2, 0);
    assert!(!ns.ping("10.201.1.2", 2));
    assert_eq!(counts(&ebpf)[0], 0);
}

#[test]
fn redirect_maps_refuse_what_is_not_an_interface_or_a_cpu() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("xdp_redirect")).unwrap();
    let ports = ebpf.dev_map("PORTS").unwrap();
    let error = ports.set(0, 999_999).unwrap_err();
    assert!(
        matches!(&error, Error::MapOp { op, .. } if op.contains("no interface")),
        "{error}"
    );
    assert!(ports.set(4, 1).is_err(), "past the end");
    assert!(ports.set_interface(0, "iupt-none").is_err());
    assert!(matches!(
        ebpf.cpu_map("PORTS").unwrap_err(),
        Error::WrongMapType { .. }
    ));
    let cpus = ebpf.cpu_map("CPUS").unwrap();
    assert!(cpus.set(63, 256).is_err(), "no CPU 63 here");
    assert_eq!(cpus.get(1).unwrap(), None);
}
