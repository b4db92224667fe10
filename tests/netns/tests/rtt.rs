//! Babel's RTT penalty (RFC 9616 timestamps) against real meshd nodes: on a square whose two
//! ways round are equally many hops, the route goes the way without delayed links.
//!
//! The kernel may have no netem, so the delay comes from `meshn-delay`, a UDP relay that holds
//! every datagram for a fixed time, placed between a node and its WireGuard peer: the node's
//! configuration names the relay as the peer's endpoint, and the peer, configured without an
//! endpoint, roams to the relay's forwarding socket when authenticated packets come from it.

use std::net::IpAddr;
use std::time::Duration;

use meshd_netns_tests::delay::{endpoint_line, replace_once, start_relay, RELAY_PORT};
use meshd_netns_tests::interop::{json_list, meshctl_json, meshctl_list, rtt_ms, selected_peer};
use meshd_netns_tests::{Mesh, LISTEN_PORT};

const CONVERGE: Duration = Duration::from_secs(60);
/// One-way delay of each relay.
const DELAY_MS: u64 = 30;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

#[test]
fn rtt_steers_around_a_slow_link() {
    let Some(mut mesh) = Mesh::new(4) else { return };
    mesh.link_ring(); // A–B, B–C, C–D, D–A
    let relay_bin = env!("CARGO_BIN_EXE_meshn-delay");

    // A relay in `near`'s namespace, on its underlay address toward B, forwarding to B's meshd.
    let mut configs: Vec<String> = (0..4).map(|i| mesh.config_text(i)).collect();
    for near in [A, C] {
        let here = start_relay(&mut mesh, relay_bin, near, B, LISTEN_PORT, DELAY_MS).listen;
        let there = mesh.underlay_address(B, near);
        configs[near] = replace_once(
            &configs[near],
            &endpoint_line(there, LISTEN_PORT),
            &endpoint_line(here, RELAY_PORT),
        );
        // B learns the way back from authenticated packets, which come from the relay.
        configs[B] = replace_once(&configs[B], &endpoint_line(here, LISTEN_PORT), "");
    }
    for (i, config) in configs.iter().enumerate() {
        mesh.start_with_config(i, config);
    }
    let addrs = mesh.mesh_addresses();
    let keys: Vec<String> = (0..4).map(|i| mesh.public_key(i).to_owned()).collect();
    let to_c = format!("{}/128", addrs[C]);

    // B is reachable only through the relay, so a ping to B shows the relay works.
    assert!(
        mesh.ping(A, IpAddr::from(addrs[B]), 60, CONVERGE),
        "A cannot reach B through the delay relay"
    );
    assert!(
        mesh.ping(A, IpAddr::from(addrs[C]), 60, CONVERGE),
        "A cannot reach C"
    );

    // (1) A measures B slow and D fast; (2) A's route to C then goes through D.
    let mut last = (None, None, None);
    let settled = mesh.wait_until(CONVERGE, || {
        let neighbours = meshctl_list(&mesh, A, "neighbours");
        let routes = meshctl_list(&mesh, A, "routes");
        last = (
            rtt_ms(&neighbours, &keys[B]),
            rtt_ms(&neighbours, &keys[D]),
            selected_peer(&routes, &to_c),
        );
        last.0.is_some_and(|r| r >= 50.0)
            && last.1.is_some_and(|r| r < 10.0)
            && last.2.as_deref() == Some(keys[D].as_str())
    });
    assert!(
        settled,
        "A: rtt to B {:?} (want >= 50 ms), to D {:?} (want < 10 ms), route to C via {:?} \
         (want D {}); neighbours {:#?}; routes {:#?}",
        last.0,
        last.1,
        last.2,
        keys[D],
        meshctl_list(&mesh, A, "neighbours"),
        meshctl_list(&mesh, A, "routes"),
    );

    // The first RTT sample can be inflated (the Hello that carried it waited for the WireGuard
    // handshake through the relay); the first few samples weigh half (babel/src/neighbour.rs,
    // `add_rtt_sample`), so the smoothed RTT must settle near what the relays add, 2 x 30 ms,
    // within a few samples, the route staying through D all the while.
    let mut history = Vec::new();
    let settled_near_relay_delay = mesh.wait_until(CONVERGE, || {
        let neighbours = meshctl_list(&mesh, A, "neighbours");
        let routes = meshctl_list(&mesh, A, "routes");
        last = (
            rtt_ms(&neighbours, &keys[B]),
            rtt_ms(&neighbours, &keys[D]),
            selected_peer(&routes, &to_c),
        );
        assert_eq!(
            last.2.as_deref(),
            Some(keys[D].as_str()),
            "A's route to C left D while B's RTT settled (rtt to B {:?}, to D {:?})",
            last.0,
            last.1
        );
        if let Some(now) = last.0 {
            if history.last() != Some(&now) {
                history.push(now);
            }
        }
        last.0.is_some_and(|r| (55.0..90.0).contains(&r))
    });
    assert!(
        settled_near_relay_delay,
        "A's smoothed RTT to B never came within 55-90 ms (the relays add 2 x {DELAY_MS} ms): {history:?}"
    );
    assert!(
        last.0.is_some_and(|r| r >= 50.0) && last.1.is_some_and(|r| r < 10.0),
        "A's RTT to B {:?}, to D {:?}",
        last.0,
        last.1
    );

    // Bytes node `via` received from A's session, read from its own `meshctl peers`.
    let received_from_a = |via: usize| -> u64 {
        let peers = meshctl_json(&mesh, via, &["peers"]);
        json_list(&peers, "peers")
            .iter()
            .find(|p| p["public_key"].as_str() == Some(keys[A].as_str()))
            .and_then(|p| p["rx_bytes"].as_u64())
            .unwrap_or_else(|| panic!("node {via} lists no session with A: {peers}"))
    };

    // The path works and is two hops: the reply's hop limit was decremented once (at D or at
    // B: both ways round are two hops, so this alone cannot tell them apart).
    let target = addrs[C].to_string();
    let mut reply = String::new();
    let answered = mesh.wait_until(Duration::from_secs(20), || {
        let out = mesh.run_in(
            A,
            &["ping", "-6", "-n", "-c1", "-W2", &target],
            Duration::from_secs(5),
        );
        let ok = out.success();
        reply = out.stdout;
        ok
    });
    assert!(answered, "A cannot ping C: {reply}");
    assert!(
        reply.contains("ttl=63") || reply.contains("hlim=63"),
        "the reply from C did not come two hops: {reply}"
    );
    // The way through D is fast: no relay on it.
    let rtt_line = reply.lines().find(|l| l.contains("time=")).unwrap_or("");
    let ms: f64 = rtt_line
        .split("time=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(f64::MAX);
    assert!(ms < 50.0, "ping A→C took {ms} ms, as if through B: {reply}");
    // The data really crosses D, not B: 20 pings of 1000 bytes reach D's session with A, while B
    // hears from A only Babel's few hundred bytes a second.
    let (d_before, b_before) = (received_from_a(D), received_from_a(B));
    let out = mesh.run_in(
        A,
        &[
            "ping", "-6", "-n", "-q", "-c20", "-i0.2", "-s1000", "-W2", &target,
        ],
        Duration::from_secs(15),
    );
    assert!(out.success(), "A's 1000-byte pings to C: {out}");
    let through_d = received_from_a(D)
        .checked_sub(d_before)
        .expect("D's counter went back");
    let through_b = received_from_a(B)
        .checked_sub(b_before)
        .expect("B's counter went back");
    assert!(
        through_d >= 20 * 1000 && through_b < 20 * 1000 / 2,
        "A's pings to C did not go through D: D received {through_d} B from A, B {through_b} B"
    );
    eprintln!(
        "rtt: A→B {history:?} ms, A→D {:?} ms, route to C via D, ping A→C {ms} ms",
        last.1
    );
}
