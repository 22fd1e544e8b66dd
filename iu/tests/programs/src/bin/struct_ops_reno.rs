//! A TCP congestion control in Rust, "iu_reno": Reno (slow start, then
//! one packet per window; half the window on loss), with every callback
//! counted in `CALLS` so the test can see the kernel ran them; and an XDP
//! program that drops one data segment in 16 to the port in `CONFIG`, so
//! that the connection sees losses (loopback has none of its own, and the
//! guests' 6.1 has neither netem nor clsact built in).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::Array,
    programs::{TcpCongestionOps, TcpSock, XdpAction, XdpContext},
    struct_ops, xdp,
};

iu_ebpf::license!("GPL");

/// 0: init, 1: cong_avoid, 2: ssthresh, 3: undo_cwnd, 4: release,
/// 5: packets acked in cong_avoid, 6: largest window set, 7: data
/// segments seen by `lossy`, 8: segments it dropped.
#[map]
static CALLS: Array<u64, 9> = Array::new();

/// 0: the TCP port whose data segments `lossy` drops some of (0: none).
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// Drops every 16th data segment (IPv4, TCP, over 1000 bytes) to the
/// port in `CONFIG`, as loopback receives it (generic XDP).
#[xdp]
fn lossy(ctx: XdpContext) -> XdpAction {
    // Ethernet (14 bytes), IPv4 without options, the TCP ports.
    let Some(h) = ctx.read::<[u8; 38]>(0) else {
        return XdpAction::Pass;
    };
    let port = u32::from(u16::from_be_bytes([h[36], h[37]]));
    let is_data = h[12] == 8 && h[13] == 0 && h[14] == 0x45 && h[23] == 6 && ctx.len() > 1000;
    if !is_data || CONFIG.get(0) != Some(port) || port == 0 {
        return XdpAction::Pass;
    }
    match CALLS.add(7, 1) {
        Some(seen) if seen % 16 == 0 => {
            let _ = CALLS.add(8, 1);
            XdpAction::Drop
        }
        _ => XdpAction::Pass,
    }
}

// ANCHOR: reno
pub struct IuReno;

#[struct_ops(name = "iu_reno")]
impl TcpCongestionOps for IuReno {
    fn init(_sk: TcpSock) {
        let _ = CALLS.add(0, 1);
    }

    fn cong_avoid(sk: TcpSock, _ack: u32, acked: u32) {
        let _ = CALLS.add(1, 1);
        let _ = CALLS.add(5, u64::from(acked));
        let mut cwnd = sk.snd_cwnd();
        let mut acked = acked;
        if sk.in_slow_start() {
            // Slow start: one packet per packet acked, up to ssthresh.
            let grown = cwnd.saturating_add(acked).min(sk.snd_ssthresh());
            acked = acked.saturating_sub(grown - cwnd);
            cwnd = grown;
        }
        if acked > 0 {
            // Congestion avoidance: one packet per window acked.
            let mut count = sk.snd_cwnd_cnt().saturating_add(acked);
            if count >= cwnd {
                count -= cwnd;
                cwnd += 1;
            }
            sk.set_snd_cwnd_cnt(count);
        }
        let cwnd = cwnd.min(sk.snd_cwnd_clamp());
        sk.set_snd_cwnd(cwnd);
        if CALLS.get(6).is_some_and(|max| u64::from(cwnd) > max) {
            let _ = CALLS.set(6, &u64::from(cwnd));
        }
    }

    fn ssthresh(sk: TcpSock) -> u32 {
        let _ = CALLS.add(2, 1);
        (sk.snd_cwnd() >> 1).max(2)
    }

    fn undo_cwnd(sk: TcpSock) -> u32 {
        let _ = CALLS.add(3, 1);
        sk.snd_cwnd().max(sk.prior_cwnd())
    }

    fn release(_sk: TcpSock) {
        let _ = CALLS.add(4, 1);
    }
}
// ANCHOR_END: reno
