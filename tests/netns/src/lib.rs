//! The namespace test harness: real meshd processes, one per network namespace, joined by veth
//! pairs, observed from outside with `ip`, `ping` and `iperf3`.
//!
//! # What it touches
//!
//! * Only namespaces it creates itself, named `mshn-<pid>-<k>-<i>` (the test process's PID, a
//!   per-process counter `k` for each [`Mesh`], the node index `i`), and veth pairs between them.
//! * Only the addresses fd00:75:<a>:<b>::1/64 and ::2/64 (the underlay of link a–b), whatever
//!   meshd gives itself inside `fd6d:6573:6800::/48`, and 198.51.100.<i+1> for node `i`.
//! * Only processes it started: each is kept as a [`Child`] and ended by its PID.
//!
//! Dropping a [`Mesh`] — at the end of a test, or while a failed assertion unwinds — kills every
//! process it started, dumps the node logs to stderr if the thread is panicking, and deletes its
//! namespaces (which takes the veths, the `mesh0` devices, the routes and the nftables rules with
//! them). A run that was killed outright leaves its namespaces behind; the next [`Mesh`] deletes
//! namespaces of ours whose test process is gone, and the processes still inside them.
//!
//! Only one [`Mesh`] exists at a time in a test process (the others wait on a lock), so parallel
//! `cargo test` threads do not share the two cores and skew convergence times.
//!
//! # Expectations of meshd
//!
//! * `meshd --config <path>` runs in the foreground until SIGTERM, logging to stdout/stderr.
//! * It reads its base64 private key from `<state_dir>/private.key` (written here, mode 0600).
//! * At info level it prints, once it knows its identity, a line containing exactly
//!   `mesh address <ipv6>` (for example `meshd: mesh address fd6d:6573:6800:…`). The address is
//!   derived from the public key with a hash the harness does not repeat, so [`Mesh::mesh_address`]
//!   reads it from that line.
//! * Its kernel routes carry protocol 109 and point at `mesh0`.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

pub mod delay;
pub mod interop;

/// Every namespace the harness creates starts with this.
pub const NS_PREFIX: &str = "mshn-";
/// meshd's UDP port in every namespace.
pub const LISTEN_PORT: u16 = 51820;
/// The mesh prefix written into every configuration.
pub const MESH_PREFIX: &str = "fd6d:6573:6800::/48";
/// The TUN device meshd is told to create.
pub const MESH_INTERFACE: &str = "mesh0";
/// The routing protocol number meshd's kernel routes carry.
pub const ROUTE_PROTOCOL: u8 = 109;

/// How long a short command (`ip`, `nft`, `sysctl`, `wg`) may take before it is killed.
/// How long a one-shot command (ip, meshctl, nft) may take before the harness gives up on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Mesh::stop`] waits after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SIGKILLed process gets to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Mesh::mesh_address`] waits for the daemon's identity line.
const ADDRESS_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of each log [`Mesh`]'s drop prints when a test fails.
const LOG_DUMP_BYTES: u64 = 96 * 1024;
/// Set to keep the temporary directory (configs, keys, logs) even after a passing test.
const KEEP_ENV: &str = "MESHD_NETNS_KEEP";

/// One mesh at a time per test process.
static SERIAL: Mutex<()> = Mutex::new(());
/// Tells apart the meshes one test process makes.
static MESH_COUNTER: AtomicU32 = AtomicU32::new(0);

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// What a bounded command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// `None` if it could not be started or was killed at its deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Output {
    /// Ran, exited on its own, with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, self.timed_out) {
            (_, true) => write!(f, "timed out")?,
            (Some(s), false) => write!(f, "{s}")?,
            (None, false) => write!(f, "did not run")?,
        }
        write!(
            f,
            "; stdout: {:?}; stderr: {:?}",
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

/// Runs `argv` with `stdin` as its input, killing it (by its PID, through its [`Child`]) if it
/// has not exited within `timeout`.
pub fn run(argv: &[&str], stdin: Option<&str>, timeout: Duration) -> Output {
    let Some((program, args)) = argv.split_first() else {
        return Output {
            status: None,
            stdout: String::new(),
            stderr: "empty command".into(),
            timed_out: false,
        };
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Output {
                status: None,
                stdout: String::new(),
                stderr: format!("cannot run {program}: {e}"),
                timed_out: false,
            }
        }
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Inputs are a key or an nft script: far below a pipe's buffer. Dropping closes it.
        let _ = pipe.write_all(input.as_bytes());
    }
    let stdout = child.stdout.take().map(spawn_reader);
    let stderr = child.stderr.take().map(spawn_reader);
    let (status, timed_out) = wait_bounded(&mut child, timeout);
    let status = match status {
        Some(status) => Some(status),
        None => {
            let _ = child.kill();
            let _ = wait_bounded(&mut child, REAP_TIMEOUT);
            None
        }
    };
    let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
        reader
            .and_then(|r| r.join().ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
        timed_out,
    }
}

fn spawn_reader<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Polls `child` until it exits or `timeout` passes: `(status, timed_out)`.
fn wait_bounded(child: &mut Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let step = Duration::from_millis(10);
    let deadline = Instant::now() + timeout;
    let max_polls = timeout.as_millis() / step.as_millis() + 2;
    for _ in 0..max_polls {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) if Instant::now() < deadline => thread::sleep(step),
            Ok(None) => break,
            Err(_) => return (None, false),
        }
    }
    (None, true)
}

