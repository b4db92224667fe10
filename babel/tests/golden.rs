//! Golden tests: the exact transmits of one node for a scripted conversation with a neighbour,
//! compared with a checked-in transcript. After an intended change of behaviour, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p meshd-babel --test golden` and review the diff.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel::wire::{parse_packet, Encoder, IhuTimestamps, Message};
use babel::{Config, LinkConfig, LinkId, Node, Prefix, RouterId};

const US: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

fn packet(messages: &[Message]) -> Vec<u8> {
    let mut encoder = Encoder::new(1232);
    for m in messages {
        encoder.push(m);
    }
    encoder.finish().remove(0)
}

struct Script {
    start: Instant,
    node: Node,
    transcript: String,
}

impl Script {
    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    fn record(&mut self, now: Instant, what: &str) {
        let ms = (now - self.start).as_millis();
        let _ = writeln!(self.transcript, "{ms:>6} ms  {what}");
    }

    fn drain(&mut self, now: Instant) {
        while let Some(t) = self.node.poll_transmit() {
            let parsed = parse_packet(&t.payload, IpAddr::V6(US)).expect("we send valid packets");
            let mut line = format!("send {:?} {:?} {}B", t.link, t.destination, t.payload.len());
            for m in parsed.messages {
                let _ = write!(line, "\n            {m:?}");
            }
            self.record(now, &line);
        }
        while let Some(c) = self.node.poll_route_change() {
            self.record(now, &format!("route {c:?}"));
        }
        while let Some(e) = self.node.poll_event() {
            self.record(now, &format!("event {e:?}"));
        }
    }

    fn run_until(&mut self, ms: u64) {
        let end = self.at(ms);
        for _ in 0..100_000 {
            match self.node.poll_timeout() {
                Some(t) if t <= end => {
                    self.node.handle_timeout(t);
                    self.drain(t);
                }
                _ => break,
            }
        }
    }

    fn receive(&mut self, ms: u64, messages: &[Message]) {
        self.run_until(ms);
        let now = self.at(ms);
        self.record(now, &format!("recv {messages:?}"));
        self.node
            .handle_packet(now, LinkId(1), PEER, &packet(messages));
        self.drain(now);
    }
}

fn check(name: &str, transcript: &str) {
    let path = format!("{}/tests/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, transcript).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != transcript {
        panic!(
            "transcript differs from {path}; rerun with UPDATE_GOLDEN=1 to accept\n{transcript}"
        );
    }
}

#[test]
fn neighbour_comes_announces_and_retracts() {
    let start = Instant::now();
    let config = Config::default();
    let our_id = RouterId([0, 0, 0, 0, 0, 0, 0, 1]);
    let peer_id = RouterId([0, 0, 0, 0, 0, 0, 0, 2]);
    let ours: Prefix = "fd00:6d65:7368::1/128".parse().unwrap();
    let theirs: Prefix = "fd00:6d65:7368::2/128".parse().unwrap();
    let mut s = Script {
        start,
        node: Node::new(config, our_id, 42, start),
        transcript: String::new(),
    };
    let link = LinkConfig {
        rtt: None,
        ..LinkConfig::default()
    };
    s.node.add_link(start, LinkId(1), US, link);
    s.node.add_local_prefix(start, ours);
    s.drain(start);
    s.run_until(1000);
    s.receive(
        1500,
        &[
            Message::Hello {
                unicast: false,
                seqno: 100,
                interval: 400,
                timestamp: None,
            },
            Message::Ihu {
                address: Some(IpAddr::V6(US)),
                rxcost: 96,
                interval: 400,
                timestamps: None::<IhuTimestamps>,
            },
            Message::Update {
                prefix: theirs,
                router_id: peer_id,
                next_hop: None,
                seqno: 7,
                interval: 1600,
                metric: 0,
            },
        ],
    );
    s.run_until(3000);
    // The neighbour retracts its prefix.
    s.receive(
        3500,
        &[Message::Update {
            prefix: theirs,
            router_id: peer_id,
            next_hop: None,
            seqno: 7,
            interval: 1600,
            metric: 0xFFFF,
        }],
    );
    s.run_until(6000);
    check("neighbour_comes_announces_and_retracts", &s.transcript);
}
