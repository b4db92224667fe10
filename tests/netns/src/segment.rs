//! A shared L2 segment for discovery tests: a bridge standing in for a Wi-Fi mesh channel.
//!
//! The bridge `mshseg` lives in node 0's namespace (so it goes when the mesh is dropped, with
//! everything else). Each node gets a veth `seg0` whose other end, `sp<i>`, is a port of the
//! bridge. The veths get only their automatic link-local addresses: discovery needs nothing
//! else. Multicast snooping is off, as on a radio channel every station hears every frame.

use std::path::PathBuf;
use std::time::Duration;

use crate::{meshctl_binary, must, run, Mesh, Output, COMMAND_TIMEOUT};

/// The bridge, in node 0's namespace.
pub const SEGMENT_BRIDGE: &str = "mshseg";
/// Each node's interface on the segment.
pub const SEGMENT_INTERFACE: &str = "seg0";

impl Mesh {
    /// Puts every node on one bridge (see the module documentation).
    pub fn join_segment(&mut self) {
        let hub = self.nodes[0].ns.clone();
        must(&[
            "ip",
            "-n",
            &hub,
            "link",
            "add",
            SEGMENT_BRIDGE,
            "type",
            "bridge",
        ]);
        must(&[
            "ip",
            "-n",
            &hub,
            "link",
            "set",
            SEGMENT_BRIDGE,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        must(&["ip", "-n", &hub, "link", "set", SEGMENT_BRIDGE, "up"]);
        for i in 0..self.nodes.len() {
            self.plug(i);
        }
    }

    /// Connects node `i` to the segment (again, after [`Mesh::unplug`]).
    pub fn plug(&mut self, i: usize) {
        self.plug_into(SEGMENT_BRIDGE, SEGMENT_INTERFACE, i);
    }

    /// A further segment: bridge `bridge` (at most 12 characters) in node 0's namespace, and
    /// an interface `interface` in each of `nodes` on it. For meshes of several radio channels,
    /// where some routers hear two.
    pub fn join_bridge(&mut self, bridge: &str, interface: &str, nodes: &[usize]) {
        assert!(bridge.len() <= 12 && interface.len() <= 15, "name too long");
        let hub = self.nodes[0].ns.clone();
        must(&["ip", "-n", &hub, "link", "add", bridge, "type", "bridge"]);
        must(&[
            "ip",
            "-n",
            &hub,
            "link",
            "set",
            bridge,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        must(&["ip", "-n", &hub, "link", "set", bridge, "up"]);
        for &i in nodes {
            self.plug_into(bridge, interface, i);
        }
    }

    fn plug_into(&mut self, bridge: &str, interface: &str, i: usize) {
        let hub = self.nodes[0].ns.clone();
        let ns = self.nodes[i].ns.clone();
        let port = if bridge == SEGMENT_BRIDGE {
            format!("sp{i}")
        } else {
            format!("{}{i}", &bridge[..bridge.len().min(12)])
        };
        must(&[
            "ip", "link", "add", interface, "netns", &ns, "type", "veth", "peer", "name", &port,
            "netns", &hub,
        ]);
        must(&[
            "ip", "-n", &hub, "link", "set", &port, "master", bridge, "up",
        ]);
        must(&["ip", "-n", &ns, "link", "set", interface, "up"]);
    }

    /// Takes node `i` off the segment: its `seg0` is deleted (with the bridge port).
    pub fn unplug(&mut self, i: usize) {
        let ns = self.nodes[i].ns.clone();
        must(&["ip", "-n", &ns, "link", "del", SEGMENT_INTERFACE]);
    }

    /// The interface index of node `i`'s `seg0`, for `fe80::…%<index>` endpoints.
    pub fn segment_index(&self, i: usize) -> u32 {
        let out = self.run_in(
            i,
            &[
                "cat",
                &format!("/sys/class/net/{SEGMENT_INTERFACE}/ifindex"),
            ],
            COMMAND_TIMEOUT,
        );
        out.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no {SEGMENT_INTERFACE} in node {i}: {out}"))
    }

    /// Node `i`'s link-local address on the segment.
    pub fn segment_link_local(&self, i: usize) -> std::net::Ipv6Addr {
        let out = self.run_in(
            i,
            &[
                "ip",
                "-6",
                "-o",
                "addr",
                "show",
                "dev",
                SEGMENT_INTERFACE,
                "scope",
                "link",
            ],
            COMMAND_TIMEOUT,
        );
        out.stdout
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no link-local address on node {i}'s segment: {out}"))
    }

    /// [`Mesh::config_text`] plus a `[discovery]` section for the segment (beacons every
    /// `interval` seconds) and `extra` (more TOML: `[membership]`, more `[discovery]` keys go
    /// in `discovery_extra`).
    pub fn discovery_config(
        &self,
        i: usize,
        interval: f64,
        discovery_extra: &str,
        extra: &str,
    ) -> String {
        format!(
            "{}\n[discovery]\ninterfaces = [\"{SEGMENT_INTERFACE}\"]\ninterval = {interval}\n\
             {discovery_extra}\n{extra}\n",
            self.config_text(i)
        )
    }

    /// Node `i`'s control socket.
    pub fn control_socket(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("meshd.sock")
    }

    /// Runs `meshctl --socket <node i's> <args>` (from outside the namespace: the socket is a
    /// file), bounded in time. Without `COLUMNS`, so its tables are the 80-column ones whatever
    /// the environment of the test run says.
    pub fn meshctl(&self, i: usize, args: &[&str], timeout: Duration) -> Output {
        let bin = meshctl_binary();
        let socket = self.control_socket(i);
        let mut argv: Vec<&str> = vec![
            "env",
            "-u",
            "COLUMNS",
            bin.to_str().expect("UTF-8 path"),
            "--socket",
            socket.to_str().expect("UTF-8 path"),
        ];
        argv.extend_from_slice(args);
        run(&argv, None, timeout)
    }

    /// Node `i`'s meshd process's resident memory in KiB (from `/proc`), if it runs.
    pub fn resident_kib(&self, i: usize) -> Option<u64> {
        let pid = self.nodes[i].child.as_ref()?.id();
        // `ip netns exec` runs meshd as its child after an exec: the PID is meshd's.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }
}
