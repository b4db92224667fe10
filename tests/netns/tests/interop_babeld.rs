//! Interoperation with babeld: a router running babeld 1.12 over wireguard-go, one `wg`
//! interface per neighbour with `AllowedIPs = ::/0, 0.0.0.0/0`, must be a valid neighbour of
//! meshd (`docs/architecture.md`, "Babel runs inside the tunnels"). Every assertion is made with
//! real traffic: kernel routes on both sides, pings across the tunnels, meshctl's and babeld's
//! own view of the neighbour.
//!
//! The "babeld router" is a harness node that does not run meshd: `wireguard-go -f <if>` (started
//! with the harness's `spawn_in`, so the mesh's drop kills it by PID), configured with `wg set`
//! to use the node's harness key and listen at the port the other nodes' meshd configurations
//! point at, a link-local address on the interface, the addresses to announce on `lo`
//! (fd00:b::1/128 and 203.0.113.1/32), and babeld on the interface as `type tunnel`.
//!
//! The helpers that build it are in the harness, `meshd_netns_tests::interop` (interface names
//! unique per test process, because wireguard-go's control socket is not per namespace).
//!
//! # babeld 1.12.1 as seen from here, against RFC 8966 / RFC 9229 / RFC 9616
//!
//! Seen in a capture (`tshark` on the router's wg interface, where Babel is in the clear) and in
//! babeld's `dump`:
//!
//! * babeld: its scheduled Hellos are not bounded by their Interval field. On a tunnel with the
//!   default 4 s it announces `Interval 400` and sends the next Hello after 0.75 to 1.25 times
//!   that (babeld's `roughly()`), plus its flush delay: gaps of 5.15 s were captured. RFC 8966
//!   §4.6.5 makes the Interval an upper bound on the time to the next scheduled Hello. meshd's
//!   Hello deadline is 1.25 intervals (`neighbour.rs`), so against babeld it regularly finds a
//!   Hello overdue, probes with AckReqs (babeld answers, ~220 ms later) and then takes the late
//!   Hello back out of the loss history: harmless, but probes that a compliant sender would not
//!   cause.
//! * babeld: right after start it sends four Hellos within 100 ms (seqnos n to n+3), the last an
//!   unscheduled one (Interval 0) on the same multicast seqno counter. Allowed (§3.4.1); see the
//!   meshd fix below.
//! * babeld: its first IHU to a new neighbour carries rxcost 0xFFFF (with 2-out-of-3 link sensing
//!   one Hello is not enough), and the next comes only with the Hello 3 intervals later (IHU
//!   interval 12 s), so the link can stay unusable for meshd for up to 15 s after start (0.4-15 s measured). Allowed by the RFC
//!   (IHUs every 3 Hellos is its recommendation), but it is why these tests allow 60 s.
//! * babeld: starts with a wildcard retraction (AE 0, metric infinite), which meshd handles.
//! * babeld: it sends from the link-local address the kernel generated on the wireguard-go
//!   interface, not from the one configured here; meshd accepts Babel from any link-local
//!   address inside a session (it does not insist on the key-derived one), as it must.
//! * babeld: the RTT it measures to meshd over a veth was 12-13 ms in the tests that start babeld
//!   before meshd, and meshd measures 3-8 ms to babeld, where ping takes 0.5 ms. At least
//!   babeld's figure is mostly its first sample decaying: a Hello babeld sends before the
//!   WireGuard handshake waits in wireguard-go, the sample it yields counts the wait (1.2-1.5 s),
//!   and babeld smooths each sample in with weight 42/256, one sample per IHU from meshd (3 s).
//!   In `rtt_square_with_babeld`, which starts babeld after the handshakes, babeld measured
//!   1.3-8 ms to meshd over a veth. Not an RFC 9616 deviation; not asserted here.
//!
//! # meshd against babeld: found and fixed
//!
//! * meshd used to ignore multicast Hellos with Interval 0, but an unscheduled multicast Hello
//!   uses the same seqno counter as the scheduled ones, so babeld's next scheduled Hello looked
//!   one ahead and meshd recorded a lost Hello that was received (rxcost 102 on a lossless link
//!   for 64 s). RFC 8966 Appendix A.1 updates the history from the seqno of every Hello; only the
//!   Hello timer depends on a non-zero Interval. meshd now counts them
//!   (`Neighbour::receive_unscheduled_hello`); the tests below still assert a finite cost rather
//!   than exactly 96, as babeld's own late Hellos (above) can cost a probe.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use meshd_netns_tests::delay::{endpoint_line, replace_once, start_relay, RELAY_PORT};
use meshd_netns_tests::interop::{
    assert_ping, babel_messages, babeld_dump, babeld_pid, capture_payload_problems,
    dissector_complaints, dump_field, has_route, json_list, kernel_routes_text, meshctl_json,
    meshctl_list, must_in, neighbours, ping_from, rtt_ms, start_babeld, start_wireguard_go,
    tools_present, try_meshctl_json, tshark_read, unique_ifname, wg_socket, BabelMessage, Babeld,
    SocketCleanup, Tunnel, BABEL_PROTO,
};
use meshd_netns_tests::{require_tool, route_device, run, Mesh, LISTEN_PORT};
use serde_json::Value;

/// How long the two daemons get to exchange routes.
const CONVERGE: Duration = Duration::from_secs(60);
/// How long meshd may keep a route of a babeld that stopped: babeld's Hello interval on a tunnel
/// is 4 s and RFC 8966 drops a neighbour after a few missed Hellos (its IHU interval, 3 Hellos);
/// meshd promises to notice within 1.5 intervals plus three AckReqs 400 ms apart.
const WITHDRAW: Duration = Duration::from_secs(30);
/// The prefix babeld announces over IPv6 and IPv4.
const BABELD_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xb, 0, 0, 0, 0, 0, 1);
const BABELD_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

// ---------------------------------------------------------------------------------------------
// The babeld router (helpers in meshd_netns_tests::interop)
// ---------------------------------------------------------------------------------------------

/// The addresses babeld announces, on `lo` of node `node`.
fn add_announced_addresses(mesh: &Mesh, node: usize) {
    let v6 = format!("{BABELD_V6}/128");
    let v4 = format!("{BABELD_V4}/32");
    must_in(
        mesh,
        node,
        &["ip", "addr", "add", &v6, "dev", "lo", "nodad"],
    );
    must_in(mesh, node, &["ip", "addr", "add", &v4, "dev", "lo"]);
}

