//! The packet header and trailer (RFC 8966 §4.2) and the TLV walk that expands one packet into
//! [`Message`]s.

use std::net::IpAddr;

use super::{Error, Message};

/// Length of the fixed header: magic, version, body length.
pub const HEADER_LEN: usize = 4;

/// The packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub body_len: u16,
}

/// What the parser skipped inside an accepted packet, for the caller's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// TLVs of a type this implementation does not know (skipped, as the RFC says).
    pub unknown_tlvs: u32,
    /// TLVs that were too short or otherwise malformed for their type (ignored).
    pub malformed_tlvs: u32,
    /// TLVs ignored because they carried an unknown mandatory sub-TLV.
    pub mandatory_subtlv_ignored: u32,
    /// Updates ignored because no Router-Id or no usable next hop was known at that point.
    pub missing_state: u32,
    /// Octets after the body (the trailer, e.g. RFC 8967 MACs), not interpreted.
    pub trailer_len: u32,
}

/// One parsed packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedPacket {
    pub messages: Vec<Message>,
    pub stats: ParseStats,
}

/// Parses one Babel packet received from `source` (the packet's IPv6 source address, which is the
/// default next hop of its updates).
pub fn parse_packet(bytes: &[u8], source: IpAddr) -> Result<ParsedPacket, Error> {
    let _ = (bytes, source);
    todo!("wire parser")
}
