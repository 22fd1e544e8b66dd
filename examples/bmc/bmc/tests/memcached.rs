//! BMC in front of Debian's memcached on the running kernel, compared byte
//! for byte with memcached alone: a client namespace sends the same
//! randomized workload (UDP and TCP; gets, multi-gets, every write
//! command, keys of every length, values past the cache's limit, binary
//! values, malformed and truncated requests, lines split across TCP
//! segments) to a memcached behind BMC and to one without it, and every
//! reply must be the same. Then concurrent writers and readers of one key
//! must never see a torn value.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket},
    path::Path,
    time::{Duration, Instant},
};

use bmc::lab::{self, Lab, Server};

/// The tools are required on the host (`IU_HOST_TIER`); elsewhere (the VM
/// guest has no memcached) the test says why it does not run.
fn tools() -> bool {
    if !lab::tools_available() {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "memcached, iproute2 and nsenter are required on the host (cargo xtask test installs memcached)"
        );
        eprintln!("skipping: memcached, iproute2 or nsenter is not installed here");
        return false;
    }
    true
}

fn daemon() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bmc"))
}

/// xorshift64*: the workload is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn key(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b'!' + self.below(94) as u8).collect()
    }
}

/// One memcached, over UDP and TCP, from the client namespace.
struct Peer {
    udp: UdpSocket,
    tcp: TcpStream,
    addr: Ipv4Addr,
}

impl Peer {
    fn new(addr: Ipv4Addr) -> Peer {
        let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
        udp.connect(SocketAddr::from((addr, 11211))).unwrap();
        let tcp = TcpStream::connect((addr, 11211)).unwrap();
        tcp.set_nodelay(true).unwrap();
        Peer { udp, tcp, addr }
    }
}

/// Sends `datagram` to every peer, then collects each one's reply: all
/// the datagrams of the reply to `id` (the frame header says how many),
/// or nothing within `wait`.
fn udp_exchange(peers: &[Peer], id: u16, datagram: &[u8], wait: Duration) -> Vec<Vec<u8>> {
    for p in peers {
        p.udp.send(datagram).unwrap();
    }
    peers
        .iter()
        .map(|p| {
            let deadline = Instant::now() + wait;
            let mut parts: Vec<Vec<u8>> = Vec::new();
            let mut expected = None;
            let mut buf = [0u8; 65536];
            while expected.is_none_or(|n| parts.len() < n) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                p.udp.set_read_timeout(Some(left)).unwrap();
                match p.udp.recv(&mut buf) {
                    Ok(n) if n >= 8 && buf[0..2] == id.to_be_bytes() => {
                        expected = Some(usize::from(u16::from_be_bytes([buf[4], buf[5]])));
                        parts.push(buf[..n].to_vec());
                    }
                    // A late reply to an earlier request.
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break;
                    }
                    Err(e) => panic!("receiving from {}: {e}", p.addr),
                }
            }
            // Sequence numbers order a multi-datagram reply.
            parts.sort_by_key(|d| u16::from_be_bytes([d[2], d[3]]));
            parts.concat()
        })
        .collect()
}

/// Writes `chunks` to every peer's TCP stream (a pause between chunks
/// puts them in separate segments), then `mn\r\n`, and reads up to
/// memcached's `MN\r\n`: exactly the replies to `chunks`.
fn tcp_exchange(peers: &mut [Peer], chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in peers.iter_mut() {
            p.tcp.write_all(chunk).unwrap();
        }
    }
    peers
        .iter_mut()
        .map(|p| {
            p.tcp.write_all(b"mn\r\n").unwrap();
            p.tcp
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 65536];
            while !got.ends_with(b"MN\r\n") {
                match p.tcp.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("reading from {} after {} bytes: {e}", p.addr, got.len()),
                }
            }
            got
        })
        .collect()
}

fn framed(id: u16, body: &[u8]) -> Vec<u8> {
    bmc::packets::framed(id, body)
}

fn store(cmd: &str, key: &[u8], flags: u32, value: &[u8], extra: &str) -> Vec<u8> {
    let mut r = format!("{cmd} ").into_bytes();
    r.extend_from_slice(key);
    r.extend_from_slice(format!(" {flags} 0 {}{extra}\r\n", value.len()).as_bytes());
    r.extend_from_slice(value);
    r.extend_from_slice(b"\r\n");
    r
}

