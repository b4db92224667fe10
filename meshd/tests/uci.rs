//! `meshd --check-uci` on real UCI files (`tests/uci/*.conf`) and on the default the OpenWrt
//! package ships. Each `invalid-*`, `unknown-*` and `malformed-*` file starts with
//! `# expect: <text>`: meshd must refuse it with exit status 1 and one line on stderr that
//! contains `<path>: <text>` (or `<path><text>` when the text starts with `:`, for a line that is
//! not valid UCI at all).

mod common;

use std::path::{Path, PathBuf};

fn meshd(args: &[&str]) -> (i32, String, String) {
    let output = common::meshd_command()
        .args(args)
        .output()
        .expect("run meshd");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/uci")
}

fn check(path: &Path) -> (i32, String, String) {
    meshd(&["--check-uci", path.to_str().expect("utf-8 path")])
}

fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/uci")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_default_checks_clean() {
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../openwrt/net/meshd/files/meshd.config");
    let (code, stdout, stderr) = check(&shipped);
    assert_eq!(code, 0, "stdout {stdout} stderr {stderr}");
    assert!(stdout.ends_with("meshd.config: ok\n"), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn every_option_checks_clean() {
    let (code, stdout, stderr) = check(&dir().join("every-option.conf"));
    assert_eq!(code, 0, "stdout {stdout} stderr {stderr}");
    assert!(stdout.contains("every-option.conf: ok"), "{stdout}");
}

#[test]
fn every_option_file_sets_every_option() {
    let text = std::fs::read_to_string(dir().join("every-option.conf")).expect("read");
    let set = |name: &str| {
        text.lines().any(|l| {
            let mut words = l.split_whitespace();
            matches!(words.next(), Some("option" | "list")) && words.next() == Some(name)
        })
    };
    for name in [
        "enabled",
        "gateway",
        "uplink",
        "use_gateway",
        "interface",
        "listen_port",
        "state_dir",
        "private_key_file",
        "mesh_prefix",
        "ipv4_address",
        "prefix",
        "log_level",
        "underlay_mtu",
        "control_socket",
        "hello_interval",
        "update_interval",
        "rtt",
        "link_cost",
        "max_routes_per_neighbour",
        "max_routes",
        "max_sources",
        "public_key",
        "endpoint",
        "persistent_keepalive",
        "preshared_key_file",
        "port",
        "interval",
        "max_peers",
        "max_handshakes_per_second",
        "policy",
        "community_secret_file",
        "community_id",
        "allow",
        "deny",
    ] {
        assert!(set(name), "every-option.conf does not set {name}");
    }
}

#[test]
fn each_bad_file_is_refused_naming_the_option() {
    let mut checked = 0;
    for path in files() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !["invalid-", "unknown-", "malformed-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name} has no `# expect:` first line"));
        let (code, stdout, stderr) = check(&path);
        assert_eq!(code, 1, "{name}: stdout {stdout} stderr {stderr}");
        assert!(stdout.is_empty(), "{name}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{name}: not one line: {stderr}");
        let separator = if expected.starts_with(':') { "" } else { ": " };
        let wanted = format!("meshd: {}{separator}{expected}", path.display());
        assert!(
            stderr.starts_with(&wanted),
            "{name}:\n  expected {wanted}\n  got      {stderr}"
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} bad files");
}

#[test]
fn missing_file_is_one_clear_error() {
    let (code, _, stderr) = check(Path::new("/nonexistent/meshd"));
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("meshd: /nonexistent/meshd: cannot read: "),
        "{stderr}"
    );
}

#[test]
fn uci_flags_need_a_file() {
    for flag in ["--uci", "--check-uci"] {
        let (code, _, stderr) = meshd(&[flag]);
        assert_eq!(code, 2, "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} needs a file name")),
            "{stderr}"
        );
    }
    let (code, stdout, _) = meshd(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("--check-uci PATH"), "{stdout}");
}
