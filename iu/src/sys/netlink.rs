//! rtnetlink: attaching XDP programs the way kernels before bpf_links for
//! XDP (5.9) do, with `RTM_SETLINK` and an `IFLA_XDP` attribute.

use std::{io, os::fd::AsRawFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, send, socket,
};

const RTM_SETLINK: u16 = 19;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLMSG_ERROR: u16 = 0x2;
const NLA_F_NESTED: u16 = 1 << 15;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_EXPECTED_FD: u16 = 8;

/// `XDP_FLAGS_UPDATE_IF_NOEXIST`: fail if a program is attached already.
pub const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
/// `XDP_FLAGS_REPLACE`: replace only the program `expected_fd` names.
pub const XDP_FLAGS_REPLACE: u32 = 1 << 4;

/// An attribute: length, type, then the payload padded to 4 bytes.
fn attribute(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(len.next_multiple_of(4), 0);
    out
}

/// The `RTM_SETLINK` request that sets interface `ifindex`'s XDP program
/// to `fd` (-1: none).
fn xdp_request(ifindex: u32, fd: i32, expected_fd: Option<i32>, flags: u32) -> Vec<u8> {
    let mut xdp = attribute(IFLA_XDP_FD, &fd.to_ne_bytes());
    xdp.extend(attribute(IFLA_XDP_FLAGS, &flags.to_ne_bytes()));
    if let Some(expected) = expected_fd {
        xdp.extend(attribute(IFLA_XDP_EXPECTED_FD, &expected.to_ne_bytes()));
    }
    // struct ifinfomsg: family, pad, type, index, flags, change.
    let mut body = vec![0u8; 16];
    body[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    body.extend(attribute(IFLA_XDP | NLA_F_NESTED, &xdp));
    // struct nlmsghdr: len, type, flags, seq, pid.
    let mut message = Vec::with_capacity(16 + body.len());
    message.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    message.extend_from_slice(&RTM_SETLINK.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend(body);
    message
}

/// Sets interface `ifindex`'s XDP program to `fd` (-1 detaches), with
/// `XDP_FLAGS_*` `flags`, and waits for the kernel's answer.
pub fn xdp_set(ifindex: u32, fd: i32, expected_fd: Option<i32>, flags: u32) -> io::Result<()> {
    let socket = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    send(
        socket.as_raw_fd(),
        &xdp_request(ifindex, fd, expected_fd, flags),
        MsgFlags::empty(),
    )?;
    let mut answer = [0u8; 4096];
    let len = recv(socket.as_raw_fd(), &mut answer, MsgFlags::empty())?;
    let answer = &answer[..len];
    let field = |at: usize| answer.get(at..at + 4).and_then(|b| b.try_into().ok());
    let kind = answer
        .get(4..6)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_ne_bytes);
    match (kind, field(16).map(i32::from_ne_bytes)) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(error)) => Err(io::Error::from_raw_os_error(-error)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected rtnetlink answer",
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_nests_the_xdp_attributes() {
        let message = super::xdp_request(7, 5, None, 2);
        // nlmsghdr (16) + ifinfomsg (16) + IFLA_XDP (4 + 8 + 8).
        assert_eq!(message.len(), 52);
        assert_eq!(u32::from_ne_bytes(message[..4].try_into().unwrap()), 52);
        assert_eq!(i32::from_ne_bytes(message[20..24].try_into().unwrap()), 7);
        assert_eq!(u16::from_ne_bytes(message[32..34].try_into().unwrap()), 20);
        assert_eq!(
            u16::from_ne_bytes(message[34..36].try_into().unwrap()),
            43 | 1 << 15
        );
        assert_eq!(i32::from_ne_bytes(message[40..44].try_into().unwrap()), 5);
        assert_eq!(u32::from_ne_bytes(message[48..52].try_into().unwrap()), 2);
    }
}
