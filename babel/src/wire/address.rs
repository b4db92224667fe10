//! Address encodings (RFC 8966 §4.1.5, RFC 9229 §4) and prefix compression (RFC 8966 §4.6.9).
//!
//! Owns the mapping between an AE plus octets and an [`IpAddr`] or [`Prefix`], and the arithmetic
//! of omitted octets. It knows nothing of packets: the default prefixes themselves live in the
//! parser and encoder state.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Prefix, RouterId};

/// The high 64 bits of every address sent with AE 3.
const LINK_LOCAL_HIGH: [u8; 8] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0];

/// The AE field: how an address or prefix is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressEncoding {
    /// No address: "any" in requests and retractions, "whoever receives this" in IHUs.
    Wildcard = 0,
    Ipv4 = 1,
    Ipv6 = 2,
    /// An IPv6 address in fe80::/64, sent as its low 64 bits.
    Ipv6LinkLocal = 3,
    /// An IPv4 prefix whose next hop is the IPv6 default next hop (RFC 9229). Never an address.
    Ipv4ViaIpv6 = 4,
}

impl AddressEncoding {
    /// The AE for a wire value; `None` for the values no RFC defines.
    pub fn from_u8(value: u8) -> Option<AddressEncoding> {
        match value {
            0 => Some(AddressEncoding::Wildcard),
            1 => Some(AddressEncoding::Ipv4),
            2 => Some(AddressEncoding::Ipv6),
            3 => Some(AddressEncoding::Ipv6LinkLocal),
            4 => Some(AddressEncoding::Ipv4ViaIpv6),
            _ => None,
        }
    }

    /// Octets of a full address (Next Hop, IHU). `None` where this AE carries no address.
    pub fn address_len(self) -> Option<usize> {
        match self {
            AddressEncoding::Ipv4 => Some(4),
            AddressEncoding::Ipv6 => Some(16),
            AddressEncoding::Ipv6LinkLocal => Some(8),
            AddressEncoding::Wildcard | AddressEncoding::Ipv4ViaIpv6 => None,
        }
    }

    /// Whether prefixes in this AE are IPv4 prefixes.
    pub fn is_ipv4_prefix(self) -> bool {
        matches!(self, AddressEncoding::Ipv4 | AddressEncoding::Ipv4ViaIpv6)
    }

    /// The longest prefix length this AE can carry.
    pub fn max_plen(self) -> u8 {
        match self {
            AddressEncoding::Wildcard => 0,
            AddressEncoding::Ipv4 | AddressEncoding::Ipv4ViaIpv6 => 32,
            AddressEncoding::Ipv6 | AddressEncoding::Ipv6LinkLocal => 128,
        }
    }

    /// Octets a prefix of `plen` bits takes before compression. AE 3 only sends the octets past
    /// the implied fe80::/64 half, as babeld does.
    pub fn prefix_octets(self, plen: u8) -> usize {
        let octets = usize::from(plen).div_ceil(8);
        match self {
            AddressEncoding::Wildcard => 0,
            AddressEncoding::Ipv6LinkLocal => octets.saturating_sub(8),
            _ => octets,
        }
    }

    /// Whether this AE keeps a default prefix for compression. AE 3 does not: the RFC's
    /// compression is defined on whole addresses, and no implementation compresses AE 3.
    pub fn has_default_prefix(self) -> bool {
        matches!(
            self,
            AddressEncoding::Ipv4 | AddressEncoding::Ipv6 | AddressEncoding::Ipv4ViaIpv6
        )
    }
}

/// The AE used to send `addr` as an address: AE 3 for fe80::/64, AE 1 or 2 otherwise.
pub fn address_encoding_for(addr: IpAddr) -> AddressEncoding {
    match addr {
        IpAddr::V4(_) => AddressEncoding::Ipv4,
        IpAddr::V6(a) if a.octets()[..8] == LINK_LOCAL_HIGH => AddressEncoding::Ipv6LinkLocal,
        IpAddr::V6(_) => AddressEncoding::Ipv6,
    }
}

/// Decodes an address of exactly `ae.address_len()` octets.
pub fn decode_address(ae: AddressEncoding, octets: &[u8]) -> Option<IpAddr> {
    match ae {
        AddressEncoding::Ipv4 => {
            let a: [u8; 4] = octets.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(a)))
        }
        AddressEncoding::Ipv6 => {
            let a: [u8; 16] = octets.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        AddressEncoding::Ipv6LinkLocal => {
            let low: [u8; 8] = octets.try_into().ok()?;
            let mut a = [0u8; 16];
            a[..8].copy_from_slice(&LINK_LOCAL_HIGH);
            a[8..].copy_from_slice(&low);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        AddressEncoding::Wildcard | AddressEncoding::Ipv4ViaIpv6 => None,
    }
}

/// The octets of `addr` as sent with `ae` (empty when the AE does not fit the address).
pub fn address_octets(ae: AddressEncoding, addr: IpAddr) -> Vec<u8> {
    match (ae, addr) {
        (AddressEncoding::Ipv4, IpAddr::V4(a)) => a.octets().to_vec(),
        (AddressEncoding::Ipv6, IpAddr::V6(a)) => a.octets().to_vec(),
        (AddressEncoding::Ipv6LinkLocal, IpAddr::V6(a)) => a.octets()[8..].to_vec(),
        _ => Vec::new(),
    }
}

