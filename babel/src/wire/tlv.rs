//! TLVs as they sit in the bytes (RFC 8966 §4.3 and §4.6), one [`TlvRepr`] variant per TLV type.
//!
//! A `TlvRepr` is what one TLV says on its own, before the packet state (Router-Id, Next Hop,
//! default prefixes) is applied: Update prefixes stay in their compressed form here. Expanding
//! TLVs into [`Message`](super::Message)s is the packet walk's job.

use std::net::IpAddr;

use super::address::{self, AddressEncoding};
use super::cursor::{Malformed, Reader, Writer};
use super::subtlv::{self, SubTlv, SubTlvContext};
use super::RouterId;

/// TLV types (RFC 8966 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlvType {
    Pad1 = 0,
    PadN = 1,
    AckRequest = 2,
    Ack = 3,
    Hello = 4,
    Ihu = 5,
    RouterId = 6,
    NextHop = 7,
    Update = 8,
    RouteRequest = 9,
    SeqnoRequest = 10,
}

impl TlvType {
    /// The type for a wire value; `None` for types this implementation does not know.
    pub fn from_u8(value: u8) -> Option<TlvType> {
        Some(match value {
            0 => TlvType::Pad1,
            1 => TlvType::PadN,
            2 => TlvType::AckRequest,
            3 => TlvType::Ack,
            4 => TlvType::Hello,
            5 => TlvType::Ihu,
            6 => TlvType::RouterId,
            7 => TlvType::NextHop,
            8 => TlvType::Update,
            9 => TlvType::RouteRequest,
            10 => TlvType::SeqnoRequest,
            _ => return None,
        })
    }
}

/// Hello flag: this Hello is unicast (RFC 8966 §4.6.5).
pub const HELLO_UNICAST: u16 = 0x8000;
/// Update flag: this prefix becomes the default prefix of its AE (RFC 8966 §4.6.9).
pub const UPDATE_SET_DEFAULT_PREFIX: u8 = 0x80;
/// Update flag: the router-id is derived from this prefix (RFC 8966 §4.6.9).
pub const UPDATE_SET_ROUTER_ID: u8 = 0x40;

/// One TLV as encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlvRepr {
    Pad1,
    /// PadN with this many octets of (zero) padding.
    PadN {
        len: u8,
    },
    AckRequest {
        nonce: u16,
        interval: u16,
        sub_tlvs: Vec<SubTlv>,
    },
    Ack {
        nonce: u16,
        sub_tlvs: Vec<SubTlv>,
    },
    Hello {
        unicast: bool,
        seqno: u16,
        interval: u16,
        sub_tlvs: Vec<SubTlv>,
    },
    /// `address` is `None` exactly when `ae` is the wildcard; AE 4 is rejected on parse.
    Ihu {
        ae: AddressEncoding,
        address: Option<IpAddr>,
        rxcost: u16,
        interval: u16,
        sub_tlvs: Vec<SubTlv>,
    },
    RouterId {
        router_id: RouterId,
        sub_tlvs: Vec<SubTlv>,
    },
    /// `ae` is 1, 2 or 3.
    NextHop {
        ae: AddressEncoding,
        address: IpAddr,
        sub_tlvs: Vec<SubTlv>,
    },
    /// `prefix` holds the octets actually sent, i.e. without the `omitted` leading ones.
    Update {
        ae: AddressEncoding,
        flags: u8,
        plen: u8,
        omitted: u8,
        interval: u16,
        seqno: u16,
        metric: u16,
        prefix: Vec<u8>,
        sub_tlvs: Vec<SubTlv>,
    },
    RouteRequest {
        ae: AddressEncoding,
        plen: u8,
        prefix: Vec<u8>,
        sub_tlvs: Vec<SubTlv>,
    },
    SeqnoRequest {
        ae: AddressEncoding,
        plen: u8,
        seqno: u16,
        hop_count: u8,
        router_id: RouterId,
        prefix: Vec<u8>,
        sub_tlvs: Vec<SubTlv>,
    },
    /// A TLV of a type this implementation does not know, kept as bytes.
    Unknown {
        tlv_type: u8,
        body: Vec<u8>,
    },
}

