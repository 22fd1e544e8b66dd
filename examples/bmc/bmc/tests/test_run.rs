//! The programs on crafted packets with `BPF_PROG_TEST_RUN`, on the
//! running kernel: a miss arms the key's slot, memcached's reply fills it,
//! the next `get` is answered in XDP with exactly memcached's bytes;
//! writes invalidate; truncated and malformed requests pass untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use bmc::packets::{self, CLIENT_IP, CLIENT_MAC, SERVER_IP, SERVER_MAC, ip_checksum};
use bmc_common::stats;
use iu::{Ebpf, programs::TestRun};

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const TC_ACT_OK: u32 = 0;

struct Cache {
    ebpf: Ebpf,
}

impl Cache {
    fn load() -> Cache {
        Cache {
            ebpf: Ebpf::load_file(iu::object_dir().join("bmc")).unwrap(),
        }
    }

    fn rx(&self, packet: &[u8]) -> (u32, Vec<u8>) {
        let out = self
            .ebpf
            .program("bmc_rx")
            .unwrap()
            .test_run(&TestRun::packet(packet).output_room(2048))
            .unwrap();
        (out.retval, out.data)
    }

    fn tx(&self, packet: &[u8]) -> u32 {
        self.ebpf
            .program("bmc_tx")
            .unwrap()
            .test_run(&TestRun::packet(packet))
            .unwrap()
            .retval
    }

    fn stat(&self, index: u32) -> u64 {
        let map = self.ebpf.per_cpu_array::<u64>("STATS").unwrap();
        map.get(index).unwrap().iter().sum()
    }

    /// A miss for `key` from `port`/`id`, then memcached's reply to it.
    fn fill(&self, port: u16, id: u16, key: &[u8], value: &[u8]) {
        let get = packets::request(port, id, &[b"get ", key, b"\r\n"].concat());
        assert_eq!(self.rx(&get).0, XDP_PASS, "a miss passes up");
        let reply = packets::reply(port, id, &packets::value_body(key, 7, value));
        assert_eq!(self.tx(&reply), TC_ACT_OK);
    }
}

/// Linux 6.1 (the VM tier's oldest kernel): the write scan's `bpf_loop`
/// state does not survive from one byte to the next there, so every
/// write (and every scanned request) flushes the whole cache instead of
/// invalidating its key. Still correct, never stale; a known gap, asserted
/// so that a fix shows. The cause is not pinned down (see docs/bmc.md).
fn scan_flushes_everything() -> bool {
    iu::testing::kernel_release().starts_with("6.1.")
}

/// What memcached would have sent for `get key` from `port`/`id`.
fn expected_reply(port: u16, id: u16, key: &[u8], value: &[u8]) -> Vec<u8> {
    packets::reply(port, id, &packets::value_body(key, 7, value))
}

/// The reply's headers as BMC writes them, compared field by field with
/// memcached's: addresses, ports, lengths, a valid IP checksum, frame.
fn assert_same_reply(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "reply length");
    assert_eq!(&got[0..12], &want[0..12], "MAC addresses swapped");
    assert_eq!(
        &got[14 + 2..14 + 4],
        &want[14 + 2..14 + 4],
        "IP total length"
    );
    assert_eq!(
        &got[14 + 12..14 + 20],
        &want[14 + 12..14 + 20],
        "IP addresses swapped"
    );
    assert_eq!(ip_checksum(&got[14..34]), 0, "IP checksum valid");
    assert_eq!(&got[34..40], &want[34..40], "ports and UDP length");
    assert_eq!(&got[42..], &want[42..], "frame header and payload");
}

