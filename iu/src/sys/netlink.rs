//! rtnetlink: attaching XDP programs the way kernels before bpf_links for
//! XDP (5.9) do, with `RTM_SETLINK` and an `IFLA_XDP` attribute, and tc
//! classifiers the way kernels before TCX links (6.6) do, as direct-action
//! `cls_bpf` filters on a `clsact` qdisc.

use std::{io, os::fd::AsRawFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, send, socket,
};

const RTM_SETLINK: u16 = 19;
const RTM_NEWQDISC: u16 = 36;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const RTM_GETTFILTER: u16 = 46;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_ECHO: u16 = 0x8;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 0x2;
const NLMSG_DONE: u16 = 0x3;
const NLA_F_NESTED: u16 = 1 << 15;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_EXPECTED_FD: u16 = 8;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
/// The program's return value is the tc action.
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
/// `TC_H_CLSACT`: the clsact qdisc's parent, and (major part) its handle.
const TC_H_CLSACT: u32 = 0xffff_fff1;
const TC_H_MIN_INGRESS: u32 = 0xfff2;
const TC_H_MIN_EGRESS: u32 = 0xfff3;
/// `ETH_P_ALL`, in network byte order as `tcm_info` wants it.
const ETH_P_ALL_BE: u32 = 0x0003u16.to_be() as u32;
const HEADER_LEN: usize = 16;

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

/// A message: `struct nlmsghdr` (len, type, flags, seq, pid), then `body`.
fn message(kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER_LEN + body.len());
    message.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(body);
    message
}

/// Sends one request and collects the kernel's answers up to its
/// acknowledgement: the messages it echoed, or the error it reported.
fn transact(request: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let socket = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    send(socket.as_raw_fd(), request, MsgFlags::empty())?;
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "malformed rtnetlink answer");
    let mut echoed = vec![];
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let len = recv(socket.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
        let mut rest = buffer.get(..len).ok_or_else(invalid)?;
        while rest.len() >= HEADER_LEN {
            let size = u32::from_ne_bytes(rest[..4].try_into().map_err(|_| invalid())?) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().map_err(|_| invalid())?);
            let message = rest
                .get(..size)
                .filter(|_| size >= HEADER_LEN)
                .ok_or_else(invalid)?;
            match kind {
                NLMSG_ERROR => {
                    let code = message
                        .get(HEADER_LEN..HEADER_LEN + 4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .ok_or_else(invalid)?;
                    return match code {
                        0 => Ok(echoed),
                        error => Err(io::Error::from_raw_os_error(-error)),
                    };
                }
                NLMSG_DONE => return Ok(echoed),
                _ => echoed.push(message.to_vec()),
            }
            rest = rest.get(size.next_multiple_of(4)..).unwrap_or_default();
        }
    }
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
    message(RTM_SETLINK, 0, &body)
}

/// Sets interface `ifindex`'s XDP program to `fd` (-1 detaches), with
/// `XDP_FLAGS_*` `flags`, and waits for the kernel's answer.
pub fn xdp_set(ifindex: u32, fd: i32, expected_fd: Option<i32>, flags: u32) -> io::Result<()> {
    transact(&xdp_request(ifindex, fd, expected_fd, flags)).map(drop)
}

/// `struct tcmsg`: family, padding, interface, handle, parent, info.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    body.extend_from_slice(&handle.to_ne_bytes());
    body.extend_from_slice(&parent.to_ne_bytes());
    body.extend_from_slice(&info.to_ne_bytes());
    body
}

