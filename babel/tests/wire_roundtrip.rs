//! Property tests for the wire format: whatever the encoder packs, the parser gives back, within
//! the size limit; and no input makes the parser panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use babel::wire::{parse_packet, Encoder, IhuTimestamps, Message, ParsedPacket, Prefix, RouterId};
use proptest::prelude::*;

fn source() -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1))
}

fn v4_addr() -> impl Strategy<Value = IpAddr> {
    any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
}

/// IPv6 addresses, half of them link-local so that AE 3 gets exercised.
fn v6_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        any::<u64>()
            .prop_map(|low| IpAddr::V6(Ipv6Addr::from((0xfe80u128 << 112) | u128::from(low)))),
    ]
}

fn v4_prefix() -> impl Strategy<Value = Prefix> {
    (v4_addr(), 0..=32u8).prop_map(|(a, l)| Prefix::new(a, l).expect("valid length"))
}

fn v6_prefix() -> impl Strategy<Value = Prefix> {
    // Few distinct high octets, so that compression has something to share.
    (0..4u128, any::<u128>(), 0..=128u8).prop_map(|(high, low, l)| {
        let a = (0x2001_0db8u128 << 96) | (high << 80) | (low >> 48);
        Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), l).expect("valid length")
    })
}

fn prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![v4_prefix(), v6_prefix()]
}

fn router_id() -> impl Strategy<Value = RouterId> {
    // Often the same router-id, so that Router-Id TLVs are sometimes elided.
    prop_oneof![
        Just(RouterId([1, 2, 3, 4, 5, 6, 7, 8])),
        any::<[u8; 8]>().prop_map(RouterId),
    ]
    .prop_filter("valid router-id", RouterId::is_valid)
}