/// Splits the first TLV off `bytes`: its type, its body and the octets it takes in all.
/// `None` when its length field runs past the end of `bytes`.
pub fn split(bytes: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&tlv_type, rest) = bytes.split_first()?;
    if tlv_type == TlvType::Pad1 as u8 {
        return Some((tlv_type, &[], 1));
    }
    let (&len, rest) = rest.split_first()?;
    let body = rest.get(..usize::from(len))?;
    Some((tlv_type, body, 2 + usize::from(len)))
}

fn read_ae(r: &mut Reader<'_>) -> Result<AddressEncoding, Malformed> {
    AddressEncoding::from_u8(r.u8()?).ok_or(Malformed)
}

fn read_router_id(r: &mut Reader<'_>) -> Result<RouterId, Malformed> {
    Ok(RouterId(r.array()?))
}

/// Reads an uncompressed prefix of `plen` bits in `ae`.
fn read_prefix(r: &mut Reader<'_>, ae: AddressEncoding, plen: u8) -> Result<Vec<u8>, Malformed> {
    if plen > ae.max_plen() {
        return Err(Malformed);
    }
    Ok(r.take(ae.prefix_octets(plen))?.to_vec())
}

impl TlvRepr {
    /// Parses the body of a TLV of type `tlv_type` (the octets after type and length).
    pub fn parse(tlv_type: u8, body: &[u8]) -> Result<TlvRepr, Malformed> {
        let Some(known) = TlvType::from_u8(tlv_type) else {
            return Ok(TlvRepr::Unknown {
                tlv_type,
                body: body.to_vec(),
            });
        };
        let mut r = Reader::new(body);
        let other = SubTlvContext::Other;
        let repr = match known {
            TlvType::Pad1 => TlvRepr::Pad1,
            TlvType::PadN => TlvRepr::PadN {
                len: body.len() as u8,
            },
            TlvType::AckRequest => {
                let _reserved = r.u16()?;
                TlvRepr::AckRequest {
                    nonce: r.u16()?,
                    interval: r.u16()?,
                    sub_tlvs: SubTlv::parse_all(r.rest(), other)?,
                }
            }
            TlvType::Ack => TlvRepr::Ack {
                nonce: r.u16()?,
                sub_tlvs: SubTlv::parse_all(r.rest(), other)?,
            },
            TlvType::Hello => TlvRepr::Hello {
                unicast: r.u16()? & HELLO_UNICAST != 0,
                seqno: r.u16()?,
                interval: r.u16()?,
                sub_tlvs: SubTlv::parse_all(r.rest(), SubTlvContext::Hello)?,
            },
            TlvType::Ihu => {
                let ae = read_ae(&mut r)?;
                let _reserved = r.u8()?;
                let rxcost = r.u16()?;
                let interval = r.u16()?;
                let address = match ae {
                    AddressEncoding::Wildcard => None,
                    _ => {
                        let len = ae.address_len().ok_or(Malformed)?;
                        Some(address::decode_address(ae, r.take(len)?).ok_or(Malformed)?)
                    }
                };
                TlvRepr::Ihu {
                    ae,
                    address,
                    rxcost,
                    interval,
                    sub_tlvs: SubTlv::parse_all(r.rest(), SubTlvContext::Ihu)?,
                }
            }
            TlvType::RouterId => {
                let _reserved = r.u16()?;
                TlvRepr::RouterId {
                    router_id: read_router_id(&mut r)?,
                    sub_tlvs: SubTlv::parse_all(r.rest(), other)?,
                }
            }
            TlvType::NextHop => {
                let ae = read_ae(&mut r)?;
                let _reserved = r.u8()?;
                let len = ae.address_len().ok_or(Malformed)?;
                let address = address::decode_address(ae, r.take(len)?).ok_or(Malformed)?;
                TlvRepr::NextHop {
                    ae,
                    address,
                    sub_tlvs: SubTlv::parse_all(r.rest(), other)?,
                }
            }
            TlvType::Update => {
                let ae = read_ae(&mut r)?;
                let flags = r.u8()?;
                let plen = r.u8()?;
                let omitted = r.u8()?;
                let interval = r.u16()?;
                let seqno = r.u16()?;
                let metric = r.u16()?;
                if plen > ae.max_plen() {
                    return Err(Malformed);
                }
                let octets = ae.prefix_octets(plen);
                let omitted_len = usize::from(omitted);
                if omitted_len > octets || (omitted > 0 && !ae.has_default_prefix()) {
                    return Err(Malformed);
                }
                TlvRepr::Update {
                    ae,
                    flags,
                    plen,
                    omitted,
                    interval,
                    seqno,
                    metric,
                    prefix: r.take(octets - omitted_len)?.to_vec(),
                    sub_tlvs: SubTlv::parse_all(r.rest(), other)?,
                }
            }
            TlvType::RouteRequest => {
                let ae = read_ae(&mut r)?;
                let plen = r.u8()?;
                TlvRepr::RouteRequest {
                    ae,
                    plen,
                    prefix: read_prefix(&mut r, ae, plen)?,
                    sub_tlvs: SubTlv::parse_all(r.rest(), other)?,
                }
            }
            TlvType::SeqnoRequest => {
                let ae = read_ae(&mut r)?;
                let plen = r.u8()?;
                let seqno = r.u16()?;
                let hop_count = r.u8()?;
                let _reserved = r.u8()?;
                let router_id = read_router_id(&mut r)?;
                TlvRepr::SeqnoRequest {
                    ae,
                    plen,
                    seqno,
                    hop_count,
                    router_id,
                    prefix: read_prefix(&mut r, ae, plen)?,
                    sub_tlvs: SubTlv::parse_all(r.rest(), other)?,
                }
            }
        };
        Ok(repr)
    }

