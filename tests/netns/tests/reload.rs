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
    let ping = mesh.run_in(
        0,
        &["ping", "-c", "10", "-i", "0.2", "-W", "1", &far.to_string()],
        Duration::from_secs(10),
    );
    assert!(
        ping.stdout.contains(" 0% packet loss"),
        "traffic across the reloaded node was disturbed: {}",
        ping.stdout
    );
    assert_eq!(
        mesh.current_log(1).matches("session down").count(),
        downs_before,
        "a reload without changes took a session down"
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
