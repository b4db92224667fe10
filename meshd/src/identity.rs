//! A node's addresses and router-id, derived from its WireGuard public key
//! (`docs/architecture.md`, "Identity and addressing"), so that anyone holding the key knows them
//! without asking.
//!
//! - mesh address: the configured `/48` mesh prefix followed by the first 80 bits of
//!   `BLAKE2s-256("meshd identity v1" || public key)`; it is the node's `/128` on `mesh0`.
//! - router-id: the low 64 bits of the mesh address, so a Babel update for the node's own `/128`
//!   can carry the router-id inside the prefix (the Update TLV's flag 0x40) instead of a separate
//!   Router-Id TLV.
//! - link-local address: `fe80::/64` followed by the first 64 bits of
//!   `BLAKE2s-256("meshd link-local v1" || public key)`: the source of our Babel packets inside
//!   tunnels, so a receiver can tell which link-local belongs to which peer key.
//!
//! The domain strings keep the two hashes unrelated, and carry a version so the derivation can
//! change one day without colliding with today's addresses. The public key has a fixed length, so
//! prefix and key cannot run into each other.
//!
//! RFC 8966 §4.6.7 forbids the all-zeros and all-ones router-ids. When the hash lands on one of
//! them (a chance of 2^-63) the lowest bit of the interface identifier is flipped, in the mesh
//! address too so the two stay equal. The same rule keeps the link-local interface identifier away
//! from all zeros and all ones.

use std::net::{IpAddr, Ipv6Addr};

use blake2::{Blake2s256, Digest as _};

use crate::keys::PublicKey;

const MESH_ADDRESS_DOMAIN: &[u8] = b"meshd identity v1";
const LINK_LOCAL_DOMAIN: &[u8] = b"meshd link-local v1";

/// Everything a node's public key determines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub public_key: PublicKey,
    /// The node's `/128` on `mesh0`, inside the mesh prefix.
    pub mesh_address: Ipv6Addr,
    /// The low 64 bits of `mesh_address`.
    pub router_id: babel::RouterId,
    /// The `fe80::/64` address the node sends Babel packets from inside tunnels.
    pub link_local: Ipv6Addr,
}

impl Identity {
    /// Derives a node's identity. `mesh_prefix` should be an IPv6 `/48` (the configuration
    /// guarantees it); only its first 48 bits are used, whatever its length, and an IPv4 prefix is
    /// taken in its IPv4-mapped IPv6 form, so this never fails.
    pub fn derive(public_key: &PublicKey, mesh_prefix: babel::Prefix) -> Identity {
        let prefix = match mesh_prefix.addr() {
            IpAddr::V6(a) => a.octets(),
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        };
        let hash = domain_hash(MESH_ADDRESS_DOMAIN, public_key);
        let mut mesh = [0u8; 16];
        mesh[..6].copy_from_slice(&prefix[..6]);
        mesh[6..].copy_from_slice(&hash[..10]);
        let router_id = valid_interface_id(low_64(&mesh));
        mesh[8..].copy_from_slice(&router_id);

        let hash = domain_hash(LINK_LOCAL_DOMAIN, public_key);
        let mut link_local = [0u8; 16];
        link_local[..2].copy_from_slice(&[0xfe, 0x80]);
        let mut interface_id = [0u8; 8];
        interface_id.copy_from_slice(&hash[..8]);
        link_local[8..].copy_from_slice(&valid_interface_id(interface_id));

        Identity {
            public_key: *public_key,
            mesh_address: Ipv6Addr::from(mesh),
            router_id: babel::RouterId(router_id),
            link_local: Ipv6Addr::from(link_local),
        }
    }
}

fn domain_hash(domain: &[u8], public_key: &PublicKey) -> [u8; 32] {
    let mut hasher = Blake2s256::new();
    hasher.update(domain);
    hasher.update(public_key.0);
    hasher.finalize().into()
}

/// Bytes 8..16 of a 16-byte address.
fn low_64(address: &[u8]) -> [u8; 8] {
    let mut low = [0u8; 8];
    low.copy_from_slice(&address[8..16]);
    low
}

/// Flips the lowest bit of an all-zeros or all-ones identifier, which RFC 8966 forbids as a
/// router-id; any other value is returned unchanged.
fn valid_interface_id(mut id: [u8; 8]) -> [u8; 8] {
    if !babel::RouterId(id).is_valid() {
        id[7] ^= 1;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(text: &str) -> babel::Prefix {
        text.parse().expect("test prefix")
    }

    fn key(byte: u8) -> PublicKey {
        PublicKey([byte; 32])
    }

    #[test]
    fn deterministic_and_pinned() {
        // Pinned so that a change to the derivation, which would renumber every node, cannot
        // happen unnoticed. The values were computed with Python's hashlib.blake2s.
        let identity = Identity::derive(&key(1), prefix("fd6d:6573:6800::/48"));
        assert_eq!(
            identity,
            Identity::derive(&key(1), prefix("fd6d:6573:6800::/48"))
        );
        assert_eq!(
            identity.mesh_address,
            "fd6d:6573:6800:c9fd:5a19:be8d:fbee:24b2"
                .parse::<Ipv6Addr>()
                .expect("address")
        );
        assert_eq!(
            identity.link_local,
            "fe80::80c3:be84:671c:a115"
                .parse::<Ipv6Addr>()
                .expect("address")
        );
        assert_eq!(identity.public_key, key(1));
    }

    #[test]
    fn prefix_kept_and_router_id_is_low_64_bits() {
        for byte in 0..=20u8 {
            let identity = Identity::derive(&key(byte), prefix("fd00:1:2::/48"));
            let octets = identity.mesh_address.octets();
            assert_eq!(&octets[..6], &[0xfd, 0x00, 0x00, 0x01, 0x00, 0x02]);
            assert_eq!(identity.router_id.0, octets[8..16]);
            assert!(identity.router_id.is_valid());
            assert!(prefix("fe80::/64").contains(IpAddr::V6(identity.link_local)));
        }
    }

    #[test]
    fn different_keys_differ() {
        let mesh = prefix("fd6d:6573:6800::/48");
        let a = Identity::derive(&key(1), mesh);
        let b = Identity::derive(&key(2), mesh);
        assert_ne!(a.mesh_address, b.mesh_address);
        assert_ne!(a.router_id, b.router_id);
        assert_ne!(a.link_local, b.link_local);
        // The two hashes are unrelated.
        assert_ne!(a.link_local.octets()[8..], a.mesh_address.octets()[8..]);
    }

    #[test]
    fn prefix_changes_only_the_prefix() {
        let a = Identity::derive(&key(3), prefix("fd6d:6573:6800::/48"));
        let b = Identity::derive(&key(3), prefix("fd12:3456:789a::/48"));
        assert_ne!(a.mesh_address, b.mesh_address);
        assert_eq!(a.mesh_address.octets()[6..], b.mesh_address.octets()[6..]);
        assert_eq!(a.router_id, b.router_id);
        assert_eq!(a.link_local, b.link_local);
    }

    #[test]
    fn invalid_router_ids_are_flipped() {
        assert_eq!(valid_interface_id([0; 8]), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            valid_interface_id([0xff; 8]),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        let ordinary = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(valid_interface_id(ordinary), ordinary);
    }
}