/// Runs a short command and panics with its output if it fails.
fn must(argv: &[&str]) -> String {
    let out = run(argv, None, COMMAND_TIMEOUT);
    assert!(out.success(), "`{}` failed: {out}", argv.join(" "));
    out.stdout
}

/// Waits, polling `cond` about every 250 ms, until it holds or `timeout` passes. Returns whether
/// it held. The number of polls is bounded as well as the time.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let step = Duration::from_millis(250);
    let deadline = Instant::now() + timeout;
    let max_polls = timeout.as_millis() / step.as_millis() + 2;
    for _ in 0..max_polls {
        let started = Instant::now();
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        thread::sleep(step.saturating_sub(started.elapsed()).min(remaining));
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Can the tests run here?
// ---------------------------------------------------------------------------------------------

/// Why namespace tests cannot run on this machine, if they cannot.
pub fn environment_problem() -> Option<String> {
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        });
    if uid.as_deref() != Some("0") {
        return Some(format!(
            "not running as root (effective uid {})",
            uid.as_deref().unwrap_or("unknown")
        ));
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".into());
    }
    for (tool, args) in [
        ("ip", &["-V"][..]),
        ("wg", &["--version"][..]),
        ("ping", &["-V"][..]),
        ("sysctl", &["--version"][..]),
        ("kill", &["--version"][..]),
    ] {
        if let Some(problem) = tool_problem(tool, args) {
            return Some(problem);
        }
    }
    None
}

fn tool_problem(tool: &str, args: &[&str]) -> Option<String> {
    let mut argv = vec![tool];
    argv.extend_from_slice(args);
    let out = run(&argv, None, COMMAND_TIMEOUT);
    (!out.success()).then(|| format!("`{tool}` is missing or broken: {out}"))
}

/// Under CI (env `CI` set and not empty) a test that cannot run is a failure: panics. Elsewhere
/// it prints a loud SKIP line and the caller returns.
///
/// The line goes straight to the process's stderr, not through `eprintln!`, so that the test
/// runner's output capture does not swallow it for a test that then passes.
#[track_caller]
pub fn skip_or_fail(reason: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("netns tests cannot run and CI is set: {reason}");
    }
    let banner = "*".repeat(78);
    let thread = thread::current();
    let test = thread.name().unwrap_or("?");
    let _ = write!(
        std::io::stderr().lock(),
        "\n{banner}\n*** SKIP: {test}: meshd netns test not run: {reason}\n{banner}\n"
    );
}

/// `true` if the environment can run namespace tests; otherwise see [`skip_or_fail`].
#[track_caller]
pub fn environment_ok() -> bool {
    match environment_problem() {
        None => true,
        Some(problem) => {
            skip_or_fail(&problem);
            false
        }
    }
}

/// `true` if `tool` answers `--version`; otherwise see [`skip_or_fail`]. For tools only some
/// tests need (`iperf3`, `nft`).
#[track_caller]
pub fn require_tool(tool: &str) -> bool {
    match tool_problem(tool, &["--version"]) {
        None => true,
        Some(problem) => {
            skip_or_fail(&problem);
            false
        }
    }
}

/// The meshd binary: env `MESHD_BIN`, else `target/release/meshd`, else `target/debug/meshd`
/// (under `CARGO_TARGET_DIR` if that is set). Panics if there is none: the namespace tests are
/// meaningless without it, and `tests/run.sh` builds it first.
pub fn meshd_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("MESHD_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "MESHD_BIN={} is not a file", bin.display());
        return bin;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/netns sits two levels below the workspace")
        .to_path_buf();
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    let candidates = [target.join("release/meshd"), target.join("debug/meshd")];
    for candidate in &candidates {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    panic!(
        "no meshd binary: set MESHD_BIN or build it (`cargo build --release -p meshd`); looked at {} and {}",
        candidates[0].display(),
        candidates[1].display()
    );
}

/// The meshctl binary the tests drive: `MESHCTL_BIN`, or the one next to [`meshd_binary`].
pub fn meshctl_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("MESHCTL_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let bin = meshd_binary().with_file_name("meshctl");
    assert!(
        bin.is_file(),
        "no meshctl next to meshd ({}): build it (`cargo build --release -p meshctl`)",
        bin.display()
    );
    bin
}

// ---------------------------------------------------------------------------------------------
// Parsing `ip` output
// ---------------------------------------------------------------------------------------------

/// Route types `ip route` may print before the destination.
const ROUTE_TYPES: [&str; 10] = [
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "anycast",
    "unreachable",
    "blackhole",
    "prohibit",
    "throw",
    "nat",
];

/// The destination of one `ip route show` line and its prefix length (a bare address is a
/// host route). `None` for `default` or anything unparsable.
pub fn route_destination(line: &str) -> Option<(IpAddr, u8)> {
    let dst = line
        .split_whitespace()
        .find(|token| !ROUTE_TYPES.contains(token))?;
    let (addr, len) = match dst.split_once('/') {
        Some((addr, len)) => (addr.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?),
        None => {
            let addr = dst.parse::<IpAddr>().ok()?;
            (addr, if addr.is_ipv6() { 128 } else { 32 })
        }
    };
    Some((addr, len))
}

/// The `dev` of one `ip route show` line.
pub fn route_device(line: &str) -> Option<&str> {
    let mut tokens = line.split_whitespace();
    tokens.find(|t| *t == "dev")?;
    tokens.next()
}

/// The address that follows `mesh address ` on the last line of `log` that has it.
pub fn parse_mesh_address(log: &str) -> Option<Ipv6Addr> {
    log.lines().rev().find_map(|line| {
        let rest = &line[line.find("mesh address ")? + "mesh address ".len()..];
        let token = rest.split_whitespace().next()?;
        let token = token.trim_matches(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '/'));
        token.split('/').next()?.parse().ok()
    })
}