/// Test 1's setup: meshd on node 0, the babeld router on node 1 with one tunnel to it. Returns
/// after both sides have installed each other's routes.
struct Pair {
    mesh: Mesh,
    babeld: Babeld,
    meshd_address: Ipv6Addr,
    _cleanup: SocketCleanup,
}

fn pair() -> Option<Pair> {
    let mut mesh = Mesh::new(2)?;
    if !tools_present() {
        return None;
    }
    mesh.link(0, 1);
    let tunnel = Tunnel {
        ifname: unique_ifname(&mesh, 'a'),
        listen_port: LISTEN_PORT,
        peer: 0,
        fixed_endpoint: true,
        link_local: "fe80::b:1",
    };
    let cleanup = SocketCleanup(vec![wg_socket(&tunnel.ifname)]);
    let key = mesh.write_foreign_key_file(1, "wg.key");
    start_wireguard_go(&mut mesh, 1, &tunnel, &key);
    add_announced_addresses(&mesh, 1);
    let started = Instant::now();
    let babeld = start_babeld(&mut mesh, 1, std::slice::from_ref(&tunnel));
    mesh.start(0);
    let meshd_address = mesh.mesh_address(0);

    let wanted = [IpAddr::from(BABELD_V6), IpAddr::from(BABELD_V4)];
    assert!(
        mesh.wait_until(CONVERGE, || wanted
            .iter()
            .all(|a| has_route(&mesh, 0, "109", *a))),
        "meshd installed no route to babeld's {wanted:?}; its routes:\n{}",
        kernel_routes_text(&mesh, 0, "109")
    );
    eprintln!(
        "interop_babeld: meshd installed babeld's routes {:?} after start",
        started.elapsed()
    );
    let wanted = [
        IpAddr::from(meshd_address),
        IpAddr::from(mesh.ipv4_address(0)),
    ];
    assert!(
        mesh.wait_until(CONVERGE, || wanted.iter().all(|a| has_route(
            &mesh,
            1,
            BABEL_PROTO,
            *a
        ))),
        "babeld installed no route to meshd's {wanted:?}; its routes:\n{}",
        kernel_routes_text(&mesh, 1, BABEL_PROTO)
    );
    eprintln!(
        "interop_babeld: babeld installed meshd's routes {:?} after start",
        started.elapsed()
    );
    Some(Pair {
        mesh,
        babeld,
        meshd_address,
        _cleanup: cleanup,
    })
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn babeld_over_wireguard_go_is_a_neighbour() {
    let Some(pair) = pair() else { return };
    let Pair {
        mesh,
        babeld,
        meshd_address,
        ..
    } = &pair;
    let (mesh, meshd_address) = (mesh, *meshd_address);

    // babeld installs meshd's IPv4 address as v4-via-v6 (RFC 9229): an IPv6 link-local gateway.
    let v4 = mesh.run_in(
        1,
        &["ip", "-4", "route", "show", "proto", BABEL_PROTO],
        Duration::from_secs(5),
    );
    let line = v4
        .stdout
        .lines()
        .find(|l| l.starts_with(&mesh.ipv4_address(0).to_string()))
        .unwrap_or_else(|| panic!("no IPv4 babel route to meshd: {v4}"));
    assert!(
        line.contains("via inet6 fe80:"),
        "babeld's route to meshd's IPv4 address is not via an IPv6 link-local: {line}"
    );

    // Traffic both ways, both families.
    let meshd_v4 = IpAddr::from(mesh.ipv4_address(0));
    assert_ping(mesh, 0, meshd_address.into(), BABELD_V6.into());
    assert_ping(mesh, 0, meshd_v4, BABELD_V4.into());
    assert_ping(mesh, 1, BABELD_V6.into(), meshd_address.into());
    assert_ping(mesh, 1, BABELD_V4.into(), meshd_v4);

    // meshd sees one usable neighbour, with an RTT from babeld's timestamps (RFC 9616). Its cost
    // is not 96 as it should be on a veth: see the meshd bug in the module comment.
    let mut last = Value::Null;
    let ok = mesh.wait_until(Duration::from_secs(20), || {
        last = meshctl_json(mesh, 0, &["neighbours"]);
        let list = neighbours(&last);
        list.len() == 1
            && list[0]["cost"].as_u64().is_some_and(|c| c < 65535)
            && list[0]["rtt_ms"].as_f64().is_some()
            && list[0]["peer"].as_str() == Some(mesh.public_key(1))
    });
    assert!(
        ok,
        "meshd has no single usable neighbour with an RTT: {last}"
    );
    let n = &neighbours(&last)[0];
    eprintln!(
        "interop_babeld: meshd's neighbour babeld: cost {} rxcost {} txcost {} rtt_ms {} hello_history {}",
        n["cost"], n["rxcost"], n["txcost"], n["rtt_ms"], n["hello_history"]
    );

    // babeld sees meshd as a neighbour too, with an RTT from meshd's timestamps.
    let mut dump = Vec::new();
    let ok = mesh.wait_until(Duration::from_secs(20), || {
        dump = babeld_dump(babeld);
        dump.iter().any(|l| {
            l.starts_with("add neighbour")
                && dump_field(l, "rtt").is_some_and(|r| r.parse::<f64>().is_ok())
                && dump_field(l, "cost").is_some_and(|c| c != "65535")
        })
    });
    assert!(ok, "babeld has no usable neighbour with an RTT: {dump:#?}");
    for line in dump.iter().filter(|l| l.starts_with("add neighbour")) {
        eprintln!("interop_babeld: babeld: {line}");
    }
}

/// Sends babeld `signal` by its PID (from its pidfile: it is the process this test started) and
/// waits for it to exit; returns when meshd's kernel routes to babeld's addresses are gone, or
/// fails after [`WITHDRAW`].
fn stop_babeld_and_expect_withdrawal(signal: &str) {
    let Some(mut pair) = pair() else { return };
    let pid = babeld_pid(&pair.babeld);
    // The link was usable: meshd's data path through babeld works before the stop.
    assert_ping(&pair.mesh, 0, pair.meshd_address.into(), BABELD_V6.into());
    let stopped = Instant::now();
    let out = run(&["kill", signal, &pid], None, Duration::from_secs(10));
    assert!(out.success(), "kill {signal} {pid} failed: {out}");
    let (status, _) = pair
        .mesh
        .wait_helper(pair.babeld.helper, Duration::from_secs(10));
    assert!(status.is_some(), "babeld did not exit on {signal}");
    let mesh = &pair.mesh;
    let gone = [IpAddr::from(BABELD_V6), IpAddr::from(BABELD_V4)];
    let withdrawn = mesh.wait_until(WITHDRAW, || {
        gone.iter().all(|a| !has_route(mesh, 0, "109", *a))
    });
    let elapsed = stopped.elapsed();
    assert!(
        withdrawn,
        "meshd still routes to babeld's {gone:?} {elapsed:?} after babeld got {signal}; its routes:\n{}",
        kernel_routes_text(mesh, 0, "109")
    );
    eprintln!("interop_babeld: meshd withdrew babeld's routes {elapsed:?} after kill {signal}");
    // The tunnel itself is still up (wireguard-go runs on): what went is Babel alone, and meshd
    // must not route into it any more.
    assert!(
        !ping_from(
            mesh,
            0,
            pair.meshd_address.into(),
            BABELD_V6.into(),
            Duration::from_secs(2)
        ),
        "meshd still delivers to fd00:b::1 after withdrawing its route"
    );
}

/// babeld on SIGTERM retracts its routes (Update with infinite metric) before it exits: meshd
/// removed them 72-81 ms after the signal in every run.
#[test]
fn meshd_withdraws_when_babeld_stops() {
    stop_babeld_and_expect_withdrawal("-TERM");
}

/// babeld SIGKILLed: wireguard-go keeps the session alive (keepalives every 5 s), so only Babel's
/// silence tells. Measured: 6.1-6.3 s when babeld had answered one of meshd's AckReqs before (the
/// overdue Hello at 1.25 intervals, then three unanswered probes 400 ms apart), 12.8 s when it
/// was killed so soon after start that it had not: meshd then waits for three missed Hellos
/// (1.25 + 2 intervals), as its README says.
#[test]
fn meshd_withdraws_when_babeld_is_killed() {
    stop_babeld_and_expect_withdrawal("-KILL");
}

/// meshd(0) — babeld(1) — meshd(2): traffic between the two meshd nodes crosses babeld's
/// kernel forwarding, and each meshd learns the other's routes through babeld.
///
/// wireguard-go cannot have two interfaces on one UDP port, so the tunnel toward node 2 listens
/// on 51821 and node 2's configuration points there.
#[test]
fn transit_through_babeld() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    if !tools_present() {
        return;
    }
    mesh.link(0, 1);
    mesh.link(1, 2);
    let tunnels = [
        Tunnel {
            ifname: unique_ifname(&mesh, 'a'),
            listen_port: LISTEN_PORT,
            peer: 0,
            fixed_endpoint: true,
            link_local: "fe80::b:1",
        },
        Tunnel {
            ifname: unique_ifname(&mesh, 'c'),
            listen_port: LISTEN_PORT + 1,
            peer: 2,
            fixed_endpoint: true,
            link_local: "fe80::b:2",
        },
    ];
    let _cleanup = SocketCleanup(tunnels.iter().map(|t| wg_socket(&t.ifname)).collect());
    let key = mesh.write_foreign_key_file(1, "wg.key");
    for tunnel in &tunnels {
        start_wireguard_go(&mut mesh, 1, tunnel, &key);
    }
    // The harness made every namespace a router already; say so here, as this is the point.
    must_in(
        &mesh,
        1,
        &[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.ip_forward=1",
        ],
    );
    add_announced_addresses(&mesh, 1);
    let started = Instant::now();
    let _babeld = start_babeld(&mut mesh, 1, &tunnels);

    mesh.start(0);
    let harness_endpoint = format!("[{}]:{LISTEN_PORT}", mesh.underlay_address(1, 2));
    let config = mesh.config_text(2);
    assert!(
        config.contains(&harness_endpoint),
        "node 2's configuration has no peer at {harness_endpoint}:\n{config}"
    );
    let config = config.replace(
        &harness_endpoint,
        &format!("[{}]:{}", mesh.underlay_address(1, 2), LISTEN_PORT + 1),
    );
    mesh.start_with_config(2, &config);
    let addrs = [mesh.mesh_address(0), mesh.mesh_address(2)];

    for (from, to) in [(0, 1), (1, 0)] {
        let (to_node, from_node) = (2 * to, 2 * from);
        let wanted = [
            IpAddr::from(addrs[to]),
            IpAddr::from(mesh.ipv4_address(to_node)),
        ];
        assert!(
            mesh.wait_until(CONVERGE, || wanted
                .iter()
                .all(|a| has_route(&mesh, from_node, "109", *a))),
            "node {from_node} has no route to node {to_node}'s {wanted:?} through babeld; its routes:\n{}\nbabeld's:\n{}",
            kernel_routes_text(&mesh, from_node, "109"),
            kernel_routes_text(&mesh, 1, BABEL_PROTO)
        );
    }
    eprintln!(
        "interop_babeld: both meshd nodes route to each other through babeld {:?} after start",
        started.elapsed()
    );

    // IPv6 and IPv4 across babeld's kernel, both directions.
    let v4 = [
        IpAddr::from(mesh.ipv4_address(0)),
        IpAddr::from(mesh.ipv4_address(2)),
    ];
    assert_ping(&mesh, 0, addrs[0].into(), addrs[1].into());
    assert_ping(&mesh, 0, v4[0], v4[1]);
    assert_ping(&mesh, 2, addrs[1].into(), addrs[0].into());
    assert_ping(&mesh, 2, v4[1], v4[0]);
    // And babeld's own addresses from both ends.
    assert_ping(&mesh, 0, addrs[0].into(), BABELD_V6.into());
    assert_ping(&mesh, 2, v4[1], BABELD_V4.into());

    // The path really crosses babeld's kernel: with a hop limit of 1 it answers "time
    // exceeded" (meshd does not count itself as a hop for its own node's packets), with 2 the
    // reply comes with one hop taken off.
    let dst = addrs[1].to_string();
    let trace = |hl: &str| {
        mesh.run_in(
            0,
            &["ping", "-6", "-n", "-c1", "-W2", "-t", hl, &dst],
            Duration::from_secs(5),
        )
    };
    let one = trace("1");
    assert!(
        one.stdout.contains("Time exceeded"),
        "a hop limit of 1 did not expire in babeld's kernel: {one}"
    );
    let two = trace("2");
    assert!(
        two.success() && two.stdout.contains("ttl=63"),
        "a hop limit of 2 did not reach node 2 one hop away: {two}"
    );
}

