//! Prometheus metrics: renders, in the text exposition format, the same replies the control API
//! gives `meshctl` (`control` crate), so the numbers a scrape shows are the numbers `meshctl`
//! shows. It owns only the names and the text form (docs/metrics.md lists them); gathering is the
//! HTTP task's (`http.rs`), the process figures are read from `/proc/self` at scrape time.
//!
//! Naming follows Prometheus' conventions: a `meshd_` prefix, base units in the name
//! (`_seconds`, `_bytes`), `_total` on counters and nowhere else.

use std::collections::BTreeMap;
use std::fmt::{Display, Write};

use control::{Data, Discovery, Neighbour, Peer, Refused, Route, Status};

/// Everything one scrape shows, as the control API answered it.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub status: Option<Status>,
    pub neighbours: Vec<Neighbour>,
    pub routes: Vec<Route>,
    pub peers: Vec<Peer>,
    pub discovery: Option<Discovery>,
    pub refused: Vec<Refused>,
    pub gateways: Option<Gateways>,
    /// The `forwarding` reply: drops by cause, and ICMP errors not sent.
    pub forwarding: Option<(BTreeMap<String, u64>, u64)>,
    pub process: Option<Process>,
}

/// The `gateways` reply's figures.
#[derive(Debug, Default)]
pub struct Gateways {
    /// (router-id, pinned flows) per known gateway.
    pub flows: Vec<(String, usize)>,
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub dropped: u64,
}

/// This process, from `/proc/self`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
}

/// The route states of `meshctl routes --all`, each always shown (0 included) so that a state
/// appearing does not start a new series mid-graph.
const ROUTE_STATES: [&str; 6] = [
    "local",
    "selected",
    "worse",
    "unfeasible",
    "unreachable",
    "refused",
];

/// The exposition text, family by family.
struct Text {
    out: String,
}