/// The integer after `"key":` that follows each of `path`'s keys in turn in `json`: enough of
/// JSON to read `iperf3 -J`'s `end.sum_sent.bytes` without a JSON library. Floats in exponent
/// form are read too and truncated.
pub fn json_number(json: &str, path: &[&str]) -> Option<f64> {
    let mut rest = json;
    for key in path {
        let quoted = format!("\"{key}\"");
        rest = &rest[rest.find(&quoted)? + quoted.len()..];
    }
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The mesh
// ---------------------------------------------------------------------------------------------

struct Node {
    ns: String,
    dir: PathBuf,
    private_key: String,
    public_key: String,
    child: Option<Child>,
    starts: u32,
    /// Whether the nftables table for silent cuts exists in this namespace.
    cut_table: bool,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("ns", &self.ns)
            .field("public_key", &self.public_key)
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("starts", &self.starts)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Link {
    a: usize,
    b: usize,
}

/// A helper process ([`Mesh::spawn_in`]), killed when the mesh is dropped.
#[derive(Debug)]
struct Helper {
    node: usize,
    log: PathBuf,
    child: Option<Child>,
}

/// Handle to a helper process started by [`Mesh::spawn_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperId(usize);

/// `n` network namespaces, the veth links between them, and one daemon process per namespace.
/// See the crate documentation for what it touches and how it cleans up.
#[derive(Debug)]
pub struct Mesh {
    id: String,
    dir: PathBuf,
    /// The daemon's argv; `{config}` stands for the configuration file's path.
    program: Vec<String>,
    nodes: Vec<Node>,
    links: Vec<Link>,
    silent_cuts: BTreeSet<Link>,
    down_cuts: BTreeSet<Link>,
    helpers: Vec<Helper>,
    _serial: MutexGuard<'static, ()>,
}

impl Mesh {
    /// `n` namespaces ready to run meshd, or `None` after a SKIP line if this machine cannot run
    /// namespace tests (under CI that panics instead). Panics if there is no meshd binary.
    pub fn new(n: usize) -> Option<Mesh> {
        if !environment_ok() {
            return None;
        }
        let meshd = meshd_binary();
        Some(Self::build(
            n,
            vec![
                meshd.to_string_lossy().into_owned(),
                "--config".into(),
                "{config}".into(),
            ],
        ))
    }

    /// Like [`Mesh::new`], but [`Mesh::start`] runs `argv` (with `{config}` replaced by the
    /// configuration's path) instead of meshd: for checking the harness itself with a stand-in
    /// such as `sleep 30`.
    pub fn with_command(n: usize, argv: &[&str]) -> Option<Mesh> {
        if !environment_ok() {
            return None;
        }
        assert!(!argv.is_empty(), "empty command");
        Some(Self::build(n, argv.iter().map(|s| s.to_string()).collect()))
    }

    fn build(n: usize, program: Vec<String>) -> Mesh {
        assert!((1..=250).contains(&n), "a mesh has 1 to 250 nodes, not {n}");
        let serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        remove_stale_namespaces();
        let pid = std::process::id();
        let id = format!(
            "{NS_PREFIX}{pid}-{}",
            MESH_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&id);
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("remove an old temporary directory of this name");
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("create the temporary directory");
        let mut mesh = Mesh {
            id,
            dir,
            program,
            nodes: Vec::with_capacity(n),
            links: Vec::new(),
            silent_cuts: BTreeSet::new(),
            down_cuts: BTreeSet::new(),
            helpers: Vec::new(),
            _serial: serial,
        };
        // Each namespace is recorded as soon as it exists, so a panic part-way through still
        // deletes it.
        for i in 0..n {
            mesh.add_node(i);
        }
        mesh
    }

    fn add_node(&mut self, i: usize) {
        let ns = format!("{}-{i}", self.id);
        let node_dir = self.dir.join(format!("node{i}"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&node_dir)
            .expect("create the node directory");
        must(&["ip", "netns", "add", &ns]);
        self.nodes.push(Node {
            ns: ns.clone(),
            dir: node_dir,
            private_key: String::new(),
            public_key: String::new(),
            child: None,
            starts: 0,
            cut_table: false,
        });
        must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        self.must_in(
            i,
            &[
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv4.ip_forward=1",
                // Interfaces made later (the veths, mesh0) start without DAD.
                "net.ipv6.conf.default.accept_dad=0",
            ],
        );
        let private_key = must(&["wg", "genkey"]).trim().to_owned();
        let out = run(&["wg", "pubkey"], Some(&private_key), COMMAND_TIMEOUT);
        assert!(out.success(), "`wg pubkey` failed: {out}");
        let node = &mut self.nodes[i];
        node.public_key = out.stdout.trim().to_owned();
        node.private_key = private_key;
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the mesh has no nodes (it never has; for clippy).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The namespace of node `i`.
    pub fn namespace(&self, i: usize) -> &str {
        &self.nodes[i].ns
    }

    /// Node `i`'s directory: `meshd.toml`, `private.key` (it is the state dir) and `log`.
    pub fn node_dir(&self, i: usize) -> &Path {
        &self.nodes[i].dir
    }

    /// Node `i`'s WireGuard public key (base64).
    pub fn public_key(&self, i: usize) -> &str {
        &self.nodes[i].public_key
    }

    /// The name of the veth that leads to node `toward` (in the namespace of the node at its
    /// other end).
    pub fn veth_name(toward: usize) -> String {
        format!("veth{toward}")
    }

    /// The underlay address of node `a`'s end of link `a`–`b` (made by [`Mesh::link`]).
    pub fn underlay_address(&self, a: usize, b: usize) -> Ipv6Addr {
        let link = self.find_link(a, b);
        let host = if link.a == a { 1 } else { 2 };
        Ipv6Addr::new(0xfd00, 0x75, link.a as u16, link.b as u16, 0, 0, 0, host)
    }

    /// Node `i`'s IPv4 address in the mesh: 198.51.100.<i+1>.
    pub fn ipv4_address(&self, i: usize) -> Ipv4Addr {
        assert!(i < self.nodes.len());
        Ipv4Addr::new(198, 51, 100, (i + 1) as u8)
    }

    #[track_caller]
    fn find_link(&self, a: usize, b: usize) -> Link {
        *self
            .links
            .iter()
            .find(|l| (l.a, l.b) == (a, b) || (l.a, l.b) == (b, a))
            .unwrap_or_else(|| panic!("no link between nodes {a} and {b}"))
    }

    /// Joins nodes `a` and `b` with a veth pair (`veth<b>` in a, `veth<a>` in b), both up,
    /// without DAD, with fd00:75:<a>:<b>::1/64 on a's end and ::2/64 on b's. Call before
    /// starting either node: the configuration lists the peers of the links that exist then.
    #[track_caller]
    pub fn link(&mut self, a: usize, b: usize) {
        let n = self.nodes.len();
        assert!(
            a < n && b < n && a != b,
            "cannot link {a} and {b} in a mesh of {n}"
        );
        assert!(
            !self
                .links
                .iter()
                .any(|l| (l.a, l.b) == (a, b) || (l.a, l.b) == (b, a)),
            "nodes {a} and {b} are already linked"
        );
        let (if_a, if_b) = (Self::veth_name(b), Self::veth_name(a));
        let (ns_a, ns_b) = (self.nodes[a].ns.clone(), self.nodes[b].ns.clone());
        // Made directly inside the two namespaces: no name ever appears in the host's.
        must(&[
            "ip", "link", "add", &if_a, "netns", &ns_a, "type", "veth", "peer", "name", &if_b,
            "netns", &ns_b,
        ]);
        self.links.push(Link { a, b });
        for (node, ifname, peer) in [(a, &if_a, b), (b, &if_b, a)] {
            self.must_in(
                node,
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{ifname}.accept_dad=0"),
                    // `cut_down` must not take the underlay address away with the link.
                    &format!("net.ipv6.conf.{ifname}.keep_addr_on_down=1"),
                ],
            );
            let addr = format!("{}/64", self.underlay_address(node, peer));
            let ns = &self.nodes[node].ns;
            must(&["ip", "-n", ns, "addr", "add", &addr, "dev", ifname, "nodad"]);
            must(&["ip", "-n", ns, "link", "set", ifname, "up"]);
        }
    }

    /// Links 0–1, 1–2, …, (n-2)–(n-1).
    pub fn link_line(&mut self) {
        for i in 1..self.nodes.len() {
            self.link(i - 1, i);
        }
    }

    /// The line plus (n-1)–0.
    pub fn link_ring(&mut self) {
        self.link_line();
        let n = self.nodes.len();
        assert!(n >= 3, "a ring needs 3 nodes");
        self.link(n - 1, 0);
    }

    /// Node `i`'s configuration file, as [`Mesh::start`] writes it.
    pub fn config_text(&self, i: usize) -> String {
        let node = &self.nodes[i];
        let mut text = format!(
            "[node]\n\
             interface = {}\n\
             listen_port = {LISTEN_PORT}\n\
             state_dir = {}\n\
             mesh_prefix = {}\n\
             ipv4_address = {}\n\
             log_level = \"debug\"\n\
             control_socket = {}\n\
             \n\
             [babel]\n\
             hello_interval = 1\n\
             update_interval = 4\n",
            toml_string(MESH_INTERFACE),
            toml_string(&node.dir.to_string_lossy()),
            toml_string(MESH_PREFIX),
            toml_string(&self.ipv4_address(i).to_string()),
            toml_string(&node.dir.join("meshd.sock").to_string_lossy()),
        );
        for link in &self.links {
            let peer = match (link.a == i, link.b == i) {
                (true, _) => link.b,
                (_, true) => link.a,
                _ => continue,
            };
            text.push_str(&format!(
                "\n[[peer]]\n\
                 public_key = {}\n\
                 endpoint = {}\n\
                 persistent_keepalive = 5\n",
                toml_string(&self.nodes[peer].public_key),
                toml_string(&format!(
                    "[{}]:{LISTEN_PORT}",
                    self.underlay_address(peer, i)
                )),
            ));
        }
        text
    }

    fn config_path(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("meshd.toml")
    }

    /// Node `i`'s log file (the daemon's stdout and stderr, every run appended).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("log")
    }

    /// Node `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        fs::read(self.log_path(i))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The part of node `i`'s log written by its current (or last) run.
    pub fn current_log(&self, i: usize) -> String {
        let log = self.log(i);
        let marker = start_marker(self.nodes[i].starts);
        match log.rfind(&marker) {
            Some(at) => log[at..].to_owned(),
            None => log,
        }
    }

    /// Writes node `i`'s configuration and private key and starts its daemon in its namespace,
    /// output appended to its log. Panics if it is already running.
    #[track_caller]
    pub fn start(&mut self, i: usize) {
        let config = self.config_text(i);
        self.start_with_config(i, &config);
    }

    /// Starts every node.
    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// The PID of node `i`'s process (`ip netns exec` execs the daemon, so it is the daemon's),
    /// if it has one that has not been reaped.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    /// Whether node `i`'s process is alive.
    pub fn is_running(&mut self, i: usize) -> bool {
        matches!(
            self.nodes[i].child.as_mut().map(Child::try_wait),
            Some(Ok(None))
        )
    }

    /// Node `i`'s exit status, if its process has exited (and has not been restarted since).
    pub fn exit_status(&mut self, i: usize) -> Option<ExitStatus> {
        self.nodes[i].child.as_mut()?.try_wait().ok().flatten()
    }

    /// Drops the handle of an exited process (it was reaped by `try_wait`).
    fn reap(&mut self, i: usize) {
        if self.exit_status(i).is_some() {
            self.nodes[i].child = None;
        }
    }

    /// SIGKILLs node `i` by its PID and reaps it. Returns its exit status (`None` if it was not
    /// running or could not be reaped in time).
    pub fn kill9(&mut self, i: usize) -> Option<ExitStatus> {
        let mut child = self.nodes[i].child.take()?;
        kill_and_reap(&mut child)
    }

    /// Sends node `i` SIGTERM and waits up to 5 s for it to exit. `Err` if it was not running,
    /// or did not exit in time (it is then SIGKILLed).
    pub fn stop(&mut self, i: usize) -> Result<ExitStatus, String> {
        let Some(mut child) = self.nodes[i].child.take() else {
            return Err(format!("node {i} was not started"));
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("node {i} had already exited: {status}"));
        }
        // The child is ours and not yet reaped, so its PID cannot have been reused.
        let pid = child.id().to_string();
        let out = run(&["kill", "-TERM", &pid], None, COMMAND_TIMEOUT);
        if !out.success() {
            kill_and_reap(&mut child);
            return Err(format!("kill -TERM {pid} failed: {out}"));
        }
        match wait_bounded(&mut child, STOP_TIMEOUT) {
            (Some(status), _) => Ok(status),
            _ => {
                kill_and_reap(&mut child);
                Err(format!(
                    "node {i} (pid {pid}) did not exit within {STOP_TIMEOUT:?} of SIGTERM; SIGKILLed"
                ))
            }
        }
    }

    /// [`Mesh::stop`] (if it is running) then [`Mesh::start`].
    pub fn restart(&mut self, i: usize) {
        if self.is_running(i) {
            if let Err(e) = self.stop(i) {
                eprintln!("meshd-netns: restart: {e}");
            }
        }
        self.start(i);
    }

    /// Node `i`'s mesh address from its current run's `mesh address <ipv6>` log line, if printed.
    pub fn try_mesh_address(&self, i: usize) -> Option<Ipv6Addr> {
        parse_mesh_address(&self.current_log(i))
    }

    /// Node `i`'s mesh address, waiting up to 20 s for the daemon to print it. Panics (with the
    /// log) if it does not, or if the daemon exits first.
    #[track_caller]
    pub fn mesh_address(&mut self, i: usize) -> Ipv6Addr {
        let deadline = Instant::now() + ADDRESS_TIMEOUT;
        let max_polls = ADDRESS_TIMEOUT.as_millis() / 100 + 2;
        for _ in 0..max_polls {
            if let Some(addr) = self.try_mesh_address(i) {
                return addr;
            }
            if let Some(status) = self.exit_status(i) {
                panic!(
                    "node {i} exited ({status}) without printing `mesh address <ipv6>`; its log:\n{}",
                    self.current_log(i)
                );
            }
            assert!(
                self.nodes[i].child.is_some(),
                "node {i} is not running: start it before asking its mesh address"
            );
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "node {i} printed no `mesh address <ipv6>` line within {ADDRESS_TIMEOUT:?}; its log:\n{}",
            self.current_log(i)
        );
    }

    /// Every node's mesh address (see [`Mesh::mesh_address`]).
    #[track_caller]
    pub fn mesh_addresses(&mut self) -> Vec<Ipv6Addr> {
        let mut addrs = Vec::with_capacity(self.nodes.len());
        for i in 0..self.nodes.len() {
            addrs.push(self.mesh_address(i));
        }
        addrs
    }

    /// Runs a short command in node `i`'s namespace, killed after `timeout`.
    pub fn run_in(&self, i: usize, argv: &[&str], timeout: Duration) -> Output {
        let mut full = vec!["ip", "netns", "exec", self.nodes[i].ns.as_str()];
        full.extend_from_slice(argv);
        run(&full, None, timeout)
    }

    fn must_in(&self, i: usize, argv: &[&str]) -> String {
        let out = self.run_in(i, argv, COMMAND_TIMEOUT);
        assert!(
            out.success(),
            "`{}` in node {i} failed: {out}",
            argv.join(" ")
        );
        out.stdout
    }

    fn ip_lines(&self, i: usize, args: &[&str]) -> Vec<String> {
        let mut argv = vec!["ip", "-n", self.nodes[i].ns.as_str()];
        argv.extend_from_slice(args);
        let out = run(&argv, None, COMMAND_TIMEOUT);
        if !out.success() {
            return Vec::new();
        }
        out.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Node `i`'s kernel routes of protocol 109: `ip -6 route show proto 109` then
    /// `ip -4 route show proto 109`, one line each.
    pub fn routes(&self, i: usize) -> Vec<String> {
        let proto = ROUTE_PROTOCOL.to_string();
        let mut routes = self.ip_lines(i, &["-6", "route", "show", "proto", &proto]);
        routes.extend(self.ip_lines(i, &["-4", "route", "show", "proto", &proto]));
        routes
    }

    /// Node `i`'s protocol-109 routes that carry traffic, without the prefixes meshd holds
    /// `unreachable` after losing them (RFC 8966 §3.5.4): what it routes to, not what it refuses.
    pub fn live_routes(&self, i: usize) -> Vec<String> {
        self.routes(i)
            .into_iter()
            .filter(|line| !line.starts_with("unreachable "))
            .collect()
    }

    /// The names of node `i`'s interfaces (`veth1`, not `veth1@if7`).
    pub fn links_in(&self, i: usize) -> Vec<String> {
        self.ip_lines(i, &["-o", "link", "show"])
            .iter()
            .filter_map(|line| {
                let name = line.split(": ").nth(1)?;
                Some(name.split('@').next()?.to_owned())
            })
            .collect()
    }

    /// The addresses (`addr/len`, both families, link-local included) on `dev` in node `i`;
    /// empty if there is no such device.
    pub fn addresses_on(&self, i: usize, dev: &str) -> Vec<String> {
        self.ip_lines(i, &["-o", "addr", "show", "dev", dev])
            .iter()
            .filter_map(|line| {
                let mut tokens = line.split_whitespace();
                tokens.find(|t| *t == "inet" || *t == "inet6")?;
                tokens.next().map(str::to_owned)
            })
            .collect()
    }

    /// Pings `addr` from node `i` (`ping -c1 -W1`, at most one attempt a second) until a reply
    /// comes, at most `attempts` times and for at most `timeout`. Returns whether one came.
    pub fn ping(&self, from: usize, addr: IpAddr, attempts: u32, timeout: Duration) -> bool {
        let family = if addr.is_ipv6() { "-6" } else { "-4" };
        let target = addr.to_string();
        let deadline = Instant::now() + timeout;
        for _ in 0..attempts {
            let started = Instant::now();
            let out = self.run_in(
                from,
                &["ping", family, "-n", "-q", "-c1", "-W1", &target],
                Duration::from_secs(5),
            );
            if out.success() {
                return true;
            }
            if Instant::now() >= deadline {
                break;
            }
            let pause = Duration::from_secs(1).saturating_sub(started.elapsed());
            thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
            if Instant::now() >= deadline {
                break;
            }
        }
        false
    }

    /// [`wait_until`], as a method for convenience.
    pub fn wait_until(&self, timeout: Duration, cond: impl FnMut() -> bool) -> bool {
        wait_until(timeout, cond)
    }

    /// Cuts link `a`–`b` silently: the link stays up, and nftables (table `inet mshcut` in both
    /// namespaces) drops everything in, out and through the veth.
    #[track_caller]
    pub fn cut_silent(&mut self, a: usize, b: usize) {
        let link = self.find_link(a, b);
        for (node, peer) in [(link.a, link.b), (link.b, link.a)] {
            if !self.nodes[node].cut_table {
                let script = "add table inet mshcut\n\
                     add set inet mshcut cut { type ifname; }\n\
                     add chain inet mshcut input { type filter hook input priority -300; policy accept; }\n\
                     add chain inet mshcut output { type filter hook output priority -300; policy accept; }\n\
                     add chain inet mshcut forward { type filter hook forward priority -300; policy accept; }\n\
                     add rule inet mshcut input iifname @cut drop\n\
                     add rule inet mshcut output oifname @cut drop\n\
                     add rule inet mshcut forward iifname @cut drop\n\
                     add rule inet mshcut forward oifname @cut drop\n";
                self.nft(node, script);
                self.nodes[node].cut_table = true;
            }
            let element = format!(
                "add element inet mshcut cut {{ \"{}\" }}\n",
                Self::veth_name(peer)
            );
            self.nft(node, &element);
        }
        self.silent_cuts.insert(link);
    }

    fn nft(&self, i: usize, script: &str) {
        let argv = ["ip", "netns", "exec", &self.nodes[i].ns, "nft", "-f", "-"];
        let out = run(&argv, Some(script), COMMAND_TIMEOUT);
        assert!(
            out.success(),
            "nft in node {i} failed: {out}\nscript:\n{script}"
        );
    }

    /// Cuts link `a`–`b` by setting both veth ends down.
    #[track_caller]
    pub fn cut_down(&mut self, a: usize, b: usize) {
        let link = self.find_link(a, b);
        for (node, peer) in [(link.a, link.b), (link.b, link.a)] {
            let ifname = Self::veth_name(peer);
            must(&[
                "ip",
                "-n",
                &self.nodes[node].ns,
                "link",
                "set",
                &ifname,
                "down",
            ]);
        }
        self.down_cuts.insert(link);
    }

    /// Undoes [`Mesh::cut_silent`] and [`Mesh::cut_down`] on link `a`–`b`: both ends up, the
    /// underlay addresses in place, nothing dropped.
    #[track_caller]
    pub fn heal(&mut self, a: usize, b: usize) {
        let link = self.find_link(a, b);
        for (node, peer) in [(link.a, link.b), (link.b, link.a)] {
            let ifname = Self::veth_name(peer);
            if self.silent_cuts.contains(&link) {
                self.nft(
                    node,
                    &format!("delete element inet mshcut cut {{ \"{ifname}\" }}\n"),
                );
            }
            let ns = self.nodes[node].ns.clone();
            let addr = format!("{}/64", self.underlay_address(node, peer));
            must(&["ip", "-n", &ns, "link", "set", &ifname, "up"]);
            must(&[
                "ip", "-n", &ns, "addr", "replace", &addr, "dev", &ifname, "nodad",
            ]);
        }
        self.silent_cuts.remove(&link);
        self.down_cuts.remove(&link);
    }

    /// Starts a helper (say `iperf3 -s`) in node `i`'s namespace, its output to
    /// `node<i>/<name>-<k>.log`. It is killed when the mesh is dropped, if it is still running.
    pub fn spawn_in(&mut self, i: usize, name: &str, argv: &[&str]) -> HelperId {
        let log_path = self.nodes[i]
            .dir
            .join(format!("{name}-{}.log", self.helpers.len()));
        let log = File::create(&log_path).expect("create the helper log");
        let log_err = log.try_clone().expect("clone the log handle");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.nodes[i].ns])
            .args(argv)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}` in node {i}: {e}", argv.join(" ")));
        self.helpers.push(Helper {
            node: i,
            log: log_path,
            child: Some(child),
        });
        HelperId(self.helpers.len() - 1)
    }

    /// Waits up to `timeout` for a helper to exit: its status and its output so far. Kills it
    /// if it has not exited by then (status `None`).
    pub fn wait_helper(&mut self, id: HelperId, timeout: Duration) -> (Option<ExitStatus>, String) {
        let helper = &mut self.helpers[id.0];
        let status = match helper.child.take() {
            Some(mut child) => match wait_bounded(&mut child, timeout) {
                (Some(status), _) => Some(status),
                _ => {
                    kill_and_reap(&mut child);
                    None
                }
            },
            None => None,
        };
        let output = fs::read(&helper.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        (status, output)
    }

    /// Sends a helper `signal` (`-INT`, `-TERM`, …) by its PID, if it is still running (`ip netns
    /// exec` execs the program, so the PID is the helper's own). Returns whether it was sent.
    pub fn signal_helper(&mut self, id: HelperId, signal: &str) -> bool {
        let Some(child) = self.helpers[id.0].child.as_mut() else {
            return false;
        };
        // Not yet reaped, so the PID cannot have been reused.
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        let pid = child.id().to_string();
        run(&["kill", signal, &pid], None, COMMAND_TIMEOUT).success()
    }

    fn dump_logs(&self) {
        eprintln!(
            "======== meshd-netns: logs of {} ({}) ========",
            self.id,
            self.dir.display()
        );
        for (i, node) in self.nodes.iter().enumerate() {
            eprintln!(
                "-------- node {i} ({}) {} --------",
                node.ns,
                self.log_path(i).display()
            );
            eprintln!("{}", tail(&self.log_path(i), LOG_DUMP_BYTES));
            eprintln!("-------- node {i} routes (proto {ROUTE_PROTOCOL}) --------");
            for route in self.routes(i) {
                eprintln!("{route}");
            }
        }
        for helper in &self.helpers {
            eprintln!(
                "-------- helper in node {} {} --------",
                helper.node,
                helper.log.display()
            );
            eprintln!("{}", tail(&helper.log, LOG_DUMP_BYTES));
        }
        eprintln!("======== meshd-netns: end of logs of {} ========", self.id);
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        // Nothing in here may panic: it may run while a failed test unwinds.
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                kill_and_reap(&mut child);
            }
        }
        for helper in &mut self.helpers {
            if let Some(mut child) = helper.child.take() {
                kill_and_reap(&mut child);
            }
        }
        let failed = thread::panicking();
        if failed {
            self.dump_logs();
        }
        for node in &self.nodes {
            delete_namespace(&node.ns);
        }
        if failed || std::env::var_os(KEEP_ENV).is_some() {
            eprintln!(
                "meshd-netns: kept {} (configs, keys, logs)",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn start_marker(run: u32) -> String {
    format!("==== meshd-netns: start #{run}:")
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_private_key(path: &Path, key: &str) {
    // Created 0600; an older file (from a previous run) is narrowed to 0600 before rewriting.
    if path.exists() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .expect("chmod the private key");
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create the private key file");
    writeln!(file, "{key}").expect("write the private key");
}

fn kill_and_reap(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = child.kill();
    wait_bounded(child, REAP_TIMEOUT).0
}

fn delete_namespace(ns: &str) {
    let out = run(&["ip", "netns", "del", ns], None, COMMAND_TIMEOUT);
    if !out.success() {
        eprintln!("meshd-netns: could not delete namespace {ns}: {out}");
    }
}

fn tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut text = String::new();
    if len > max {
        let _ = file.seek(SeekFrom::Start(len - max));
        text.push_str(&format!("(… first {} bytes left out …)\n", len - max));
    }
    let mut bytes = Vec::new();
    let _ = file.take(max).read_to_end(&mut bytes);
    text.push_str(&String::from_utf8_lossy(&bytes));
    text
}

/// Deletes namespaces named `mshn-<pid>-…` whose test process `<pid>` is gone (a run killed
/// before its drops ran), first SIGKILLing by PID the processes still inside them, which only
/// such a run can have started. Namespaces of live test processes are left alone.
fn remove_stale_namespaces() {
    let out = run(&["ip", "netns", "list"], None, COMMAND_TIMEOUT);
    if !out.success() {
        return;
    }
    for line in out.stdout.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(owner) = name
            .strip_prefix(NS_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let pids = run(&["ip", "netns", "pids", name], None, COMMAND_TIMEOUT);
        for pid in pids.stdout.split_whitespace() {
            if pid.parse::<u32>().is_ok() {
                let _ = run(&["kill", "-KILL", pid], None, COMMAND_TIMEOUT);
            }
        }
        eprintln!("meshd-netns: deleting stale namespace {name} (test process {owner} is gone)");
        delete_namespace(name);
    }
}

// ---------------------------------------------------------------------------------------------
// interop helpers (BIRD)
// ---------------------------------------------------------------------------------------------

impl Mesh {
    /// Writes node `i`'s private key to `<node_dir>/private.key` (mode 0600, as [`Mesh::start`]
    /// does) without starting meshd, and returns the path: for a node that runs another
    /// WireGuard implementation (`wg set wg0 private-key <path>`) under the key the other nodes'
    /// configurations already name.
    pub fn write_private_key_file(&self, i: usize) -> PathBuf {
        let path = self.nodes[i].dir.join("private.key");
        write_private_key(&path, &self.nodes[i].private_key);
        path
    }
}

// interop helpers (babeld)
// ---------------------------------------------------------------------------------------------

impl Mesh {
    /// Writes node `i`'s private key (the one [`Mesh::public_key`] belongs to) to
    /// `<node_dir>/<name>`, mode 0600, and returns the path: for a node that runs another
    /// WireGuard (`wg set <if> private-key <path>`) instead of meshd.
    pub fn write_foreign_key_file(&self, i: usize, name: &str) -> PathBuf {
        let path = self.nodes[i].dir.join(name);
        write_private_key(&path, &self.nodes[i].private_key);
        path
    }

    /// [`Mesh::start`] with `config` as node `i`'s configuration instead of
    /// [`Mesh::config_text`]: for a peer that is not at the harness's port.
    #[track_caller]
    pub fn start_with_config(&mut self, i: usize, config: &str) {
        assert!(!self.is_running(i), "node {i} is already running");
        self.reap(i);
        let path = self.config_path(i);
        fs::write(&path, config).expect("write the configuration");
        write_private_key(
            &self.nodes[i].dir.join("private.key"),
            &self.nodes[i].private_key,
        );
        let starts = self.nodes[i].starts + 1;
        let path = path.to_string_lossy().into_owned();
        let argv: Vec<String> = self
            .program
            .iter()
            .map(|arg| arg.replace("{config}", &path))
            .collect();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("open the node log");
        writeln!(log, "{} {}", start_marker(starts), argv.join(" ")).expect("write the node log");
        let log_err = log.try_clone().expect("clone the log handle");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.nodes[i].ns])
            .args(&argv)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {i}: {e}"));
        let node = &mut self.nodes[i];
        node.child = Some(child);
        node.starts = starts;
    }
}

