//! Feeds arbitrary datagrams to meshd's discovery (`meshd/src/discovery.rs`): to the beacon
//! parser, with and without a community secret, and to a `Discovery` running on one interface,
//! as the daemon hands it what arrives on the beacon port. Nothing may panic; a beacon that
//! parses must emit to bytes that parse to the same beacon (the same bytes, when its flags carry
//! no bits version 1 ignores); what `Discovery` accepts must be a beacon the parser accepts, from
//! the interface and address it came from, and never our own.
//!
//! The input is a mode byte (whether the node has a community secret), then operations, one
//! leading byte each (see `step`); the whole input after the mode byte also goes to the parser.

#![no_main]

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use meshd_fuzz::discovery::{
    emit, parse, Beacon, CommunityKeys, Discovered, Discovery, Dropped, Heard, Origin, Settings,
};

const COMMUNITY: &str = "fuzz";
const OUR_KEY: [u8; 32] = [0xee; 32];
const INTERFACE: u32 = 2;
const OTHER_INTERFACE: u32 = 3;

/// Whatever parses, re-emitted with the same key, parses to the same beacon.
fn round_trip(bytes: &[u8], community_id: &str, mac_key: Option<&[u8; 32]>) {
    let Ok(beacon) = parse(bytes, community_id, mac_key) else {
        return;
    };
    assert_eq!(beacon.has_mac, mac_key.is_some());
    assert_eq!(beacon.community_id, community_id);
    let mut again = Vec::new();
    emit(&beacon, mac_key, &mut again);
    let reparsed = parse(&again, community_id, mac_key).expect("an emitted beacon parses");
    assert_eq!(reparsed, beacon);
    // Byte for byte, unless the flags carried bits we ignore (the MAC covers the flags).
    if bytes[5] == u8::from(beacon.has_mac) {
        assert_eq!(again, bytes);
    }
}

/// The parser on its own: with the community id the datagram names (so that it gets past the
/// community check), with and without a secret, and with a fixed community id.
fn parser(bytes: &[u8], keys: &CommunityKeys) {
    let named = bytes.get(49..).map_or(String::new(), |tail| {
        let len = usize::from(bytes[48]).min(tail.len());
        String::from_utf8_lossy(&tail[..len]).into_owned()
    });
    round_trip(bytes, &named, None);
    round_trip(bytes, &named, Some(&keys.beacon));
    round_trip(bytes, COMMUNITY, None);
    round_trip(bytes, COMMUNITY, Some(&keys.beacon));
}

struct Harness {
    discovery: Discovery,
    keys: Option<CommunityKeys>,
    now: Instant,
    received: u64,
    dropped: u64,
}

impl Harness {
    /// One datagram from `from`, checked against what the parser says of it.
    fn datagram(&mut self, from: SocketAddrV6, bytes: &[u8]) {
        let mac_key = self.keys.as_ref().map(|k| &k.beacon);
        let known = parse(bytes, COMMUNITY, mac_key)
            .ok()
            .and_then(|b| self.discovery.get(&b.public_key).cloned().map(|p| (b, p)));
        let result = self.discovery.handle_datagram(from, bytes);
        self.received += 1;
        let (key, endpoint) = match result {
            Err(_) => {
                self.dropped += 1;
                return;
            }
            Ok(Heard::Known { key, endpoint }) => {
                let (beacon, peer) = known.expect("a known peer's beacon parses");
                assert_eq!(beacon.public_key, key);
                if peer.origin == Origin::Beacon {
                    assert!(beacon.counter > peer.counter, "a replay was accepted");
                }
                let counter = Discovery::counter_of(bytes);
                assert_eq!(counter, beacon.counter);
                self.discovery.refresh(self.now, &key, endpoint, counter);
                (key, endpoint)
            }
            Ok(Heard::New {
                key,
                endpoint,
                counter,
                interface,
            }) => {
                assert!(known.is_none(), "a known peer reported as new");
                assert_eq!(interface, "wan0");
                self.discovery.add(
                    key,
                    Discovered {
                        origin: Origin::Beacon,
                        interface: Some(interface),
                        endpoint: Some(endpoint),
                        last_beacon: Some(self.now),
                        counter,
                        added: self.now,
                        was_up: false,
                    },
                );
                (key, endpoint)
            }
        };
        let beacon = parse(bytes, COMMUNITY, mac_key).expect("an accepted beacon parses");
        assert_eq!(beacon.public_key, key);
        assert_ne!(key, OUR_KEY, "our own beacon was accepted");
        assert!(from.ip().is_unicast_link_local());
        assert_eq!(from.scope_id(), INTERFACE);
        assert_eq!(
            endpoint,
            SocketAddrV6::new(*from.ip(), beacon.port, 0, INTERFACE)
        );
        assert_ne!(beacon.port, 0);
    }