/// Adds the `clsact` qdisc to interface `ifindex`. `Ok(false)` if it has
/// one already.
pub fn clsact_add(ifindex: u32) -> io::Result<bool> {
    let mut body = tcmsg(ifindex, TC_H_CLSACT & 0xffff_0000, TC_H_CLSACT, 0);
    body.extend(attribute(TCA_KIND, b"clsact\0"));
    match transact(&message(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &body)) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A `cls_bpf` filter as the kernel numbered it: what deleting it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcFilter {
    /// The interface.
    pub ifindex: u32,
    /// `clsact`'s ingress or egress hook.
    pub parent: u32,
    /// The filter's handle within its priority.
    pub handle: u32,
    /// The priority the kernel chose (before the filters already there).
    pub priority: u16,
}

/// The parent of `clsact`'s ingress or egress hook.
pub fn clsact_parent(ingress: bool) -> u32 {
    (TC_H_CLSACT & 0xffff_0000)
        | if ingress {
            TC_H_MIN_INGRESS
        } else {
            TC_H_MIN_EGRESS
        }
}

/// The `RTM_NEWTFILTER` request for a direct-action `cls_bpf` filter
/// running program `fd`, at a priority the kernel picks.
fn cls_bpf_request(ifindex: u32, ingress: bool, fd: i32, name: &str) -> Vec<u8> {
    let mut options = attribute(TCA_BPF_FD, &fd.to_ne_bytes());
    let mut name = name.as_bytes().to_vec();
    name.push(0);
    options.extend(attribute(TCA_BPF_NAME, &name));
    options.extend(attribute(
        TCA_BPF_FLAGS,
        &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes(),
    ));
    let mut body = tcmsg(ifindex, 0, clsact_parent(ingress), ETH_P_ALL_BE);
    body.extend(attribute(TCA_KIND, b"bpf\0"));
    body.extend(attribute(TCA_OPTIONS | NLA_F_NESTED, &options));
    message(
        RTM_NEWTFILTER,
        NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO,
        &body,
    )
}

/// Adds a direct-action `cls_bpf` filter running program `fd` (called
/// `name`) to `ifindex`'s clsact ingress or egress hook, and returns how
/// the kernel numbered it (from its echo of the new filter).
pub fn cls_bpf_add(ifindex: u32, ingress: bool, fd: i32, name: &str) -> io::Result<TcFilter> {
    let echoed = transact(&cls_bpf_request(ifindex, ingress, fd, name))?;
    let field = |message: &[u8], at: usize| {
        message
            .get(HEADER_LEN + at..HEADER_LEN + at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    echoed
        .iter()
        .filter(|m| m.get(4..6) == Some(&RTM_NEWTFILTER.to_ne_bytes()[..]))
        .find_map(|m| {
            Some(TcFilter {
                ifindex,
                parent: clsact_parent(ingress),
                handle: field(m, 8)?,
                priority: (field(m, 16)? >> 16) as u16,
            })
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the kernel did not echo the new tc filter",
            )
        })
}

/// Deletes the filter `filter`.
pub fn cls_bpf_del(filter: &TcFilter) -> io::Result<()> {
    let info = (u32::from(filter.priority) << 16) | ETH_P_ALL_BE;
    let mut body = tcmsg(filter.ifindex, filter.handle, filter.parent, info);
    body.extend(attribute(TCA_KIND, b"bpf\0"));
    transact(&message(RTM_DELTFILTER, 0, &body)).map(drop)
}

/// The attributes of a message body from byte `at`: (type without the
/// nested/byte-order bits, payload). Stops at the first malformed one.
fn attributes(body: &[u8], mut at: usize) -> Vec<(u16, &[u8])> {
    let mut out = vec![];
    while let Some(header) = body.get(at..at + 4) {
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & 0x3fff;
        let Some(payload) = body.get(at + 4..at + len.max(4)) else {
            break;
        };
        out.push((kind, payload));
        at += len.max(4).next_multiple_of(4);
    }
    out
}

/// The id of the program that filter `filter` runs, if a `cls_bpf`
/// filter is there (`None`: no such filter).
pub fn cls_bpf_prog_id(filter: &TcFilter) -> io::Result<Option<u32>> {
    let info = (u32::from(filter.priority) << 16) | ETH_P_ALL_BE;
    let mut body = tcmsg(filter.ifindex, filter.handle, filter.parent, info);
    body.extend(attribute(TCA_KIND, b"bpf\0"));
    let echoed = match transact(&message(RTM_GETTFILTER, 0, &body)) {
        Ok(echoed) => echoed,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(echoed.iter().find_map(|m| {
        let (_, options) = attributes(m, HEADER_LEN + 20)
            .into_iter()
            .find(|(kind, _)| *kind == TCA_OPTIONS)?;
        let (_, id) = attributes(options, 0)
            .into_iter()
            .find(|(kind, _)| *kind == TCA_BPF_ID)?;
        Some(u32::from_ne_bytes(id.get(..4)?.try_into().ok()?))
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn attributes_stop_at_malformed_lengths() {
        let mut body = super::attribute(11, &7u32.to_ne_bytes());
        body.extend(super::attribute(2 | 1 << 15, b"ab"));
        body.extend([200, 0, 1, 0, 9]);
        let found = super::attributes(&body, 0);
        assert_eq!(found, vec![(11, &7u32.to_ne_bytes()[..]), (2, &b"ab"[..])]);
    }

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

    #[test]
    fn the_filter_request_names_clsact_and_direct_action() {
        let message = super::cls_bpf_request(3, true, 9, "count");
        // nlmsghdr (16) + tcmsg (20) + kind "bpf" (8) + options (4 + 8 + 12 + 8).
        assert_eq!(message.len(), 76);
        assert_eq!(u32::from_ne_bytes(message[..4].try_into().unwrap()), 76);
        assert_eq!(u16::from_ne_bytes(message[4..6].try_into().unwrap()), 44);
        // ifindex, then parent ffff:fff2 (clsact ingress).
        assert_eq!(i32::from_ne_bytes(message[20..24].try_into().unwrap()), 3);
        assert_eq!(
            u32::from_ne_bytes(message[28..32].try_into().unwrap()),
            0xffff_fff2
        );
        assert_eq!(&message[40..44], b"bpf\0");
        assert_eq!(i32::from_ne_bytes(message[52..56].try_into().unwrap()), 9);
        assert_eq!(&message[60..66], b"count\0");
        assert_eq!(u32::from_ne_bytes(message[72..76].try_into().unwrap()), 1);
    }
}