// ---------------------------------------------------------------------------------------------
// end of interop helpers (babeld)
// ---------------------------------------------------------------------------------------------

// LAN hosts, uplinks, meshctl and nftables counters for the LAN and gateway tests.
mod hosts;
pub use hosts::CONVERGE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_lines() {
        let line = "fd6d:6573:6800:1::1 dev mesh0 proto 109 metric 1024 pref medium";
        assert_eq!(
            route_destination(line),
            Some(("fd6d:6573:6800:1::1".parse().unwrap(), 128))
        );
        assert_eq!(route_device(line), Some("mesh0"));
        let line = "198.51.100.3 dev mesh0 proto 109 scope link";
        assert_eq!(
            route_destination(line),
            Some(("198.51.100.3".parse().unwrap(), 32))
        );
        let line = "unreachable fd6d:6573:6800::/48 dev lo proto 109 metric 1024 pref medium";
        assert_eq!(
            route_destination(line),
            Some(("fd6d:6573:6800::".parse().unwrap(), 48))
        );
        assert_eq!(route_destination("default via fe80::1 dev veth1"), None);
    }

    #[test]
    fn mesh_address_lines() {
        let log = "x\n[2025 INFO meshd] meshd: mesh address fd6d:6573:6800:aa::1\n\
                   [INFO] mesh address fd6d:6573:6800:bb::2/128, router-id 1\n";
        assert_eq!(
            parse_mesh_address(log),
            Some("fd6d:6573:6800:bb::2".parse().unwrap())
        );
        assert_eq!(parse_mesh_address("mesh address unknown"), None);
    }

    #[test]
    fn iperf_json() {
        let json = r#"{"start":{"x":{"bytes":1}},"end":{"streams":[{"sender":{"bytes":7}}],
            "sum_sent":{"start":0,"bytes":	123456,"bits_per_second":1.5e+09},
            "sum_received":{"bytes":123000,"bits_per_second":3.2e9}}}"#;
        assert_eq!(
            json_number(json, &["end", "sum_sent", "bytes"]),
            Some(123456.0)
        );
        assert_eq!(
            json_number(json, &["end", "sum_received", "bytes"]),
            Some(123000.0)
        );
        assert_eq!(
            json_number(json, &["end", "sum_received", "bits_per_second"]),
            Some(3.2e9)
        );
        assert_eq!(json_number(json, &["end", "nothing"]), None);
    }

    #[test]
    fn toml_strings() {
        assert_eq!(toml_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}

// ---------------------------------------------------------------------------------------------
// discovery helpers: a shared segment (segment.rs)
// ---------------------------------------------------------------------------------------------

mod segment;
pub use segment::{SEGMENT_BRIDGE, SEGMENT_INTERFACE};