impl Text {
    /// Opens a family: its HELP and TYPE lines. Every sample of it must follow at once.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert_eq!(kind == "counter", name.ends_with("_total"));
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label(&mut self.out, text);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family of one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Label values may hold anything; the format escapes `\`, `"` and newlines.
fn escape_label(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The share of the Hellos due in `history` (`1` heard, `0` missed, `-` not yet due) that were
/// missed; `None` before the first is due.
fn hello_loss(history: &str) -> Option<f64> {
    let due = history.chars().filter(|c| *c != '-').count();
    let missed = history.chars().filter(|c| *c == '0').count();
    (due > 0).then(|| missed as f64 / due as f64)
}

/// The `forwarding` reply from the router's counters (`forward.rs`).
pub fn forwarding(stats: crate::forward::ForwardStats) -> Data {
    // Inserted one by one: `collect` into a map links a sort, 4 KB on the router.
    let mut dropped = BTreeMap::new();
    for (cause, count) in [
        ("malformed", stats.malformed),
        ("not_forwardable", stats.not_forwardable),
        ("no_route", stats.no_route),
        ("hop_limit_exceeded", stats.hop_limit_exceeded),
        ("too_big", stats.too_big),
        ("fragmentation_needed", stats.fragmentation_needed),
    ] {
        dropped.insert(cause.to_string(), u64::from(count));
    }
    Data::Forwarding {
        dropped,
        icmp_rate_limited: u64::from(stats.icmp_rate_limited),
    }
}

/// Renders a scrape.
pub fn render(snapshot: &Snapshot) -> String {
    let mut text = Text {
        out: String::with_capacity(4096),
    };
    if let Some(status) = &snapshot.status {
        text.family(
            "meshd_info",
            "gauge",
            "This node: version, router-id and mesh address; the value is 1.",
        );
        text.sample(
            "meshd_info",
            &[
                ("version", &status.version),
                ("router_id", &status.router_id),
                ("mesh_address", &status.mesh_address),
            ],
            1,
        );
        text.single(
            "meshd_uptime_seconds",
            "gauge",
            "Seconds since meshd started.",
            status.uptime_s,
        );
        text.single(
            "meshd_seqno",
            "gauge",
            "This node's Babel sequence number.",
            status.seqno,
        );
        text.single(
            "meshd_peers",
            "gauge",
            "WireGuard peers: configured, added at runtime and discovered.",
            status.peers,
        );
        text.single(
            "meshd_neighbours",
            "gauge",
            "Babel neighbours with a finite link cost.",
            status.neighbours,
        );
    }
    neighbours(&mut text, &snapshot.neighbours);
    routes(&mut text, &snapshot.routes);

    let up = snapshot.peers.iter().filter(|p| p.up).count();
    text.family(
        "meshd_sessions",
        "gauge",
        "WireGuard sessions by state: up when an authenticated packet arrived recently.",
    );
    text.sample("meshd_sessions", &[("state", "up")], up);
    text.sample(
        "meshd_sessions",
        &[("state", "down")],
        snapshot.peers.len() - up,
    );

    if let Some(gateways) = &snapshot.gateways {
        text.family(
            "meshd_gateway_flows",
            "gauge",
            "Connections pinned to each known internet gateway, by its router-id.",
        );
        for (router_id, flows) in &gateways.flows {
            text.sample("meshd_gateway_flows", &[("router_id", router_id)], flows);
        }
        text.family(
            "meshd_gateway_tunnel_packets_total",
            "counter",
            "Packets tunnelled to gateways (sent) and tunnelled to this node as one (received).",
        );
        text.sample(
            "meshd_gateway_tunnel_packets_total",
            &[("direction", "sent")],
            gateways.encapsulated,
        );
        text.sample(
            "meshd_gateway_tunnel_packets_total",
            &[("direction", "received")],
            gateways.decapsulated,
        );
        text.single(
            "meshd_gateway_tunnel_dropped_packets_total",
            "counter",
            "Tunnelled packets dropped: malformed, or an inner source the mesh does not route.",
            gateways.dropped,
        );
    }
    if let Some((dropped, icmp_rate_limited)) = &snapshot.forwarding {
        text.family(
            "meshd_forward_dropped_packets_total",
            "counter",
            "Packets the router did not forward, by cause (an ICMP error goes back for \
             no_route, hop_limit_exceeded and too_big, within the rate limit).",
        );
        for (cause, count) in dropped {
            text.sample(
                "meshd_forward_dropped_packets_total",
                &[("cause", cause)],
                count,
            );
        }
        text.single(
            "meshd_icmp_errors_rate_limited_total",
            "counter",
            "ICMP errors that were due but not sent: over the rate limit.",
            icmp_rate_limited,
        );
    }
    if let Some(discovery) = &snapshot.discovery {
        discovery_metrics(&mut text, discovery);
    }
    membership(&mut text, &snapshot.refused);
    if let Some(process) = &snapshot.process {
        text.single(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            process.cpu_seconds,
        );
        text.single(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            process.resident_bytes,
        );
        text.single(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            process.virtual_bytes,
        );
        text.single(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            process.open_fds,
        );
    }
    text.out
}

fn neighbours(text: &mut Text, neighbours: &[Neighbour]) {
    let link_names: Vec<String> = neighbours.iter().map(|n| n.link.to_string()).collect();
    let labels = |i: usize| -> [(&'static str, &str); 3] {
        let n = &neighbours[i];
        [
            ("link", link_names[i].as_str()),
            ("address", n.address.as_str()),
            ("peer", n.peer.as_deref().unwrap_or("")),
        ]
    };
    type Value = fn(&Neighbour) -> Option<f64>;
    let families: [(&str, &str, &str, Value); 11] = [
        (
            "meshd_neighbour_cost",
            "gauge",
            "Link cost used for routing (65535: unusable).",
            |n| Some(f64::from(n.cost)),
        ),
        (
            "meshd_neighbour_rxcost",
            "gauge",
            "Cost of hearing the neighbour, from its Hellos.",
            |n| Some(f64::from(n.rxcost)),
        ),
        (
            "meshd_neighbour_txcost",
            "gauge",
            "The neighbour's cost of hearing this node, from its IHUs.",
            |n| Some(f64::from(n.txcost)),
        ),
        (
            "meshd_neighbour_rtt_seconds",
            "gauge",
            "Smoothed round-trip time from Babel timestamps.",
            |n| n.rtt_ms.map(|ms| ms / 1000.0),
        ),
        (
            "meshd_neighbour_hello_loss_ratio",
            "gauge",
            "Share of the last 16 Hellos due that were missed.",
            |n| hello_loss(&n.hello_history),
        ),
        (
            "meshd_neighbour_receive_bytes_total",
            "counter",
            "Bytes received from the neighbour's WireGuard peer.",
            |n| Some(n.rx_bytes as f64),
        ),
        (
            "meshd_neighbour_transmit_bytes_total",
            "counter",
            "Bytes sent to the neighbour's WireGuard peer.",
            |n| Some(n.tx_bytes as f64),
        ),
        (
            "meshd_neighbour_handshake_age_seconds",
            "gauge",
            "Seconds since the last WireGuard handshake with the neighbour.",
            |n| n.last_handshake_s.map(|s| s as f64),
        ),
        (
            "meshd_neighbour_refused_routes",
            "gauge",
            "Routes of the neighbour the import policy refuses now.",
            |n| Some(f64::from(n.refused_routes)),
        ),
        (
            "meshd_neighbour_routes",
            "gauge",
            "Routes of the neighbour the route table holds.",
            |n| Some(f64::from(n.routes)),
        ),
        (
            "meshd_neighbour_routes_over_limit_total",
            "counter",
            "Updates for new routes from the neighbour refused by a route limit.",
            |n| Some(f64::from(n.routes_over_limit)),
        ),
    ];
    for (name, kind, help, value) in families {
        text.family(name, kind, help);
        for (i, n) in neighbours.iter().enumerate() {
            if let Some(v) = value(n) {
                text.sample(name, &labels(i), v);
            }
        }
    }
}

fn routes(text: &mut Text, routes: &[Route]) {
    text.family(
        "meshd_routes",
        "gauge",
        "Routes in the route table by state, as `meshctl routes --all` shows them.",
    );
    for state in ROUTE_STATES {
        let count = routes.iter().filter(|r| r.reason == state).count();
        text.sample("meshd_routes", &[("state", state)], count);
    }
    text.single(
        "meshd_routes_installed",
        "gauge",
        "Selected routes installed in the kernel.",
        routes.iter().filter(|r| r.installed).count(),
    );
}

fn discovery_metrics(text: &mut Text, discovery: &Discovery) {
    text.single(
        "meshd_discovery_peers",
        "gauge",
        "Peers found by discovery.",
        discovery.peers,
    );
    text.single(
        "meshd_discovery_max_peers",
        "gauge",
        "The most discovered peers allowed at once.",
        discovery.max_peers,
    );
    text.single(
        "meshd_discovery_beacons_received_total",
        "counter",
        "Beacons received and accepted.",
        discovery.beacons_received,
    );
    text.family(
        "meshd_discovery_dropped_total",
        "counter",
        "Datagrams dropped on the beacon port, by cause.",
    );
    for (cause, count) in &discovery.dropped {
        text.sample("meshd_discovery_dropped_total", &[("cause", cause)], count);
    }
    text.family(
        "meshd_discovery_beacons_sent_total",
        "counter",
        "Beacons sent, by interface.",
    );
    for i in &discovery.interfaces {
        text.sample(
            "meshd_discovery_beacons_sent_total",
            &[("interface", &i.name)],
            i.beacons_sent,
        );
    }
    text.family(
        "meshd_discovery_beacon_sent_bytes_total",
        "counter",
        "Bytes of beacons sent, IPv6 and UDP headers included, by interface.",
    );
    for i in &discovery.interfaces {
        text.sample(
            "meshd_discovery_beacon_sent_bytes_total",
            &[("interface", &i.name)],
            i.bytes_sent,
        );
    }
}

/// The refused table holds a bounded number of keys (the oldest leave it), so its sums are
/// gauges, not counters: they can go down.
fn membership(text: &mut Text, refused: &[Refused]) {
    // A handful of reasons: deduplicated by hand, in first-seen order, without linking a sort.
    let mut reasons: Vec<&str> = Vec::new();
    for r in refused {
        if !reasons.contains(&r.reason.as_str()) {
            reasons.push(&r.reason);
        }
    }
    text.family(
        "meshd_membership_refused_keys",
        "gauge",
        "Keys in the refused table (meshctl refused), by reason.",
    );
    for reason in &reasons {
        let keys = refused.iter().filter(|r| r.reason == *reason).count();
        text.sample("meshd_membership_refused_keys", &[("reason", reason)], keys);
    }
    text.family(
        "meshd_membership_refusals",
        "gauge",
        "Refusals of the keys in the refused table, by reason.",
    );
    for reason in &reasons {
        let count: u64 = refused
            .iter()
            .filter(|r| r.reason == *reason)
            .map(|r| r.count)
            .sum();
        text.sample("meshd_membership_refusals", &[("reason", reason)], count);
    }
}

/// Reads this process's CPU time and memory; `None` where `/proc` is missing or unreadable.
pub fn read_process() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mut process = parse_process(&stat, &status, USER_HZ)?;
    process.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    Some(process)
}

/// `/proc` counts CPU time in USER_HZ ticks, 100 a second on every architecture OpenWrt and
/// Debian run (`sysconf(_SC_CLK_TCK)` would say the same, for an `unsafe` block).
const USER_HZ: f64 = 100.0;

/// `/proc/self/stat` fields 14 and 15 (utime, stime) in clock ticks; `/proc/self/status`'s
/// `VmRSS` and `VmSize` in kB. The command name in stat may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_process(stat: &str, status: &str, ticks_per_second: f64) -> Option<Process> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is field 14, the 12th from here.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let kilobytes = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    };
    Some(Process {
        cpu_seconds: (utime + stime) as f64 / ticks_per_second,
        resident_bytes: kilobytes("VmRSS:").unwrap_or(0),
        virtual_bytes: kilobytes("VmSize:").unwrap_or(0),
        open_fds: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbour(link: u32, cost: u16, history: &str) -> Neighbour {
        Neighbour {
            peer: Some("k+/=\"\\".into()),
            link,
            endpoint: None,
            address: format!("fe80::{link}"),
            rxcost: 96,
            txcost: 96,
            rtt_ms: Some(12.5),
            cost,
            hello_history: history.into(),
            last_handshake_s: Some(3),
            rx_bytes: 1000,
            tx_bytes: 2000,
            refused_routes: 0,
            routes: 0,
            routes_over_limit: 0,
        }
    }

    fn route(reason: &str, installed: bool) -> Route {
        Route {
            prefix: "fd00::1/128".into(),
            next_hop: None,
            peer: None,
            link: None,
            metric: 96,
            advertised_metric: 0,
            seqno: 1,
            router_id: "00:00:00:00:00:00:00:01".into(),
            selected: true,
            feasible: true,
            installed,
            reason: reason.into(),
            refusal: None,
        }
    }

    /// The rules of the text format a scraper enforces: names, one HELP and TYPE per family
    /// before its samples, samples of a family together, `_total` exactly on counters, numbers.
    fn check_format(text: &str) -> Vec<(String, String)> {
        let valid_name = |n: &str| {
            !n.is_empty()
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        };
        let mut families: Vec<(String, String)> = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(valid_name(&name), "{line}");
                assert!(
                    families.iter().all(|(n, _)| *n != name),
                    "family twice: {name}"
                );
                current = Some(name);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(Some(name), current.as_deref(), "TYPE without HELP: {line}");
                assert!(["counter", "gauge"].contains(&kind), "{line}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
                families.push((name.to_string(), kind.to_string()));
            } else {
                let name_end = line.find(['{', ' ']).expect(line);
                let name = &line[..name_end];
                assert_eq!(
                    Some(name),
                    current.as_deref(),
                    "sample outside its family: {line}"
                );
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        families
    }

    #[test]
    fn a_scrape_follows_the_text_format_and_shows_each_neighbour() {
        let snapshot = Snapshot {
            status: Some(Status {
                version: "0.1.0".into(),
                router_id: "00:00:00:00:00:00:00:01".into(),
                public_key: "k".into(),
                mesh_address: "fd00::1".into(),
                uptime_s: 5,
                peers: 2,
                neighbours: 2,
                routes: 3,
                seqno: 7,
            }),
            neighbours: vec![
                neighbour(1, 96, "1101----------------"),
                neighbour(2, 65535, "----"),
            ],
            routes: vec![
                route("local", false),
                route("selected", true),
                route("worse", false),
            ],
            process: Some(Process {
                cpu_seconds: 0.25,
                resident_bytes: 4096,
                virtual_bytes: 8192,
                open_fds: 9,
            }),
            gateways: Some(Gateways::default()),
            forwarding: match forwarding(crate::forward::ForwardStats {
                no_route: 3,
                ..Default::default()
            }) {
                Data::Forwarding {
                    dropped,
                    icmp_rate_limited,
                } => Some((dropped, icmp_rate_limited)),
                _ => None,
            },
            ..Snapshot::default()
        };
        let text = render(&snapshot);
        let families = check_format(&text);
        assert!(families.iter().any(|(n, _)| n == "meshd_neighbour_cost"));
        assert!(text.contains(
            "meshd_neighbour_cost{link=\"1\",address=\"fe80::1\",peer=\"k+/=\\\"\\\\\"} 96\n"
        ));
        assert!(text.contains("meshd_neighbour_cost{link=\"2\",address=\"fe80::2\""));
        assert!(
            text.contains("meshd_neighbour_rtt_seconds{link=\"1\"") && text.contains("} 0.0125\n")
        );
        // One of the four Hellos due was missed; the neighbour with none due shows no loss.
        assert!(text.contains("meshd_neighbour_hello_loss_ratio{link=\"1\",address=\"fe80::1\",peer=\"k+/=\\\"\\\\\"} 0.25\n"));
        assert!(!text.contains("meshd_neighbour_hello_loss_ratio{link=\"2\""));
        assert!(text.contains("meshd_routes{state=\"selected\"} 1\n"));
        assert!(text.contains("meshd_routes{state=\"refused\"} 0\n"));
        assert!(text.contains("meshd_routes_installed 1\n"));
        assert!(text.contains("process_cpu_seconds_total 0.25\n"));
        assert!(text.contains("meshd_forward_dropped_packets_total{cause=\"no_route\"} 3\n"));
        assert!(text.contains("meshd_forward_dropped_packets_total{cause=\"too_big\"} 0\n"));
    }

    #[test]
    fn an_empty_node_still_renders_valid_text() {
        check_format(&render(&Snapshot::default()));
    }

    #[test]
    fn process_figures_are_read_past_a_name_with_spaces() {
        let stat = "4242 (mesh d) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 3 0 9";
        let status = "Name:\tmeshd\nVmSize:\t   10240 kB\nVmRSS:\t    2048 kB\n";
        let p = parse_process(stat, status, 100.0).expect("parsed");
        assert_eq!(p.cpu_seconds, 2.0);
        assert_eq!(p.resident_bytes, 2048 * 1024);
        assert_eq!(p.virtual_bytes, 10240 * 1024);
        assert_eq!(parse_process("garbage", status, 100.0), None);
        // The real file parses too.
        assert!(read_process().is_some_and(|p| p.resident_bytes > 0));
    }
}