fn line(parts: &[&[u8]]) -> Vec<u8> {
    let mut r = parts.join(&b' ');
    r.extend_from_slice(b"\r\n");
    r
}

/// Runs `ops` random operations against `peers` (BMC first, memcached
/// alone second) and returns the differences found.
fn differential(peers: &mut [Peer], seed: u64, ops: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    // Keys of every length class, 250 included; gets pick among them so
    // that sets overwrite cached keys.
    let mut keys: Vec<Vec<u8>> = [1, 2, 8, 9, 64, 65, 249, 250]
        .iter()
        .map(|&n| rng.key(n))
        .collect();
    for _ in 0..32 {
        let len = match rng.below(3) {
            0 => rng.range(1, 16),
            1 => rng.range(17, 100),
            _ => rng.range(101, 250),
        };
        keys.push(rng.key(len));
    }
    let mut diffs = Vec::new();
    let mut id: u16 = 0;
    for op in 0..ops {
        id = id.wrapping_add(1);
        let key = keys[rng.below(keys.len())].clone();
        // Mostly values a veth can answer in XDP (the reply must fit in
        // the packet's headroom and tailroom), some up to the cache's
        // limit and past it.
        let value_len = match rng.below(20) {
            0..=11 => rng.range(0, 32),
            12..=15 => rng.range(33, 200),
            16..=18 => rng.range(201, 1000),
            _ => rng.range(1001, 1300),
        };
        let value = rng.bytes(value_len);
        let flags = rng.below(1 << 20) as u32;
        let choice = rng.below(100);
        let udp = |body: &[u8]| (Some(framed(id, body)), Vec::new());
        let tcp = |chunks: Vec<Vec<u8>>| (None, chunks);
        let (datagram, chunks): (Option<Vec<u8>>, Vec<Vec<u8>>) = match choice {
            0..=44 => udp(&line(&[b"get", &key])),
            // More gets: the same key again, as a hot key is.
            97..=99 => udp(&line(&[b"get", &key])),
            45..=48 => {
                let other = keys[rng.below(keys.len())].clone();
                udp(&line(&[b"get", &key, &other]))
            }
            49..=52 => tcp(vec![line(&[
                if rng.below(2) == 0 { b"get" } else { b"gets" },
                &key,
            ])]),
            53..=62 => udp(&store("set", &key, flags, &value, "")),
            63..=71 => tcp(vec![store("set", &key, flags, &value, "")]),
            72..=74 => {
                // Pipelined: writes and a get in one write.
                let k2 = keys[rng.below(keys.len())].clone();
                let mut w = store("set", &key, flags, &value, "");
                w.extend(store("set", &k2, 1, b"second", ""));
                w.extend(line(&[b"get", &key]));
                w.extend(line(&[b"delete", &k2]));
                tcp(vec![w])
            }
            75..=77 => {
                let d = line(&[b"delete", &key]);
                if rng.below(2) == 0 {
                    udp(&d)
                } else {
                    tcp(vec![d])
                }
            }
            78..=85 => {
                let n = rng.below(1000).to_string();
                let req = match rng.below(10) {
                    0 => store("add", &key, flags, &value, ""),
                    1 => store("replace", &key, flags, &value, ""),
                    2 => store("append", &key, flags, &value, ""),
                    3 => store("prepend", &key, flags, &value, ""),
                    4 => store("cas", &key, flags, &value, &format!(" {}", rng.below(50))),
                    5 => store("set", &key, flags, n.as_bytes(), ""),
                    6 => line(&[b"incr", &key, n.as_bytes()]),
                    7 => line(&[b"decr", &key, n.as_bytes()]),
                    8 => line(&[b"touch", &key, b"0"]),
                    _ => line(&[b"md", &key]),
                };
                if rng.below(2) == 0 {
                    udp(&req)
                } else {
                    tcp(vec![req])
                }
            }
            86 => tcp(vec![b"flush_all\r\n".to_vec()]),
            87 => {
                // A write split across two TCP segments, inside the key or
                // inside the data.
                let w = store("set", &key, flags, &value, "");
                let cut = rng.range(1, w.len() - 1);
                tcp(vec![w[..cut].to_vec(), w[cut..].to_vec()])
            }
            88 => {
                let g = line(&[b"get", &key]);
                let cut = rng.range(1, g.len() - 1);
                tcp(vec![g[..cut].to_vec(), g[cut..].to_vec()])
            }
            89 => {
                let len = rng.range(251, 300);
                let long = rng.key(len);
                if rng.below(2) == 0 {
                    udp(&line(&[b"get", &long]))
                } else {
                    tcp(vec![store("set", &long, 0, b"x", "")])
                }
            }
            90 => {
                // A bad frame header: sequence, count or reserved bytes.
                let mut d = framed(id, &line(&[b"get", &key]));
                let at = 2 + rng.below(6);
                d[at] ^= 1 + rng.below(255) as u8;
                (Some(d), Vec::new())
            }
            91 => {
                let len = rng.range(0, 8);
                (Some(rng.bytes(len)), Vec::new())
            }
            92 => {
                // A request truncated at a random offset.
                let g = framed(id, &line(&[b"get", &key]));
                let cut = rng.range(8, g.len() - 1);
                (Some(g[..cut].to_vec()), Vec::new())
            }
            93 => {
                let mut k = key.clone();
                let at = rng.below(k.len());
                k[at] = 0x80 + rng.below(128) as u8;
                udp(&line(&[b"get", &k]))
            }
            94 => udp(&line(&[b"GET", &key])),
            95 => udp(&[b"get ", &key[..], b"\n"].concat()),
            96 => tcp(vec![line(&[b"mg", &key, b"v"])]),
            _ => unreachable!(),
        };
        let replies = match &datagram {
            Some(d) => {
                // Requests memcached does not answer cost the whole wait.
                let wait = if (90..=93).contains(&choice) {
                    Duration::from_millis(150)
                } else {
                    Duration::from_secs(2)
                };
                udp_exchange(peers, id, d, wait)
            }
            None => tcp_exchange(peers, &chunks),
        };
        if replies[0] != replies[1] {
            let request = datagram.unwrap_or_else(|| chunks.concat());
            diffs.push(format!(
                "op {op} (choice {choice}) {:?}:\n  bmc:   {:?}\n  alone: {:?}",
                String::from_utf8_lossy(&request[..request.len().min(120)]),
                String::from_utf8_lossy(&replies[0][..replies[0].len().min(200)]),
                String::from_utf8_lossy(&replies[1][..replies[1].len().min(200)]),
            ));
        }
    }
    diffs
}