#[test]
fn a_filled_key_is_answered_in_xdp_with_memcacheds_bytes() {
    let cache = Cache::load();
    let key = b"user:42";
    let value = b"binary\r\n\0\xff value";
    let get = packets::request(40000, 9, b"get user:42\r\n");
    assert_eq!(cache.rx(&get).0, XDP_PASS, "nothing cached yet");
    cache.fill(40000, 9, key, value);
    assert_eq!(cache.stat(stats::FILLS), 1);
    let get = packets::request(40001, 77, b"get user:42\r\n");
    let (action, out) = cache.rx(&get);
    assert_eq!(action, XDP_TX);
    assert_same_reply(&out, &expected_reply(40001, 77, key, value));
    assert_eq!(cache.stat(stats::HITS), 1);
}

#[test]
fn keys_of_every_length_and_values_up_to_the_limit_round_trip() {
    let cache = Cache::load();
    for (i, len) in [1usize, 2, 7, 8, 9, 63, 64, 100, 249, 250]
        .into_iter()
        .enumerate()
    {
        let key: Vec<u8> = (0..len).map(|j| b'!' + ((i * 7 + j) % 94) as u8).collect();
        let value: Vec<u8> = (0..(len * 4).min(1000))
            .map(|j| (j * 31 + i) as u8)
            .collect();
        cache.fill(30000 + i as u16, i as u16, &key, &value);
        let get = packets::request(31000, 5, &[b"get ", &key[..], b"\r\n"].concat());
        let (action, out) = cache.rx(&get);
        assert_eq!(action, XDP_TX, "key of {len} bytes");
        assert_same_reply(&out, &expected_reply(31000, 5, &key, &value));
    }
    // The largest value cached, and one byte more.
    cache.fill(32000, 1, b"big", &[b'x'; 1000]);
    assert_eq!(cache.rx(&packets::request(1, 1, b"get big\r\n")).0, XDP_TX);
    cache.fill(32000, 2, b"huge", &[b'x'; 1001]);
    assert_eq!(
        cache.rx(&packets::request(1, 1, b"get huge\r\n")).0,
        XDP_PASS
    );
    assert!(cache.stat(stats::TOO_LARGE) >= 1);
}

#[test]
fn a_reply_to_another_request_does_not_fill() {
    let cache = Cache::load();
    let get = packets::request(40000, 1, b"get k\r\n");
    assert_eq!(cache.rx(&get).0, XDP_PASS);
    // Another client's (or an earlier request's) reply: not the one armed.
    let other = packets::reply(40000, 2, &packets::value_body(b"k", 0, b"old"));
    cache.tx(&other);
    assert_eq!(cache.rx(&get).0, XDP_PASS, "not filled");
    assert_eq!(cache.stat(stats::FILLS), 0);
}

/// A hot key: every get sent during the refill's round trip misses, but
/// only the first arms the slot, so the first reply fills it (and the
/// later replies, the slot no longer armed, leave it alone); a write in
/// between disarms, so the reply that was in flight cannot fill; an armed
/// slot whose reply never came is armed again after `ARM_TIMEOUT_NS`.
#[test]
fn the_first_miss_arms_until_a_write_or_the_timeout() {
    let cache = Cache::load();
    let get = |id| packets::request(40000, id, b"get hot\r\n");
    let reply = |id, v: &[u8]| packets::reply(40000, id, &packets::value_body(b"hot", 0, v));
    for id in 1..=3 {
        assert_eq!(cache.rx(&get(id)).0, XDP_PASS, "miss {id}");
    }
    cache.tx(&reply(1, b"v1"));
    assert_eq!(cache.stat(stats::FILLS), 1, "the first miss's reply fills");
    cache.tx(&reply(3, b"v1"));
    assert_eq!(cache.stat(stats::FILLS), 1, "a later one does not");
    let (action, out) = cache.rx(&get(4));
    assert_eq!(action, XDP_TX);
    assert_same_reply(
        &out,
        &packets::reply(40000, 4, &packets::value_body(b"hot", 0, b"v1")),
    );

    // A write while a miss is armed: its reply (the old value) must not
    // fill; the next miss arms again and its reply does.
    let set = packets::request(40001, 1, b"set hot 0 0 2\r\nv2\r\n");
    assert_eq!(cache.rx(&set).0, XDP_PASS);
    assert_eq!(cache.rx(&get(5)).0, XDP_PASS);
    assert_eq!(cache.rx(&set).0, XDP_PASS);
    cache.tx(&reply(5, b"v1"));
    assert_eq!(
        cache.rx(&get(6)).0,
        XDP_PASS,
        "the old value was not cached"
    );
    assert_eq!(cache.stat(stats::FILLS), 1);
    cache.tx(&reply(6, b"v2"));
    assert_eq!(cache.stat(stats::FILLS), 2);
    assert_eq!(cache.rx(&get(7)).0, XDP_TX);

    // A lost reply: after the timeout, another miss takes the slot over.
    assert_eq!(cache.rx(&set).0, XDP_PASS);
    assert_eq!(cache.rx(&get(8)).0, XDP_PASS);
    assert_eq!(cache.rx(&get(9)).0, XDP_PASS);
    cache.tx(&reply(9, b"v2"));
    assert_eq!(cache.stat(stats::FILLS), 2, "miss 8 still holds the slot");
    std::thread::sleep(std::time::Duration::from_nanos(
        bmc_common::ARM_TIMEOUT_NS + 5_000_000,
    ));
    assert_eq!(cache.rx(&get(10)).0, XDP_PASS);
    cache.tx(&reply(8, b"v2"));
    assert_eq!(cache.stat(stats::FILLS), 2, "miss 8 no longer holds it");
    cache.tx(&reply(10, b"v2"));
    assert_eq!(cache.stat(stats::FILLS), 3);
    assert_eq!(cache.rx(&get(11)).0, XDP_TX);
}

