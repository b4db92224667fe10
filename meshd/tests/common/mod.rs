//! How the command-line tests start the meshd binary under test.

use std::path::Path;
use std::process::Command;

/// `meshd` as cargo built it for these tests. When `MESHD_TEST_RUNNER` is set (a program and its
/// arguments, split at whitespace), the binary is started through it: `tests/cross.sh` sets
/// `qemu-arm -L /usr/arm-linux-gnueabihf`, so that these tests check the armv7 build of meshd on
/// a machine that cannot execute ARM binaries directly.
pub fn meshd_command() -> Command {
    command(Path::new(env!("CARGO_BIN_EXE_meshd")))
}

/// A command that starts `binary` (meshd under another name, say) the way [`meshd_command`] does.
pub fn command(binary: &Path) -> Command {
    let runner = std::env::var("MESHD_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}
