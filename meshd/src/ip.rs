//! Tests' own reading of raw IP bytes: the Internet checksum (RFC 1071) and an IPv6 address at an
//! offset. meshd reads and writes headers through smoltcp's packet views (`forward.rs`,
//! `gateway.rs`, `inner.rs`); the tests build packets and check what meshd wrote with this
//! independent implementation, so a mistake in how meshd drives smoltcp (a wrong pseudo-header,
//! a field left unset) cannot hide behind the same code on both sides.
//!
//! This module depends on std only: it is compiled into meshd's unit tests (`main.rs`) and into
//! `tests/kernel_netns.rs`.

use std::net::Ipv6Addr;

/// The Internet checksum (RFC 1071) over concatenated pieces: every piece but the last must have
/// an even length (headers, pseudo-headers), the last may be odd (a payload).
#[derive(Debug, Default)]
pub struct Checksum {
    sum: u32,
}

impl Checksum {
    pub fn add(&mut self, bytes: &[u8]) {
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            self.sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
            self.fold();
        }
        if let [last] = pairs.remainder() {
            self.sum += u32::from(*last) << 8;
            self.fold();
        }
    }

    fn fold(&mut self) {
        self.sum = (self.sum & 0xffff) + (self.sum >> 16);
    }

    /// The checksum to write into the header (or 0, when the summed bytes already held a correct
    /// one).
    pub fn finish(mut self) -> u16 {
        self.fold();
        !(self.sum as u16)
    }
}

/// The checksum of one piece: 0 for a header whose checksum field is right.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = Checksum::default();
    sum.add(bytes);
    sum.finish()
}

/// The IPv6 address in `bytes[offset..offset + 16]`; the caller has checked the length.
pub fn ipv6_at(bytes: &[u8], offset: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[offset..offset + 16]);
    Ipv6Addr::from(octets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1071_example() {
        // RFC 1071 §3's example bytes sum to ddf2 (one's complement), so the checksum is 220d.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&bytes), !0xddf2);
        // Split into even pieces, the sum is the same; an odd last byte is padded with zero.
        let mut sum = Checksum::default();
        sum.add(&bytes[..4]);
        sum.add(&bytes[4..]);
        assert_eq!(sum.finish(), !0xddf2);
        assert_eq!(checksum(&[0x01]), !0x0100);
    }

    #[test]
    fn a_header_with_its_checksum_sums_to_zero() {
        let mut header = vec![0x45, 0, 0, 20, 0, 1, 0x40, 0, 64, 17, 0, 0];
        header.extend_from_slice(&[198, 51, 100, 1, 203, 0, 113, 9]);
        let sum = checksum(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(&header), 0);
    }

    #[test]
    fn ipv6_at_reads_sixteen_bytes() {
        let mut bytes = vec![0u8; 8];
        bytes.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
        assert_eq!(
            ipv6_at(&bytes, 8),
            Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)
        );
    }
}
