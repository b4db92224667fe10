//! The packet header and trailer (RFC 8966 §4.2) and the TLV walk that expands one packet into
//! [`Message`]s.
//!
//! Owns the parser state Babel keeps within one packet (RFC 8966 §4.5): the current router-id,
//! the default next hops, and the default prefixes of prefix compression. It decides nothing
//! about routes: it only says what each TLV means.

use std::net::IpAddr;

use super::address::{self, AddressEncoding};
use super::subtlv::{self, SubTlv};
use super::tlv::{self, TlvRepr, UPDATE_SET_DEFAULT_PREFIX, UPDATE_SET_ROUTER_ID};
use super::{Error, IhuTimestamps, Message, RouterId, INFINITY, MAGIC, VERSION};

/// Length of the fixed header: magic, version, body length.
pub const HEADER_LEN: usize = 4;

/// The packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub body_len: u16,
}

impl Header {
    /// Checks magic, version and length, and splits the datagram into body and trailer.
    pub fn parse(bytes: &[u8]) -> Result<(Header, &[u8], &[u8]), Error> {
        let (header, rest) = match bytes.split_first_chunk::<HEADER_LEN>() {
            Some(split) => split,
            None => return Err(Error::Truncated),
        };
        let [magic, version, len_hi, len_lo] = *header;
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let body_len = u16::from_be_bytes([len_hi, len_lo]);
        if usize::from(body_len) > rest.len() {
            return Err(Error::Truncated);
        }
        let (body, trailer) = rest.split_at(usize::from(body_len));
        Ok((Header { body_len }, body, trailer))
    }

    /// The header's four octets.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let [hi, lo] = self.body_len.to_be_bytes();
        [MAGIC, VERSION, hi, lo]
    }
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
    let (_, mut body, trailer) = Header::parse(bytes)?;
    let mut walk = Walk::new(source);
    walk.out.stats.trailer_len = u32::try_from(trailer.len()).unwrap_or(u32::MAX);
    while !body.is_empty() {
        let Some((tlv_type, tlv_body, total)) = tlv::split(body) else {
            // The length field lies, so nothing after it can be trusted to start a TLV.
            walk.out.stats.malformed_tlvs += 1;
            break;
        };
        body = body.get(total..).unwrap_or(&[]);
        match TlvRepr::parse(tlv_type, tlv_body) {
            Ok(repr) => walk.apply(repr),
            Err(_) => walk.out.stats.malformed_tlvs += 1,
        }
    }
    Ok(walk.out)
}

/// The parser state of RFC 8966 §4.5, plus what has been produced so far.
struct Walk {
    router_id: Option<RouterId>,
    next_hop_v4: Option<IpAddr>,
    next_hop_v6: Option<IpAddr>,
    /// Default prefixes for AE 1, 2 and 4 (indexed by AE), as full address octets.
    default_prefix: [Option<[u8; 16]>; 5],
    out: ParsedPacket,
}

impl Walk {
    fn new(source: IpAddr) -> Walk {
        // Babel runs over IPv6 here, so the source is only the IPv6 default next hop; an IPv4
        // source (Babel over IPv4) would be the IPv4 one.
        let (next_hop_v4, next_hop_v6) = match source {
            IpAddr::V4(_) => (Some(source), None),
            IpAddr::V6(_) => (None, Some(source)),
        };
        Walk {
            router_id: None,
            next_hop_v4,
            next_hop_v6,
            default_prefix: [None; 5],
            out: ParsedPacket::default(),
        }
    }

    /// Counts a TLV ignored for an unknown mandatory sub-TLV; true if it must be ignored.
    fn ignored_for_mandatory(&mut self, sub_tlvs: &[SubTlv]) -> bool {
        let ignore = subtlv::has_unknown_mandatory(sub_tlvs);
        if ignore {
            self.out.stats.mandatory_subtlv_ignored += 1;
        }
        ignore
    }

    fn malformed(&mut self) {
        self.out.stats.malformed_tlvs += 1;
    }

    fn emit(&mut self, message: Message) {
        self.out.messages.push(message);
    }

