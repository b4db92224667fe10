//! Interoperation with babeld: a router running babeld 1.12 over wireguard-go, one `wg`
//! interface per neighbour with `AllowedIPs = ::/0, 0.0.0.0/0`, must be a valid neighbour of
//! meshd (DESIGN.md, "Babel runs inside the tunnels"). Every assertion is made with real
//! traffic: kernel routes on both sides, pings across the tunnels, meshctl's and babeld's own
//! view of the neighbour.
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
//!   meshd bug below.
//! * babeld: its first IHU to a new neighbour carries rxcost 0xFFFF (with 2-out-of-3 link sensing
//!   one Hello is not enough), and the next comes only with the Hello 3 intervals later (IHU
//!   interval 12 s), so the link can stay unusable for meshd for up to 15 s after start (0.4-15 s measured). Allowed by the RFC
//!   (IHUs every 3 Hellos is its recommendation), but it is why these tests allow 60 s.
//! * babeld: starts with a wildcard retraction (AE 0, metric infinite), which meshd handles.
//! * babeld: it sends from the link-local address the kernel generated on the wireguard-go
//!   interface, not from the one configured here; meshd accepts Babel from any link-local
//!   address inside a session (it does not insist on the key-derived one), as it must.
//! * babeld: the RTT it measures to meshd over a veth is 12-13 ms, and meshd measures 3-8 ms to
//!   babeld, where ping takes 0.5 ms. Most likely babeld timestamps a Hello when it is queued,
//!   not when its buffer is flushed (RFC 9616 asks for the transmit time), which inflates both
//!   directions' samples; babeld adds an RTT cost of 1-3 for it. Not asserted.
//!
//! # meshd against babeld: what is wrong (not fixed here)
//!
//! * meshd ignores multicast Hellos with Interval 0 entirely (`Node::handle_hello`: `if unicast
//!   || interval == 0 { return; }`), but an unscheduled multicast Hello uses the same seqno
//!   counter as the scheduled ones. So when babeld's next scheduled Hello arrives its seqno is one
//!   ahead of what meshd expected and meshd records a lost Hello that was received: meshctl shows
//!   `hello_history 1110111---------` and `rxcost 102` (96 x 16/15) on a lossless link, for the
//!   16 Hello intervals (64 s) the phantom loss stays in the history, after each unscheduled
//!   Hello babeld sends (at least the one at its start). RFC 8966 Appendix A.1 updates the history from the seqno of every Hello;
//!   only the Hello timer depends on a non-zero Interval. The tests below therefore assert a
//!   finite cost, not 96.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use meshd_netns_tests::interop::{
    assert_ping, babeld_dump, babeld_pid, dump_field, has_route, kernel_routes_text, meshctl_json,
    must_in, neighbours, ping_from, start_babeld, start_wireguard_go, tools_present, unique_ifname,
    wg_socket, Babeld, SocketCleanup, Tunnel, BABEL_PROTO,
};
use meshd_netns_tests::{run, Mesh, LISTEN_PORT};
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