/// A prefix's network address as 16 octets (IPv4 in the first four), the form in which default
/// prefixes are kept.
pub fn prefix_octets(prefix: &Prefix) -> [u8; 16] {
    match prefix.addr() {
        IpAddr::V4(a) => {
            let mut out = [0u8; 16];
            out[..4].copy_from_slice(&a.octets());
            out
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// Rebuilds a prefix from its wire form: `omitted` leading octets from `default`, then `octets`.
/// `None` when the result is not a valid prefix or the octets do not add up.
pub fn decode_prefix(
    ae: AddressEncoding,
    plen: u8,
    omitted: u8,
    octets: &[u8],
    default: Option<&[u8; 16]>,
) -> Option<Prefix> {
    let omitted = usize::from(omitted);
    let mut full = [0u8; 16];
    match ae {
        AddressEncoding::Wildcard => return None,
        AddressEncoding::Ipv6LinkLocal => {
            if omitted != 0 {
                return None;
            }
            full[..8].copy_from_slice(&LINK_LOCAL_HIGH);
            full.get_mut(8..8 + octets.len())?.copy_from_slice(octets);
        }
        _ => {
            if omitted > 0 {
                full.get_mut(..omitted)?
                    .copy_from_slice(default?.get(..omitted)?);
            }
            full.get_mut(omitted..omitted + octets.len())?
                .copy_from_slice(octets);
        }
    }
    let addr = if ae.is_ipv4_prefix() {
        let [a, b, c, d, ..] = full;
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    } else {
        IpAddr::V6(Ipv6Addr::from(full))
    };
    Prefix::new(addr, plen)
}

/// How many leading octets of `prefix` (out of its first `limit`) equal those of `default`.
pub fn common_leading_octets(prefix: &[u8; 16], default: &[u8; 16], limit: usize) -> usize {
    prefix
        .iter()
        .zip(default.iter())
        .take(limit)
        .take_while(|(a, b)| a == b)
        .count()
}

/// The router-id an Update with flag 0x40 establishes: the low 64 bits of an IPv6 prefix, or four
/// zero octets followed by an IPv4 prefix's address (RFC 8966 §4.6.9, as babeld does).
pub fn router_id_from_prefix(prefix: &Prefix) -> RouterId {
    let mut id = [0u8; 8];
    match prefix.addr() {
        IpAddr::V4(a) => id[4..].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => id.copy_from_slice(&a.octets()[8..]),
    }
    RouterId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().expect("test prefix")
    }

    #[test]
    fn address_round_trips() {
        for (ae, bytes, addr) in [
            (AddressEncoding::Ipv4, vec![192, 0, 2, 1], "192.0.2.1"),
            (
                AddressEncoding::Ipv6,
                vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                "2001:db8::1",
            ),
            (
                AddressEncoding::Ipv6LinkLocal,
                vec![0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55],
                "fe80::211:22ff:fe33:4455",
            ),
        ] {
            let addr: IpAddr = addr.parse().expect("test address");
            assert_eq!(decode_address(ae, &bytes), Some(addr));
            assert_eq!(address_encoding_for(addr), ae);
            assert_eq!(address_octets(ae, addr), bytes);
        }
        assert_eq!(decode_address(AddressEncoding::Ipv4, &[1, 2, 3]), None);
        assert_eq!(
            decode_address(AddressEncoding::Ipv4ViaIpv6, &[1, 2, 3, 4]),
            None
        );
    }

    #[test]
    fn prefix_octet_counts() {
        assert_eq!(AddressEncoding::Ipv4.prefix_octets(0), 0);
        assert_eq!(AddressEncoding::Ipv4.prefix_octets(17), 3);
        assert_eq!(AddressEncoding::Ipv6.prefix_octets(64), 8);
        assert_eq!(AddressEncoding::Ipv6LinkLocal.prefix_octets(64), 0);
        assert_eq!(AddressEncoding::Ipv6LinkLocal.prefix_octets(128), 8);
    }

    #[test]
    fn prefix_decompression() {
        let default = prefix_octets(&p("2001:db8:1::/48"));
        let got = decode_prefix(AddressEncoding::Ipv6, 64, 4, &[0, 2, 0, 5], Some(&default));
        assert_eq!(got, Some(p("2001:db8:2:5::/64")));
        assert_eq!(
            decode_prefix(AddressEncoding::Ipv6, 64, 4, &[0, 2, 0, 5], None),
            None
        );
        let v4 = decode_prefix(AddressEncoding::Ipv4ViaIpv6, 24, 0, &[198, 51, 100], None);
        assert_eq!(v4, Some(p("198.51.100.0/24")));
        let ll = decode_prefix(
            AddressEncoding::Ipv6LinkLocal,
            128,
            0,
            &[0, 0, 0, 0, 0, 0, 0, 9],
            None,
        );
        assert_eq!(ll, Some(p("fe80::9/128")));
    }

    #[test]
    fn router_id_derivation() {
        assert_eq!(
            router_id_from_prefix(&p("2001:db8::1:2:3:4/128")),
            RouterId([0, 1, 0, 2, 0, 3, 0, 4])
        );
        assert_eq!(
            router_id_from_prefix(&p("192.0.2.7/32")),
            RouterId([0, 0, 0, 0, 192, 0, 2, 7])
        );
    }

    #[test]
    fn common_octets() {
        let a = prefix_octets(&p("2001:db8:1::/48"));
        let b = prefix_octets(&p("2001:db8:2::/48"));
        assert_eq!(common_leading_octets(&a, &b, 6), 5);
        assert_eq!(common_leading_octets(&a, &a, 6), 6);
    }
}