    fn apply(&mut self, repr: TlvRepr) {
        match repr {
            TlvRepr::Pad1 | TlvRepr::PadN { .. } => {}
            TlvRepr::Unknown { .. } => self.out.stats.unknown_tlvs += 1,
            TlvRepr::AckRequest {
                nonce,
                interval,
                sub_tlvs,
            } => {
                if !self.ignored_for_mandatory(&sub_tlvs) {
                    self.emit(Message::AckRequest { nonce, interval });
                }
            }
            TlvRepr::Ack { nonce, sub_tlvs } => {
                if !self.ignored_for_mandatory(&sub_tlvs) {
                    self.emit(Message::Ack { nonce });
                }
            }
            TlvRepr::Hello {
                unicast,
                seqno,
                interval,
                sub_tlvs,
            } => {
                if self.ignored_for_mandatory(&sub_tlvs) {
                    return;
                }
                let timestamp = sub_tlvs.iter().find_map(|s| match s {
                    SubTlv::HelloTimestamp(t) => Some(*t),
                    _ => None,
                });
                self.emit(Message::Hello {
                    unicast,
                    seqno,
                    interval,
                    timestamp,
                });
            }
            TlvRepr::Ihu {
                address,
                rxcost,
                interval,
                sub_tlvs,
                ..
            } => {
                if self.ignored_for_mandatory(&sub_tlvs) {
                    return;
                }
                let timestamps = sub_tlvs.iter().find_map(|s| match s {
                    SubTlv::IhuTimestamps(t) => Some(IhuTimestamps { ..*t }),
                    _ => None,
                });
                self.emit(Message::Ihu {
                    address,
                    rxcost,
                    interval,
                    timestamps,
                });
            }
            TlvRepr::RouterId {
                router_id,
                sub_tlvs,
            } => {
                // State changes even when a mandatory sub-TLV makes the TLV itself ignored.
                self.ignored_for_mandatory(&sub_tlvs);
                if router_id.is_valid() {
                    self.router_id = Some(router_id);
                } else {
                    self.router_id = None;
                    self.malformed();
                }
            }
            TlvRepr::NextHop {
                ae,
                address,
                sub_tlvs,
            } => {
                self.ignored_for_mandatory(&sub_tlvs);
                match ae {
                    AddressEncoding::Ipv4 => self.next_hop_v4 = Some(address),
                    AddressEncoding::Ipv6 | AddressEncoding::Ipv6LinkLocal => {
                        self.next_hop_v6 = Some(address)
                    }
                    // The TLV parser never yields these; treat them as malformed all the same.
                    AddressEncoding::Wildcard | AddressEncoding::Ipv4ViaIpv6 => self.malformed(),
                }
            }
            TlvRepr::Update {
                ae,
                flags,
                plen,
                omitted,
                interval,
                seqno,
                metric,
                prefix,
                sub_tlvs,
            } => {
                if ae == AddressEncoding::Wildcard {
                    if metric != INFINITY {
                        self.malformed();
                    } else if !self.ignored_for_mandatory(&sub_tlvs) {
                        self.emit(Message::RetractAll { interval });
                    }
                    return;
                }
                let default = self.default_prefix[ae as usize];
                if omitted > 0 && default.is_none() {
                    self.malformed();
                    return;
                }
                let Some(prefix) =
                    address::decode_prefix(ae, plen, omitted, &prefix, default.as_ref())
                else {
                    self.malformed();
                    return;
                };
                if flags & UPDATE_SET_DEFAULT_PREFIX != 0 && ae.has_default_prefix() {
                    self.default_prefix[ae as usize] = Some(address::prefix_octets(&prefix));
                }
                if flags & UPDATE_SET_ROUTER_ID != 0 {
                    let derived = address::router_id_from_prefix(&prefix);
                    self.router_id = Some(derived).filter(RouterId::is_valid);
                }
                if self.ignored_for_mandatory(&sub_tlvs) {
                    return;
                }
                let next_hop = match ae {
                    AddressEncoding::Ipv4 => self.next_hop_v4,
                    _ => self.next_hop_v6,
                };
                let (Some(router_id), Some(next_hop)) = (self.router_id, next_hop) else {
                    self.out.stats.missing_state += 1;
                    return;
                };
                self.emit(Message::Update {
                    prefix,
                    router_id,
                    next_hop: Some(next_hop),
                    seqno,
                    interval,
                    metric,
                });
            }
            TlvRepr::RouteRequest {
                ae,
                plen,
                prefix,
                sub_tlvs,
            } => {
                let prefix = match ae {
                    AddressEncoding::Wildcard => None,
                    _ => match address::decode_prefix(ae, plen, 0, &prefix, None) {
                        Some(p) => Some(p),
                        None => return self.malformed(),
                    },
                };
                if !self.ignored_for_mandatory(&sub_tlvs) {
                    self.emit(Message::RouteRequest { prefix });
                }
            }
            TlvRepr::SeqnoRequest {
                ae,
                plen,
                seqno,
                hop_count,
                router_id,
                prefix,
                sub_tlvs,
            } => {
                let Some(prefix) = address::decode_prefix(ae, plen, 0, &prefix, None) else {
                    return self.malformed();
                };
                if !self.ignored_for_mandatory(&sub_tlvs) {
                    self.emit(Message::SeqnoRequest {
                        prefix,
                        seqno,
                        hop_count,
                        router_id,
                    });
                }
            }
        }
    }
}