/// babeld(0) — meshd(1) — babeld(2): the mirror of [`transit_through_babeld`]. Each babeld router
/// has one wireguard-go tunnel, to meshd at the harness's port; meshd has both as static peers.
/// babeld on node 0 must learn node 2's addresses through meshd (meshd re-announces what it
/// learnt from one babeld to the other), and traffic between the two babeld routers crosses
/// meshd's userspace forwarding, which must take a hop off and answer "time exceeded" itself.
///
/// The announced addresses lie inside the prefixes [`start_babeld`] redistributes.
#[test]
fn transit_through_meshd() {
    const V6: [Ipv6Addr; 2] = [
        Ipv6Addr::new(0xfd00, 0xb, 0xb0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd00, 0xb, 0xb2, 0, 0, 0, 0, 1),
    ];
    const V4: [Ipv4Addr; 2] = [
        Ipv4Addr::new(203, 0, 113, 10),
        Ipv4Addr::new(203, 0, 113, 12),
    ];
    let Some(mut mesh) = Mesh::new(3) else { return };
    if !tools_present() {
        return;
    }
    mesh.link(0, 1);
    mesh.link(1, 2);
    let tunnels = [
        Tunnel {
            ifname: unique_ifname(&mesh, 'a'),
            listen_port: LISTEN_PORT,
            peer: 1,
            fixed_endpoint: true,
            link_local: "fe80::b:10",
        },
        Tunnel {
            ifname: unique_ifname(&mesh, 'c'),
            listen_port: LISTEN_PORT,
            peer: 1,
            fixed_endpoint: true,
            link_local: "fe80::b:12",
        },
    ];
    let _cleanup = SocketCleanup(tunnels.iter().map(|t| wg_socket(&t.ifname)).collect());
    let started = Instant::now();
    let mut babelds = Vec::new();
    for (k, (node, tunnel)) in [0, 2].into_iter().zip(&tunnels).enumerate() {
        let key = mesh.write_foreign_key_file(node, "wg.key");
        start_wireguard_go(&mut mesh, node, tunnel, &key);
        let v6 = format!("{}/128", V6[k]);
        let v4 = format!("{}/32", V4[k]);
        must_in(
            &mesh,
            node,
            &["ip", "addr", "add", &v6, "dev", "lo", "nodad"],
        );
        must_in(&mesh, node, &["ip", "addr", "add", &v4, "dev", "lo"]);
        babelds.push(start_babeld(&mut mesh, node, std::slice::from_ref(tunnel)));
    }
    mesh.start(1);
    let meshd_address = mesh.mesh_address(1);

    // Each babeld learns the other's addresses, and meshd's own, through meshd.
    for (from, to) in [(0, 1), (1, 0)] {
        let node = 2 * from;
        let wanted = [
            IpAddr::from(V6[to]),
            IpAddr::from(V4[to]),
            IpAddr::from(meshd_address),
        ];
        assert!(
            mesh.wait_until(CONVERGE, || wanted
                .iter()
                .all(|a| has_route(&mesh, node, BABEL_PROTO, *a))),
            "babeld on node {node} has no route to {wanted:?} through meshd; its routes:\n{}\nmeshd's:\n{}",
            kernel_routes_text(&mesh, node, BABEL_PROTO),
            kernel_routes_text(&mesh, 1, "109")
        );
    }
    eprintln!(
        "interop_babeld: both babeld routers route to each other through meshd {:?} after start",
        started.elapsed()
    );

    // IPv6 and IPv4 across meshd's forwarding, both directions.
    assert_ping(&mesh, 0, V6[0].into(), V6[1].into());
    assert_ping(&mesh, 0, V4[0].into(), V4[1].into());
    assert_ping(&mesh, 2, V6[1].into(), V6[0].into());
    assert_ping(&mesh, 2, V4[1].into(), V4[0].into());

    // The path really crosses meshd's userspace forwarding: node 0's kernel sends the packet
    // with the hop limit it is given (it is its own), so with 1 meshd must drop it and answer
    // "time exceeded" from its node; with 2 it arrives and the reply comes back with one hop
    // taken off by meshd.
    for family in ["-6", "-4"] {
        let (src, dst, meshd) = if family == "-6" {
            (
                V6[0].to_string(),
                V6[1].to_string(),
                meshd_address.to_string(),
            )
        } else {
            let meshd = mesh.ipv4_address(1).to_string();
            (V4[0].to_string(), V4[1].to_string(), meshd)
        };
        let trace = |hl: &str| {
            mesh.run_in(
                0,
                &[
                    "ping", family, "-n", "-c1", "-W2", "-t", hl, "-I", &src, &dst,
                ],
                Duration::from_secs(5),
            )
        };
        let one = trace("1");
        let expired = format!("From {meshd} ");
        assert!(
            one.stdout.lines().any(|l| l.starts_with(&expired)
                && (l.contains("Time exceeded") || l.contains("Time to live exceeded"))),
            "ping {family} with a hop limit of 1 got no time exceeded from meshd's {meshd}: {one}"
        );
        let two = trace("2");
        assert!(
            two.success() && two.stdout.contains("ttl=63"),
            "ping {family} with a hop limit of 2 did not reach node 2 one hop away: {two}"
        );
        eprintln!(
            "interop_babeld: ping {family} hop limit 1: {:?}; 2: {:?}",
            one.stdout.lines().find(|l| l.contains("xceeded")),
            two.stdout.lines().find(|l| l.contains("ttl="))
        );
    }
}