    /// The sub-TLVs this TLV carries (none for padding and unknown TLVs).
    pub fn sub_tlvs(&self) -> &[SubTlv] {
        match self {
            TlvRepr::Pad1 | TlvRepr::PadN { .. } | TlvRepr::Unknown { .. } => &[],
            TlvRepr::AckRequest { sub_tlvs, .. }
            | TlvRepr::Ack { sub_tlvs, .. }
            | TlvRepr::Hello { sub_tlvs, .. }
            | TlvRepr::Ihu { sub_tlvs, .. }
            | TlvRepr::RouterId { sub_tlvs, .. }
            | TlvRepr::NextHop { sub_tlvs, .. }
            | TlvRepr::Update { sub_tlvs, .. }
            | TlvRepr::RouteRequest { sub_tlvs, .. }
            | TlvRepr::SeqnoRequest { sub_tlvs, .. } => sub_tlvs,
        }
    }

    fn tlv_type(&self) -> u8 {
        match self {
            TlvRepr::Pad1 => TlvType::Pad1 as u8,
            TlvRepr::PadN { .. } => TlvType::PadN as u8,
            TlvRepr::AckRequest { .. } => TlvType::AckRequest as u8,
            TlvRepr::Ack { .. } => TlvType::Ack as u8,
            TlvRepr::Hello { .. } => TlvType::Hello as u8,
            TlvRepr::Ihu { .. } => TlvType::Ihu as u8,
            TlvRepr::RouterId { .. } => TlvType::RouterId as u8,
            TlvRepr::NextHop { .. } => TlvType::NextHop as u8,
            TlvRepr::Update { .. } => TlvType::Update as u8,
            TlvRepr::RouteRequest { .. } => TlvType::RouteRequest as u8,
            TlvRepr::SeqnoRequest { .. } => TlvType::SeqnoRequest as u8,
            TlvRepr::Unknown { tlv_type, .. } => *tlv_type,
        }
    }

