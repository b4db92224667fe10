//! WireGuard keys: x25519 key pairs in the text form `wg genkey` and `wg pubkey` print (base64
//! of 32 bytes), the node's private key file, and preshared key files.
//!
//! The private key is the node's identity (see `identity`), so this module is strict about its
//! file: it must be a regular file that neither group nor others can read, and a missing one is
//! generated and written atomically so a crash cannot leave a half-written identity. A private
//! key never appears in `Display` or `Debug` output, so it cannot reach a log by accident.

use std::fmt;
use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::state::{create_private_dir, write_atomically};

/// Key files are 44 base64 characters and a newline; anything much longer is not a key file, and
/// reading it whole (a device, a log someone pointed us at) would be a mistake.
const MAX_KEY_FILE_LEN: u64 = 256;

/// A WireGuard (x25519) public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The first 8 base64 characters, as `wg` abbreviates keys: enough to tell peers apart in a
    /// log line.
    pub fn short(&self) -> String {
        let mut text = self.to_string();
        text.truncate(8);
        text
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<PublicKey, KeyError> {
        decode_key(s).map(PublicKey)
    }
}

/// A WireGuard (x25519) private key. It has no `Display`, and `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    /// A new random key from the kernel's CSPRNG, clamped as `wg genkey` clamps.
    pub fn generate() -> Result<PrivateKey, KeyError> {
        let mut bytes = [0u8; 32];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| KeyError::io(Path::new("/dev/urandom"), "cannot read", e))?;
        // RFC 7748 §5: clear the cofactor bits and set the top bit, so the scalar is a multiple of
        // 8 below 2^255. x25519 would do it anyway; clamping here makes our files match wg's.
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        Ok(PrivateKey(bytes))
    }

    /// Parses the base64 text of a key, as `wg genkey` prints it (surrounding whitespace allowed).
    #[cfg(test)]
    pub fn from_base64(s: &str) -> Result<PrivateKey, KeyError> {
        decode_key(s).map(PrivateKey)
    }

    /// The base64 text of the key, as `wg genkey` prints it (without the newline).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let public = boringtun::x25519::PublicKey::from(&self.secret());
        PublicKey(public.to_bytes())
    }

    /// The key in the form boringtun's `Tunn` takes.
    pub fn secret(&self) -> boringtun::x25519::StaticSecret {
        boringtun::x25519::StaticSecret::from(self.0)
    }

    /// The raw 32 bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

/// Reads the node's private key from `path`, or generates one there if the file does not exist.
/// The flag says whether the key was generated (the daemon logs it: a new identity is news).
pub fn load_or_generate(path: &Path) -> Result<(PrivateKey, bool), KeyError> {
    match read_secret_file(path) {
        Ok(bytes) => return Ok((PrivateKey(bytes), false)),
        Err(e) if !e.is_not_found() => return Err(e),
        Err(_) => {}
    }
    let key = PrivateKey::generate()?;
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(|e| KeyError::io(dir, "cannot create directory", e))?;
    }
    let text = format!("{}\n", key.to_base64());
    write_atomically(path, text.as_bytes(), 0o600)
        .map_err(|e| KeyError::io(path, "cannot write", e))?;
    Ok((key, true))
}

/// Reads a WireGuard preshared key (`wg genpsk` output) from `path`, with the same permission
/// rule as the private key.
pub fn load_preshared(path: &Path) -> Result<[u8; 32], KeyError> {
    read_secret_file(path)
}

/// Reads a base64 key from a file that must be a regular file, unreadable by group and others.
fn read_secret_file(path: &Path) -> Result<[u8; 32], KeyError> {
    // O_NONBLOCK so that a FIFO at `path` is refused below instead of hanging the daemon.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| KeyError::io(path, "cannot open", e))?;
    // Checked on the open file, not the path, so nothing can be swapped in between.
    let metadata = file
        .metadata()
        .map_err(|e| KeyError::io(path, "cannot stat", e))?;
    if !metadata.is_file() {
        return Err(KeyError::new(path, KeyErrorKind::NotRegularFile));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::new(path, KeyErrorKind::TooOpen { mode }));
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| KeyError::io(path, "cannot read", e))?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(KeyError::new(path, KeyErrorKind::Malformed));
    }
    decode_key(&text).map_err(|e| e.with_path(path))
}

