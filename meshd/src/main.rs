//! The meshd daemon. Not written yet: the tunnels, forwarding and kernel routes come with the
//! daemon issue. Until then this binary says so and exits non-zero.

fn main() -> std::process::ExitCode {
    eprintln!("meshd: the daemon is not implemented yet; run `meshsim` to exercise the Babel core");
    std::process::ExitCode::from(2)
}
