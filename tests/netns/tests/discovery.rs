//! Discovery on a shared segment (a bridge standing in for a Wi-Fi mesh channel): routers with no
//! peers configured find each other by their beacons, make one session per pair, and route; an
//! interface that goes away and comes back is picked up without a restart.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use meshd_netns_tests::interop::meshctl_json as json;
use meshd_netns_tests::{Mesh, SEGMENT_INTERFACE};
use serde_json::Value;

const CONVERGE: Duration = Duration::from_secs(30);
const MESHCTL: Duration = Duration::from_secs(5);

/// Node `i`'s peers as (key, discovered, up).
fn peers(mesh: &Mesh, i: usize) -> Vec<(String, bool, bool)> {
    json(mesh, i, &["peers"])
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| {
            (
                p["public_key"].as_str().unwrap_or_default().to_owned(),
                p["discovered"].as_bool().unwrap_or(false),
                p["up"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn routers_on_one_segment_find_each_other_and_route() {
    let Some(mut mesh) = Mesh::new(4) else { return };
    mesh.join_segment();
    let started = Instant::now();
    for i in 0..4 {
        let config = mesh.discovery_config(i, 1.0, "", "");
        assert!(!config.contains("[[peer]]"), "no peers configured");
        mesh.start_with_config(i, &config);
    }
    let addrs = mesh.mesh_addresses();
    for (to, addr) in addrs.iter().enumerate().skip(1) {
        assert!(
            mesh.ping(0, IpAddr::from(*addr), 60, CONVERGE),
            "node 0 cannot reach node {to} over the segment"
        );
    }
    let v4 = mesh.ipv4_address(3);
    assert!(mesh.ping(1, IpAddr::from(v4), 20, CONVERGE), "IPv4 too");
    eprintln!(
        "4 routers on one segment: all reachable from node 0 after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // One session per pair: every node lists each of the others exactly once, found by
    // discovery and up, even though both sides of each pair heard the other.
    for i in 0..4 {
        let list = peers(&mesh, i);
        let mut keys: Vec<&str> = list.iter().map(|(k, _, _)| k.as_str()).collect();
        keys.sort_unstable();
        let mut expected: Vec<&str> = (0..4)
            .filter(|&j| j != i)
            .map(|j| mesh.public_key(j))
            .collect();
        expected.sort_unstable();
        assert_eq!(keys, expected, "node {i}: one peer entry per neighbour");
        assert!(
            list.iter().all(|(_, discovered, up)| *discovered && *up),
            "node {i}: {list:?}"
        );
        let neighbours = json(&mesh, i, &["neighbours"]);
        assert_eq!(
            neighbours.as_array().map(Vec::len),
            Some(3),
            "node {i}: one Babel neighbour per peer"
        );
    }
    // A reload keeps discovered peers: they are not the file's to remove.
    let reload = mesh.meshctl(0, &["reload"], MESHCTL);
    assert!(
        reload.success() && reload.stdout.contains("0 peers added, 0 removed"),
        "{reload}"
    );
    assert_eq!(
        peers(&mesh, 0).len(),
        3,
        "discovered peers survive a reload"
    );
    let discovery = json(&mesh, 2, &["discovery"]);
    assert_eq!(discovery["interfaces"][0]["name"], SEGMENT_INTERFACE);
    assert!(discovery["interfaces"][0]["beacons_sent"].as_u64() >= Some(1));
    assert_eq!(discovery["peers"], 3);
}

#[test]
fn two_routers_with_only_the_interface_named_form_a_mesh() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    mesh.join_segment();
    for i in 0..2 {
        // Everything at its default except where this machine needs it: the state and the
        // control socket must not be shared with other routers running on the same host.
        let dir = mesh.node_dir(i).to_string_lossy().into_owned();
        let config = format!(
            "[node]\nstate_dir = \"{dir}\"\ncontrol_socket = \"{dir}/meshd.sock\"\n\n\
             [discovery]\ninterfaces = [\"{SEGMENT_INTERFACE}\"]\n"
        );
        mesh.start_with_config(i, &config);
    }
    let addrs = mesh.mesh_addresses();
    assert!(
        mesh.ping(0, IpAddr::from(addrs[1]), 60, CONVERGE),
        "two default routers did not mesh"
    );
    assert!(mesh.ping(1, IpAddr::from(addrs[0]), 10, CONVERGE));
}

#[test]
fn an_interface_that_goes_and_comes_back_is_picked_up_without_restart() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.join_segment();
    for i in 0..3 {
        let config = mesh.discovery_config(i, 1.0, "", "");
        mesh.start_with_config(i, &config);
    }
    let addrs = mesh.mesh_addresses();
    let far = IpAddr::from(addrs[2]);
    assert!(mesh.ping(0, far, 60, CONVERGE), "no convergence");
    let pid = mesh.pid(2);

    // Node 2's interface is deleted: the others drop it (beacons stopped, session dead), and
    // so does node 2 itself.
    mesh.unplug(2);
    let key2 = mesh.public_key(2).to_owned();
    assert!(
        mesh.wait_until(Duration::from_secs(45), || {
            !peers(&mesh, 0).iter().any(|(k, _, _)| *k == key2)
        }),
        "node 0 still lists node 2 as a peer after its interface went away"
    );
    assert!(
        mesh.live_routes(0)
            .iter()
            .all(|r| !r.contains(&addrs[2].to_string())),
        "a route to node 2 is left behind: {:?}",
        mesh.live_routes(0)
    );

    // A new interface of the same name (a new index): found by the netlink watch, no restart.
    mesh.plug(2);
    assert!(
        mesh.ping(0, far, 60, CONVERGE),
        "node 2 did not come back after its interface returned"
    );
    assert_eq!(mesh.pid(2), pid, "node 2 was not restarted");
    assert!(mesh.is_running(2));
    assert!(
        mesh.current_log(2).contains("discovery: beacons on seg0"),
        "node 2 logged its new interface"
    );
}

#[test]
fn an_open_router_takes_strangers_only_from_its_discovery_interfaces() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    // Node 1 reaches node 0 over a routed underlay link (ULA addresses), not over the segment.
    mesh.link(0, 1);
    mesh.join_segment();
    mesh.unplug(1);
    let own_only = mesh.config_text(0);
    let own_only = own_only.split("\n[[peer]]").next().expect("the node part");
    let config = format!("{own_only}\n[discovery]\ninterfaces = [\"{SEGMENT_INTERFACE}\"]\n");
    assert!(!config.contains(mesh.public_key(1)));
    mesh.start_with_config(0, &config);
    // Node 1 knows node 0 as a static peer and keeps starting handshakes.
    mesh.start(1);
    let key1 = mesh.public_key(1).to_owned();
    let refused = mesh.wait_until(Duration::from_secs(20), || {
        // meshctl may find no socket yet right after the start.
        let out = mesh.meshctl(0, &["--json", "refused"], MESHCTL);
        let list: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        list.as_array().is_some_and(|list| {
            list.iter().any(|r| {
                r["public_key"] == key1.as_str() && r["reason"] == "not from a discovery interface"
            })
        })
    });
    assert!(refused, "node 0 did not refuse the stranger's handshake");
    assert!(
        !peers(&mesh, 0).iter().any(|(k, _, _)| *k == key1),
        "a stranger from outside the discovery interfaces became a peer"
    );
    let to0 = IpAddr::from(mesh.mesh_address(0));
    assert!(!mesh.ping(1, to0, 2, Duration::from_secs(3)));
}

#[test]
fn routers_on_three_channels_in_a_row_route_across_them() {
    let Some(mut mesh) = Mesh::new(4) else { return };
    // Channel a: 0 and 1; b: 1 and 2; c: 2 and 3. Routers 1 and 2 hear two channels each.
    mesh.join_bridge("mshsa", "sega", &[0, 1]);
    mesh.join_bridge("mshsb", "segb", &[1, 2]);
    mesh.join_bridge("mshsc", "segc", &[2, 3]);
    for i in 0..4 {
        let config = format!(
            "{}\n[discovery]\ninterfaces = [\"seg?\"]\ninterval = 1\n",
            mesh.config_text(i)
        );
        mesh.start_with_config(i, &config);
    }
    let far = IpAddr::from(mesh.mesh_address(3));
    assert!(
        mesh.ping(0, far, 60, CONVERGE),
        "no route across three channels"
    );
    let v4 = IpAddr::from(mesh.ipv4_address(0));
    assert!(mesh.ping(3, v4, 20, CONVERGE), "IPv4 back across them");
    // The routers in the middle found one neighbour on each of their channels.
    for (i, channels) in [(1, ["sega", "segb"]), (2, ["segb", "segc"])] {
        let list = json(&mesh, i, &["peers"]);
        let mut heard_on: Vec<String> = list
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|p| p["interface"].as_str().map(str::to_owned))
            .collect();
        heard_on.sort();
        assert_eq!(heard_on, channels, "node {i}");
    }
    assert_eq!(json(&mesh, 0, &["peers"]).as_array().map(Vec::len), Some(1));
}
