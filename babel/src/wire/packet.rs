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
use super::{Error, Message, RouterId, INFINITY, MAGIC, VERSION};

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
                    SubTlv::IhuTimestamps(t) => Some(*t),
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
                // Nor does it need a next hop: an IPv4 retraction with no IPv4 Next Hop TLV
                // before it still withdraws the route (the packet's source stands in).
                let next_hop = match next_hop {
                    None if metric == INFINITY => self.next_hop_v6,
                    known => known,
                };
                // A retraction needs no router-id (RFC 8966 §4.6.9: it is not used); BIRD sends
                // retractions before any Router-Id TLV.
                let router_id = match self.router_id {
                    None if metric == INFINITY => Some(RouterId([0; 8])),
                    known => known,
                };
                let (Some(router_id), Some(next_hop)) = (router_id, next_hop) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{IhuTimestamps, Prefix};

    const SOURCE: &str = "fe80::1";
    const RID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    fn source() -> IpAddr {
        SOURCE.parse().expect("test address")
    }

    fn p(s: &str) -> Prefix {
        s.parse().expect("test prefix")
    }

    /// A packet with the given body and no trailer.
    fn packet(body: &[u8]) -> Vec<u8> {
        let mut out = Header {
            body_len: body.len() as u16,
        }
        .to_bytes()
        .to_vec();
        out.extend_from_slice(body);
        out
    }

    fn parse(body: &[u8]) -> ParsedPacket {
        parse_packet(&packet(body), source()).expect("valid header")
    }

    fn update(prefix: &str, next_hop: &str, seqno: u16, metric: u16) -> Message {
        Message::Update {
            prefix: p(prefix),
            router_id: RouterId(RID),
            next_hop: Some(next_hop.parse().expect("test address")),
            seqno,
            interval: 400,
            metric,
        }
    }

    const ROUTER_ID_TLV: [u8; 12] = [6, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn header_errors() {
        assert_eq!(parse_packet(&[42, 2, 0], source()), Err(Error::Truncated));
        assert_eq!(
            parse_packet(&[42, 2, 0, 1], source()),
            Err(Error::Truncated)
        );
        assert_eq!(
            parse_packet(&[43, 2, 0, 0], source()),
            Err(Error::BadMagic(43))
        );
        assert_eq!(
            parse_packet(&[42, 1, 0, 0], source()),
            Err(Error::UnsupportedVersion(1))
        );
        assert_eq!(
            parse_packet(&[42, 2, 0, 0], source()),
            Ok(ParsedPacket::default())
        );
    }

    #[test]
    fn trailer_is_counted_not_parsed() {
        let parsed =
            parse_packet(&[42, 2, 0, 2, 3, 0, 0xFF, 0xFF, 0xFF], source()).expect("valid header");
        assert_eq!(parsed.stats.trailer_len, 3);
        assert_eq!(parsed.messages, vec![]);
        assert_eq!(parsed.stats.malformed_tlvs, 1);
    }

    #[test]
    fn router_id_carries_over_several_updates() {
        let mut body = ROUTER_ID_TLV.to_vec();
        body.extend_from_slice(&[8, 13, 4, 0, 24, 0, 0x01, 0x90, 0, 1, 0, 96, 198, 51, 100]);
        body.extend_from_slice(&[8, 12, 2, 0, 16, 0, 0x01, 0x90, 0, 2, 0, 97, 0x20, 0x01]);
        let parsed = parse(&body);
        assert_eq!(
            parsed.messages,
            vec![
                update("198.51.100.0/24", SOURCE, 1, 96),
                update("2001::/16", SOURCE, 2, 97)
            ]
        );
    }

    #[test]
    fn update_without_router_id_is_missing_state() {
        let parsed = parse(&[8, 12, 2, 0, 16, 0, 0x01, 0x90, 0, 2, 0, 97, 0x20, 0x01]);
        assert_eq!(parsed.messages, vec![]);
        assert_eq!(parsed.stats.missing_state, 1);
    }

    #[test]
    fn retraction_without_router_id_has_the_zero_router_id() {
        // As BIRD sends it: a retraction before any Router-Id TLV, then a finite update.
        let mut body = vec![8, 12, 2, 0, 16, 0, 0x01, 0x90, 0, 2, 0xFF, 0xFF, 0x20, 0x01];
        body.extend_from_slice(&[8, 12, 2, 0, 16, 0, 0x01, 0x90, 0, 3, 0, 97, 0x20, 0x02]);
        let parsed = parse(&body);
        assert_eq!(
            parsed.messages,
            vec![Message::Update {
                prefix: p("2001::/16"),
                router_id: RouterId([0; 8]),
                next_hop: Some(source()),
                seqno: 2,
                interval: 400,
                metric: INFINITY,
            }]
        );
        assert_eq!(parsed.stats.missing_state, 1);
        assert_eq!(parsed.stats.malformed_tlvs, 0);
    }

    #[test]
    fn ipv4_retraction_needs_no_ipv4_next_hop() {
        let mut body = ROUTER_ID_TLV.to_vec();
        // AE 1 retraction of 203.0.113.0/24, no IPv4 Next Hop TLV in the packet.
        body.extend_from_slice(&[
            8, 13, 1, 0, 24, 0, 0x01, 0x90, 0, 1, 0xFF, 0xFF, 203, 0, 113,
        ]);
        let parsed = parse(&body);
        assert_eq!(parsed.stats.missing_state, 0);
        assert!(matches!(
            parsed.messages.as_slice(),
            [Message::Update { prefix, metric: INFINITY, .. }] if *prefix == p("203.0.113.0/24")
        ));
    }

    #[test]
    fn invalid_router_id_clears_state() {
        let mut body = ROUTER_ID_TLV.to_vec();
        body.extend_from_slice(&[6, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(&[8, 12, 2, 0, 16, 0, 0x01, 0x90, 0, 2, 0, 97, 0x20, 0x01]);
        let parsed = parse(&body);
        assert_eq!(parsed.messages, vec![]);
        assert_eq!(parsed.stats.malformed_tlvs, 1);
        assert_eq!(parsed.stats.missing_state, 1);
    }

    #[test]
    fn next_hops() {
        let mut body = ROUTER_ID_TLV.to_vec();
        // AE 1 update before any IPv4 next hop: nothing to route through.
        body.extend_from_slice(&[8, 13, 1, 0, 24, 0, 0x01, 0x90, 0, 1, 0, 96, 198, 51, 100]);
        body.extend_from_slice(&[7, 6, 1, 0, 192, 0, 2, 1]);
        body.extend_from_slice(&[8, 13, 1, 0, 24, 0, 0x01, 0x90, 0, 1, 0, 96, 198, 51, 100]);
        body.extend_from_slice(&[7, 10, 3, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        body.extend_from_slice(&[8, 13, 4, 0, 24, 0, 0x01, 0x90, 0, 1, 0, 96, 203, 0, 113]);
        let parsed = parse(&body);
        assert_eq!(parsed.stats.missing_state, 1);
        assert_eq!(
            parsed.messages,
            vec![
                update("198.51.100.0/24", "192.0.2.1", 1, 96),
                update("203.0.113.0/24", "fe80::9", 1, 96),
            ]
        );
    }

    #[test]
    fn compression_across_three_updates() {
        let mut body = ROUTER_ID_TLV.to_vec();
        // 2001:db8:1::/48, sets the default prefix.
        body.extend_from_slice(&[
            8, 16, 2, 0x80, 48, 0, 0x01, 0x90, 0, 1, 0, 96, 0x20, 0x01, 0x0d, 0xb8, 0, 1,
        ]);
        // 2001:db8:2::/48, 5 octets omitted.
        body.extend_from_slice(&[8, 11, 2, 0, 48, 5, 0x01, 0x90, 0, 2, 0, 96, 2]);
        // 2001:db8:1:5::/64, 6 octets omitted (from the first, still the default).
        body.extend_from_slice(&[8, 12, 2, 0, 64, 6, 0x01, 0x90, 0, 3, 0, 96, 0, 5]);
        let parsed = parse(&body);
        assert_eq!(
            parsed.messages,
            vec![
                update("2001:db8:1::/48", SOURCE, 1, 96),
                update("2001:db8:2::/48", SOURCE, 2, 96),
                update("2001:db8:1:5::/64", SOURCE, 3, 96),
            ]
        );
    }

    #[test]
    fn compression_without_default_is_malformed() {
        let mut body = ROUTER_ID_TLV.to_vec();
        body.extend_from_slice(&[8, 11, 2, 0, 48, 5, 0x01, 0x90, 0, 2, 0, 96, 2]);
        // AE 4 does not share AE 1's default prefix.
        body.extend_from_slice(&[8, 13, 1, 0x80, 24, 0, 0x01, 0x90, 0, 1, 0, 96, 198, 51, 100]);
        body.extend_from_slice(&[8, 11, 4, 0, 24, 2, 0x01, 0x90, 0, 1, 0, 96, 3]);
        let parsed = parse(&body);
        assert_eq!(parsed.stats.malformed_tlvs, 2);
        // The AE 1 update has no IPv4 next hop.
        assert_eq!(parsed.stats.missing_state, 1);
        assert_eq!(parsed.messages, vec![]);
    }

    #[test]
    fn mandatory_subtlv_ignores_update_but_keeps_its_state() {
        let mut body = ROUTER_ID_TLV.to_vec();
        // Sets the default prefix and router-id, carries mandatory sub-TLV 0x90: 10 fixed
        // octets, 16 of prefix, 2 of sub-TLV.
        body.extend_from_slice(&[
            8, 28, 2, 0xC0, 128, 0, 0x01, 0x90, 0, 1, 0, 96, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 7, 0x90, 0,
        ]);
        body.extend_from_slice(&[8, 12, 2, 0, 64, 6, 0x01, 0x90, 0, 3, 0, 96, 0, 5]);
        let parsed = parse(&body);
        assert_eq!(parsed.stats.mandatory_subtlv_ignored, 1);
        assert_eq!(
            parsed.messages,
            vec![Message::Update {
                prefix: p("2001:db8:0:5::/64"),
                router_id: RouterId([0, 0, 0, 0, 0, 0, 0, 7]),
                next_hop: Some(source()),
                seqno: 3,
                interval: 400,
                metric: 96,
            }]
        );
    }

    #[test]
    fn unknown_tlv_skipped_and_non_mandatory_subtlv_ignored() {
        let body = [
            0xC8, 2, 0xAA, 0xBB, // unknown TLV
            4, 9, 0, 0, 0, 7, 1, 0x90, 0x10, 1, 0xEE, // Hello with unknown sub-TLV 0x10
        ];
        let parsed = parse(&body);
        assert_eq!(parsed.stats.unknown_tlvs, 1);
        assert_eq!(
            parsed.messages,
            vec![Message::Hello {
                unicast: false,
                seqno: 7,
                interval: 400,
                timestamp: None
            }]
        );
    }

    #[test]
    fn truncated_tlv_stops_the_walk() {
        let body = [3, 2, 0, 1, 0, 3, 5, 0, 1];
        let parsed = parse(&body);
        assert_eq!(parsed.messages, vec![Message::Ack { nonce: 1 }]);
        assert_eq!(parsed.stats.malformed_tlvs, 1);
    }

    #[test]
    fn short_tlv_is_ignored_and_walk_continues() {
        let body = [3, 1, 0, 3, 2, 0, 2];
        let parsed = parse(&body);
        assert_eq!(parsed.messages, vec![Message::Ack { nonce: 2 }]);
        assert_eq!(parsed.stats.malformed_tlvs, 1);
    }

    #[test]
    fn wildcard_updates_and_requests() {
        let body = [
            8, 10, 0, 0, 0, 0, 0x01, 0x90, 0, 0, 0xFF, 0xFF, // retract all
            8, 10, 0, 0, 0, 0, 0x01, 0x90, 0, 0, 0x00, 0x60, // finite wildcard: malformed
            9, 2, 0, 0, // wildcard route request
            9, 5, 4, 24, 198, 51, 100, // v4-via-v6 route request
            10, 14, 0, 0, 0, 1, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8, // wildcard seqno request
        ];
        let parsed = parse(&body);
        assert_eq!(
            parsed.messages,
            vec![
                Message::RetractAll { interval: 400 },
                Message::RouteRequest { prefix: None },
                Message::RouteRequest {
                    prefix: Some(p("198.51.100.0/24"))
                },
            ]
        );
        assert_eq!(parsed.stats.malformed_tlvs, 2);
    }

    #[test]
    fn ihu_and_hello_timestamps() {
        let body = [
            4, 12, 0x80, 0, 0, 7, 0, 0, 3, 4, 0, 0, 0, 9, // unicast hello, timestamp 9
            5, 16, 0, 0, 0, 96, 1, 0x90, 3, 8, 0, 0, 0, 1, 0, 0, 0, 2, // IHU AE 0
        ];
        let parsed = parse(&body);
        assert_eq!(
            parsed.messages,
            vec![
                Message::Hello {
                    unicast: true,
                    seqno: 7,
                    interval: 0,
                    timestamp: Some(9)
                },
                Message::Ihu {
                    address: None,
                    rxcost: 96,
                    interval: 400,
                    timestamps: Some(IhuTimestamps {
                        origin: 1,
                        receive: 2
                    }),
                },
            ]
        );
    }
}