#[test]
fn every_write_command_invalidates_and_a_split_line_flushes() {
    let cache = Cache::load();
    let writes: [&[u8]; 14] = [
        b"set k 0 0 1\r\nx\r\n",
        b"add k 0 0 1\r\nx\r\n",
        b"replace k 0 0 1\r\nx\r\n",
        b"append k 0 0 1\r\nx\r\n",
        b"prepend k 0 0 1\r\nx\r\n",
        b"cas k 0 0 1 5\r\nx\r\n",
        b"delete k\r\n",
        b"incr k 1\r\n",
        b"decr k 1\r\n",
        b"touch k 10\r\n",
        b"ms k 1\r\nx\r\n",
        b"md k\n",
        b"flush_all\r\n",
        // A write after a get in the same datagram.
        b"get a\r\ndelete k noreply\r\n",
    ];
    let get = packets::request(40000, 3, b"get k\r\n");
    for (i, write) in writes.iter().enumerate() {
        cache.fill(40000, 3, b"k", b"value");
        assert_eq!(cache.rx(&get).0, XDP_TX, "cached before write {i}");
        let request = packets::request(40002, 4, write);
        assert_eq!(cache.rx(&request).0, XDP_PASS);
        assert_eq!(
            cache.rx(&get).0,
            XDP_PASS,
            "{:?} invalidated the key",
            String::from_utf8_lossy(write)
        );
    }
    // A TCP segment that ends inside a line (the rest in the next
    // segment): its key is unknown, so everything goes.
    cache.fill(40000, 3, b"k", b"value");
    let flushes = cache.stat(stats::FLUSHES);
    let request = packets::tcp(40002, b"set other 0 0 1\r\nx\r\nset k");
    assert_eq!(cache.rx(&request).0, XDP_PASS);
    assert_eq!(cache.stat(stats::FLUSHES), flushes + 1);
    assert_eq!(cache.rx(&get).0, XDP_PASS);
    // Complete lines over TCP invalidate their keys only.
    cache.fill(40000, 3, b"k", b"value");
    let request = packets::tcp(40002, b"set other 0 0 1\r\nx\r\nget k\r\n");
    assert_eq!(cache.rx(&request).0, XDP_PASS);
    if scan_flushes_everything() {
        assert_eq!(cache.rx(&get).0, XDP_PASS);
        assert_eq!(cache.stat(stats::INVALIDATIONS), 0, "known gap on 6.1");
        eprintln!(
            "known gap on {}: writes flush the whole cache",
            iu::testing::kernel_release()
        );
        return;
    }
    assert_eq!(
        cache.rx(&get).0,
        XDP_TX,
        "flushes {} invalidations {} fills {}",
        cache.stat(stats::FLUSHES),
        cache.stat(stats::INVALIDATIONS),
        cache.stat(stats::FILLS)
    );
    let request = packets::tcp(40002, b"delete k\r\n");
    assert_eq!(cache.rx(&request).0, XDP_PASS);
    assert_eq!(cache.rx(&get).0, XDP_PASS);
    assert_eq!(cache.stat(stats::FLUSHES), flushes + 1);
}