    /// Our own beacons parse as ours, and are refused when they loop back.
    fn send(&mut self) {
        let clock_ms = self.now.elapsed().as_millis() as u64;
        let mac_key = self.keys.as_ref().map(|k| &k.beacon);
        for (index, bytes) in self.discovery.poll_beacons(self.now, clock_ms) {
            assert_eq!(index, INTERFACE);
            let beacon = parse(&bytes, COMMUNITY, mac_key).expect("our beacons parse");
            assert_eq!(beacon.public_key, OUR_KEY);
            let from = SocketAddrV6::new(link_local(1), 51820, 0, INTERFACE);
            self.received += 1;
            self.dropped += 1;
            assert_eq!(
                self.discovery.handle_datagram(from, &bytes),
                Err(Dropped::Own)
            );
        }
    }

    /// One operation; returns the rest of the input, or `None` at its end.
    fn step<'a>(&mut self, op: u8, rest: &'a [u8]) -> Option<&'a [u8]> {
        // Bits 2..4: where it comes from. Mostly a link-local neighbour on our interface.
        let source = match (op >> 2) & 7 {
            0..=4 => SocketAddrV6::new(link_local(u16::from(op >> 5)), 51821, 0, INTERFACE),
            5 => SocketAddrV6::new(link_local(7), 51821, 0, OTHER_INTERFACE),
            6 => SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7), 51821, 0, 2),
            _ => SocketAddrV6::new(link_local(7), 51821, 0, 0),
        };
        match op & 3 {
            // A datagram as it came: a length byte, then that many bytes (or what is left).
            0 => {
                let (&len, tail) = rest.split_first()?;
                let len = usize::from(len).min(tail.len());
                let (bytes, tail) = tail.split_at(len);
                self.datagram(source, bytes);
                Some(tail)
            }
            // A well-formed beacon of one of four keys (or ours), made with our secret (or
            // without one, or with another), so the fuzzer gets past the MAC.
            1 => {
                let (fields, tail) = rest.split_at_checked(4)?;
                let public_key = match fields[0] & 7 {
                    7 => OUR_KEY,
                    n => [n; 32],
                };
                let beacon = Beacon {
                    public_key,
                    port: u16::from_be_bytes([fields[1], fields[2]]),
                    counter: u64::from(fields[3]),
                    community_id: if fields[0] & 0x80 == 0 {
                        COMMUNITY.to_string()
                    } else {
                        "other".to_string()
                    },
                    has_mac: false,
                };
                let other = CommunityKeys::derive(&[9; 32]);
                let mac_key = match (fields[0] >> 3) & 3 {
                    0 | 1 => self.keys.as_ref().map(|k| &k.beacon),
                    2 => None,
                    _ => Some(&other.beacon),
                };
                let mut bytes = Vec::new();
                emit(&beacon, mac_key, &mut bytes);
                self.datagram(source, &bytes);
                Some(tail)
            }
            // Time passes; our beacons go out; silent peers expire.
            2 => {
                self.now += Duration::from_millis(u64::from(op >> 2) * 500);
                self.send();
                let up = op & 0x80 != 0;
                for (key, _) in self.discovery.expired(self.now, |_| up) {
                    assert!(!self.discovery.contains(&key));
                }
                self.discovery.answer_soon(self.now, INTERFACE);
                Some(rest)
            }
            // A peer removed (its session went away), or the interfaces rescanned.
            _ => {
                if op & 0x80 == 0 {
                    self.discovery.remove(&[(op >> 2) & 7; 32]);
                } else {
                    let present = op & 0x40 != 0;
                    let current: Vec<(u32, String, Ipv6Addr)> = if present {
                        vec![(INTERFACE, "wan0".to_string(), link_local(1))]
                    } else {
                        Vec::new()
                    };
                    self.discovery.set_interfaces(self.now, &current);
                    assert_eq!(self.discovery.is_active(INTERFACE), present);
                }
                Some(rest)
            }
        }
    }
}

fn link_local(host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100 + host)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let secret = CommunityKeys::derive(&[mode | 1; 32]);
    parser(rest, &secret);

    let keys = (mode & 1 != 0).then(|| secret.clone());
    let settings = Settings {
        interval: Duration::from_secs(5),
        community_id: COMMUNITY.to_string(),
        keys: keys.clone(),
        our_key: OUR_KEY,
        tunnel_port: 51820,
    };
    let now = Instant::now();
    let mut discovery = Discovery::new(settings, u64::from(mode));
    let (appeared, gone) =
        discovery.set_interfaces(now, &[(INTERFACE, "wan0".to_string(), link_local(1))]);
    assert_eq!((appeared, gone), (vec![INTERFACE], vec![]));
    let mut harness = Harness {
        discovery,
        keys,
        now,
        received: 0,
        dropped: 0,
    };
    while let Some((&op, tail)) = rest.split_first() {
        let Some(tail) = harness.step(op, tail) else {
            break;
        };
        rest = tail;
        let stats = harness.discovery.stats();
        assert_eq!(stats.received, harness.received);
        assert_eq!(stats.dropped.values().sum::<u64>(), harness.dropped);
    }
});
