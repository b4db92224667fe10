//! Benchmarks for discovery (run by `bench/discovery.sh`; `#[ignore]`d in the normal suite, as
//! they take about two minutes and assert nothing about speed): they print figures.
//!
//! - cold start: eight routers run on one segment (a bridge); a ninth is started and we time
//!   until it has kernel routes to all eight and all eight to it, and until it has pinged each,
//!   joining by discovery alone (open policy), with the eight as static peers, and by discovery
//!   in a community (secret) mesh: three meshes in one run, same machine;
//! - idle cost: beacon bytes each router sends per second per interface, from meshd's counters
//!   and, independently, from an nftables counter on UDP port 51821 in the namespace.
//!
//! All routers use the built-in defaults (Hello every 4 s, beacons every 5 s) except the state
//! directory and control socket, which must be their own on a shared machine.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use meshd_netns_tests::{Mesh, SEGMENT_INTERFACE};

const NODES: usize = 9;
const JOINER: usize = 8;
const BOUND: Duration = Duration::from_secs(60);
const IDLE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// The defaults, plus what a shared machine needs, plus `extra`.
fn config(mesh: &Mesh, i: usize, extra: &str) -> String {
    let dir = mesh.node_dir(i).to_string_lossy().into_owned();
    format!(
        "[node]\nstate_dir = \"{dir}\"\ncontrol_socket = \"{dir}/meshd.sock\"\n\
         ipv4_address = \"{}\"\n\n{extra}",
        mesh.ipv4_address(i)
    )
}

fn discovery() -> String {
    format!("[discovery]\ninterfaces = [\"{SEGMENT_INTERFACE}\"]\n")
}

fn has_route(mesh: &Mesh, i: usize, address: &str) -> bool {
    mesh.live_routes(i).iter().any(|r| r.contains(address))
}

/// `[membership]` for the community variant, with node `i`'s copy of the secret.
fn community(mesh: &Mesh, i: usize) -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let path = mesh.node_dir(i).join("community.key");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .expect("create the secret file");
    std::io::Write::write_all(&mut file, b"q2pNv1hXxr3cJ8V0kC4Zy7dWm6sT9bLfE5uA1oRgH2I=\n")
        .expect("write the secret");
    format!(
        "{}\n[membership]\npolicy = \"community\"\ncommunity_id = \"bench\"\n\
         community_secret_file = \"{}\"\n",
        discovery(),
        path.display()
    )
}

/// Starts the eight and waits until each has a route to every other.
fn start_eight(mesh: &mut Mesh, extra: impl Fn(&Mesh, usize) -> String) -> Vec<String> {
    for i in 0..JOINER {
        let text = config(mesh, i, &extra(mesh, i));
        mesh.start_with_config(i, &text);
    }
    let addrs: Vec<String> = (0..JOINER)
        .map(|i| mesh.mesh_address(i).to_string())
        .collect();
    let converged = mesh.wait_until(BOUND, || {
        (0..JOINER).all(|i| {
            addrs
                .iter()
                .enumerate()
                .all(|(j, a)| i == j || has_route(mesh, i, a))
        })
    });
    assert!(converged, "the eight did not converge");
    addrs
}

/// Starts the ninth with `extra` and returns (routes both ways, pinged all) in seconds.
fn join(mesh: &mut Mesh, addrs: &[String], extra: &str) -> (f64, f64) {
    let text = config(mesh, JOINER, extra);
    let started = Instant::now();
    mesh.start_with_config(JOINER, &text);
    let own = mesh.mesh_address(JOINER).to_string();
    let mut routed = None;
    while started.elapsed() < BOUND {
        let here = addrs.iter().all(|a| has_route(mesh, JOINER, a));
        if here && (0..JOINER).all(|i| has_route(mesh, i, &own)) {
            routed = Some(started.elapsed());
            break;
        }
        std::thread::sleep(POLL);
    }
    let routed = routed.expect("the ninth router did not get routes both ways");
    let mut pending: Vec<&String> = addrs.iter().collect();
    while !pending.is_empty() && started.elapsed() < BOUND {
        pending.retain(|a| {
            let addr: IpAddr = a.parse().expect("an address");
            !mesh.ping(JOINER, addr, 1, Duration::from_secs(1))
        });
    }
    assert!(
        pending.is_empty(),
        "the ninth router cannot ping {pending:?}"
    );
    (routed.as_secs_f64(), started.elapsed().as_secs_f64())
}

