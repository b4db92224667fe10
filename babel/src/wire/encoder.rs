//! Packs [`Message`]s into Babel packets no larger than a given size, emitting Router-Id and Next
//! Hop TLVs where they change and compressing prefixes where that saves octets.
//!
//! Owns the sender's side of the per-packet state of RFC 8966 §4.5; it mirrors exactly what
//! [`parse_packet`](super::parse_packet) will rebuild on the receiver, and starts afresh with
//! every packet.
//!
//! Choices the RFC leaves to the sender:
//! - IPv6 prefixes go out with AE 2. IPv4 prefixes go out with AE 4 (v4-via-v6, RFC 9229) unless
//!   the message names an IPv4 next hop, which needs AE 1 and an IPv4 Next Hop TLV.
//! - Compression: an Update omits the leading octets it shares with the packet's default prefix
//!   for its AE. It sets flag 0x80 (becoming the new default) when its AE has no default yet in
//!   this packet, or when it shares no octet at all with the current one: a fresh start is then
//!   the better reference for the updates that follow.
//! - A message that needs the next hop to be the packet's source (`next_hop: None`) after a Next
//!   Hop TLV changed it starts a new packet: the encoder does not know the source address.
//! - An IPv6 prefix with an IPv4 next hop cannot be expressed (RFC 8966 has no such AE) and is
//!   dropped.
//! - An IPv6 /128 Update whose router-id is the prefix's low 64 bits (a meshd node address) sets
//!   flag 0x40 instead of following a Router-Id TLV; the router-id it establishes carries over to
//!   the updates after it, as a Router-Id TLV's would.
//! - An Update whose router-id is not valid (all zeros or all ones) is still written, with no
//!   router-id in force: a Router-Id TLV is written only to clear a previous one, and the receiver
//!   refuses it. A retraction then arrives with the all-zero router-id; any other Update is
//!   dropped. Checking router-ids is the routing core's job.

use std::net::IpAddr;

use super::address::{self, AddressEncoding};
use super::packet::{Header, HEADER_LEN};
use super::subtlv::SubTlv;
use super::tlv::{TlvRepr, UPDATE_SET_DEFAULT_PREFIX, UPDATE_SET_ROUTER_ID};
use super::{Message, Prefix, RouterId, INFINITY};

/// The per-packet state both ends track, as the encoder sees it.
#[derive(Debug, Clone, Default)]
struct PacketState {
    router_id: Option<RouterId>,
    next_hop_v4: Option<IpAddr>,
    /// `None`: still the packet's source address.
    next_hop_v6: Option<IpAddr>,
    default_prefix: [Option<[u8; 16]>; 5],
}

/// Why a message cannot go into the current packet as it stands.
enum Unfit {
    /// It needs state this packet can no longer give it; a fresh packet can.
    NeedsFreshPacket,
    /// No packet can carry it.
    Unencodable,
}

/// Builds packets from messages. Compression state is per packet, as the RFC requires.
#[derive(Debug)]
pub struct Encoder {
    max_len: usize,
    packets: Vec<Vec<u8>>,
    state: PacketState,
}

impl Encoder {
    /// `max_len` is the largest Babel packet (header included) to produce, i.e. the link MTU
    /// minus IPv6 and UDP headers.
    pub fn new(max_len: usize) -> Encoder {
        Encoder {
            max_len,
            packets: Vec::new(),
            state: PacketState::default(),
        }
    }

    /// Appends one message, starting a new packet when it does not fit in the current one.
    pub fn push(&mut self, message: &Message) {
        if !self.packets.is_empty() {
            let mut state = self.state.clone();
            match plan(message, &mut state) {
                Ok(tlvs) => {
                    let len: usize = tlvs.iter().map(TlvRepr::buffer_len).sum();
                    let current = self.packets.last().map_or(0, Vec::len);
                    if current + len <= self.max_len {
                        self.state = state;
                        self.append(&tlvs);
                        return;
                    }
                }
                Err(Unfit::Unencodable) => return,
                Err(Unfit::NeedsFreshPacket) => {}
            }
        }
        let mut state = PacketState::default();
        if let Ok(tlvs) = plan(message, &mut state) {
            self.packets
                .push(Header { body_len: 0 }.to_bytes().to_vec());
            self.state = state;
            self.append(&tlvs);
        }
    }

