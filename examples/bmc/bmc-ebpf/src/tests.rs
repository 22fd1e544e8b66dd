//! The programs' logic on the host, with simulated maps: the same fill,
//! hit and invalidation path as in the kernel tests of the daemon crate.

use iu_ebpf::{
    programs::{TcAction, TcContext, XdpAction, XdpContext},
    sim,
};

use super::{bmc_rx, bmc_tx};

/// An Ethernet + IPv4 + UDP packet with memcached's frame header.
fn udp(sport: u16, dport: u16, id: u16, body: &[u8]) -> Vec<u8> {
    let mut p = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (20 + 8 + 8 + body.len()) as u16;
    p.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    // Client 10.0.0.2, server (port 11211) 10.0.0.1.
    if dport == 11211 {
        p.extend_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
    } else {
        p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    }
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(total - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
    p.extend_from_slice(body);
    p
}

fn rx(packet: &[u8]) -> XdpAction {
    bmc_rx(XdpContext::from_packet(packet))
}

#[test]
fn a_miss_then_the_reply_then_a_hit() {
    let _sim = sim::session();
    let get = udp(4000, 11211, 7, b"get k\r\n");
    assert_eq!(rx(&get), XdpAction::Pass);
    let reply = udp(11211, 4000, 7, b"VALUE k 3 2\r\nhi\r\nEND\r\n");
    assert_eq!(bmc_tx(TcContext::from_packet(&reply)), TcAction::Ok);
    assert_eq!(rx(&get), XdpAction::Tx);
}

#[test]
fn a_set_invalidates() {
    let _sim = sim::session();
    let get = udp(4000, 11211, 7, b"get k\r\n");
    assert_eq!(rx(&get), XdpAction::Pass);
    let reply = udp(11211, 4000, 7, b"VALUE k 3 2\r\nhi\r\nEND\r\n");
    bmc_tx(TcContext::from_packet(&reply));
    let set = udp(4001, 11211, 8, b"set k 0 0 1\r\nx\r\n");
    assert_eq!(rx(&set), XdpAction::Pass);
    assert_eq!(rx(&get), XdpAction::Pass);
}