/// Gets of 20 keys with small values, one write in ten: most gets are
/// answered by BMC, and every answer must still be memcached's.
fn read_mostly(peers: &mut [Peer], seed: u64) -> Vec<String> {
    let mut rng = Rng(seed ^ 0x5555);
    let keys: Vec<Vec<u8>> = (0..20).map(|i| rng.key(1 + i * 12)).collect();
    let mut diffs = Vec::new();
    for op in 0..1500u16 {
        let id = 50000u16.wrapping_add(op);
        let key = &keys[rng.below(keys.len())];
        let (request, replies) = if rng.below(10) == 0 {
            let len = rng.range(0, 40);
            let value = rng.bytes(len);
            let w = store("set", key, rng.below(100) as u32, &value, "");
            if rng.below(2) == 0 {
                let d = framed(id, &w);
                (
                    d.clone(),
                    udp_exchange(peers, id, &d, Duration::from_secs(2)),
                )
            } else {
                (w.clone(), tcp_exchange(peers, &[w]))
            }
        } else {
            let d = framed(id, &line(&[b"get", key]));
            (
                d.clone(),
                udp_exchange(peers, id, &d, Duration::from_secs(2)),
            )
        };
        if replies[0] != replies[1] {
            diffs.push(format!(
                "read-mostly op {op} {:?}:\n  bmc:   {:?}\n  alone: {:?}",
                String::from_utf8_lossy(&request),
                String::from_utf8_lossy(&replies[0]),
                String::from_utf8_lossy(&replies[1]),
            ));
        }
    }
    diffs
}

