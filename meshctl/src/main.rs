//! meshctl, the operator's tool. Not written yet: it comes with the control API issue.

fn main() -> std::process::ExitCode {
    eprintln!("meshctl: not implemented yet (needs the meshd control API)");
    std::process::ExitCode::from(2)
}