fn nft_beacon_counter(mesh: &Mesh, i: usize) {
    for cmd in [
        "add table inet mshdbench",
        "add chain inet mshdbench out { type filter hook output priority 0 ; }",
        "add rule inet mshdbench out udp dport 51821 counter",
    ] {
        let mut argv = vec!["nft"];
        argv.extend(cmd.split(' '));
        let out = mesh.run_in(i, &argv, Duration::from_secs(10));
        assert!(out.success(), "nft {cmd}: {out}");
    }
}

fn nft_bytes(mesh: &Mesh, i: usize) -> u64 {
    let out = mesh.run_in(
        i,
        &["nft", "list", "table", "inet", "mshdbench"],
        Duration::from_secs(10),
    );
    out.stdout
        .split_whitespace()
        .skip_while(|w| *w != "bytes")
        .nth(1)
        .and_then(|b| b.parse().ok())
        .unwrap_or(0)
}

fn meshctl_bytes(mesh: &Mesh, i: usize) -> u64 {
    let out = mesh.meshctl(i, &["--json", "discovery"], Duration::from_secs(5));
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    value["interfaces"][0]["bytes_sent"].as_u64().unwrap_or(0)
}

#[test]
#[ignore = "a benchmark: run it with bench/discovery.sh"]
fn cold_start_and_idle_cost() {
    let Some(mut mesh) = Mesh::new(NODES) else {
        return;
    };
    mesh.join_segment();
    let addrs = start_eight(&mut mesh, |_, _| discovery());
    let (routes_s, ping_s) = join(&mut mesh, &addrs, &discovery());
    println!("discovery_join_routes_s: {routes_s:.2}");
    println!("discovery_join_all_pinged_s: {ping_s:.2}");

    // Idle: every router settled; count what the beacons cost.
    std::thread::sleep(Duration::from_secs(6));
    for i in [0, JOINER] {
        nft_beacon_counter(&mesh, i);
    }
    let before: Vec<u64> = (0..NODES).map(|i| meshctl_bytes(&mesh, i)).collect();
    std::thread::sleep(IDLE);
    let after: Vec<u64> = (0..NODES).map(|i| meshctl_bytes(&mesh, i)).collect();
    let rates: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b) as f64 / IDLE.as_secs_f64())
        .collect();
    let max = rates.iter().copied().fold(0.0, f64::max);
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    println!("idle_beacon_bytes_per_s_per_interface_mean: {mean:.1}");
    println!("idle_beacon_bytes_per_s_per_interface_max: {max:.1}");
    for i in [0, JOINER] {
        let nft = nft_bytes(&mesh, i) as f64 / IDLE.as_secs_f64();
        println!("idle_beacon_bytes_per_s_node{i}_nftables: {nft:.1}");
    }
    println!(
        "idle_beacon_bytes_per_s_whole_segment_{NODES}_routers: {:.1}",
        rates.iter().sum::<f64>()
    );
    drop(mesh);

    // The same join with static peers: the ninth lists the eight with their link-local
    // endpoints and does not beacon; the eight accept its handshakes (open policy).
    let Some(mut mesh) = Mesh::new(NODES) else {
        return;
    };
    mesh.join_segment();
    let addrs = start_eight(&mut mesh, |_, _| discovery());
    let index = mesh.segment_index(JOINER);
    let mut peers = String::new();
    for i in 0..JOINER {
        peers.push_str(&format!(
            "[[peer]]\npublic_key = \"{}\"\nendpoint = \"[{}%{index}]:51820\"\n\n",
            mesh.public_key(i),
            mesh.segment_link_local(i)
        ));
    }
    let (routes_s, ping_s) = join(&mut mesh, &addrs, &peers);
    println!("static_join_routes_s: {routes_s:.2}");
    println!("static_join_all_pinged_s: {ping_s:.2}");
    drop(mesh);

    // Discovery again, every router in one community (MACed beacons, derived preshared keys).
    let Some(mut mesh) = Mesh::new(NODES) else {
        return;
    };
    mesh.join_segment();
    let addrs = start_eight(&mut mesh, community);
    let extra = community(&mesh, JOINER);
    let (routes_s, ping_s) = join(&mut mesh, &addrs, &extra);
    println!("community_join_routes_s: {routes_s:.2}");
    println!("community_join_all_pinged_s: {ping_s:.2}");
}