    /// Writes TLVs at the end of the current packet and fixes up its body length.
    fn append(&mut self, tlvs: &[TlvRepr]) {
        let Some(packet) = self.packets.last_mut() else {
            return;
        };
        for tlv in tlvs {
            let start = packet.len();
            packet.resize(start + tlv.buffer_len(), 0);
            tlv.emit(&mut packet[start..]);
        }
        let body_len = u16::try_from(packet.len() - HEADER_LEN).unwrap_or(u16::MAX);
        packet[..HEADER_LEN].copy_from_slice(&Header { body_len }.to_bytes());
    }

    /// Whether nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The finished packets, each a complete Babel packet (header, body).
    pub fn finish(self) -> Vec<Vec<u8>> {
        self.packets
    }
}

/// The TLVs that carry `message` given the packet `state`, which is advanced past them.
fn plan(message: &Message, state: &mut PacketState) -> Result<Vec<TlvRepr>, Unfit> {
    let tlv = match *message {
        Message::AckRequest { nonce, interval } => TlvRepr::AckRequest {
            nonce,
            interval,
            sub_tlvs: vec![],
        },
        Message::Ack { nonce } => TlvRepr::Ack {
            nonce,
            sub_tlvs: vec![],
        },
        Message::Hello {
            unicast,
            seqno,
            interval,
            timestamp,
        } => TlvRepr::Hello {
            unicast,
            seqno,
            interval,
            sub_tlvs: timestamp.map(SubTlv::HelloTimestamp).into_iter().collect(),
        },
        Message::Ihu {
            address,
            rxcost,
            interval,
            timestamps,
        } => TlvRepr::Ihu {
            ae: address.map_or(AddressEncoding::Wildcard, address::address_encoding_for),
            address,
            rxcost,
            interval,
            sub_tlvs: timestamps.map(SubTlv::IhuTimestamps).into_iter().collect(),
        },
        Message::Update {
            prefix,
            router_id,
            next_hop,
            seqno,
            interval,
            metric,
        } => return plan_update(prefix, router_id, next_hop, seqno, interval, metric, state),
        Message::RetractAll { interval } => TlvRepr::Update {
            ae: AddressEncoding::Wildcard,
            flags: 0,
            plen: 0,
            omitted: 0,
            interval,
            seqno: 0,
            metric: INFINITY,
            prefix: vec![],
            sub_tlvs: vec![],
        },
        Message::RouteRequest { prefix } => {
            let (ae, plen, prefix) = uncompressed(prefix);
            TlvRepr::RouteRequest {
                ae,
                plen,
                prefix,
                sub_tlvs: vec![],
            }
        }
        Message::SeqnoRequest {
            prefix,
            seqno,
            hop_count,
            router_id,
        } => {
            let (ae, plen, prefix) = uncompressed(Some(prefix));
            TlvRepr::SeqnoRequest {
                ae,
                plen,
                seqno,
                hop_count,
                router_id,
                prefix,
                sub_tlvs: vec![],
            }
        }
    };
    Ok(vec![tlv])
}

/// A request prefix: AE 1 or 2 by family, AE 0 for none; never compressed.
fn uncompressed(prefix: Option<Prefix>) -> (AddressEncoding, u8, Vec<u8>) {
    let Some(prefix) = prefix else {
        return (AddressEncoding::Wildcard, 0, vec![]);
    };
    let ae = match prefix.addr() {
        IpAddr::V4(_) => AddressEncoding::Ipv4,
        IpAddr::V6(_) => AddressEncoding::Ipv6,
    };
    let octets = address::prefix_octets(&prefix);
    let n = ae.prefix_octets(prefix.len());
    (ae, prefix.len(), octets[..n].to_vec())
}

