//! A route netlink socket of meshd's own (rtnetlink(7)): one request at a time, answered by the
//! kernel's acknowledgement or by a dump. The message bodies (`rtmsg`, `ifaddrmsg` and their
//! attributes) are built and read with netlink-packet-route's types, the 16-byte netlink header
//! around them is read through netlink-packet-core's view and written here; the request/answer
//! exchange is here.
//!
//! Why not the rtnetlink crate: its connection parses every reply as any route netlink message
//! there is (links with every kind of link info, traffic control, neighbours, rules), so all of
//! that parsing code is linked in, about 0.19 MB of a router binary that must fit 1.5 MB
//! (openwrt/SIZES.md). meshd asks for five kinds of thing and reads two.
//!
//! What it must not do: wait forever. Every answer is awaited for at most [`ANSWER_TIMEOUT`], and
//! a reply that is not for the request in flight (a late answer to one that timed out) is
//! skipped by its sequence number.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use netlink_packet_core::{
    NetlinkBuffer, NETLINK_HEADER_LEN, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};
use tokio::io::unix::AsyncFd;

/// How long the kernel gets to answer one request (it answers at once; this bounds a bug).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The netlink message header: length, type, flags, sequence number, port id.
pub const HEADER_LEN: usize = NETLINK_HEADER_LEN;

// Route netlink message types (linux/rtnetlink.h); netlink-packet-route keeps its own private.
pub const RTM_SETLINK: u16 = 19;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;

// Header flags a caller may add (linux/netlink.h).
pub use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

/// Room for one datagram of a dump: the kernel fills at most 32 KiB per read.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// A non-blocking `NETLINK_ROUTE` socket, subscribed to `groups` (0: none), for tokio.
// Registering a descriptor with tokio's reactor is `unsafe` (it must stay open while registered):
// the one `unsafe` of this file.
#[allow(unsafe_code)]
pub fn open_route_socket(groups: u32) -> io::Result<AsyncFd<OwnedFd>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
    // SAFETY: `register` needs the descriptor `as_raw_fd` gives to stay open, and the same,
    // for as long as the AsyncFd owns it. It owns the `OwnedFd` itself, moved in here: nothing
    // else holds the descriptor, `OwnedFd::as_raw_fd` always returns the one it owns, and it is
    // closed only when the AsyncFd (with the `OwnedFd` in it) is dropped.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// One netlink message of a datagram: its type, flags, sequence number and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub sequence: u32,
    pub body: &'a [u8],
}

/// The messages of one datagram, in order; a malformed length ends the walk with an error.
pub fn messages(mut datagram: &[u8]) -> impl Iterator<Item = io::Result<Message<'_>>> {
    std::iter::from_fn(move || {
        if datagram.is_empty() {
            return None;
        }
        // The view's accessors are unchecked; the header and its length are checked here
        // (`NetlinkBuffer::new_checked` would do the same and format an error string this does
        // not need: 1.4 KB of a router binary).
        let header = (datagram.len() >= HEADER_LEN).then(|| NetlinkBuffer::new(datagram));
        let length = header.as_ref().map_or(0, |h| h.length() as usize);
        let Some(header) = header.filter(|_| (HEADER_LEN..=datagram.len()).contains(&length))
        else {
            datagram = &[];
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed netlink message from the kernel",
            )));
        };
        let message = Message {
            kind: header.message_type(),
            flags: header.flags(),
            sequence: header.sequence_number(),
            body: &datagram[HEADER_LEN..length],
        };
        // Messages are 4-byte aligned; the last one may end without padding.
        datagram = &datagram[length.next_multiple_of(4).min(datagram.len())..];
        Some(Ok(message))
    })
}

/// The errno an `NLMSG_ERROR` body carries (0: an acknowledgement).
fn error_code(body: &[u8]) -> io::Result<i32> {
    match body.get(..4) {
        Some(b) => Ok(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "truncated netlink error message from the kernel",
        )),
    }
}

/// A request socket: [`RouteSocket::request`] and [`RouteSocket::dump`].
#[derive(Debug)]
pub struct RouteSocket {
    fd: AsyncFd<OwnedFd>,
    sequence: u32,
    buffer: Vec<u8>,
}

impl RouteSocket {
    pub fn open() -> io::Result<RouteSocket> {
        Ok(RouteSocket {
            fd: open_route_socket(0)?,
            sequence: 0,
            buffer: vec![0; RECEIVE_BUFFER],
        })
    }

    /// Sends a request of type `kind` with `flags` (besides request and ack) and `body`, and
    /// waits for the kernel's answer: `Ok` or the errno it refused with.
    pub async fn request(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        let sequence = self.send(kind, NLM_F_REQUEST | NLM_F_ACK | flags, body)?;
        self.answers(sequence, |message| match message.kind {
            NLMSG_ERROR => match error_code(message.body)? {
                0 => Ok(true),
                errno => Err(io::Error::from_raw_os_error(errno)),
            },
            _ => Ok(false),
        })
        .await
    }

    /// Sends a dump request of type `kind` with `body`, and returns the body of every message
    /// of the dump.
    pub async fn dump(&mut self, kind: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let sequence = self.send(kind, NLM_F_REQUEST | NLM_F_DUMP, body)?;
        let mut bodies = Vec::new();
        self.answers(sequence, |message| match message.kind {
            NLMSG_DONE => Ok(true),
            NLMSG_ERROR => match error_code(message.body)? {
                0 => Ok(true),
                errno => Err(io::Error::from_raw_os_error(errno)),
            },
            _ => {
                bodies.push(message.body.to_vec());
                Ok(false)
            }
        })
        .await?;
        Ok(bodies)
    }