    /// Octets of the body, before sub-TLVs.
    fn fixed_len(&self) -> usize {
        let address_len = |ae: AddressEncoding| ae.address_len().unwrap_or(0);
        match self {
            TlvRepr::Pad1 => 0,
            TlvRepr::PadN { len } => usize::from(*len),
            TlvRepr::AckRequest { .. } => 6,
            TlvRepr::Ack { .. } => 2,
            TlvRepr::Hello { .. } => 6,
            TlvRepr::Ihu { ae, .. } => 6 + address_len(*ae),
            TlvRepr::RouterId { .. } => 10,
            TlvRepr::NextHop { ae, .. } => 2 + address_len(*ae),
            TlvRepr::Update { prefix, .. } => 10 + prefix.len(),
            TlvRepr::RouteRequest { prefix, .. } => 2 + prefix.len(),
            TlvRepr::SeqnoRequest { prefix, .. } => 14 + prefix.len(),
            TlvRepr::Unknown { body, .. } => body.len(),
        }
    }

    /// Octets this TLV takes on the wire, type and length included. At most 257 for any TLV the
    /// parser produced; the caller keeps hand-built ones under that.
    pub fn buffer_len(&self) -> usize {
        match self {
            TlvRepr::Pad1 => 1,
            _ => 2 + self.fixed_len() + subtlv::buffer_len_all(self.sub_tlvs()),
        }
    }