#[test]
fn truncated_and_malformed_requests_pass_and_leave_the_cache_alone() {
    let cache = Cache::load();
    cache.fill(40000, 3, b"key", b"value");
    let get = packets::request(40001, 8, b"get key\r\n");
    let (action, good) = cache.rx(&get);
    assert_eq!(action, XDP_TX);
    let hits = cache.stat(stats::HITS);
    // Cut at every offset: the IP and UDP lengths then overstate the
    // packet, which the kernel would drop; nothing must be answered.
    // (The kernel runs XDP on nothing shorter than an Ethernet header.)
    for cut in 14..get.len() {
        assert_eq!(cache.rx(&get[..cut]).0, XDP_PASS, "cut at {cut}");
    }
    // The UDP payload cut at every offset, with consistent headers: a
    // request memcached would not answer (or not with this value).
    let body = b"get key\r\n";
    for cut in 0..body.len() {
        let p = packets::request(40001, 8, &body[..cut]);
        assert_eq!(cache.rx(&p).0, XDP_PASS, "payload cut at {cut}");
    }
    if scan_flushes_everything() {
        // The cut requests were scanned, which flushed (see above).
        assert!(cache.stat(stats::FLUSHES) > 0, "known gap on 6.1");
        eprintln!(
            "known gap on {}: scans flush the whole cache",
            iu::testing::kernel_release()
        );
        return;
    }
    let frame = |header: [u8; 8]| {
        let mut payload = header.to_vec();
        payload.extend_from_slice(body);
        packets::udp(
            (CLIENT_MAC, CLIENT_IP, 40001),
            (SERVER_MAC, SERVER_IP, 11211),
            &payload,
        )
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("two datagrams", frame([0, 8, 0, 0, 0, 2, 0, 0])),
        ("zero datagrams", frame([0, 8, 0, 0, 0, 0, 0, 0])),
        (
            "get with two keys",
            packets::request(1, 1, b"get key key\r\n"),
        ),
        ("gets", packets::request(1, 1, b"gets key\r\n")),
        ("bare newline", packets::request(1, 1, b"get key\n")),
        (
            "non-ASCII key",
            packets::request(1, 1, "get kéy\r\n".as_bytes()),
        ),
        (
            "key of 251 bytes",
            packets::request(1, 1, &[&b"get "[..], &[b'k'; 251], b"\r\n"].concat()),
        ),
        ("upper case", packets::request(1, 1, b"GET key\r\n")),
        ("two spaces", packets::request(1, 1, b"get  key\r\n")),
    ];
    for (what, packet) in &bad {
        assert_eq!(cache.rx(packet).0, XDP_PASS, "{what}");
    }
    let (action, again) = cache.rx(&get);
    assert_eq!((action, again), (XDP_TX, good), "the cache is intact");
    assert_eq!(cache.stat(stats::HITS), hits + 1);
    assert_eq!(cache.stat(stats::FLUSHES), 0);
    // memcached drops the unfinished line at the end of a datagram.
    let unfinished = packets::request(1, 1, b"get key\r\nset ke");
    assert_eq!(cache.rx(&unfinished).0, XDP_PASS);
    assert_eq!(cache.rx(&get).0, XDP_TX);
    assert_eq!(cache.stat(stats::FLUSHES), 0);
}