    fn send(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<u32> {
        self.sequence = self.sequence.wrapping_add(1);
        let length = u32::try_from(HEADER_LEN + body.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "netlink request too long"))?;
        // The header in field order. Written by hand: netlink-packet-core's setters
        // (`NetlinkBuffer::set_length` and the rest) cost 0.8 KB of a router binary here, where
        // reading through its view costs 64 bytes (measured on x86_64, router profile).
        let mut message = Vec::with_capacity(HEADER_LEN + body.len());
        message.extend_from_slice(&length.to_ne_bytes());
        message.extend_from_slice(&kind.to_ne_bytes());
        message.extend_from_slice(&flags.to_ne_bytes());
        message.extend_from_slice(&self.sequence.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        message.extend_from_slice(body);
        // A netlink send to the kernel does not wait: the request is handled in the call.
        send(self.fd.get_ref().as_raw_fd(), &message, MsgFlags::empty())?;
        Ok(self.sequence)
    }

    /// Reads datagrams and hands each message of request `sequence` to `each` until it returns
    /// `true` (the end of the answer) or an error, within [`ANSWER_TIMEOUT`].
    async fn answers<F>(&mut self, sequence: u32, mut each: F) -> io::Result<()>
    where
        F: FnMut(&Message<'_>) -> io::Result<bool>,
    {
        let wait = async {
            loop {
                let length = self.receive().await?;
                for message in messages(&self.buffer[..length]) {
                    let message = message?;
                    if message.sequence != sequence {
                        continue;
                    }
                    if each(&message)? {
                        return Ok(());
                    }
                }
            }
        };
        match tokio::time::timeout(ANSWER_TIMEOUT, wait).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the kernel did not answer a netlink request",
            )),
        }
    }

    /// One datagram into the buffer; its length.
    async fn receive(&mut self) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let fd = self.fd.get_ref().as_raw_fd();
            // MSG_TRUNC: the datagram's real length, so one too big for the buffer is noticed.
            match recv(
                fd,
                &mut self.buffer,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
            ) {
                Ok(length) if length > self.buffer.len() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a netlink answer of {length} bytes did not fit"),
                    ))
                }
                Ok(length) => return Ok(length),
                Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A route netlink attribute: length, type, value, padded to 4 bytes.
pub fn push_attribute(buffer: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let length = (4 + value.len()) as u16;
    buffer.extend_from_slice(&length.to_ne_bytes());
    buffer.extend_from_slice(&kind.to_ne_bytes());
    buffer.extend_from_slice(value);
    buffer.resize(buffer.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, flags: u16, sequence: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&sequence.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn a_datagram_is_walked_message_by_message_with_padding() {
        let mut datagram = message(RTM_NEWROUTE, 2, 9, &[1, 2, 3]);
        datagram.push(0); // padding to 4 bytes
        datagram.extend(message(NLMSG_DONE, 2, 9, &[0, 0, 0, 0]));
        let walked: Vec<Message<'_>> = messages(&datagram).map(|m| m.unwrap()).collect();
        assert_eq!(
            walked,
            [
                Message {
                    kind: RTM_NEWROUTE,
                    flags: 2,
                    sequence: 9,
                    body: &[1, 2, 3]
                },
                Message {
                    kind: NLMSG_DONE,
                    flags: 2,
                    sequence: 9,
                    body: &[0, 0, 0, 0]
                },
            ]
        );
    }

    #[test]
    fn a_bad_length_is_an_error_not_a_panic() {
        for bad in [
            vec![1, 2, 3], // shorter than a header
            {
                let mut m = message(RTM_NEWROUTE, 0, 1, &[]);
                m[0] = 8; // a length below the header's
                m
            },
            {
                let mut m = message(RTM_NEWROUTE, 0, 1, &[0; 4]);
                m[0] = 200; // a length past the datagram
                m
            },
        ] {
            let walked: Vec<io::Result<Message<'_>>> = messages(&bad).collect();
            assert_eq!(walked.len(), 1, "{bad:?}");
            assert_eq!(
                walked[0].as_ref().unwrap_err().kind(),
                io::ErrorKind::InvalidData
            );
        }
    }

    #[test]
    fn error_messages_carry_a_negative_errno() {
        assert_eq!(error_code(&(-17i32).to_ne_bytes()).unwrap(), 17);
        assert_eq!(error_code(&0i32.to_ne_bytes()).unwrap(), 0);
        assert!(error_code(&[1, 2]).is_err());
    }

    #[test]
    fn attributes_are_padded() {
        let mut buffer = Vec::new();
        push_attribute(&mut buffer, 4, &1500u32.to_ne_bytes());
        push_attribute(&mut buffer, 3, b"ab\0");
        assert_eq!(buffer.len(), 8 + 8);
        let header = |length: u16, kind: u16| [length.to_ne_bytes(), kind.to_ne_bytes()].concat();
        assert_eq!(&buffer[..4], &header(8, 4)[..]);
        assert_eq!(&buffer[4..8], &1500u32.to_ne_bytes());
        assert_eq!(&buffer[8..12], &header(7, 3)[..]);
        assert_eq!(&buffer[12..16], &[b'a', b'b', 0, 0]);
    }
}
