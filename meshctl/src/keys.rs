//! WireGuard keys, made and read exactly as `wg genkey` and `wg pubkey` do, so the two tools are
//! interchangeable in scripts: a private key is 32 random bytes clamped for X25519, printed as
//! standard base64 (44 characters with padding) and a newline; the public key is X25519 of the
//! private key and the base point, printed the same way.

use std::fs::File;
use std::io::{self, Read};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use x25519_dalek::{PublicKey, StaticSecret};

/// The kernel's random source; like `wg genkey`, meshctl trusts nothing else for key material.
const RANDOM: &str = "/dev/urandom";

/// Clamps a scalar the way Curve25519 private keys are stored (RFC 7748 section 5), so the printed
/// key is byte for byte what `wg genkey` would print for the same random bytes.
pub fn clamp(mut key: [u8; 32]) -> [u8; 32] {
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
    key
}

/// A new private key in base64, without the newline.
pub fn genkey() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    File::open(RANDOM)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {RANDOM}: {e}")))?;
    Ok(STANDARD.encode(clamp(bytes)))
}

/// Decodes a base64 WireGuard key (surrounding whitespace allowed, as `wg` allows a trailing
/// newline). The error says what is wrong in words an operator can act on.
pub fn decode(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("no key given (expected a base64 WireGuard key)".into());
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| "not a valid base64 WireGuard key".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "not a valid WireGuard key: it decodes to {} bytes, not 32",
            bytes.len()
        )
    })
}

/// The public key, in base64, of a base64 private key.
pub fn pubkey(private: &str) -> Result<String, String> {
    let secret = StaticSecret::from(decode(private)?);
    Ok(STANDARD.encode(PublicKey::from(&secret).as_bytes()))
}

/// For the command line (`peers add KEY`): accepts only a well-formed key, so a typo is a usage
/// error before any daemon is asked.
pub fn parse_key_arg(text: &str) -> Result<String, String> {
    decode(text).map(|_| text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7748_test_vector() {
        // RFC 7748 section 6.1, Alice's key pair.
        let private = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let public = [
            0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e,
            0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e,
            0xaa, 0x9b, 0x4e, 0x6a,
        ];
        assert_eq!(
            pubkey(&format!("{}\n", STANDARD.encode(private))),
            Ok(STANDARD.encode(public))
        );
    }

    #[test]
    fn new_keys_are_clamped_and_differ() {
        let a = decode(&genkey().unwrap()).unwrap();
        let b = decode(&genkey().unwrap()).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, clamp(a));
    }

    #[test]
    fn bad_keys_say_why() {
        assert!(decode("").unwrap_err().contains("no key"));
        assert!(decode("not base64!").unwrap_err().contains("base64"));
        assert!(decode("AAAA").unwrap_err().contains("3 bytes"));
        assert!(parse_key_arg("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
    }
}
