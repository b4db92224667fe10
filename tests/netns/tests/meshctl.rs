//! meshctl against real meshd nodes: its JSON must match the mesh's real state, and `monitor`
//! must show a neighbour going down when its link is cut.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use meshd_netns_tests::interop::meshctl_json as json;
use meshd_netns_tests::{require_tool, Mesh, Monitor};
use serde_json::Value;

const CONVERGE: Duration = Duration::from_secs(60);

fn socket(mesh: &Mesh, i: usize) -> String {
    mesh.node_dir(i)
        .join("meshd.sock")
        .to_string_lossy()
        .into_owned()
}

fn list<'a>(value: &'a Value, key: &str) -> &'a Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no `{key}` list in {value}")),
        _ => panic!("unexpected JSON {value}"),
    }
}

#[test]
fn json_matches_the_mesh() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.link_line();
    mesh.start_all();
    let addrs = mesh.mesh_addresses();
    assert!(
        mesh.ping(0, IpAddr::from(addrs[2]), 120, CONVERGE),
        "no convergence"
    );

    // The middle node has both ends as neighbours, with usable links, named by their keys.
    let keys = [mesh.public_key(0).to_owned(), mesh.public_key(2).to_owned()];
    assert!(
        mesh.wait_until(Duration::from_secs(20), || {
            let value = json(&mesh, 1, &["neighbours"]);
            let neighbours = list(&value, "neighbours");
            neighbours.len() == 2
                && neighbours.iter().all(|n| {
                    n["cost"].as_u64().is_some_and(|c| c < 65535)
                        && keys.iter().any(|k| n["peer"].as_str() == Some(k))
                })
        }),
        "node 1's neighbours: {}",
        json(&mesh, 1, &["neighbours"])
    );

    // Node 0 has a selected, installed route to every other node's addresses.
    let value = json(&mesh, 0, &["routes"]);
    let routes = list(&value, "routes");
    for (k, addr) in addrs.iter().enumerate().skip(1) {
        for dst in [
            format!("{addr}/128"),
            format!("{}/32", mesh.ipv4_address(k)),
        ] {
            assert!(
                routes.iter().any(|r| r["prefix"].as_str() == Some(&dst)
                    && r["selected"] == Value::Bool(true)
                    && r["installed"] == Value::Bool(true)),
                "node 0 has no installed route to {dst}: {value}"
            );
        }
    }

    let status = json(&mesh, 0, &["status"]);
    let status = status.get("status").unwrap_or(&status);
    assert_eq!(
        status["mesh_address"].as_str(),
        Some(addrs[0].to_string().as_str())
    );
    assert_eq!(status["public_key"].as_str(), Some(mesh.public_key(0)));
    assert_eq!(status["neighbours"].as_u64(), Some(1));
}

#[test]
fn monitor_sees_a_neighbour_go_down() {
    let Some(mut mesh) = Mesh::new(2) else { return };
    if !require_tool("nft") {
        return;
    }
    mesh.link_line();
    mesh.start_all();
    let addrs = mesh.mesh_addresses();
    assert!(
        mesh.ping(0, IpAddr::from(addrs[1]), 120, CONVERGE),
        "no convergence"
    );

    let monitor = Monitor::start(std::path::Path::new(&socket(&mesh, 0)));

    mesh.cut_silent(0, 1);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut seen = Vec::new();
    let mut down = false;
    while Instant::now() < deadline && !down {
        if let Ok(line) = monitor.lines.recv_timeout(Duration::from_millis(500)) {
            down = line.contains("neighbour_down") || line.contains("peer_down");
            seen.push(line);
        }
    }
    drop(monitor);
    mesh.heal(0, 1);
    assert!(
        down,
        "monitor showed no neighbour going down; it printed: {seen:#?}"
    );
}