#[test]
fn every_reply_is_memcacheds_byte_for_byte() {
    if !tools() {
        return;
    }
    let mut lab = Lab::new(daemon(), &[Server::Bmc, Server::Alone], 1).unwrap();
    let seed = std::env::var("BMC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let netns = lab.client_netns.clone();
    let addrs = lab.addrs();
    let diffs = std::thread::spawn(move || {
        lab::enter(&netns).unwrap();
        let mut peers: Vec<Peer> = addrs.into_iter().map(Peer::new).collect();
        let mut diffs = differential(&mut peers, seed, 3000);
        // A read-mostly phase: gets of a few small values, with writes.
        diffs.extend(read_mostly(&mut peers, seed));
        diffs
    })
    .join()
    .unwrap();
    let totals = lab.stop_daemons();
    eprintln!("bmc: {}", totals[0]);
    let hits = lab::stat(&totals[0], "hits").unwrap();
    let invalidations = lab::stat(&totals[0], "invalidations").unwrap();
    let flushes = lab::stat(&totals[0], "flushes").unwrap();
    assert!(
        diffs.is_empty(),
        "{} replies differ (seed {seed:#x}):\n{}",
        diffs.len(),
        diffs[..diffs.len().min(10)].join("\n")
    );
    assert!(hits > 500, "the cache answered: {}", totals[0]);
    assert!(invalidations > 100 && flushes > 0, "{}", totals[0]);
}

#[test]
fn concurrent_writes_never_show_a_torn_value() {
    if !tools() {
        return;
    }
    let mut lab = Lab::new(daemon(), &[Server::Bmc], 2).unwrap();
    let netns = lab.client_netns.clone();
    let addr = lab.addrs()[0];
    // Large enough to tear (many 8-byte words), small enough for a veth
    // to answer in XDP (the reply grows into the packet's headroom).
    const LEN: usize = 180;
    let stop = Instant::now() + Duration::from_secs(4);
    let writer = {
        let netns = netns.clone();
        std::thread::spawn(move || {
            lab::enter(&netns).unwrap();
            let mut peer = Peer::new(addr);
            let mut round = 0u8;
            while Instant::now() < stop {
                let value = [b'a' + round % 26; LEN];
                let mut w = store("set", b"torn", 0, &value, "");
                w.extend_from_slice(b"mn\r\n");
                peer.tcp.write_all(&w).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 256];
                while !got.ends_with(b"MN\r\n") {
                    let n = peer.tcp.read(&mut buf).unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(got, b"STORED\r\nMN\r\n");
                round = round.wrapping_add(1);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let netns = netns.clone();
            std::thread::spawn(move || {
                lab::enter(&netns).unwrap();
                let peer = Peer::new(addr);
                let (mut seen, mut id) = (0u64, r as u16 * 30000);
                while Instant::now() < stop {
                    id = id.wrapping_add(1);
                    let reply = udp_exchange(
                        std::slice::from_ref(&peer),
                        id,
                        &framed(id, b"get torn\r\n"),
                        Duration::from_secs(1),
                    )
                    .remove(0);
                    if reply.len() <= 8 || &reply[8..] == b"END\r\n" {
                        continue;
                    }
                    let head = format!("VALUE torn 0 {LEN}\r\n");
                    let body = &reply[8..];
                    assert!(
                        body.starts_with(head.as_bytes()),
                        "{:?}",
                        String::from_utf8_lossy(body)
                    );
                    let data = &body[head.len()..head.len() + LEN];
                    assert!(
                        data.iter().all(|&b| b == data[0]),
                        "a torn value: {:?}",
                        String::from_utf8_lossy(data)
                    );
                    assert_eq!(&body[head.len() + LEN..], b"\r\nEND\r\n");
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    writer.join().unwrap();
    let seen: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let totals = lab.stop_daemons();
    eprintln!("bmc: {} ({seen} values read)", totals[0]);
    assert!(seen > 100, "values read: {seen}");
    assert!(lab::stat(&totals[0], "hits").unwrap() > 50, "{}", totals[0]);
    assert!(
        lab::stat(&totals[0], "fills").unwrap() > 10,
        "{}",
        totals[0]
    );
}
