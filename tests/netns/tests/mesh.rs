//! Real meshd processes in network namespaces: reachability over several hops in both families,
//! recovery from cut links, restarts without stale routes, clean shutdown, and bulk traffic.
//!
//! Each test skips with a loud line where namespaces cannot be made (not root, no /dev/net/tun,
//! no `ip`), and fails instead when CI is set. Every wait is bounded.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use meshd_netns_tests::{
    json_number, require_tool, route_destination, route_device, Mesh, MESH_INTERFACE,
};

/// From start to a mesh that answers pings end to end.
const CONVERGE: Duration = Duration::from_secs(60);
/// From a cut (or a restart) to traffic flowing again.
const RECOVER: Duration = Duration::from_secs(30);
/// Enough attempts for a ping loop of one attempt a second to use up its timeout.
const ATTEMPTS: u32 = 120;

fn started(mut mesh: Mesh) -> (Mesh, Vec<Ipv6Addr>) {
    mesh.start_all();
    let addrs = mesh.mesh_addresses();
    (mesh, addrs)
}

/// Asserts that `from` reaches `addr` within `timeout`.
fn assert_ping(mesh: &Mesh, from: usize, addr: IpAddr, timeout: Duration, what: &str) {
    assert!(
        mesh.ping(from, addr, ATTEMPTS, timeout),
        "{what}: node {from} got no reply from {addr} within {timeout:?}"
    );
}

/// What is wrong with node `i`'s protocol-109 routes: any that is not on mesh0, and any other
/// node's /128 or /32 without exactly one route.
fn route_problems(mesh: &Mesh, i: usize, addrs: &[Ipv6Addr]) -> Vec<String> {
    let routes = mesh.routes(i);
    let mut problems = Vec::new();
    let mut counts: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for line in &routes {
        if route_device(line) != Some(MESH_INTERFACE) {
            problems.push(format!("node {i}: route not on {MESH_INTERFACE}: {line}"));
        }
        if let Some((dst, len)) = route_destination(line) {
            if (dst.is_ipv6() && len == 128) || (dst.is_ipv4() && len == 32) {
                *counts.entry(dst).or_default() += 1;
            }
        }
    }
    for (k, addr) in addrs.iter().enumerate().filter(|(k, _)| *k != i) {
        for dst in [IpAddr::from(*addr), IpAddr::from(mesh.ipv4_address(k))] {
            let count = counts.get(&dst).copied().unwrap_or(0);
            if count != 1 {
                problems.push(format!(
                    "node {i}: {count} routes to node {k}'s {dst}, not 1"
                ));
            }
        }
    }
    if !problems.is_empty() {
        problems.push(format!("node {i}'s routes: {routes:#?}"));
    }
    problems
}

#[test]
fn line_of_five_pings_ipv6_and_ipv4() {
    let Some(mut mesh) = Mesh::new(5) else { return };
    mesh.link_line();
    let (mesh, addrs) = started(mesh);

    // Convergence: the far end answers over IPv6, then everything else must answer promptly.
    assert_ping(
        &mesh,
        0,
        addrs[4].into(),
        CONVERGE,
        "convergence over 4 hops",
    );
    for target in [1, 2, 4] {
        assert_ping(&mesh, 0, addrs[target].into(), RECOVER, "IPv6");
        let v4 = mesh.ipv4_address(target);
        assert_ping(&mesh, 0, v4.into(), RECOVER, "IPv4");
    }
}

#[test]
fn ring_recovers_from_cut() {
    let Some(mut mesh) = Mesh::new(6) else { return };
    if !require_tool("nft") {
        return;
    }
    mesh.link_ring();
    let (mut mesh, addrs) = started(mesh);
    let one = IpAddr::from(addrs[1]);

    assert_ping(&mesh, 0, one, CONVERGE, "convergence");

    // A link that goes down: 0 must reach 1 the long way, 0-5-4-3-2-1.
    mesh.cut_down(0, 1);
    assert_ping(&mesh, 0, one, RECOVER, "after cut_down(0, 1)");
    mesh.heal(0, 1);

    // Make sure the direct link carries the traffic again before cutting it silently: with the
    // long way cut, only it can.
    mesh.cut_silent(3, 4);
    assert_ping(&mesh, 0, one, RECOVER, "over the healed link 0-1 (3-4 cut)");
    mesh.heal(3, 4);

    // A link that stays up but drops everything: only Hellos going unanswered tell.
    mesh.cut_silent(0, 1);
    assert_ping(&mesh, 0, one, RECOVER, "after cut_silent(0, 1)");
    mesh.heal(0, 1);
}