/// Decodes the base64 text of a 32-byte key, ignoring surrounding whitespace.
fn decode_key(text: &str) -> Result<[u8; 32], KeyError> {
    let malformed = || KeyError {
        path: None,
        kind: KeyErrorKind::Malformed,
    };
    let bytes = STANDARD.decode(text.trim()).map_err(|_| malformed())?;
    bytes.try_into().map_err(|_| malformed())
}

/// Why a key could not be read, parsed or written.
#[derive(Debug)]
pub struct KeyError {
    /// The file concerned; `None` for a key given as text.
    path: Option<PathBuf>,
    kind: KeyErrorKind,
}

#[derive(Debug)]
enum KeyErrorKind {
    /// The file system refused: `action` says what we were doing.
    Io {
        action: &'static str,
        error: io::Error,
    },
    /// A directory, device, FIFO or socket where a key file should be.
    NotRegularFile,
    /// Group or others may read (or write) the file.
    TooOpen { mode: u32 },
    /// Not the base64 of 32 bytes.
    Malformed,
}

impl KeyError {
    fn new(path: &Path, kind: KeyErrorKind) -> KeyError {
        KeyError {
            path: Some(path.to_path_buf()),
            kind,
        }
    }

    fn io(path: &Path, action: &'static str, error: io::Error) -> KeyError {
        KeyError::new(path, KeyErrorKind::Io { action, error })
    }

    fn with_path(mut self, path: &Path) -> KeyError {
        self.path = Some(path.to_path_buf());
        self
    }

    fn is_not_found(&self) -> bool {
        matches!(&self.kind, KeyErrorKind::Io { error, .. } if error.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        match &self.kind {
            KeyErrorKind::Io { action, error } => write!(f, "{action}: {error}"),
            KeyErrorKind::NotRegularFile => f.write_str("not a regular file"),
            KeyErrorKind::TooOpen { mode } => {
                let path = self
                    .path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                write!(
                    f,
                    "is readable by group or others (mode {mode:04o}); run chmod 600 {path}"
                )
            }
            KeyErrorKind::Malformed => f.write_str(
                "not a WireGuard key (expected 32 bytes in base64, as `wg genkey` prints)",
            ),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            KeyErrorKind::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::TempDir;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    /// RFC 7748 §6.1: Alice's private and public keys.
    const ALICE_PRIVATE: [u8; 32] = [
        0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66,
        0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9,
        0x2c, 0x2a,
    ];
    const ALICE_PUBLIC: [u8; 32] = [
        0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e, 0xf7,
        0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b,
        0x4e, 0x6a,
    ];

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn public_key_matches_rfc7748() {
        let private = PrivateKey(ALICE_PRIVATE);
        assert_eq!(private.public_key(), PublicKey(ALICE_PUBLIC));
        assert_eq!(private.bytes(), ALICE_PRIVATE);
    }

    #[test]
    fn base64_roundtrip_and_short() {
        let private = PrivateKey(ALICE_PRIVATE);
        let text = private.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(
            PrivateKey::from_base64(&format!(" {text}\n")).expect("parse"),
            private
        );

        let public = PublicKey(ALICE_PUBLIC);
        let text = public.to_string();
        assert_eq!(text, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
        assert_eq!(text.parse::<PublicKey>().expect("parse"), public);
        assert_eq!(public.short(), "hSDwCYkw");
        assert_eq!(format!("{public:?}"), format!("PublicKey({text})"));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm==", // 31 bytes
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA", // 33 bytes
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066Spjqqb!mo=",
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo", // no padding
        ] {
            assert!(bad.parse::<PublicKey>().is_err(), "{bad}");
            let err = PrivateKey::from_base64(bad).expect_err(bad);
            assert!(err.to_string().contains("not a WireGuard key"), "{err}");
        }
    }

    #[test]
    fn private_key_never_printed() {
        let private = PrivateKey(ALICE_PRIVATE);
        let debug = format!("{private:?}");
        assert_eq!(debug, "PrivateKey(..)");
    }

    #[test]
    fn generated_keys_are_clamped_and_distinct() {
        let a = PrivateKey::generate().expect("generate");
        let b = PrivateKey::generate().expect("generate");
        assert_ne!(a, b);
        let bytes = a.bytes();
        assert_eq!(bytes[0] & 7, 0);
        assert_eq!(bytes[31] & 0xc0, 0x40);
    }

    #[test]
    fn load_or_generate_creates_then_reuses() {
        let tmp = TempDir::new("keys-generate");
        let dir = tmp.0.join("etc/meshd");
        let path = dir.join("private.key");
        let (key, generated) = load_or_generate(&path).expect("generate");
        assert!(generated);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir) & 0o077, 0);
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("{}\n", key.to_base64()));

        let (again, generated) = load_or_generate(&path).expect("load");
        assert!(!generated);
        assert_eq!(again, key);
    }

