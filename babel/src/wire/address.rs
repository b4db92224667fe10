//! Address encodings (RFC 8966 §4.1.5, RFC 9229 §4) and prefix compression.

/// The AE field: how an address or prefix is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressEncoding {
    Wildcard = 0,
    Ipv4 = 1,
    Ipv6 = 2,
    Ipv6LinkLocal = 3,
    Ipv4ViaIpv6 = 4,
}