    /// Writes this TLV into the first `buffer_len()` octets of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = Writer::new(buf);
        w.put_u8(self.tlv_type());
        if let TlvRepr::Pad1 = self {
            return;
        }
        w.put_u8((self.buffer_len() - 2) as u8);
        match self {
            TlvRepr::Pad1 => {}
            TlvRepr::PadN { len } => w.put_zeros(usize::from(*len)),
            TlvRepr::AckRequest {
                nonce, interval, ..
            } => {
                w.put_u16(0);
                w.put_u16(*nonce);
                w.put_u16(*interval);
            }
            TlvRepr::Ack { nonce, .. } => w.put_u16(*nonce),
            TlvRepr::Hello {
                unicast,
                seqno,
                interval,
                ..
            } => {
                w.put_u16(if *unicast { HELLO_UNICAST } else { 0 });
                w.put_u16(*seqno);
                w.put_u16(*interval);
            }
            TlvRepr::Ihu {
                ae,
                address,
                rxcost,
                interval,
                ..
            } => {
                w.put_u8(*ae as u8);
                w.put_u8(0);
                w.put_u16(*rxcost);
                w.put_u16(*interval);
                if let Some(a) = address {
                    w.put_slice(&address::address_octets(*ae, *a));
                }
            }
            TlvRepr::RouterId { router_id, .. } => {
                w.put_u16(0);
                w.put_slice(&router_id.0);
            }
            TlvRepr::NextHop { ae, address, .. } => {
                w.put_u8(*ae as u8);
                w.put_u8(0);
                w.put_slice(&address::address_octets(*ae, *address));
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
                ..
            } => {
                w.put_u8(*ae as u8);
                w.put_u8(*flags);
                w.put_u8(*plen);
                w.put_u8(*omitted);
                w.put_u16(*interval);
                w.put_u16(*seqno);
                w.put_u16(*metric);
                w.put_slice(prefix);
            }
            TlvRepr::RouteRequest {
                ae, plen, prefix, ..
            } => {
                w.put_u8(*ae as u8);
                w.put_u8(*plen);
                w.put_slice(prefix);
            }
            TlvRepr::SeqnoRequest {
                ae,
                plen,
                seqno,
                hop_count,
                router_id,
                prefix,
                ..
            } => {
                w.put_u8(*ae as u8);
                w.put_u8(*plen);
                w.put_u16(*seqno);
                w.put_u8(*hop_count);
                w.put_u8(0);
                w.put_slice(&router_id.0);
                w.put_slice(prefix);
            }
            TlvRepr::Unknown { body, .. } => w.put_slice(body),
        }
        subtlv::write_all(self.sub_tlvs(), &mut w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::IhuTimestamps;

    /// Parses `bytes` as exactly one TLV, checks it against `expected`, and emits it back.
    fn check(bytes: &[u8], expected: TlvRepr) {
        let (tlv_type, body, total) = split(bytes).expect("whole TLV");
        assert_eq!(total, bytes.len());
        let parsed = TlvRepr::parse(tlv_type, body).expect("well-formed TLV");
        assert_eq!(parsed, expected);
        assert_eq!(expected.buffer_len(), bytes.len());
        let mut out = vec![0u8; expected.buffer_len()];
        expected.emit(&mut out);
        assert_eq!(out, bytes);
    }

    fn malformed(bytes: &[u8]) {
        let (tlv_type, body, _) = split(bytes).expect("whole TLV");
        assert_eq!(TlvRepr::parse(tlv_type, body), Err(Malformed));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    const RID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn pad1() {
        check(&[0], TlvRepr::Pad1);
    }

    #[test]
    fn padn() {
        check(&[1, 3, 0, 0, 0], TlvRepr::PadN { len: 3 });
        check(&[1, 0], TlvRepr::PadN { len: 0 });
    }

    #[test]
    fn ack_request() {
        check(
            &[2, 6, 0, 0, 0x12, 0x34, 0x01, 0x90],
            TlvRepr::AckRequest {
                nonce: 0x1234,
                interval: 400,
                sub_tlvs: vec![],
            },
        );
        malformed(&[2, 5, 0, 0, 0x12, 0x34, 0x01]);
    }

    #[test]
    fn ack() {
        check(
            &[3, 2, 0x12, 0x34],
            TlvRepr::Ack {
                nonce: 0x1234,
                sub_tlvs: vec![],
            },
        );
        malformed(&[3, 1, 0x12]);
    }

    #[test]
    fn hello_multicast() {
        check(
            &[4, 6, 0, 0, 0x00, 0x07, 0x01, 0x90],
            TlvRepr::Hello {
                unicast: false,
                seqno: 7,
                interval: 400,
                sub_tlvs: vec![],
            },
        );
    }

    #[test]
    fn hello_unicast_with_timestamp() {
        check(
            &[
                4, 12, 0x80, 0, 0x00, 0x07, 0, 0, 3, 4, 0xDE, 0xAD, 0xBE, 0xEF,
            ],
            TlvRepr::Hello {
                unicast: true,
                seqno: 7,
                interval: 0,
                sub_tlvs: vec![SubTlv::HelloTimestamp(0xDEAD_BEEF)],
            },
        );
        malformed(&[4, 5, 0x80, 0, 0, 7, 0]);
    }

    #[test]
    fn ihu_wildcard() {
        check(
            &[5, 6, 0, 0, 0x01, 0x00, 0x05, 0xdc],
            TlvRepr::Ihu {
                ae: AddressEncoding::Wildcard,
                address: None,
                rxcost: 256,
                interval: 1500,
                sub_tlvs: vec![],
            },
        );
    }

    #[test]
    fn ihu_ipv4_with_timestamps() {
        check(
            &[
                5, 20, 1, 0, 0x00, 0x60, 0x05, 0xdc, 192, 0, 2, 1, 3, 8, 0, 0, 0, 1, 0, 0, 0, 2,
            ],
            TlvRepr::Ihu {
                ae: AddressEncoding::Ipv4,
                address: Some(ip("192.0.2.1")),
                rxcost: 96,
                interval: 1500,
                sub_tlvs: vec![SubTlv::IhuTimestamps(IhuTimestamps {
                    origin: 1,
                    receive: 2,
                })],
            },
        );
    }

    #[test]
    fn ihu_ipv6() {
        let mut bytes = vec![5, 22, 2, 0, 0x00, 0x60, 0x05, 0xdc];
        bytes.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        check(
            &bytes,
            TlvRepr::Ihu {
                ae: AddressEncoding::Ipv6,
                address: Some(ip("2001:db8::9")),
                rxcost: 96,
                interval: 1500,
                sub_tlvs: vec![],
            },
        );
    }

    #[test]
    fn ihu_link_local_with_timestamps() {
        check(
            &[
                5, 24, 3, 0, 0x00, 0x60, 0x05, 0xdc, 0, 0, 0, 0, 0, 0, 0, 9, 3, 8, 0, 0, 0, 1, 0,
                0, 0, 2,
            ],
            TlvRepr::Ihu {
                ae: AddressEncoding::Ipv6LinkLocal,
                address: Some(ip("fe80::9")),
                rxcost: 96,
                interval: 1500,
                sub_tlvs: vec![SubTlv::IhuTimestamps(IhuTimestamps {
                    origin: 1,
                    receive: 2,
                })],
            },
        );
    }

    #[test]
    fn ihu_rejects_v4_via_v6_and_short_addresses() {
        malformed(&[5, 10, 4, 0, 0, 0x60, 0x05, 0xdc, 192, 0, 2, 1]);
        malformed(&[5, 9, 1, 0, 0, 0x60, 0x05, 0xdc, 192, 0, 2]);
        malformed(&[5, 6, 9, 0, 0, 0x60, 0x05, 0xdc]);
    }

    #[test]
    fn router_id() {
        check(
            &[6, 10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            TlvRepr::RouterId {
                router_id: RouterId(RID),
                sub_tlvs: vec![],
            },
        );
        malformed(&[6, 9, 0, 0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn next_hop() {
        check(
            &[7, 6, 1, 0, 192, 0, 2, 1],
            TlvRepr::NextHop {
                ae: AddressEncoding::Ipv4,
                address: ip("192.0.2.1"),
                sub_tlvs: vec![],
            },
        );
        let mut v6 = vec![7, 18, 2, 0];
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        check(
            &v6,
            TlvRepr::NextHop {
                ae: AddressEncoding::Ipv6,
                address: ip("2001:db8::1"),
                sub_tlvs: vec![],
            },
        );
        check(
            &[7, 10, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            TlvRepr::NextHop {
                ae: AddressEncoding::Ipv6LinkLocal,
                address: ip("fe80::1"),
                sub_tlvs: vec![],
            },
        );
        malformed(&[7, 2, 0, 0]);
        malformed(&[7, 6, 4, 0, 10, 0, 0, 1]);
    }

    fn update(ae: AddressEncoding, flags: u8, plen: u8, omitted: u8, prefix: &[u8]) -> TlvRepr {
        TlvRepr::Update {
            ae,
            flags,
            plen,
            omitted,
            interval: 400,
            seqno: 0x0102,
            metric: 96,
            prefix: prefix.to_vec(),
            sub_tlvs: vec![],
        }
    }

    #[test]
    fn update_ipv4() {
        check(
            &[
                8, 13, 1, 0, 24, 0, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 10, 1, 2,
            ],
            update(AddressEncoding::Ipv4, 0, 24, 0, &[10, 1, 2]),
        );
    }

    #[test]
    fn update_ipv6_with_default_prefix_flag() {
        check(
            &[
                8, 16, 2, 0x80, 48, 0, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 0x20, 0x01, 0x0d, 0xb8,
                0, 1,
            ],
            update(
                AddressEncoding::Ipv6,
                UPDATE_SET_DEFAULT_PREFIX,
                48,
                0,
                &[0x20, 0x01, 0x0d, 0xb8, 0, 1],
            ),
        );
    }

    #[test]
    fn update_ipv6_compressed_with_router_id_flag() {
        check(
            &[
                8, 20, 2, 0x40, 128, 6, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 0, 2, 0, 0, 0, 0, 0, 0,
                0, 1,
            ],
            update(
                AddressEncoding::Ipv6,
                UPDATE_SET_ROUTER_ID,
                128,
                6,
                &[0, 2, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
        );
    }

    #[test]
    fn update_link_local() {
        check(
            &[
                8, 18, 3, 0, 128, 0, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 0, 0, 0, 0, 0, 0, 0, 7,
            ],
            update(
                AddressEncoding::Ipv6LinkLocal,
                0,
                128,
                0,
                &[0, 0, 0, 0, 0, 0, 0, 7],
            ),
        );
        // AE 3 keeps no default prefix, so it cannot be compressed.
        malformed(&[
            8, 17, 3, 0, 128, 1, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 0, 0, 0, 0, 0, 0, 7,
        ]);
    }

    #[test]
    fn update_v4_via_v6() {
        check(
            &[
                8, 13, 4, 0x80, 32, 1, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 0, 2, 1,
            ],
            update(AddressEncoding::Ipv4ViaIpv6, 0x80, 32, 1, &[0, 2, 1]),
        );
    }

    #[test]
    fn update_wildcard_retraction() {
        check(
            &[8, 10, 0, 0, 0, 0, 0x01, 0x90, 0, 0, 0xFF, 0xFF],
            TlvRepr::Update {
                ae: AddressEncoding::Wildcard,
                flags: 0,
                plen: 0,
                omitted: 0,
                interval: 400,
                seqno: 0,
                metric: 0xFFFF,
                prefix: vec![],
                sub_tlvs: vec![],
            },
        );
    }

    #[test]
    fn update_malformed() {
        // plen too long for IPv4.
        malformed(&[
            8, 14, 1, 0, 33, 0, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 10, 1, 2, 3,
        ]);
        // More omitted octets than the prefix has.
        malformed(&[8, 10, 1, 0, 8, 2, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60]);
        // Prefix octets missing.
        malformed(&[
            8, 12, 1, 0, 24, 0, 0x01, 0x90, 0x01, 0x02, 0x00, 0x60, 10, 1,
        ]);
        // Too short for the fixed part.
        malformed(&[8, 9, 1, 0, 0, 0, 0x01, 0x90, 0x01, 0x02, 0x00]);
        // A wildcard with a prefix length.
        malformed(&[8, 10, 0, 0, 8, 0, 0x01, 0x90, 0, 0, 0xFF, 0xFF]);
        // A sub-TLV running past the end.
        malformed(&[8, 12, 0, 0, 0, 0, 0x01, 0x90, 0, 0, 0xFF, 0xFF, 1, 4]);
    }

    #[test]
    fn route_request() {
        check(
            &[9, 2, 0, 0],
            TlvRepr::RouteRequest {
                ae: AddressEncoding::Wildcard,
                plen: 0,
                prefix: vec![],
                sub_tlvs: vec![],
            },
        );
        check(
            &[9, 10, 2, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2],
            TlvRepr::RouteRequest {
                ae: AddressEncoding::Ipv6,
                plen: 64,
                prefix: vec![0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2],
                sub_tlvs: vec![],
            },
        );
        malformed(&[9, 9, 2, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0]);
    }

    #[test]
    fn seqno_request() {
        check(
            &[
                10, 17, 1, 24, 0x12, 0x34, 64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 1, 2,
            ],
            TlvRepr::SeqnoRequest {
                ae: AddressEncoding::Ipv4,
                plen: 24,
                seqno: 0x1234,
                hop_count: 64,
                router_id: RouterId(RID),
                prefix: vec![10, 1, 2],
                sub_tlvs: vec![],
            },
        );
        malformed(&[10, 13, 1, 24, 0x12, 0x34, 64, 0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn unknown_tlv_kept_as_bytes() {
        check(
            &[200, 2, 0xAA, 0xBB],
            TlvRepr::Unknown {
                tlv_type: 200,
                body: vec![0xAA, 0xBB],
            },
        );
    }

    #[test]
    fn split_stops_on_overrun() {
        assert_eq!(split(&[4, 6, 0, 0]), None);
        assert_eq!(split(&[4]), None);
        assert_eq!(split(&[0, 4]), Some((0, &[][..], 1)));
    }
}
