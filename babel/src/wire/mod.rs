//! Babel's wire format (RFC 8966 §4), with the v4-via-v6 address encoding (RFC 9229) and the
//! Timestamp sub-TLVs of the delay-based metric extension (RFC 9616).
//!
//! Two layers, in the smoltcp manner:
//! - per-TLV `Repr`s (in `tlv`, `subtlv`, `address`): one small owned value per TLV as it sits in
//!   the bytes, each with `parse`, `buffer_len` and `emit`. `emit` never panics on a buffer of
//!   `buffer_len()` bytes; `parse` never panics on any input.
//! - whole packets: [`parse_packet`] walks the TLVs of one packet, carrying the state that Babel
//!   keeps within a packet (current Router-Id, default Next Hops, the default prefixes used by
//!   prefix compression), and yields fully expanded [`Message`]s. [`Encoder`] does the reverse and
//!   packs messages into packets no larger than a given size.
//!
//! Decoding is lenient exactly where the RFC says so: an unknown TLV is skipped, a TLV with an
//! unknown *mandatory* sub-TLV is ignored, a TLV too short for its type is ignored; only a bad
//! header rejects the whole packet. Every such decision is counted in [`ParseStats`] so the caller
//! can account for hostile or broken neighbours without failing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod address;
mod cursor;
mod encoder;
mod packet;
mod subtlv;
mod tlv;

pub use address::AddressEncoding;
pub use cursor::Malformed;
pub use encoder::Encoder;
pub use packet::{parse_packet, Header, ParseStats, ParsedPacket, HEADER_LEN};
pub use subtlv::{SubTlv, SubTlvContext};
pub use tlv::{TlvRepr, TlvType};

/// The first octet of every Babel packet.
pub const MAGIC: u8 = 42;
/// The protocol version this crate speaks.
pub const VERSION: u8 = 2;
/// Babel's UDP port.
pub const PORT: u16 = 6696;
/// The link-local multicast group all Babel routers listen on.
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 6);
/// The infinite metric: a route with this metric is a retraction.
pub const INFINITY: u16 = 0xFFFF;

/// Why a packet was rejected as a whole. Malformed TLVs inside an accepted packet are not errors:
/// they are skipped and counted in [`ParseStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the 4-octet header, or the body length runs past the end of the datagram.
    Truncated,
    /// The magic octet is not 42.
    BadMagic(u8),
    /// A version this implementation does not speak (the RFC says: silently ignore).
    UnsupportedVersion(u8),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "packet shorter than its header says"),
            Error::BadMagic(m) => write!(f, "bad magic {m}, expected 42"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported Babel version {v}"),
        }
    }
}

impl std::error::Error for Error {}

/// An 8-octet router-id. All-zeros and all-ones are not valid router-ids (RFC 8966 §4.6.7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RouterId(pub [u8; 8]);

impl RouterId {
    /// Whether the RFC allows this value as a router-id.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8] && self.0 != [0xFF; 8]
    }
}

impl fmt::Debug for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for RouterId {
    /// Formatted as babeld does: `xx:xx:xx:xx:xx:xx:xx:xx`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// An IPv4 or IPv6 prefix whose host bits are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

// `len` is the prefix length in bits, not a collection size: `is_empty` would mean nothing.
#[allow(clippy::len_without_is_empty)]
impl Prefix {
    /// Builds a prefix, clearing the host bits; `None` if `len` is too long for the family.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                Some(Prefix {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask)),
                    len,
                })
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                Some(Prefix {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)),
                    len,
                })
            }
            _ => None,
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is a default route (`::/0` or `0.0.0.0/0`).
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` falls inside this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        Prefix::new(addr, self.len) == Some(*self)
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={max}"))?,
            None => max,
        };
        Prefix::new(addr, len).ok_or_else(|| format!("`{s}` is not an IP prefix"))
    }
}

/// Timestamps carried on a Hello (RFC 9616 §3.1): the sender's clock when it sent the Hello, in
/// microseconds, modulo 2^32.
pub type HelloTimestamp = u32;

/// Timestamps carried on an IHU (RFC 9616 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IhuTimestamps {
    /// The transmit timestamp of the last Hello received from the neighbour (its clock).
    pub origin: u32,
    /// When that Hello was received (our clock).
    pub receive: u32,
}

/// One Babel message, fully expanded: what a TLV means once the packet state it depends on
/// (Router-Id, Next Hop, compressed prefixes) has been applied. Router-Id, Next Hop, Pad1 and PadN
/// TLVs do not appear here: the parser folds them into the messages that follow, and the
/// [`Encoder`] emits them where needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Acknowledgment Request (§4.6.3). `interval` is in centiseconds.
    AckRequest { nonce: u16, interval: u16 },
    /// Acknowledgment (§4.6.4).
    Ack { nonce: u16 },
    /// Hello (§4.6.5). `interval` is in centiseconds; 0 means no more hellos of this kind will be
    /// sent on schedule (RFC 8966 allows this for unicast hellos).
    Hello {
        unicast: bool,
        seqno: u16,
        interval: u16,
        timestamp: Option<HelloTimestamp>,
    },
    /// I Heard You (§4.6.6). `address` is `None` for AE 0 (applies to whoever receives it).
    /// `interval` is in centiseconds.
    Ihu {
        address: Option<IpAddr>,
        rxcost: u16,
        interval: u16,
        timestamps: Option<IhuTimestamps>,
    },
    /// Update (§4.6.9), or a retraction when `metric == INFINITY`.
    ///
    /// A retraction parsed with no router-id in force (none is needed for one) carries the
    /// all-zero router-id, which is never a valid router-id; the encoder sends such a retraction
    /// with no router-id in force.
    ///
    /// When parsed, `next_hop` is always `Some` (explicit Next Hop TLV or the packet's source).
    /// When encoded, `None` means "the packet's source address" (no Next Hop TLV is written; an
    /// IPv4 prefix is then sent as v4-via-v6, AE 4), `Some` makes the encoder write a Next Hop TLV.
    Update {
        prefix: Prefix,
        router_id: RouterId,
        next_hop: Option<IpAddr>,
        seqno: u16,
        interval: u16,
        metric: u16,
    },
    /// An Update with AE 0: retracts every route previously announced by the sender on this link.
    RetractAll { interval: u16 },
    /// Route Request (§4.6.10). `None` is a wildcard request (AE 0): send me a full dump.
    RouteRequest { prefix: Option<Prefix> },
    /// Seqno Request (§4.6.11).
    SeqnoRequest {
        prefix: Prefix,
        seqno: u16,
        hop_count: u8,
        router_id: RouterId,
    },
}

/// Seqno comparison modulo 2^16 (RFC 8966 §3.2.1): `a` is strictly newer than `b`.
pub fn seqno_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}