#[test]
fn kill9_and_restart_leaves_no_stale_routes() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.link_line();
    let (mut mesh, addrs) = started(mesh);
    let far = IpAddr::from(addrs[2]);

    assert_ping(&mesh, 0, far, CONVERGE, "convergence");
    assert!(
        mesh.wait_until(CONVERGE, || (0..3)
            .all(|i| route_problems(&mesh, i, &addrs).is_empty())),
        "routes before the kill: {:#?}",
        (0..3)
            .flat_map(|i| route_problems(&mesh, i, &addrs))
            .collect::<Vec<_>>()
    );

    mesh.kill9(1);
    // What a crashed run leaves behind on a device that survives it (mesh0 goes with the
    // process, and the kernel drops its routes itself): meshd's start-up flush must remove these.
    let leftovers = [("-6", "2001:db8:dead::/64"), ("-4", "203.0.113.200")];
    for (family, prefix) in leftovers {
        let out = mesh.run_in(
            1,
            &[
                "ip", family, "route", "add", prefix, "dev", "lo", "proto", "109",
            ],
            Duration::from_secs(5),
        );
        assert!(out.success(), "adding the leftover {prefix}: {out}");
    }
    let left_over = |mesh: &Mesh| {
        let routes = mesh.routes(1);
        leftovers
            .iter()
            .filter(|(_, prefix)| routes.iter().any(|r| r.starts_with(&format!("{prefix} "))))
            .count()
    };
    assert_eq!(
        left_over(&mesh),
        2,
        "the leftovers are in place: {:?}",
        mesh.routes(1)
    );
    mesh.restart(1);
    assert!(
        mesh.wait_until(RECOVER, || left_over(&mesh) == 0),
        "meshd did not flush a crashed run's proto 109 routes at start: {:?}",
        mesh.routes(1)
    );
    assert_eq!(
        mesh.mesh_address(1),
        addrs[1],
        "the mesh address comes from the key and must survive a restart"
    );
    assert_ping(
        &mesh,
        0,
        far,
        RECOVER,
        "after kill -9 and restart of node 1",
    );
    assert!(
        mesh.wait_until(RECOVER, || (0..3)
            .all(|i| route_problems(&mesh, i, &addrs).is_empty())),
        "routes after the restart: {:#?}",
        (0..3)
            .flat_map(|i| route_problems(&mesh, i, &addrs))
            .collect::<Vec<_>>()
    );
}

#[test]
fn clean_stop_leaves_nothing() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    mesh.link(0, 1);
    let (mut mesh, addrs) = started(mesh);

    assert_ping(&mesh, 0, addrs[1].into(), CONVERGE, "convergence");
    for i in 0..2 {
        assert!(
            !mesh.routes(i).is_empty(),
            "node {i} answers pings but has no proto 109 routes"
        );
    }

    for i in 0..2 {
        let status = mesh
            .stop(i)
            .unwrap_or_else(|e| panic!("stopping node {i}: {e}"));
        assert!(status.success(), "node {i} exited with {status} on SIGTERM");
    }
    for i in 0..2 {
        assert_eq!(
            mesh.routes(i),
            Vec::<String>::new(),
            "node {i}: routes left"
        );
        assert!(
            !mesh.links_in(i).iter().any(|l| l == MESH_INTERFACE),
            "node {i}: {MESH_INTERFACE} left: {:?}",
            mesh.links_in(i)
        );
        assert_eq!(
            mesh.addresses_on(i, MESH_INTERFACE),
            Vec::<String>::new(),
            "node {i}: addresses left on {MESH_INTERFACE}"
        );
    }
}

