//! The driver: the only code that reads the clock. (Being written.)

pub fn main() -> std::process::ExitCode {
    eprintln!("meshd: the daemon is not implemented yet; run `meshsim` to exercise the Babel core");
    std::process::ExitCode::from(2)
}
