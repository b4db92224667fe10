//! The meshd command line as a user meets it: checking configurations and bad arguments. These
//! never start the daemon.

mod common;

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

/// A directory of this test's own, removed when it goes out of scope, also when the test fails.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("meshd-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn example_configuration_checks_clean() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/meshd.example.toml");
    let (code, stdout, stderr) = meshd(&["--check-config", example]);
    assert_eq!(code, 0, "stdout {stdout} stderr {stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
}

#[test]
fn unknown_key_is_reported_with_line_and_column() {
    let dir = TempDir::new("typo");
    let path = dir.file(
        "typo.toml",
        "[node]\ninterface = \"mesh0\"\nlisten_prot = 51820\n",
    );
    let (code, _, stderr) = meshd(&["--check-config", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("typo.toml:3:"), "no line number: {stderr}");
    assert!(
        stderr.contains("listen_prot"),
        "does not name the key: {stderr}"
    );
}

#[test]
fn bad_value_is_reported() {
    let dir = TempDir::new("badport");
    let path = dir.file("badport.toml", "[node]\nlisten_port = 700000\n");
    let (code, _, stderr) = meshd(&["--check-config", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("badport.toml:2:"), "{stderr}");
}

#[test]
fn missing_file_is_one_clear_error() {
    let (code, _, stderr) = meshd(&["--check-config", "/nonexistent/meshd.toml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("/nonexistent/meshd.toml"), "{stderr}");
}

#[test]
fn wrong_arguments_exit_2_with_usage() {
    let (code, _, stderr) = meshd(&["--frobnicate"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("usage: meshd"), "{stderr}");
    let (code, _, stderr) = meshd(&["--config"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("needs a file name"), "{stderr}");
}

#[test]
fn help_and_version() {
    let (code, stdout, _) = meshd(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("--check-config"));
    let (code, stdout, _) = meshd(&["--version"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("meshd "));
}

/// The multi-call build, started through a symlink named `meshctl` (what the OpenWrt package
/// installs), is meshctl: its version and usage, its keys, and its error when meshd is not there.
#[cfg(feature = "meshctl")]
#[test]
fn multi_call_build_started_as_meshctl_is_meshctl() {
    let dir = TempDir::new("multicall");
    let link = dir.0.join("meshctl");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_meshd"), &link).expect("symlink");
    let meshctl = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = common::command(&link)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run meshctl");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        let output = child.wait_with_output().expect("wait");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, stdout, _) = meshctl(&["--version"], "");
    assert_eq!(code, 0);
    assert!(stdout.starts_with("meshctl "), "{stdout}");
    let (code, _, stderr) = meshctl(&["frobnicate"], "");
    assert_eq!(code, 2, "{stderr}");
    // meshctl's usage error, not meshd's: it names meshctl and the word it did not know.
    assert!(
        stderr.starts_with("meshctl: ") && stderr.contains("'frobnicate'"),
        "{stderr}"
    );

    // The private key is WireGuard's base64 of 32 bytes; its public key is another one.
    let (code, private, _) = meshctl(&["genkey"], "");
    assert_eq!(code, 0);
    assert_eq!(private.trim().len(), 44, "{private}");
    let (code, public, stderr) = meshctl(&["pubkey"], &private);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(public.trim().len(), 44, "{public}");
    assert_ne!(public, private);

    let socket = dir.0.join("no-meshd.sock");
    let (code, _, stderr) = meshctl(&["--socket", socket.to_str().expect("utf-8"), "status"], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no-meshd.sock"), "{stderr}");

    // Under its own name the same binary is still the daemon.
    let (code, stdout, _) = meshd(&["--version"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("meshd "), "{stdout}");
}