#[test]
fn iperf3_across_three_hops() {
    if !require_tool("iperf3") {
        return;
    }
    let Some(mut mesh) = Mesh::new(4) else { return };
    mesh.link_line();
    let (mut mesh, addrs) = started(mesh);
    let server = addrs[3].to_string();

    assert_ping(
        &mesh,
        0,
        addrs[3].into(),
        CONVERGE,
        "convergence over 3 hops",
    );

    // One test, then the server exits by itself.
    let iperf = mesh.spawn_in(3, "iperf3-server", &["iperf3", "-s", "-1", "-B", &server]);
    assert!(
        mesh.wait_until(Duration::from_secs(10), || {
            mesh.run_in(
                3,
                &["ss", "-Htln", "sport", "= :5201"],
                Duration::from_secs(5),
            )
            .stdout
            .contains("5201")
        }),
        "iperf3 server in node 3 is not listening"
    );
    let client = mesh.run_in(
        0,
        &[
            "iperf3",
            "-c",
            &server,
            "-t",
            "3",
            "-J",
            "--connect-timeout",
            "5000",
        ],
        Duration::from_secs(30),
    );
    assert!(client.success(), "iperf3 client: {client}");
    let (status, server_log) = mesh.wait_helper(iperf, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "iperf3 server: {status:?}\n{server_log}"
    );

    let json = &client.stdout;
    let sent = json_number(json, &["end", "sum_sent", "bytes"]).expect("sum_sent.bytes");
    let received =
        json_number(json, &["end", "sum_received", "bytes"]).expect("sum_received.bytes");
    let rate = json_number(json, &["end", "sum_received", "bits_per_second"])
        .expect("sum_received.bits_per_second");
    eprintln!("iperf3 0 -> 3: sent {sent} B, received {received} B, {rate:.0} bit/s");
    assert!(sent > 0.0 && received > 0.0, "iperf3 moved nothing");
    // iperf3's receiver stops counting at the end of the test with data still in flight (over a
    // bare veth it falls megabytes short), so its counters cannot show that every byte arrived;
    // the exact transfer below does.
    assert!(received <= sent, "iperf3 received more than was sent");
    assert!(rate > 0.0, "no throughput");

    // Every byte, in order: 32 MiB of a pseudo-random stream, counted and hashed at both ends.
    let tool = env!("CARGO_BIN_EXE_meshn-tcp");
    let sink_addr = format!("[{server}]:5202");
    let sink = mesh.spawn_in(3, "tcp-sink", &[tool, "sink", &sink_addr]);
    assert!(
        mesh.wait_until(Duration::from_secs(10), || {
            mesh.run_in(
                3,
                &["ss", "-Htln", "sport", "= :5202"],
                Duration::from_secs(5),
            )
            .stdout
            .contains("5202")
        }),
        "the TCP sink in node 3 is not listening"
    );
    let source = mesh.run_in(
        0,
        &[tool, "source", &sink_addr, "33554432"],
        Duration::from_secs(60),
    );
    let (status, sink_log) = mesh.wait_helper(sink, Duration::from_secs(10));
    assert!(
        source.success(),
        "exact transfer 0 -> 3: {source}\nsink: {status:?} {sink_log}"
    );
    eprintln!("exact transfer 0 -> 3: {}", source.stdout.trim());
}

/// RFC 8966 §3.5.4: a node that loses a prefix holds it unreachable, so local traffic to it is
/// refused instead of following a shorter route (a gateway's default route, say); the kernel
/// shows it as an `unreachable` route, which a clean stop removes with the rest.
#[test]
fn lost_prefix_is_held_unreachable_and_stop_leaves_nothing() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.link_line();
    let (mut mesh, addrs) = started(mesh);
    assert_ping(&mesh, 0, addrs[2].into(), CONVERGE, "convergence");

    let status = mesh.stop(2).expect("stopping node 2");
    assert!(status.success(), "node 2 exited with {status}");
    let held = format!("unreachable {} ", addrs[2]);
    assert!(
        mesh.wait_until(RECOVER, || mesh
            .routes(0)
            .iter()
            .any(|line| line.starts_with(&held))),
        "node 0 does not hold node 2's address unreachable: {:#?}",
        mesh.routes(0)
    );
    // Node 1's own route to node 0 is untouched by the hold.
    assert_ping(
        &mesh,
        0,
        addrs[1].into(),
        RECOVER,
        "node 1 after node 2 left",
    );

    for i in 0..2 {
        let status = mesh
            .stop(i)
            .unwrap_or_else(|e| panic!("stopping node {i}: {e}"));
        assert!(status.success(), "node {i} exited with {status}");
        assert_eq!(
            mesh.routes(i),
            Vec::<String>::new(),
            "node {i}: routes left"
        );
    }
}

