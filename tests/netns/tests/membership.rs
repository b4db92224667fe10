//! Membership on a shared segment: allowlist and community routers take in their own and
//! refuse outsiders (no session, no Babel neighbour, no routes), and `meshctl refused` says who
//! was refused and why.

use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use meshd_netns_tests::interop::meshctl_json as json;
use meshd_netns_tests::{Mesh, SEGMENT_INTERFACE};
use serde_json::Value;

const CONVERGE: Duration = Duration::from_secs(30);
const MESHCTL: Duration = Duration::from_secs(5);
/// How long outsiders get to (fail to) get in: several beacon intervals and handshake retries.
const OUTSIDERS: Duration = Duration::from_secs(8);

fn peer_keys(mesh: &Mesh, i: usize) -> Vec<String> {
    json(mesh, i, &["peers"])
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["public_key"].as_str().map(str::to_owned))
        .collect()
}

/// The reasons node `i` gives for refusing `key`.
fn refusals(mesh: &Mesh, i: usize, key: &str) -> Vec<(String, String)> {
    json(mesh, i, &["refused"])
        .as_array()
        .expect("a list")
        .iter()
        .filter(|r| r["public_key"] == key)
        .map(|r| {
            (
                r["reason"].as_str().unwrap_or_default().to_owned(),
                r["place"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Node `i` has neither a peer, a Babel neighbour nor a route for node `outsider`.
fn assert_shut_out(mesh: &mut Mesh, i: usize, outsider: usize) {
    let key = mesh.public_key(outsider).to_owned();
    assert!(
        !peer_keys(mesh, i).contains(&key),
        "node {i} has outsider {outsider} as a peer"
    );
    let neighbours = json(mesh, i, &["neighbours"]);
    assert!(
        neighbours
            .as_array()
            .expect("a list")
            .iter()
            .all(|n| n["peer"] != key.as_str()),
        "node {i} has outsider {outsider} as a Babel neighbour"
    );
    let address = mesh.mesh_address(outsider).to_string();
    assert!(
        mesh.live_routes(i).iter().all(|r| !r.contains(&address)),
        "node {i} routes to outsider {outsider}: {:?}",
        mesh.live_routes(i)
    );
}

#[test]
fn allowlist_routers_take_each_other_and_refuse_an_outsider() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.join_segment();
    // 0 and 1 allow each other; 2 is open and keen to join anyone.
    for (i, other) in [(0, 1), (1, 0)] {
        let membership = format!(
            "[membership]\npolicy = \"allowlist\"\nallow = [\"{}\"]\n",
            mesh.public_key(other)
        );
        let config = mesh.discovery_config(i, 1.0, "", &membership);
        mesh.start_with_config(i, &config);
    }
    let config = mesh.discovery_config(2, 1.0, "", "");
    mesh.start_with_config(2, &config);

    let addrs = mesh.mesh_addresses();
    assert!(
        mesh.ping(0, IpAddr::from(addrs[1]), 60, CONVERGE),
        "the allowed pair did not mesh"
    );
    std::thread::sleep(OUTSIDERS);
    for i in [0, 1] {
        assert_shut_out(&mut mesh, i, 2);
        let reasons = refusals(&mesh, i, mesh.public_key(2));
        // Its beacons are refused, and so is the handshake it starts after hearing ours.
        assert!(
            reasons.contains(&("not in allowlist".to_owned(), SEGMENT_INTERFACE.to_owned())),
            "node {i} refused node 2 for {reasons:?}"
        );
    }
    assert!(
        !mesh.ping(2, IpAddr::from(addrs[0]), 2, Duration::from_secs(3)),
        "the outsider reaches an allowlist router"
    );
    let table = mesh.meshctl(0, &["refused"], MESHCTL);
    assert!(
        table.stdout.contains("not in allowlist") && table.stdout.contains("seg0"),
        "meshctl refused shows the outsider: {table}"
    );
}

fn write_secret(mesh: &Mesh, i: usize, secret: &str) -> String {
    let path = mesh.node_dir(i).join("community.key");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .expect("create the secret file");
    std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes()).expect("write");
    path.to_string_lossy().into_owned()
}

#[test]
fn community_routers_take_members_and_refuse_outsiders() {
    let Some(mut mesh) = Mesh::new(4) else { return };
    mesh.join_segment();
    let secret = "q2pNv1hXxr3cJ8V0kC4Zy7dWm6sT9bLfE5uA1oRgH2I=";
    let wrong = "Zq2pNv1hXxr3cJ8V0kC4Zy7dWm6sT9bLfE5uA1oRgH0=";
    // 0 and 1: members. 2: the right community id, the wrong secret. 3: an open router.
    for (i, s) in [(0, secret), (1, secret), (2, wrong)] {
        let path = write_secret(&mesh, i, s);
        let membership = format!(
            "[membership]\npolicy = \"community\"\ncommunity_secret_file = \"{path}\"\n\
             community_id = \"harbour\"\n"
        );
        let config = mesh.discovery_config(i, 1.0, "", &membership);
        mesh.start_with_config(i, &config);
    }
    let config = mesh.discovery_config(3, 1.0, "", "");
    mesh.start_with_config(3, &config);

    let addrs = mesh.mesh_addresses();
    assert!(
        mesh.ping(0, IpAddr::from(addrs[1]), 60, CONVERGE),
        "the two members did not mesh"
    );

    // The open router tries harder: it is told node 0's endpoint and starts handshakes.
    let endpoint = format!(
        "[{}%{}]:51820",
        mesh.segment_link_local(0),
        mesh.segment_index(3)
    );
    let key0 = mesh.public_key(0).to_owned();
    let added = mesh.meshctl(3, &["peers", "add", &key0, &endpoint], MESHCTL);
    assert!(added.success(), "{added}");
    std::thread::sleep(OUTSIDERS);

    for outsider in [2, 3] {
        assert_shut_out(&mut mesh, 0, outsider);
        assert_shut_out(&mut mesh, 1, outsider);
    }
    let reasons = |i: usize| refusals(&mesh, 0, mesh.public_key(i));
    assert!(
        reasons(2).iter().any(|(r, _)| r == "bad community MAC"),
        "{:?}",
        reasons(2)
    );
    let three = reasons(3);
    assert!(
        three.iter().any(|(r, _)| r == "other community"),
        "{three:?}"
    );
    assert!(
        three.iter().any(|(r, _)| r == "no authenticated beacon"),
        "its handshakes are refused too: {three:?}"
    );
    // The open router's session with node 0 never came up.
    let peers3 = json(&mesh, 3, &["peers"]);
    let to0 = peers3
        .as_array()
        .expect("a list")
        .iter()
        .find(|p| p["public_key"] == key0.as_str())
        .expect("the peer added by hand");
    assert_eq!(to0["up"], false, "an outsider completed a handshake: {to0}");
    assert!(!mesh.ping(3, IpAddr::from(addrs[0]), 2, Duration::from_secs(3)));
    let table = mesh.meshctl(0, &["refused"], MESHCTL);
    assert!(table.stdout.contains("bad community MAC"), "{table}");
    eprintln!("$ meshctl refused\n{}", table.stdout);
}

#[test]
fn a_denied_static_peer_gets_no_session() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    mesh.link(0, 1);
    // Node 0 lists node 1 as a static peer (the harness does) and denies it.
    let config = format!(
        "{}\n[membership]\ndeny = [\"{}\"]\n",
        mesh.config_text(0),
        mesh.public_key(1)
    );
    assert!(config.contains("[[peer]]"));
    mesh.start_with_config(0, &config);
    mesh.start(1);
    let key1 = mesh.public_key(1).to_owned();
    let refused = mesh.wait_until(Duration::from_secs(20), || {
        let out = mesh.meshctl(0, &["--json", "refused"], MESHCTL);
        let list: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        list.as_array().is_some_and(|l| {
            l.iter()
                .any(|r| r["public_key"] == key1.as_str() && r["reason"] == "denied")
        })
    });
    assert!(refused, "node 0 does not show node 1 as denied");
    std::thread::sleep(Duration::from_secs(3));
    assert_shut_out(&mut mesh, 0, 1);
    let to0 = IpAddr::from(mesh.mesh_address(0));
    assert!(!mesh.ping(1, to0, 2, Duration::from_secs(3)));
}

#[test]
fn a_reload_that_denies_a_discovered_peer_drops_it() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    mesh.join_segment();
    for i in 0..2 {
        let config = mesh.discovery_config(i, 1.0, "", "");
        mesh.start_with_config(i, &config);
    }
    let to1 = IpAddr::from(mesh.mesh_address(1));
    assert!(mesh.ping(0, to1, 60, CONVERGE), "no convergence");
    let key1 = mesh.public_key(1).to_owned();
    let config = mesh.discovery_config(0, 1.0, "", &format!("[membership]\ndeny = [\"{key1}\"]\n"));
    std::fs::write(mesh.node_dir(0).join("meshd.toml"), config).expect("rewrite the config");
    let reload = mesh.meshctl(0, &["reload"], MESHCTL);
    assert!(reload.success(), "{reload}");
    assert!(
        !peer_keys(&mesh, 0).contains(&key1),
        "the denied peer is still a peer after the reload"
    );
    // Its beacons keep coming, and are refused.
    let refused_on_segment = mesh.wait_until(Duration::from_secs(10), || {
        refusals(&mesh, 0, &key1).contains(&("denied".to_owned(), SEGMENT_INTERFACE.to_owned()))
    });
    assert!(refused_on_segment, "{:?}", refusals(&mesh, 0, &key1));
    // (One row per key and reason: its place is where it was last refused.)
    let address = mesh.mesh_address(1).to_string();
    assert!(
        mesh.wait_until(Duration::from_secs(10), || {
            mesh.live_routes(0).iter().all(|r| !r.contains(&address))
        }),
        "a route to the denied peer is left: {:?}",
        mesh.live_routes(0)
    );
}

#[test]
fn monitor_shows_who_was_found_and_who_was_refused() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.join_segment();
    let membership = format!(
        "[membership]\npolicy = \"allowlist\"\nallow = [\"{}\"]\n",
        mesh.public_key(1)
    );
    let config = mesh.discovery_config(0, 1.0, "", &membership);
    mesh.start_with_config(0, &config);
    let socket = mesh.control_socket(0);
    assert!(
        mesh.wait_until(Duration::from_secs(10), || socket.exists()),
        "no control socket"
    );
    let mut monitor = Command::new(meshd_netns_tests::meshctl_binary())
        .args(["--socket", &socket.to_string_lossy(), "--json", "monitor"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start meshctl monitor");
    let stdout = monitor.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Events are not replayed: give meshctl time to subscribe before anything happens.
    std::thread::sleep(Duration::from_secs(1));
    for i in [1, 2] {
        let config = mesh.discovery_config(i, 1.0, "", "");
        mesh.start_with_config(i, &config);
    }
    let (key1, key2) = (mesh.public_key(1).to_owned(), mesh.public_key(2).to_owned());
    let (mut found, mut refused) = (false, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(found && refused) && std::time::Instant::now() < deadline {
        let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        found |= event["event"] == "peer_discovered"
            && event["public_key"] == key1.as_str()
            && event["interface"] == SEGMENT_INTERFACE;
        refused |= event["event"] == "peer_refused"
            && event["public_key"] == key2.as_str()
            && event["reason"] == "not in allowlist";
    }
    let _ = monitor.kill();
    let _ = monitor.wait();
    let _ = reader.join();
    assert!(found, "no peer_discovered event for the allowed router");
    assert!(refused, "no peer_refused event for the outsider");
}

#[test]
fn community_static_peers_use_the_community_preshared_key() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    // A line 0 - 1 - 2 of static peers, no discovery; 0 and 1 share the secret, 2 has another.
    mesh.link_line();
    let secret = "q2pNv1hXxr3cJ8V0kC4Zy7dWm6sT9bLfE5uA1oRgH2I=";
    let wrong = "Zq2pNv1hXxr3cJ8V0kC4Zy7dWm6sT9bLfE5uA1oRgH0=";
    for (i, s) in [(0, secret), (1, secret), (2, wrong)] {
        let path = write_secret(&mesh, i, s);
        let config = format!(
            "{}\n[membership]\npolicy = \"community\"\ncommunity_secret_file = \"{path}\"\n",
            mesh.config_text(i)
        );
        mesh.start_with_config(i, &config);
    }
    let to1 = IpAddr::from(mesh.mesh_address(1));
    assert!(
        mesh.ping(0, to1, 60, CONVERGE),
        "members with the secret did not connect"
    );
    std::thread::sleep(Duration::from_secs(6));
    let key2 = mesh.public_key(2).to_owned();
    let peers = json(&mesh, 1, &["peers"]);
    let to2 = peers
        .as_array()
        .expect("a list")
        .iter()
        .find(|p| p["public_key"] == key2.as_str())
        .expect("node 2 is a configured peer of node 1");
    assert_eq!(to2["up"], false, "a session with the wrong secret: {to2}");
    assert_shut_out(&mut mesh, 0, 2);
    assert!(mesh
        .live_routes(1)
        .iter()
        .all(|r| !r.contains(&mesh.mesh_address(2).to_string())));
}