    #[test]
    fn key_readable_by_others_is_refused() {
        let tmp = TempDir::new("keys-mode");
        let path = tmp.0.join("private.key");
        fs::write(
            &path,
            format!("{}\n", PrivateKey(ALICE_PRIVATE).to_base64()),
        )
        .expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = load_or_generate(&path).expect_err("mode 0644");
        let text = err.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(
            text.contains("readable by group or others (mode 0644)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("chmod 600 {}", path.display())),
            "{text}"
        );
        // The file was neither replaced nor changed.
        assert_eq!(mode(&path), 0o644);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(load_preshared(&path).is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
        assert_eq!(load_preshared(&path).expect("0400 is fine"), ALICE_PRIVATE);
    }

    #[test]
    fn non_regular_and_malformed_files_are_refused() {
        let tmp = TempDir::new("keys-bad");
        let err = load_or_generate(&tmp.0).expect_err("a directory");
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let path = tmp.0.join("private.key");
        fs::write(&path, "not a key\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = load_or_generate(&path).expect_err("garbage");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("not a WireGuard key"), "{err}");

        fs::write(&path, "A".repeat(1000)).expect("write");
        assert!(load_preshared(&path).is_err());
    }

    #[test]
    fn missing_preshared_key_is_an_error() {
        let tmp = TempDir::new("keys-psk");
        let path = tmp.0.join("psk");
        let err = load_preshared(&path).expect_err("missing");
        assert!(err.to_string().contains("cannot open"), "{err}");
        assert!(!path.exists());
    }

    fn run_wg(args: &[&str], input: &str) -> String {
        let mut child = Command::new("wg")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn wg");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write to wg");
        let output = child.wait_with_output().expect("wait for wg");
        assert!(output.status.success(), "wg {args:?} failed");
        String::from_utf8(output.stdout).expect("wg prints text")
    }

    #[test]
    fn public_key_matches_wg() {
        let has_wg = Command::new("wg")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_wg {
            assert!(
                std::env::var_os("CI").is_none(),
                "wg (wireguard-tools) is required in CI"
            );
            eprintln!("skipping public_key_matches_wg: wg (wireguard-tools) is not installed");
            return;
        }
        // A key from wg, read by us.
        let private_text = run_wg(&["genkey"], "");
        let public_text = run_wg(&["pubkey"], &private_text);
        let private = PrivateKey::from_base64(&private_text).expect("wg genkey output");
        assert_eq!(private.public_key().to_string(), public_text.trim());

        // A key from us, read by wg.
        let ours = PrivateKey::generate().expect("generate");
        let public_text = run_wg(&["pubkey"], &format!("{}\n", ours.to_base64()));
        assert_eq!(ours.public_key().to_string(), public_text.trim());
    }
}