/// An Update the encoder can express: IPv6 prefixes never get an IPv4 next hop.
fn update() -> impl Strategy<Value = Message> {
    let v4 = (
        v4_prefix(),
        prop_oneof![
            Just(None),
            v4_addr().prop_map(Some),
            v6_addr().prop_map(Some)
        ],
    );
    let v6 = (
        v6_prefix(),
        prop_oneof![Just(None), v6_addr().prop_map(Some)],
    );
    (
        prop_oneof![v4, v6],
        router_id(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(
            |((prefix, next_hop), router_id, seqno, interval, metric)| Message::Update {
                prefix,
                router_id,
                next_hop,
                seqno,
                interval,
                metric,
            },
        )
}

/// An Update for a meshd node address: a /128 whose low 64 bits are its router-id, which the
/// encoder sends with flag 0x40 instead of a Router-Id TLV.
fn node_update() -> impl Strategy<Value = Message> {
    (
        0..4u128,
        any::<u64>(),
        prop_oneof![Just(None), v6_addr().prop_map(Some)],
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_filter("valid router-id", |(_, low, ..)| {
            RouterId(low.to_be_bytes()).is_valid()
        })
        .prop_map(|(high, low, next_hop, seqno, interval, metric)| {
            let a = (0x2001_0db8u128 << 96) | (high << 80) | u128::from(low);
            Message::Update {
                prefix: Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), 128).expect("valid length"),
                router_id: RouterId(low.to_be_bytes()),
                next_hop,
                seqno,
                interval,
                metric,
            }
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        1 => (any::<u16>(), any::<u16>())
            .prop_map(|(nonce, interval)| Message::AckRequest { nonce, interval }),
        1 => any::<u16>().prop_map(|nonce| Message::Ack { nonce }),
        1 => (any::<bool>(), any::<u16>(), any::<u16>(), any::<Option<u32>>()).prop_map(
            |(unicast, seqno, interval, timestamp)| Message::Hello {
                unicast,
                seqno,
                interval,
                timestamp,
            }
        ),
        1 => (
            prop_oneof![
                Just(None),
                v4_addr().prop_map(Some),
                v6_addr().prop_map(Some)
            ],
            any::<u16>(),
            any::<u16>(),
            any::<Option<(u32, u32)>>(),
        )
            .prop_map(|(address, rxcost, interval, timestamps)| Message::Ihu {
                address,
                rxcost,
                interval,
                timestamps: timestamps.map(|(origin, receive)| IhuTimestamps { origin, receive }),
            }),
        4 => update(),
        2 => node_update(),
        1 => any::<u16>().prop_map(|interval| Message::RetractAll { interval }),
        1 => proptest::option::of(prefix()).prop_map(|prefix| Message::RouteRequest { prefix }),
        1 => (prefix(), any::<u16>(), any::<u8>(), router_id()).prop_map(
            |(prefix, seqno, hop_count, router_id)| Message::SeqnoRequest {
                prefix,
                seqno,
                hop_count,
                router_id,
            }
        ),
    ]
}

/// What the parser reports for a message: the packet's source stands in for "no next hop".
fn as_parsed(message: &Message) -> Message {
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

fn encode(max_len: usize, messages: &[Message]) -> Vec<Vec<u8>> {
    let mut encoder = Encoder::new(max_len);
    for m in messages {
        encoder.push(m);
    }
    encoder.finish()
}

fn parse_all(packets: &[Vec<u8>]) -> Vec<ParsedPacket> {
    packets
        .iter()
        .map(|p| parse_packet(p, source()).expect("encoder output parses"))
        .collect()
}

fn reparse(messages: &[Message]) -> Vec<Message> {
    parse_all(&encode(1400, messages))
        .into_iter()
        .flat_map(|p| p.messages)
        .collect()
}

fn with_header(body: &[u8], trailer: &[u8]) -> Vec<u8> {
    let mut packet = vec![42, 2];
    packet.extend_from_slice(&(body.len() as u16).to_be_bytes());
    packet.extend_from_slice(body);
    packet.extend_from_slice(trailer);
    packet
}

proptest! {
    #[test]
    fn encode_then_parse_gives_the_messages_back(
        messages in proptest::collection::vec(message(), 0..40),
        max_len in 64usize..1500,
    ) {
        let packets = encode(max_len, &messages);
        prop_assert_eq!(packets.is_empty(), messages.is_empty());
        for packet in &packets {
            prop_assert!(packet.len() <= max_len, "{} > {}", packet.len(), max_len);
        }
        let parsed = parse_all(&packets);
        for p in &parsed {
            prop_assert_eq!(p.stats, Default::default());
        }
        let got: Vec<Message> = parsed.into_iter().flat_map(|p| p.messages).collect();
        let expected: Vec<Message> = messages.iter().map(as_parsed).collect();
        prop_assert_eq!(got, expected);
    }

    /// Arbitrary bytes, half of them behind a valid header: random bytes alone almost never
    /// pass the header check, so without it only the header's rejection would be exercised.
    /// Behind a valid header, any body parses (bad TLVs are counted and skipped).
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        headed in any::<bool>(),
    ) {
        let packet = if headed { with_header(&bytes, &[]) } else { bytes };
        let parsed = parse_packet(&packet, source());
        if headed {
            prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
        }
    }

    /// Arbitrary bodies behind a valid header, so the TLV walk itself is exercised; whatever
    /// parses must survive a re-encoding unchanged.
    #[test]
    fn parsed_messages_reencode_to_themselves(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        trailer in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let parsed = parse_packet(&with_header(&body, &trailer), source()).expect("valid header");
        prop_assert_eq!(parsed.stats.trailer_len as usize, trailer.len());
        prop_assert_eq!(reparse(&parsed.messages), parsed.messages);
    }

    /// Random TLVs of known types with plausible lengths, so that more of them parse.
    #[test]
    fn plausible_tlvs_parse_and_reencode(
        tlvs in proptest::collection::vec(
            (0u8..12, proptest::collection::vec(any::<u8>(), 0..40)),
            0..20,
        ),
    ) {
        let mut body = Vec::new();
        for (tlv_type, tlv_body) in &tlvs {
            body.push(*tlv_type);
            if *tlv_type != 0 {
                body.push(tlv_body.len() as u8);
                body.extend_from_slice(tlv_body);
            }
        }
        let parsed = parse_packet(&with_header(&body, &[]), source()).expect("valid header");
        prop_assert_eq!(reparse(&parsed.messages), parsed.messages);
    }
}
