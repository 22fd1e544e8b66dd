//! Helpers for tests of networking programs (feature `testing`).

use std::process::Command;

/// A veth pair: one end (`host`) in the current network namespace with
/// `10.199.<n>.1/24`, its peer in a fresh namespace with `10.199.<n>.2/24`.
/// Both are removed on drop. Needs root and iproute2 (`ip`); `ping` needs
/// iputils.
///
/// ```no_run
/// let veth = iu::testing::Veth::new(7)?;
/// assert!(veth.ping(1));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug)]
pub struct Veth {
    netns: String,
    host: String,
    subnet: u8,
}

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

impl Veth {
    /// Creates the pair; `subnet` picks `10.199.<subnet>.0/24`, so that
    /// concurrent tests use different ones.
    pub fn new(subnet: u8) -> Result<Self, String> {
        let tag = format!("{}x{subnet}", std::process::id() % 10_000);
        let veth = Veth {
            netns: format!("iu-{tag}"),
            host: format!("iu{tag}a"),
            subnet,
        };
        let peer = format!("iu{tag}b");
        ip(&["netns", "add", &veth.netns])?;
        ip(&[
            "link", "add", &veth.host, "type", "veth", "peer", "name", &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &veth.netns])?;
        ip(&[
            "addr",
            "add",
            &format!("10.199.{subnet}.1/24"),
            "dev",
            &veth.host,
        ])?;
        ip(&["link", "set", &veth.host, "up"])?;
        ip(&[
            "-n",
            &veth.netns,
            "addr",
            "add",
            &format!("10.199.{subnet}.2/24"),
            "dev",
            &peer,
        ])?;
        ip(&["-n", &veth.netns, "link", "set", &peer, "up"])?;
        Ok(veth)
    }

    /// The end in this namespace (attach programs here).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The peer's address, `10.199.<subnet>.2`.
    pub fn peer_addr(&self) -> [u8; 4] {
        [10, 199, self.subnet, 2]
    }

    /// Sends `count` pings from the peer namespace to this end; returns
    /// whether replies came back.
    pub fn ping(&self, count: u32) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "ping",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "1",
            ])
            .arg(format!("10.199.{}.1", self.subnet))
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Whether `ip` and `ping` are installed, for tests that skip without
    /// them outside the host tier.
    pub fn tools_available() -> bool {
        Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
            && Command::new("ping").arg("-V").output().is_ok()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host]);
        let _ = ip(&["netns", "del", &self.netns]);
    }
}