/// A neighbour's `ping -t 1` to an address in a prefix the node announces (a LAN, here an
/// address on `lo`) is answered: the packet has arrived, it is not forwarded, so it loses no hop
/// and gets no "time exceeded".
#[test]
fn hop_limit_one_reaches_an_announced_prefix() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    mesh.link(0, 1);
    mesh.must_run_in(1, &["ip", "link", "set", "lo", "up"]);
    mesh.must_run_in(1, &["ip", "addr", "add", "fd00:4c41:9::1/128", "dev", "lo"]);
    mesh.must_run_in(1, &["ip", "addr", "add", "203.0.113.1/32", "dev", "lo"]);
    let config = mesh.config_with(1, &["fd00:4c41:9::/64", "203.0.113.0/24"], "");
    mesh.start(0);
    mesh.start_with_config(1, &config);
    let addrs = mesh.mesh_addresses();
    assert_ping(&mesh, 0, addrs[1].into(), CONVERGE, "convergence");
    for (family, target) in [("-6", "fd00:4c41:9::1"), ("-4", "203.0.113.1")] {
        let answered = mesh.wait_until(RECOVER, || {
            mesh.run_in(
                0,
                &["ping", family, "-n", "-q", "-c1", "-W1", "-t", "1", target],
                Duration::from_secs(5),
            )
            .success()
        });
        assert!(
            answered,
            "ping -t 1 {target} from the neighbour got no reply"
        );
    }
}

/// Cost of neighbour `key` at node `i`, as `meshctl neighbours` reports it.
fn neighbour_cost(mesh: &Mesh, i: usize, key: &str) -> Option<u64> {
    meshd_netns_tests::interop::meshctl_list(mesh, i, "neighbours")
        .iter()
        .find(|n| n["peer"].as_str() == Some(key))
        .and_then(|n| n["cost"].as_u64())
}

#[test]
fn underlay_down_takes_its_links_down_at_once() {
    // A ring of four with the default 4 s Hellos. `ip link set down` on the veth between 0 and
    // 1: both ends see their interface stop running and take the link down at once, instead of
    // waiting for Hellos to go missing (4 s and more) while traffic to 1 is blackholed.
    let Some(mut mesh) = Mesh::new(4) else { return };
    mesh.link_ring();
    let (mut mesh, addrs) = started(mesh);
    let one = IpAddr::from(addrs[1]);
    assert_ping(&mesh, 0, one, CONVERGE, "convergence");
    let key_1 = mesh.public_key(1).to_owned();
    let key_0 = mesh.public_key(0).to_owned();
    assert!(
        mesh.wait_until(CONVERGE, || neighbour_cost(&mesh, 0, &key_1)
            .is_some_and(|c| c < 65535)),
        "0 never had a usable neighbour 1"
    );

    // The kernel reports a new veth running (operstate UP) up to a second after it carries
    // packets, and meshd learns which interface carries a link from a running one: wait for
    // both ends, as any router's underlay is long before its links matter.
    let running = |node: usize, ifname: &str| {
        mesh.run_in(
            node,
            &["ip", "-o", "link", "show", "dev", ifname],
            Duration::from_secs(5),
        )
        .stdout
        .contains("state UP")
    };
    assert!(
        mesh.wait_until(Duration::from_secs(10), || running(0, "veth1")
            && running(1, "veth0")),
        "the veth between 0 and 1 never reported running"
    );
    std::thread::sleep(Duration::from_millis(300));
    mesh.cut_down(0, 1);
    let cut = std::time::Instant::now();
    // Well under one Hello interval: only the carrier can have told.
    let mut costs = (None, None);
    let down = mesh.wait_until(Duration::from_secs(2), || {
        costs = (
            neighbour_cost(&mesh, 0, &key_1),
            neighbour_cost(&mesh, 1, &key_0),
        );
        costs == (Some(65535), Some(65535))
    });
    let took = cut.elapsed();
    assert!(
        down,
        "neighbour costs 2 s after the underlay went down (0's of 1, 1's of 0): {costs:?}\n\
         node 1's peers: {:?}\nnode 1's log:\n{}",
        meshd_netns_tests::interop::meshctl_list(&mesh, 1, "peers"),
        mesh.log(1)
    );
    eprintln!("mesh: links down {took:?} after ip link set down");
    for (node, ifname) in [(0, "veth1"), (1, "veth0")] {
        let log = mesh.log(node);
        assert!(
            log.contains(&format!("underlay {ifname} is down or lost carrier")),
            "node {node} logged no carrier loss on {ifname}"
        );
    }
    // Traffic takes the long way, and the link comes back when the underlay does.
    assert_ping(&mesh, 0, one, RECOVER, "after cut_down(0, 1)");
    mesh.heal(0, 1);
    assert!(
        mesh.wait_until(RECOVER, || neighbour_cost(&mesh, 0, &key_1)
            .is_some_and(|c| c < 65535)),
        "0's neighbour 1 never came back after the heal"
    );
}
