//! Feeds arbitrary datagrams to the Babel packet parser; whatever parses is re-encoded and parsed
//! again, which must give the same messages back.

#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use babel::wire::{parse_packet, Encoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    let Ok(parsed) = parse_packet(data, source) else {
        return;
    };
    let mut encoder = Encoder::new(1400);
    for message in &parsed.messages {
        encoder.push(message);
    }
    let mut again = Vec::new();
    for packet in encoder.finish() {
        assert!(packet.len() <= 1400);
        let reparsed = parse_packet(&packet, source).expect("encoder output parses");
        again.extend(reparsed.messages);
    }
    assert_eq!(again, parsed.messages);
});