/// The square A(meshd) — B(babeld) — C(meshd) — D(babeld) — A, whose two ways round are equally
/// many hops, with the A–B underlay delayed 30 ms each way by a `meshn-delay` relay (issue 5,
/// item 4: RTT from RFC 9616 timestamps on both sides). Asserted with each side's own view and
/// with traffic:
///
/// * A (meshd) measures B slow and D fast (meshctl `rtt_ms`), selects its route to C through D,
///   and a packet to C with a hop limit of 1 expires in D's kernel, not B's;
/// * B (babeld) measures A slow and C fast (its `dump`), installs its route to D's address
///   through its tunnel to C, and a packet to D with a hop limit of 1 expires in C's meshd.
///
/// wireguard-go cannot put two interfaces on one port, so each babeld router's second tunnel
/// listens on 51821 and the meshd configuration that points there says so. B's tunnel to A has no
/// endpoint: it answers wherever A's packets come from, which is the relay.
///
/// babeld against RFC 8966 / RFC 9616 here: nothing new beyond the module comment. Its RTT
/// samples match the relay's delay once it starts after the handshake (see below), and its
/// route choice follows its RTT cost exactly as the RFC's composition of metrics says.
#[test]
fn rtt_square_with_babeld() {
    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;
    const D: usize = 3;
    /// One-way delay on the A–B underlay.
    const DELAY_MS: u64 = 30;
    /// What B and D announce, inside the prefixes `start_babeld` redistributes.
    const V6: [Ipv6Addr; 2] = [
        Ipv6Addr::new(0xfd00, 0xb, 0x1, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd00, 0xb, 0x3, 0, 0, 0, 0, 1),
    ];
    const V4: [Ipv4Addr; 2] = [
        Ipv4Addr::new(203, 0, 113, 21),
        Ipv4Addr::new(203, 0, 113, 23),
    ];
    let Some(mut mesh) = Mesh::new(4) else { return };
    if !tools_present() {
        return;
    }
    mesh.link_ring(); // A–B, B–C, C–D, D–A
    let tunnel = |mesh: &Mesh, tag: char, listen_port: u16, peer: usize, ll: &'static str| Tunnel {
        ifname: unique_ifname(mesh, tag),
        listen_port,
        peer,
        link_local: ll,
        fixed_endpoint: true,
    };
    let b_tunnels = [
        Tunnel {
            fixed_endpoint: false,
            ..tunnel(&mesh, 'p', LISTEN_PORT, A, "fe80::b:1a")
        },
        tunnel(&mesh, 'q', LISTEN_PORT + 1, C, "fe80::b:1c"),
    ];
    let d_tunnels = [
        tunnel(&mesh, 'r', LISTEN_PORT, C, "fe80::b:3c"),
        tunnel(&mesh, 's', LISTEN_PORT + 1, A, "fe80::b:3a"),
    ];
    let _cleanup = SocketCleanup(
        b_tunnels
            .iter()
            .chain(&d_tunnels)
            .map(|t| wg_socket(&t.ifname))
            .collect(),
    );

    // A reaches B's wireguard-go through the relay; D's second tunnel and B's are at 51821.
    let relay = start_relay(
        &mut mesh,
        env!("CARGO_BIN_EXE_meshn-delay"),
        A,
        B,
        LISTEN_PORT,
        DELAY_MS,
    );
    let moved = |mesh: &Mesh, config: String, peer: usize, from: usize, port: u16| {
        let old = endpoint_line(mesh.underlay_address(peer, from), LISTEN_PORT);
        let new = endpoint_line(
            if port == RELAY_PORT {
                relay.listen
            } else {
                mesh.underlay_address(peer, from)
            },
            port,
        );
        replace_once(&config, &old, &new)
    };
    let config_a = moved(&mesh, mesh.config_text(A), B, A, RELAY_PORT);
    let config_a = moved(&mesh, config_a, D, A, LISTEN_PORT + 1);
    let config_c = moved(&mesh, mesh.config_text(C), B, C, LISTEN_PORT + 1);

    // wireguard-go first, then meshd, and babeld only once every tunnel has its handshake: a
    // babeld Hello sent before that waits in wireguard-go for the handshake, and the RTT sample
    // it yields counts the wait (1.2-1.5 s measured). babeld smooths each sample in with weight
    // 42/256 (`rtt-decay`) and takes one per IHU from meshd (every 3 s), so such a sample took
    // more than a minute to decay below 100 ms. Not an RFC 9616 deviation (smoothing is the
    // implementation's choice), but it is why the order here matters.
    let started = Instant::now();
    for (node, tunnels) in [(B, &b_tunnels), (D, &d_tunnels)] {
        let key = mesh.write_foreign_key_file(node, "wg.key");
        for tunnel in tunnels {
            start_wireguard_go(&mut mesh, node, tunnel, &key);
        }
    }
    mesh.start_with_config(A, &config_a);
    mesh.start_with_config(C, &config_c);
    let (addr_a, addr_c) = (mesh.mesh_address(A), mesh.mesh_address(C));
    let handshaken = |node: usize, ifname: &str| {
        let out = mesh.run_in(
            node,
            &["wg", "show", ifname, "latest-handshakes"],
            Duration::from_secs(5),
        );
        out.stdout
            .split_whitespace()
            .nth(1)
            .is_some_and(|t| t.parse::<u64>().is_ok_and(|t| t > 0))
    };
    assert!(
        mesh.wait_until(Duration::from_secs(20), || {
            b_tunnels.iter().all(|t| handshaken(B, &t.ifname))
                && d_tunnels.iter().all(|t| handshaken(D, &t.ifname))
        }),
        "not every wireguard-go tunnel of B and D completed a handshake with meshd"
    );
    eprintln!(
        "interop_babeld: square: all four handshakes {:?} after start",
        started.elapsed()
    );
    let mut babelds = Vec::new();
    for (k, (node, tunnels)) in [(B, &b_tunnels), (D, &d_tunnels)].into_iter().enumerate() {
        let (v6, v4) = (format!("{}/128", V6[k]), format!("{}/32", V4[k]));
        must_in(
            &mesh,
            node,
            &["ip", "addr", "add", &v6, "dev", "lo", "nodad"],
        );
        must_in(&mesh, node, &["ip", "addr", "add", &v4, "dev", "lo"]);
        babelds.push(start_babeld(&mut mesh, node, tunnels));
    }
    let keys: Vec<String> = (0..4).map(|i| mesh.public_key(i).to_owned()).collect();
    let (if_b_to_a, if_b_to_c) = (b_tunnels[0].ifname.as_str(), b_tunnels[1].ifname.as_str());

    // Everyone reaches everyone: A's kernel has C and both babeld routers, B's has D and A.
    let wanted_a = [addr_c.into(), V6[0].into(), V6[1].into(), V4[1].into()];
    let wanted_b = [V6[1].into(), V4[1].into(), addr_a.into()];
    assert!(
        mesh.wait_until(CONVERGE, || {
            wanted_a.iter().all(|a| has_route(&mesh, A, "109", *a))
                && wanted_b
                    .iter()
                    .all(|a| has_route(&mesh, B, BABEL_PROTO, *a))
        }),
        "the square did not converge; A's routes:\n{}\nB's:\n{}",
        kernel_routes_text(&mesh, A, "109"),
        kernel_routes_text(&mesh, B, BABEL_PROTO)
    );
    eprintln!(
        "interop_babeld: square converged {:?} after start",
        started.elapsed()
    );

    // Both ends of the slow link measure it slower than the fast links by about what the relay
    // adds (2 x 30 ms), both know the way round through the slow link and the way through the
    // fast ones, the latter is cheaper by the RTT penalty, and both select it.
    let to_c = format!("{addr_c}/128");
    let to_d = format!("{}/128", V6[1]);
    let mut last = Square::default();
    let settled = mesh.wait_until(CONVERGE, || {
        last = Square::observe(
            &mesh,
            &babelds[0],
            &keys,
            &to_c,
            &to_d,
            [if_b_to_a, if_b_to_c],
        );
        last.settled(&keys[D], if_b_to_c)
    });
    assert!(
        settled,
        "the square did not route around the slow A–B link: {last:#?}"
    );
    eprintln!(
        "interop_babeld: square settled {:?} after start: {last:#?}",
        started.elapsed()
    );

    // Traffic takes those routes. A hop limit of 1 expires at the first router after the
    // source's own: D's kernel for A→C (meshd forwards its own node's packets without counting
    // a hop), C's meshd for B→D.
    let expires_at = |from: usize, src: IpAddr, dst: IpAddr| {
        let family = if dst.is_ipv6() { "-6" } else { "-4" };
        let (src, dst) = (src.to_string(), dst.to_string());
        let out = mesh.run_in(
            from,
            &[
                "ping", family, "-n", "-c1", "-W2", "-t", "1", "-I", &src, &dst,
            ],
            Duration::from_secs(5),
        );
        out.stdout
            .lines()
            .find(|l| l.contains("xceeded"))
            .and_then(|l| l.strip_prefix("From "))
            .and_then(|l| l.split_whitespace().next())
            .map(|a| a.trim_end_matches(':').to_owned())
    };
    assert_ping(&mesh, A, addr_a.into(), addr_c.into());
    assert_ping(&mesh, B, V6[0].into(), V6[1].into());
    let hop_a = expires_at(A, addr_a.into(), addr_c.into());
    assert_eq!(
        hop_a.as_deref(),
        Some(V6[1].to_string().as_str()),
        "A→C with hop limit 1 did not expire in D (babeld, {}); B is {}",
        V6[1],
        V6[0]
    );
    let hop_b = expires_at(B, V6[0].into(), V6[1].into());
    assert_eq!(
        hop_b,
        Some(addr_c.to_string()),
        "B→D with hop limit 1 did not expire in C's meshd ({addr_c}); A is {addr_a}"
    );
    // And it is fast: no round trip crosses the relay both ways (that would be over 60 ms). The
    // reply may still cross it once: D's own route back to B can take A for a while, until
    // D's RTT estimate to C settles (B→D pings of 31-32 ms, one relay delay, were seen in two
    // of three runs; A→C always took under 2 ms). The forward paths are the ones proven above.
    for (from, src, dst) in [
        (A, IpAddr::from(addr_a), IpAddr::from(addr_c)),
        (B, V6[0].into(), V6[1].into()),
    ] {
        let (src_s, dst_s) = (src.to_string(), dst.to_string());
        let out = mesh.run_in(
            from,
            &[
                "ping", "-6", "-n", "-c3", "-i", "0.2", "-W2", "-I", &src_s, &dst_s,
            ],
            Duration::from_secs(10),
        );
        let max = out
            .stdout
            .lines()
            .filter_map(|l| {
                l.split("time=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
        assert!(
            out.success() && max.is_some_and(|t| t < 50.0),
            "ping {src}→{dst} slower than 50 ms, as if across the relay: {out}"
        );
        eprintln!("interop_babeld: ping {src}→{dst}: at most {max:?} ms");
    }
}

/// What the RTT square's corners A (meshd) and B (babeld) see.
#[derive(Debug, Default)]
struct Square {
    /// A's smoothed RTT to B and to D (meshctl `rtt_ms`).
    a_rtt_to_b: Option<f64>,
    a_rtt_to_d: Option<f64>,
    /// A's routes to C: (peer, metric, selected).
    a_routes_to_c: Vec<(String, u64, bool)>,
    /// B's RTT to A and to C (babeld `dump`, its tunnel to each).
    b_rtt_to_a: Option<f64>,
    b_rtt_to_c: Option<f64>,
    /// B's routes to D's address: (interface, metric, installed).
    b_routes_to_d: Vec<(String, u64, bool)>,
    /// B's kernel route to D's address.
    b_kernel_route_to_d: String,
}

impl Square {
    fn observe(
        mesh: &Mesh,
        babeld: &Babeld,
        keys: &[String],
        to_c: &str,
        to_d: &str,
        [if_b_to_a, if_b_to_c]: [&str; 2],
    ) -> Square {
        let neighbours = meshctl_list(mesh, 0, "neighbours");
        // `--all`: every candidate route, not only the selected ones.
        let routes = try_meshctl_json(mesh, 0, &["routes", "--all"])
            .map(|v| json_list(&v, "routes"))
            .unwrap_or_default();
        let dump = babeld_dump(babeld);
        let babeld_rtt = |ifname: &str| {
            dump.iter()
                .filter(|l| l.starts_with("add neighbour"))
                .find(|l| dump_field(l, "if") == Some(ifname))
                .and_then(|l| dump_field(l, "rtt")?.parse::<f64>().ok())
        };
        let kernel = mesh.run_in(
            1,
            &["ip", "-6", "route", "show", to_d],
            Duration::from_secs(5),
        );
        Square {
            a_rtt_to_b: rtt_ms(&neighbours, &keys[1]),
            a_rtt_to_d: rtt_ms(&neighbours, &keys[3]),
            a_routes_to_c: routes
                .iter()
                .filter(|r| r["prefix"].as_str() == Some(to_c))
                .filter_map(|r| {
                    Some((
                        r["peer"].as_str()?.to_owned(),
                        r["metric"].as_u64()?,
                        r["selected"] == Value::Bool(true),
                    ))
                })
                .collect(),
            b_rtt_to_a: babeld_rtt(if_b_to_a),
            b_rtt_to_c: babeld_rtt(if_b_to_c),
            b_routes_to_d: dump
                .iter()
                .filter(|l| l.starts_with("add route") && dump_field(l, "prefix") == Some(to_d))
                .filter_map(|l| {
                    Some((
                        dump_field(l, "if")?.to_owned(),
                        dump_field(l, "metric")?.parse().ok()?,
                        dump_field(l, "installed") == Some("yes"),
                    ))
                })
                .collect(),
            b_kernel_route_to_d: kernel.stdout.trim().to_owned(),
        }
    }

    /// Whether both corners measure the slow link at least 40 ms slower than the fast one, know
    /// both ways round, and select (and B installs) the fast way, which is the cheaper.
    fn settled(&self, key_d: &str, if_b_to_c: &str) -> bool {
        let slower = |slow: Option<f64>, fast: Option<f64>| {
            slow.zip(fast)
                .is_some_and(|(slow, fast)| slow >= 50.0 && slow - fast >= 40.0)
        };
        // The selected route is the cheapest of exactly two.
        let fast_way_wins = |routes: &[(String, u64, bool)], fast: &str| {
            routes.len() == 2
                && routes.iter().all(|(via, metric, chosen)| {
                    let other = routes.iter().find(|r| r.0 != *via).map_or(0, |r| r.1);
                    (via == fast) == *chosen && (!*chosen || *metric < other)
                })
        };
        slower(self.a_rtt_to_b, self.a_rtt_to_d)
            && slower(self.b_rtt_to_a, self.b_rtt_to_c)
            && fast_way_wins(&self.a_routes_to_c, key_d)
            && fast_way_wins(&self.b_routes_to_d, if_b_to_c)
            && route_device(&self.b_kernel_route_to_d) == Some(if_b_to_c)
    }
}

/// Issue 5, item 5, for the TLVs a capture between two nodes never shows: meshd's Seqno Request
/// and Ack, decoded by tshark's Babel dissector with no complaint, in a capture on the babeld
/// router's wireguard-go interfaces (where Babel is in the clear) in the triangle A(meshd) —
/// B(meshd) — D(babeld):
///
/// * Ack (3): no peer here sends AckReqs (babeld 1.12 and BIRD 2.0.12 never do), so the test
///   sends A one itself, from D's side of their tunnel (`meshn-udp-send`), and A must answer with
///   its nonce.
/// * Seqno Request (10): the A–B link is cut. A's route to B through D is unfeasible (D's metric
///   is not below A's feasibility distance, what A announced for its direct route), so A starves
///   and asks D for a new seqno of B's prefix (RFC 8966 §3.8.2.1); the same on B's side.
///
/// The other types meshd sends show up too: AckReq (2), Hello (4), IHU (5), Router-Id (6),
/// Update (8), Route Request (9). meshd never sends Pad1/PadN (0, 1): it has nothing to align,
/// and never Next Hop (7): every Update it sends has the packet's source, its own link-local
/// address, as next hop (IPv4 prefixes go as v4-via-v6, AE 4), so the encoder is never asked
/// for one (`babel/src/wire/encoder.rs` writes it only for an explicit next hop, and
/// `babel/src/node.rs` never gives one).
#[test]
fn tshark_decodes_seqno_requests_and_acks() {
    const A: usize = 0;
    const B: usize = 1;
    const D: usize = 2;
    /// The AckReq the test sends A: header (magic 42, version 2, body length 8), then TLV 2
    /// (length 6): reserved 0, nonce 0x6d73, interval 400 centiseconds.
    const ACK_REQUEST: &str = "2a020008 0206 0000 6d73 0190";
    const NONCE: &str = "0x6d73";
    let Some(mut mesh) = Mesh::new(3) else { return };
    if !tools_present() || !require_tool("tshark") {
        return;
    }
    mesh.link_ring(); // A–B, B–D, D–A
    let tunnels = [
        Tunnel {
            ifname: unique_ifname(&mesh, 'a'),
            listen_port: LISTEN_PORT,
            peer: A,
            link_local: "fe80::b:2a",
            fixed_endpoint: true,
        },
        Tunnel {
            ifname: unique_ifname(&mesh, 'b'),
            listen_port: LISTEN_PORT + 1,
            peer: B,
            link_local: "fe80::b:2b",
            fixed_endpoint: true,
        },
    ];
    let _cleanup = SocketCleanup(tunnels.iter().map(|t| wg_socket(&t.ifname)).collect());
    let key = mesh.write_foreign_key_file(D, "wg.key");
    for tunnel in &tunnels {
        start_wireguard_go(&mut mesh, D, tunnel, &key);
    }
    let config_b = replace_once(
        &mesh.config_text(B),
        &endpoint_line(mesh.underlay_address(D, B), LISTEN_PORT),
        &endpoint_line(mesh.underlay_address(D, B), LISTEN_PORT + 1),
    );

    // The capture runs before either meshd starts: a new neighbour's first messages (Route
    // Request, AckReq) are part of what it must see.
    let file = mesh.node_dir(D).join("babel.pcapng");
    let file = file.to_string_lossy().into_owned();
    let capture = mesh.spawn_in(
        D,
        "tshark",
        &[
            "tshark",
            "-n",
            "-i",
            &tunnels[0].ifname,
            "-i",
            &tunnels[1].ifname,
            "-f",
            "udp port 6696",
            "-a",
            "duration:120",
            "-w",
            &file,
        ],
    );
    let dir = mesh.node_dir(D).to_path_buf();
    let tshark_log = || -> String {
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tshark-"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    };
    assert!(
        mesh.wait_until(Duration::from_secs(15), || tshark_log()
            .contains("Capturing on")),
        "tshark did not start capturing: {}",
        tshark_log()
    );
    add_announced_addresses(&mesh, D);
    let started = Instant::now();
    let babeld = start_babeld(&mut mesh, D, &tunnels);
    mesh.start(A);
    mesh.start_with_config(B, &config_b);
    let (addr_a, addr_b) = (mesh.mesh_address(A), mesh.mesh_address(B));
    let (to_a, to_b) = (format!("{addr_a}/128"), format!("{addr_b}/128"));
    let keys: Vec<String> = (0..3).map(|i| mesh.public_key(i).to_owned()).collect();

    // Before the cut A routes to B directly and holds B's route through D as well, usable but
    // unfeasible (or worse), so losing the direct one leaves it starving, not empty.
    // (peer, reason) of each of `node`'s candidate routes to `prefix`.
    let candidates = |mesh: &Mesh, node: usize, prefix: &str| -> Vec<(String, String)> {
        try_meshctl_json(mesh, node, &["routes", prefix])
            .map(|v| json_list(&v, "routes"))
            .unwrap_or_default()
            .iter()
            .filter_map(|r| {
                Some((
                    r["peer"].as_str()?.to_owned(),
                    r["reason"].as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    let mut last = Vec::new();
    assert!(
        mesh.wait_until(CONVERGE, || {
            last = candidates(&mesh, A, &to_b);
            last.contains(&(keys[B].clone(), "selected".to_owned()))
                && last.iter().any(|(peer, reason)| {
                    *peer == keys[D] && (reason == "unfeasible" || reason == "worse")
                })
        }),
        "A never held both a direct route to B and one through D: {last:?}; babeld: {:#?}",
        babeld_dump(&babeld)
    );
    eprintln!(
        "interop_babeld: A's routes to B {:?} after start: {last:?}",
        started.elapsed()
    );
    // B's Seqno Request is checked below too, so B must hold A's route through D before the
    // cut as well: a B whose tunnel to D came up late learns that route after the cut, already
    // with a new seqno, and never needs to ask (seen once in CI: D's neighbour up at B 9.5 s
    // after start).
    let mut last_b = Vec::new();
    assert!(
        mesh.wait_until(CONVERGE, || {
            last_b = candidates(&mesh, B, &to_a);
            last_b.contains(&(keys[A].clone(), "selected".to_owned()))
                && last_b.iter().any(|(peer, reason)| {
                    *peer == keys[D] && (reason == "unfeasible" || reason == "worse")
                })
        }),
        "B never held both a direct route to A and one through D: {last_b:?}; babeld: {:#?}",
        babeld_dump(&babeld)
    );

    // An AckReq to A, multicast on D's tunnel to A, as a Babel speaker there would send it.
    let sender = env!("CARGO_BIN_EXE_meshn-udp-send");
    must_in(
        &mesh,
        D,
        &[
            sender,
            "--interface",
            &tunnels[0].ifname,
            "--to",
            "ff02::1:6",
            "--port",
            "6696",
            "--hex",
            ACK_REQUEST,
        ],
    );

    // The cut. A must end up routing to B through D, which takes B's answer to the seqno
    // request (a new seqno makes the route through D feasible).
    mesh.cut_silent(A, B);
    let cut = Instant::now();
    assert!(
        mesh.wait_until(CONVERGE, || {
            last = candidates(&mesh, A, &to_b);
            last.contains(&(keys[D].clone(), "selected".to_owned()))
        }),
        "A does not route to B through D after the cut: {last:?}"
    );
    eprintln!(
        "interop_babeld: A routes to B through D {:?} after the cut",
        cut.elapsed()
    );
    // B notices the cut on its own timers, and its Seqno Request for A's prefix is checked
    // below as well as A's: wait for B's side too, or a slow B is a missing request.
    assert!(
        mesh.wait_until(CONVERGE, || {
            last_b = candidates(&mesh, B, &to_a);
            last_b.contains(&(keys[D].clone(), "selected".to_owned()))
        }),
        "B does not route to A through D after the cut: {last_b:?}"
    );
    eprintln!(
        "interop_babeld: B routes to A through D {:?} after the cut",
        cut.elapsed()
    );
    assert_ping(&mesh, A, addr_a.into(), addr_b.into());
    // Let the packets in flight land in the capture, then stop it cleanly (SIGINT: tshark
    // finishes the file).
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        mesh.signal_helper(capture, "-INT"),
        "tshark had stopped early: {}",
        tshark_log()
    );
    let (status, output) = mesh.wait_helper(capture, Duration::from_secs(20));
    assert!(status.is_some(), "tshark did not stop on SIGINT: {output}");

    // meshd's packets are all Babel packets not from D's own addresses.
    let own: Vec<String> = tunnels
        .iter()
        .flat_map(|t| mesh.addresses_on(D, &t.ifname))
        .filter_map(|a| a.split('/').next().map(str::to_owned))
        .collect();
    assert!(!own.is_empty(), "no addresses on D's tunnels");
    let not_own = own
        .iter()
        .map(|a| format!("ipv6.src != {a}"))
        .collect::<Vec<_>>()
        .join(" && ");
    let verbose = tshark_read(
        &mesh,
        D,
        &file,
        &["-Y", &format!("babel && {not_own}"), "-V"],
    );
    let complaints = dissector_complaints(&verbose);
    assert!(
        complaints.is_empty(),
        "tshark on meshd's packets: {complaints:#?}\n{verbose}"
    );
    // The bytes themselves, read without the dissector (which misreads an IHU's Timestamp at
    // the end of a packet: see `dissector_complaints`).
    let (read, problems) =
        capture_payload_problems(&mesh, D, &file, &format!("babel && {not_own}"));
    assert!(
        read > 0 && problems.is_empty(),
        "meshd's packets that are not well-formed ({read} read): {problems:#?}"
    );
    let messages = babel_messages(&verbose);
    assert!(
        messages
            .iter()
            .any(|m| m.kind == 5 && m.lines.iter().any(|l| l.starts_with("Timestamp origin"))),
        "meshd put no Timestamp on its IHUs to babeld, whose Hellos carry one"
    );
    let kinds: BTreeSet<u8> = messages.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([2, 3, 4, 5, 6, 8, 9, 10]),
        "meshd's message types in the capture"
    );
    let acks: Vec<&BabelMessage> = messages.iter().filter(|m| m.kind == 3).collect();
    assert!(
        acks.iter().any(|m| m.field("Nonce") == Some(NONCE)),
        "no Ack with nonce {NONCE}: {acks:#?}"
    );
    let requests: Vec<&BabelMessage> = messages.iter().filter(|m| m.kind == 10).collect();
    for (who, prefix) in [("A", &to_b), ("B", &to_a)] {
        assert!(
            requests
                .iter()
                .any(|m| m.field("Prefix") == Some(prefix.as_str())),
            "{who} sent D no Seqno Request for {prefix}: {requests:#?}"
        );
    }
    eprintln!(
        "interop_babeld: tshark decoded {} messages in {read} packets from meshd, types {kinds:?}: {} Acks, {} Seqno Requests",
        messages.len(),
        acks.len(),
        requests.len()
    );
}
