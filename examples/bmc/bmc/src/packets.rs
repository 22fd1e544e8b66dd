//! Packets for `BPF_PROG_TEST_RUN`: memcached's UDP requests and replies
//! as they cross the server's interface, for the tests and the benchmark.

/// The client's and the server's MAC and IPv4 addresses in crafted packets.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
/// The server's MAC address.
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
/// The client's address.
pub const CLIENT_IP: [u8; 4] = [10, 213, 0, 2];
/// The server's address.
pub const SERVER_IP: [u8; 4] = [10, 213, 0, 1];

/// The IPv4 header checksum of `header` (its checksum field included:
/// 0 for a valid header when it is set).
pub fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet + IPv4 + UDP packet carrying `payload`, with a valid IP
/// checksum and no UDP checksum.
pub fn udp(src: ([u8; 6], [u8; 4], u16), dst: ([u8; 6], [u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(42 + payload.len());
    p.extend_from_slice(&dst.0);
    p.extend_from_slice(&src.0);
    p.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.1);
    ip.extend_from_slice(&dst.1);
    let check = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&check.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(&src.2.to_be_bytes());
    p.extend_from_slice(&dst.2.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// memcached's 8-byte UDP frame header, then `body`.
pub fn framed(request_id: u16, body: &[u8]) -> Vec<u8> {
    let mut p = request_id.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
    p.extend_from_slice(body);
    p
}

/// A request from the client's `port` to memcached.
pub fn request(port: u16, request_id: u16, body: &[u8]) -> Vec<u8> {
    udp(
        (CLIENT_MAC, CLIENT_IP, port),
        (SERVER_MAC, SERVER_IP, bmc_common::PORT),
        &framed(request_id, body),
    )
}

/// A reply from memcached to the client's `port`.
pub fn reply(port: u16, request_id: u16, body: &[u8]) -> Vec<u8> {
    udp(
        (SERVER_MAC, SERVER_IP, bmc_common::PORT),
        (CLIENT_MAC, CLIENT_IP, port),
        &framed(request_id, body),
    )
}

/// memcached's reply to `get key` when it holds `value` with `flags`.
pub fn value_body(key: &[u8], flags: u32, value: &[u8]) -> Vec<u8> {
    let mut b = format!(
        "VALUE {} {flags} {}\r\n",
        String::from_utf8_lossy(key),
        value.len()
    )
    .into_bytes();
    b.extend_from_slice(value);
    b.extend_from_slice(b"\r\nEND\r\n");
    b
}

/// A TCP segment (ACK, PSH) from the client's `port` to memcached
/// carrying `payload`.
pub fn tcp(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = udp(
        (CLIENT_MAC, CLIENT_IP, port),
        (SERVER_MAC, SERVER_IP, bmc_common::PORT),
        &[],
    );
    p.truncate(34);
    let total = (20 + 20 + payload.len()) as u16;
    p[16..18].copy_from_slice(&total.to_be_bytes());
    p[23] = 6;
    p[24..26].copy_from_slice(&[0, 0]);
    let check = ip_checksum(&p[14..34]);
    p[24..26].copy_from_slice(&check.to_be_bytes());
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&bmc_common::PORT.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}
