//! The `meshctl` binary. Everything is in the library (`src/lib.rs`), so that meshd's multi-call
//! build (feature `meshctl` of meshd) can be meshctl too.

fn main() -> std::process::ExitCode {
    meshctl::main()
}
