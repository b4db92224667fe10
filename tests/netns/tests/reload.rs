//! SIGHUP: a reload adds and removes peers without disturbing the sessions that did not change,
//! and a broken configuration is refused while the running one carries on.

use std::net::IpAddr;
use std::time::Duration;

use meshd_netns_tests::Mesh;

const CONVERGE: Duration = Duration::from_secs(60);
const RECOVER: Duration = Duration::from_secs(30);

fn hangup(mesh: &Mesh, i: usize) {
    let pid = mesh.pid(i).expect("node is running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -HUP {pid} failed");
}

/// Ten pings from node 0 to `to`, 0.2 s apart: whether none was lost, and ping's summary.
fn lossless_pings(mesh: &Mesh, to: IpAddr) -> (bool, String) {
    let ping = mesh.run_in(
        0,
        &["ping", "-c", "10", "-i", "0.2", "-W", "1", &to.to_string()],
        Duration::from_secs(10),
    );
    (ping.stdout.contains(" 0% packet loss"), ping.stdout)
}

/// Waits until node `i`'s current log contains `needle` `count` times.
fn wait_log(mesh: &Mesh, i: usize, needle: &str, count: usize) -> bool {
    mesh.wait_until(RECOVER, || {
        mesh.current_log(i).matches(needle).count() >= count
    })
}

#[test]
fn reload_changes_peers_and_keeps_the_others() {
    let Some(mut mesh) = Mesh::new(3) else { return };
    mesh.link_line();
    mesh.start_all();
    let addrs = mesh.mesh_addresses();
    let far = IpAddr::from(addrs[2]);
    let near = IpAddr::from(addrs[1]);
    assert!(mesh.ping(0, far, 120, CONVERGE), "no convergence");
    let config = mesh.node_dir(0).join("meshd.toml");
    let original = std::fs::read_to_string(&config).expect("read config");

    // The same file again: nothing may go down.
    let downs_before = mesh.current_log(1).matches("session down").count();
    hangup(&mesh, 1);
    assert!(wait_log(&mesh, 1, "reloaded", 1), "node 1 did not reload");
    let (lossless, summary) = lossless_pings(&mesh, far);
    assert!(
        lossless,
        "traffic across the reloaded node was disturbed: {summary}"
    );
    assert_eq!(
        mesh.current_log(1).matches("session down").count(),
        downs_before,
        "a reload without changes took a session down"
    );

    // A reload that changes something: node 1 drops its peer node 2. Its session with node 0
    // must stay up through it (no session down, traffic without loss), and only node 2 goes.
    let config1 = mesh.node_dir(1).join("meshd.toml");
    let original1 = std::fs::read_to_string(&config1).expect("read config");
    let key2 = mesh.public_key(2).to_owned();
    let without_node2: String = original1
        .split("\n[[peer]]")
        .filter(|part| !part.contains(&key2))
        .collect::<Vec<_>>()
        .join("\n[[peer]]");
    assert_eq!(
        without_node2.matches("[[peer]]").count(),
        1,
        "node 1 keeps one peer: {without_node2}"
    );
    std::fs::write(&config1, &without_node2).expect("write config");
    hangup(&mesh, 1);
    assert!(wait_log(&mesh, 1, "reloaded", 2), "node 1 did not reload");
    assert_eq!(
        mesh.current_log(1).matches(" removed").count(),
        1,
        "node 1 removed its peer node 2, and only it"
    );
    let (lossless, summary) = lossless_pings(&mesh, near);
    assert!(
        lossless,
        "a reload that removed another peer disturbed node 0's session with node 1: {summary}"
    );
    // Node 2's own session goes down with it; node 0's (the link meshd named at start) must not.
    let key0 = mesh.public_key(0).to_owned();
    let named = format!("peer {} on link ", &key0[..8]);
    let log = mesh.current_log(1);
    let link0 = log
        .lines()
        .find_map(|l| l.split_once(&named).map(|(_, rest)| rest.to_owned()))
        .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| panic!("node 1 never named node 0's link ({named:?})"));
    assert_eq!(
        log.matches(&format!("link {link0}: session down")).count(),
        0,
        "a reload that removed node 2 took node 0's session (link {link0}) down: {:#?}",
        log.lines()
            .filter(|l| l.contains("session") || l.contains("removed"))
            .collect::<Vec<_>>()
    );
    assert!(
        mesh.wait_until(RECOVER, || !mesh
            .routes(1)
            .iter()
            .any(|r| r.starts_with(&format!("{far} ")))),
        "node 1 still routes to the peer it removed: {:?}",
        mesh.routes(1)
    );
    std::fs::write(&config1, &original1).expect("write config");
    hangup(&mesh, 1);
    assert!(
        mesh.ping(0, far, 120, RECOVER),
        "node 2 not back after node 1 took it back"
    );

    // A typo: refused, the running configuration stays.
    std::fs::write(&config, format!("{original}\nnot_a_key = 1\n")).expect("write config");
    hangup(&mesh, 0);
    assert!(
        wait_log(&mesh, 0, "reload failed", 1),
        "a broken configuration was not reported"
    );
    assert!(
        mesh.ping(0, far, 5, Duration::from_secs(5)),
        "a refused reload broke routing"
    );

    // Removing node 0's only peer takes its routes away (the lost prefixes are held
    // unreachable for the hold time, RFC 8966 §3.5.4: no route through mesh0 is left).
    let without_peer = original
        .split("\n[[peer]]")
        .next()
        .expect("config text")
        .to_owned();
    std::fs::write(&config, without_peer).expect("write config");
    hangup(&mesh, 0);
    assert!(
        mesh.wait_until(RECOVER, || mesh
            .routes(0)
            .iter()
            .all(|line| line.starts_with("unreachable "))),
        "routes stayed after the peer was removed: {:#?}",
        mesh.routes(0)
    );

    // Putting it back brings them back.
    std::fs::write(&config, &original).expect("write config");
    hangup(&mesh, 0);
    assert!(
        mesh.ping(0, near, 120, RECOVER),
        "peer not back after reload"
    );
    assert!(
        mesh.ping(0, far, 120, RECOVER),
        "far node not back after reload"
    );
}
