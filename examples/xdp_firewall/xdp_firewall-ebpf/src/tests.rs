//! The firewall's logic on the host: the real program function, on
//! packets built in the test, with simulated maps.

use iu_ebpf::{
    maps::{BPF_ANY, LpmKey},
    programs::{XdpAction, XdpContext},
    sim,
};
use xdp_firewall_common::{CountKey, DROPPED, PASSED};

use super::{BLOCKED, COUNTS, xdp_firewall};

/// An Ethernet + IPv4 + UDP packet from `source`.
fn packet(source: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0xff; 12];
    p.extend_from_slice(&[0x08, 0x00]);
    p.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&source);
    p.extend_from_slice(&[10, 0, 0, 99]);
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]);
    p
}

fn run(packet: &[u8]) -> XdpAction {
    xdp_firewall(XdpContext::from_packet(packet))
}

fn count(addr: [u8; 4], action: u32) -> u64 {
    COUNTS.get(&CountKey { addr, action }).unwrap_or(0)
}

fn block(prefix_len: u32, addr: [u8; 4]) {
    BLOCKED
        .insert(&LpmKey::new(prefix_len, addr), &1, BPF_ANY)
        .unwrap();
}

// ANCHOR: host_test
#[test]
fn drops_blocked_sources_passes_others_and_counts_both() {
    let _sim = sim::session();
    block(8, [10, 0, 0, 0]);
    assert_eq!(run(&packet([10, 1, 2, 3])), XdpAction::Drop);
    assert_eq!(run(&packet([10, 1, 2, 3])), XdpAction::Drop);
    assert_eq!(run(&packet([192, 168, 1, 1])), XdpAction::Pass);
    assert_eq!(count([10, 1, 2, 3], DROPPED), 2);
    assert_eq!(count([10, 1, 2, 3], PASSED), 0);
    assert_eq!(count([192, 168, 1, 1], PASSED), 1);
}
// ANCHOR_END: host_test

#[test]
fn the_longest_prefix_decides_and_unblocking_takes_effect() {
    let _sim = sim::session();
    block(16, [10, 1, 0, 0]);
    assert_eq!(run(&packet([10, 1, 200, 3])), XdpAction::Drop);
    assert_eq!(run(&packet([10, 2, 0, 1])), XdpAction::Pass);
    BLOCKED.remove(&LpmKey::new(16, [10, 1, 0, 0])).unwrap();
    assert_eq!(run(&packet([10, 1, 200, 3])), XdpAction::Pass);
}

#[test]
fn passes_what_is_not_ipv4_or_too_short_without_counting() {
    let _sim = sim::session();
    block(0, [0, 0, 0, 0]); // everything
    let mut arp = packet([10, 1, 2, 3]);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run(&arp), XdpAction::Pass);
    assert_eq!(run(&[]), XdpAction::Pass);
    assert_eq!(run(&packet([10, 1, 2, 3])[..14]), XdpAction::Pass);
    // One byte short of the source address.
    assert_eq!(run(&packet([10, 1, 2, 3])[..29]), XdpAction::Pass);
    let mut seen = 0;
    COUNTS.for_each(|_, _| seen += 1);
    assert_eq!(seen, 0);
    // The shortest packet that carries a source address is enough.
    assert_eq!(run(&packet([10, 1, 2, 3])[..30]), XdpAction::Drop);
}

#[test]
fn a_full_count_map_does_not_change_the_verdict() {
    let _sim = sim::session();
    block(8, [10, 0, 0, 0]);
    // COUNTS holds 16384 keys: fill it with passed sources.
    for i in 0..16384u32 {
        let [_, b, c, d] = i.to_be_bytes();
        let addr = [172, b, c, d];
        COUNTS
            .insert(
                &CountKey {
                    addr,
                    action: PASSED,
                },
                &1,
                BPF_ANY,
            )
            .unwrap();
    }
    assert_eq!(run(&packet([10, 1, 2, 3])), XdpAction::Drop);
    assert_eq!(count([10, 1, 2, 3], DROPPED), 0, "no room to count it");
}
