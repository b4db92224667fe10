//! State that survives restarts, kept in `<state_dir>/state`, and the atomic file write that this
//! module and `keys` use for everything they persist.
//!
//! Today the state is the node's Babel seqno: restarting with a seqno lower than the one the mesh
//! remembers would make our own fresh routes look stale (RFC 8966 §3.5.3) until neighbours time
//! them out or we have bumped past it, so the daemon saves it and starts from it.
//!
//! The file is a tiny TOML document written by meshd:
//!
//! ```text
//! # meshd state: written by meshd, not meant for editing
//! seqno = 4711
//! ```
//!
//! Missing keys mean "unknown" and keys this version does not know are ignored, so a downgrade
//! after an upgrade still starts. A file that is not TOML, or a value out of range, is corrupt and
//! an error naming the file: the daemon decides whether to start without it.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The name of the state file inside the state directory.
pub const STATE_FILE: &str = "state";

/// What meshd remembers across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The last seqno this node announced its own routes with, if known.
    pub seqno: Option<u16>,
}

/// The file's contents. Deliberately not `deny_unknown_fields`: see the module docs.
#[derive(Deserialize)]
struct StateFile {
    seqno: Option<u16>,
}

impl State {
    /// Reads `<dir>/state`; a missing file (first start) is the default state.
    pub fn load(dir: &Path) -> Result<State, StateError> {
        let path = dir.join(STATE_FILE);
        let text = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(StateError::io(path, "cannot read", e)),
        };
        let text = String::from_utf8(text)
            .map_err(|_| StateError::corrupt(&path, "not UTF-8 text".to_string()))?;
        let file: StateFile = toml::from_str(&text)
            .map_err(|e| StateError::corrupt(&path, e.message().trim_end().to_string()))?;
        Ok(State { seqno: file.seqno })
    }

    /// Writes `<dir>/state` atomically (mode 0600), creating `dir` (mode 0700) if needed.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(STATE_FILE);
        let mut text = String::from("# meshd state: written by meshd, not meant for editing\n");
        if let Some(seqno) = self.seqno {
            text.push_str(&format!("seqno = {seqno}\n"));
        }
        create_private_dir(dir)
            .map_err(|e| StateError::io(dir.to_path_buf(), "cannot create", e))?;
        write_atomically(&path, text.as_bytes(), 0o600)
            .map_err(|e| StateError::io(path, "cannot write", e))
    }
}

/// Creates `dir` and its missing parents with mode 0700 (before umask). Existing directories keep
/// their mode: the administrator may have chosen it.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Replaces `path` with `contents` so that a crash or power cut leaves either the old file or the
/// new one, never a torn one: write a temporary file in the same directory (created exclusively,
/// with `mode` from the start so the secret is never readable by others), fsync it, rename it over
/// `path`, then fsync the directory so the rename itself is durable.
pub(crate) fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);

    let mut file = match create_exclusive(&tmp, mode) {
        // A leftover of a crashed run: pids repeat across reboots on a router.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp)?;
            create_exclusive(&tmp, mode)?
        }
        other => other?,
    };
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::File::open(dir)?.sync_all()
}

fn create_exclusive(path: &Path, mode: u32) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// Why the state file could not be read or written.
#[derive(Debug)]
pub struct StateError {
    path: PathBuf,
    kind: StateErrorKind,
}

#[derive(Debug)]
enum StateErrorKind {
    /// The file system refused: `action` says what we were doing.
    Io {
        action: &'static str,
        error: io::Error,
    },
    /// The file is there but is not a state file this version can read.
    Corrupt { reason: String },
}

impl StateError {
    fn io(path: PathBuf, action: &'static str, error: io::Error) -> StateError {
        StateError {
            path,
            kind: StateErrorKind::Io { action, error },
        }
    }

    fn corrupt(path: &Path, reason: String) -> StateError {
        StateError {
            path: path.to_path_buf(),
            kind: StateErrorKind::Corrupt { reason },
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            StateErrorKind::Io { action, error } => write!(f, "{path}: {action}: {error}"),
            StateErrorKind::Corrupt { reason } => {
                write!(
                    f,
                    "{path}: corrupt state file ({reason}); remove it to start afresh"
                )
            }
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            StateErrorKind::Io { error, .. } => Some(error),
            StateErrorKind::Corrupt { .. } => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// A fresh, empty directory under the system temp dir, removed on drop.
    #[derive(Debug)]
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("meshd-test-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create test dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn missing_file_is_default() {
        let tmp = TempDir::new("state-missing");
        assert_eq!(State::load(&tmp.0).expect("load"), State::default());
        // Even the directory may be missing before the first save.
        assert_eq!(
            State::load(&tmp.0.join("nope")).expect("load"),
            State { seqno: None }
        );
    }

    #[test]
    fn save_then_load() {
        let tmp = TempDir::new("state-roundtrip");
        let dir = tmp.0.join("var/lib/meshd");
        let state = State { seqno: Some(4711) };
        state.save(&dir).expect("save");
        assert_eq!(State::load(&dir).expect("load"), state);
        assert_eq!(mode(&dir.join(STATE_FILE)), 0o600);
        assert_eq!(mode(&dir) & 0o077, 0);

        // Overwrite, and no temporary file is left behind.
        State { seqno: None }.save(&dir).expect("save again");
        assert_eq!(State::load(&dir).expect("load"), State { seqno: None });
        let names: Vec<_> = fs::read_dir(&dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(STATE_FILE)]);
    }

    #[test]
    fn file_format_is_documented_toml() {
        let tmp = TempDir::new("state-format");
        State { seqno: Some(7) }.save(&tmp.0).expect("save");
        let text = fs::read_to_string(tmp.0.join(STATE_FILE)).expect("read");
        assert!(text.ends_with("\nseqno = 7\n"), "{text:?}");
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let tmp = TempDir::new("state-unknown");
        fs::write(tmp.0.join(STATE_FILE), "seqno = 9\nfuture = \"x\"\n").expect("write");
        assert_eq!(State::load(&tmp.0).expect("load").seqno, Some(9));
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let tmp = TempDir::new("state-corrupt");
        let path = tmp.0.join(STATE_FILE);
        for bad in [
            "seqno = 70000\n",
            "seqno = \n",
            "seqno = \"1\"\n",
            "\u{0}\u{1}",
        ] {
            fs::write(&path, bad).expect("write");
            let err = State::load(&tmp.0).expect_err(bad);
            let text = err.to_string();
            assert!(text.starts_with(&path.display().to_string()), "{text}");
            assert!(text.contains("corrupt state file"), "{text}");
        }
        fs::write(&path, [0xff, 0xfe]).expect("write");
        assert!(State::load(&tmp.0).is_err());
    }

    #[test]
    fn stale_temporary_file_is_replaced() {
        let tmp = TempDir::new("state-stale");
        let stale = tmp
            .0
            .join(format!("{STATE_FILE}.{}.tmp", std::process::id()));
        fs::write(&stale, "garbage").expect("write");
        State { seqno: Some(1) }.save(&tmp.0).expect("save");
        assert!(!stale.exists());
        assert_eq!(State::load(&tmp.0).expect("load").seqno, Some(1));
    }
}