/// Router-Id and Next Hop TLVs where the state needs them, then the (compressed) Update.
fn plan_update(
    prefix: Prefix,
    router_id: RouterId,
    next_hop: Option<IpAddr>,
    seqno: u16,
    interval: u16,
    metric: u16,
    state: &mut PacketState,
) -> Result<Vec<TlvRepr>, Unfit> {
    let mut tlvs = Vec::with_capacity(3);
    let ae = match (prefix.addr(), next_hop) {
        (IpAddr::V4(_), Some(IpAddr::V4(_))) => AddressEncoding::Ipv4,
        (IpAddr::V4(_), _) => AddressEncoding::Ipv4ViaIpv6,
        (IpAddr::V6(_), Some(IpAddr::V4(_))) => return Err(Unfit::Unencodable),
        (IpAddr::V6(_), _) => AddressEncoding::Ipv6,
    };
    match next_hop {
        None if state.next_hop_v6.is_some() => return Err(Unfit::NeedsFreshPacket),
        None => {}
        Some(nh) => {
            let current = match nh {
                IpAddr::V4(_) => &mut state.next_hop_v4,
                IpAddr::V6(_) => &mut state.next_hop_v6,
            };
            if *current != Some(nh) {
                *current = Some(nh);
                tlvs.push(TlvRepr::NextHop {
                    ae: address::address_encoding_for(nh),
                    address: nh,
                    sub_tlvs: vec![],
                });
            }
        }
    }
    let mut flags = 0;
    // What the parser will hold: it refuses an invalid Router-Id TLV and then holds none.
    let wanted = Some(router_id).filter(RouterId::is_valid);
    let from_prefix = matches!(prefix.addr(), IpAddr::V6(_))
        && prefix.len() == 128
        && wanted.is_some()
        && address::router_id_from_prefix(&prefix) == router_id;
    if from_prefix {
        // The Update itself establishes the router-id: 12 octets saved on every node address.
        flags |= UPDATE_SET_ROUTER_ID;
        state.router_id = wanted;
    } else if state.router_id != wanted {
        // For an invalid router-id, this only clears the parser's state, so that a retraction
        // comes out with the all-zero router-id rather than the previous one.
        state.router_id = wanted;
        tlvs.push(TlvRepr::RouterId {
            router_id,
            sub_tlvs: vec![],
        });
    }

    let octets = address::prefix_octets(&prefix);
    let n = ae.prefix_octets(prefix.len());
    let default = &mut state.default_prefix[ae as usize];
    let omitted = match default {
        Some(d) => address::common_leading_octets(&octets, d, n),
        None => 0,
    };
    if default.is_none() || (omitted == 0 && n > 0) {
        flags |= UPDATE_SET_DEFAULT_PREFIX;
        *default = Some(octets);
    }
    tlvs.push(TlvRepr::Update {
        ae,
        flags,
        plen: prefix.len(),
        omitted: omitted as u8,
        interval,
        seqno,
        metric,
        prefix: octets[omitted..n].to_vec(),
        sub_tlvs: vec![],
    });
    Ok(tlvs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    fn update(prefix: &str, next_hop: Option<&str>, seqno: u16) -> Message {
        Message::Update {
            prefix: prefix.parse().expect("test prefix"),
            router_id: RouterId(RID),
            next_hop: next_hop.map(|a| a.parse().expect("test address")),
            seqno,
            interval: 400,
            metric: 96,
        }
    }

    fn encode(max_len: usize, messages: &[Message]) -> Vec<Vec<u8>> {
        let mut encoder = Encoder::new(max_len);
        for m in messages {
            encoder.push(m);
        }
        encoder.finish()
    }

    #[test]
    fn empty() {
        let encoder = Encoder::new(1000);
        assert!(encoder.is_empty());
        assert_eq!(encoder.finish(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn router_id_once_and_compression() {
        let packets = encode(
            1000,
            &[
                update("2001:db8:1::/48", None, 1),
                update("2001:db8:2::/48", None, 2),
                update("2001:db8:1:5::/64", None, 3),
            ],
        );
        let mut body = vec![6, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        body.extend_from_slice(&[
            8, 16, 2, 0x80, 48, 0, 0x01, 0x90, 0, 1, 0, 96, 0x20, 0x01, 0x0d, 0xb8, 0, 1,
        ]);
        body.extend_from_slice(&[8, 11, 2, 0, 48, 5, 0x01, 0x90, 0, 2, 0, 96, 2]);
        // Octet 7 is zero in the default too, so seven octets go.
        body.extend_from_slice(&[8, 11, 2, 0, 64, 7, 0x01, 0x90, 0, 3, 0, 96, 5]);
        let mut expected = vec![42, 2, 0, body.len() as u8];
        expected.extend_from_slice(&body);
        assert_eq!(packets, vec![expected]);
    }

    #[test]
    fn unrelated_prefix_becomes_new_default() {
        let packets = encode(
            1000,
            &[
                update("198.51.100.0/24", None, 1),
                update("203.0.113.0/24", None, 2),
            ],
        );
        let body = &packets[0][4 + 12..];
        assert_eq!(
            body,
            &[
                8, 13, 4, 0x80, 24, 0, 0x01, 0x90, 0, 1, 0, 96, 198, 51, 100, //
                8, 13, 4, 0x80, 24, 0, 0x01, 0x90, 0, 2, 0, 96, 203, 0, 113,
            ]
        );
    }

    #[test]
    fn next_hop_tlvs() {
        let packets = encode(
            1000,
            &[
                update("198.51.100.0/26", Some("192.0.2.1"), 1),
                update("198.51.100.64/26", Some("192.0.2.1"), 2),
                update("203.0.113.0/24", Some("fe80::9"), 3),
            ],
        );
        let body = &packets[0][4..];
        let mut expected = vec![7, 6, 1, 0, 192, 0, 2, 1];
        expected.extend_from_slice(&[6, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        expected.extend_from_slice(&[
            8, 14, 1, 0x80, 26, 0, 0x01, 0x90, 0, 1, 0, 96, 198, 51, 100, 0,
        ]);
        expected.extend_from_slice(&[8, 11, 1, 0, 26, 3, 0x01, 0x90, 0, 2, 0, 96, 64]);
        expected.extend_from_slice(&[7, 10, 3, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        expected.extend_from_slice(&[8, 13, 4, 0x80, 24, 0, 0x01, 0x90, 0, 3, 0, 96, 203, 0, 113]);
        assert_eq!(body, &expected[..]);
    }

    #[test]
    fn source_next_hop_after_explicit_one_needs_new_packet() {
        let packets = encode(
            1000,
            &[
                update("2001:db8::/32", Some("fe80::9"), 1),
                update("2001:db9::/32", None, 2),
            ],
        );
        assert_eq!(packets.len(), 2);
    }

    #[test]
    fn v6_prefix_via_v4_is_dropped() {
        let packets = encode(1000, &[update("2001:db8::/32", Some("192.0.2.1"), 1)]);
        assert!(packets.is_empty());
    }

    #[test]
    fn simple_messages() {
        let packets = encode(
            1000,
            &[
                Message::RetractAll { interval: 400 },
                Message::RouteRequest { prefix: None },
                Message::Hello {
                    unicast: true,
                    seqno: 7,
                    interval: 0,
                    timestamp: Some(9),
                },
                Message::Ihu {
                    address: Some("fe80::9".parse().expect("test address")),
                    rxcost: 96,
                    interval: 400,
                    timestamps: None,
                },
            ],
        );
        let mut expected = vec![42, 2, 0, 46];
        expected.extend_from_slice(&[8, 10, 0, 0, 0, 0, 0x01, 0x90, 0, 0, 0xFF, 0xFF]);
        expected.extend_from_slice(&[9, 2, 0, 0]);
        expected.extend_from_slice(&[4, 12, 0x80, 0, 0, 7, 0, 0, 3, 4, 0, 0, 0, 9]);
        expected.extend_from_slice(&[5, 14, 3, 0, 0, 96, 1, 0x90, 0, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(packets, vec![expected]);
    }

    /// An update for a meshd node address: a /128 whose low 64 bits are its router-id.
    fn node(prefix: &str, seqno: u16) -> Message {
        let prefix: Prefix = prefix.parse().expect("test prefix");
        Message::Update {
            prefix,
            router_id: address::router_id_from_prefix(&prefix),
            next_hop: None,
            seqno,
            interval: 400,
            metric: 96,
        }
    }

    fn source() -> IpAddr {
        "fe80::1".parse().expect("test address")
    }

    /// Parses the packets back, with `None` next hops standing for the packet's source.
    fn reparse(packets: &[Vec<u8>]) -> Vec<Message> {
        packets
            .iter()
            .flat_map(|p| {
                let parsed = super::super::parse_packet(p, source()).expect("valid packet");
                assert_eq!(parsed.stats, Default::default());
                parsed.messages
            })
            .collect()
    }

    fn with_source(message: &Message) -> Message {
        match message.clone() {
            Message::Update {
                prefix,
                router_id,
                next_hop: None,
                seqno,
                interval,
                metric,
            } => Message::Update {
                prefix,
                router_id,
                next_hop: Some(source()),
                seqno,
                interval,
                metric,
            },
            other => other,
        }
    }

    #[test]
    fn node_addresses_carry_their_router_id_in_the_prefix() {
        let mut other_node = update("2001:db8:0:5::/64", None, 4);
        if let Message::Update { router_id, .. } = &mut other_node {
            *router_id = RouterId([0, 9, 0, 0xa, 0, 0xb, 0, 0xc]);
        }
        let messages = [
            node("2001:db8::1:2:3:4/128", 1),
            node("2001:db8::5:6:7:8/128", 2),
            node("2001:db8::9:a:b:c/128", 3),
            // Same router-id as the last node: still in force, no Router-Id TLV.
            other_node,
            // A different router-id: a Router-Id TLV.
            update("2001:db8:1::/48", None, 5),
        ];
        let packets = encode(1000, &messages);
        let mut body = vec![
            8, 26, 2, 0xC0, 128, 0, 0x01, 0x90, 0, 1, 0, 96, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0,
            1, 0, 2, 0, 3, 0, 4,
        ];
        body.extend_from_slice(&[8, 17, 2, 0x40, 128, 9, 0x01, 0x90, 0, 2, 0, 96]);
        body.extend_from_slice(&[5, 0, 6, 0, 7, 0, 8]);
        body.extend_from_slice(&[8, 17, 2, 0x40, 128, 9, 0x01, 0x90, 0, 3, 0, 96]);
        body.extend_from_slice(&[9, 0, 0xa, 0, 0xb, 0, 0xc]);
        body.extend_from_slice(&[8, 11, 2, 0, 64, 7, 0x01, 0x90, 0, 4, 0, 96, 5]);
        body.extend_from_slice(&[6, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        body.extend_from_slice(&[8, 11, 2, 0, 48, 5, 0x01, 0x90, 0, 5, 0, 96, 1]);
        let mut expected = vec![42, 2, 0, body.len() as u8];
        expected.extend_from_slice(&body);
        assert_eq!(packets, vec![expected]);
        let expected: Vec<Message> = messages.iter().map(with_source).collect();
        assert_eq!(reparse(&packets), expected);
    }

    #[test]
    fn node_dump_has_no_router_id_tlv() {
        let messages: Vec<Message> = (1..=3)
            .map(|i| node(&format!("2001:db8::{i}:0:0:{i}/128"), i))
            .collect();
        let packets = encode(1000, &messages);
        assert_eq!(packets.len(), 1);
        // Three Update TLVs and nothing else: 28 octets for the first, 19 for each compressed one.
        assert_eq!(packets[0].len(), 4 + 28 + 19 + 19);
        for (offset, flags) in [(4, 0xC0), (32, 0x40), (51, 0x40)] {
            assert_eq!(packets[0][offset], 8);
            assert_eq!(packets[0][offset + 3], flags);
        }
        let expected: Vec<Message> = messages.iter().map(with_source).collect();
        assert_eq!(reparse(&packets), expected);
    }

    #[test]
    fn node_address_with_other_router_id_gets_a_router_id_tlv() {
        // A /128 whose low bits are not its router-id, and one whose low bits are not valid.
        let messages = [
            update("2001:db8::1:2:3:4/128", None, 1),
            Message::Update {
                prefix: "2001:db8::/128".parse().expect("test prefix"),
                router_id: RouterId(RID),
                next_hop: None,
                seqno: 2,
                interval: 400,
                metric: 96,
            },
        ];
        let packets = encode(1000, &messages);
        assert_eq!(&packets[0][4..16], &[6, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(packets[0][19], 0x80);
        assert_eq!(packets[0][16 + 28 + 3], 0);
        assert_eq!(packets[0].len(), 4 + 12 + 28 + 19);
        let expected: Vec<Message> = messages.iter().map(with_source).collect();
        assert_eq!(reparse(&packets), expected);
    }

    #[test]
    fn retraction_without_router_id() {
        let retraction = Message::Update {
            prefix: "2001:db8::/32".parse().expect("test prefix"),
            router_id: RouterId([0; 8]),
            next_hop: None,
            seqno: 0,
            interval: 400,
            metric: INFINITY,
        };
        // Nothing in force: no Router-Id TLV at all.
        let packets = encode(1000, std::slice::from_ref(&retraction));
        let mut expected = vec![42, 2, 0, 16];
        expected.extend_from_slice(&[8, 14, 2, 0x80, 32, 0, 0x01, 0x90, 0, 0, 0xFF, 0xFF]);
        expected.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(packets, vec![expected]);
        assert_eq!(reparse(&packets), vec![with_source(&retraction)]);

        // After a valid router-id, an all-zero Router-Id TLV clears it first.
        let packets = encode(
            1000,
            &[update("2001:db9::/32", None, 1), retraction.clone()],
        );
        assert_eq!(&packets[0][4..16], &[6, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&packets[0][32..44], &[6, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let parsed = super::super::parse_packet(&packets[0], source()).expect("valid packet");
        assert_eq!(parsed.messages[1], with_source(&retraction));
    }

    #[test]
    fn packets_split_at_max_len_with_fresh_state() {
        let messages: Vec<Message> = (0..20)
            .map(|i| update(&format!("2001:db8:{i}::/48"), None, i))
            .collect();
        let packets = encode(64, &messages);
        assert!(packets.len() > 1);
        for packet in &packets {
            assert!(packet.len() <= 64);
            // Every packet restates the router-id: state does not cross packets.
            assert_eq!(&packet[4..6], &[6, 10]);
        }
    }
}
