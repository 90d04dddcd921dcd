//! Credentials at rest (issue 17): a link's SendPulse client secret is
//! sealed with the server key (ChaCha20-Poly1305 from `ring`, which the
//! server already builds for TLS) before it reaches `server.db`, bound to its
//! workspace and client id (the AEAD's associated data), so a sealed secret
//! copied to another row does not open.
//!
//! The key is 32 bytes, given as 64 hex digits in `RAPPORT_SERVER_KEY` or in
//! a file (`--server-key-file`). Neither the key nor a secret is ever
//! logged: `Debug` shows neither.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the server key must be 32 bytes written as 64 hex digits")]
    BadKey,
    #[error("the sealed secret does not open with this server key")]
    WrongKey,
    #[error("the random number generator failed")]
    Random,
}

/// The server key. Debug shows nothing of it.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

impl ServerKey {
    pub fn from_bytes(b: [u8; 32]) -> ServerKey {
        ServerKey(b)
    }

    /// 64 hex digits (surrounding whitespace ignored, as a file may end
    /// with a newline).
    pub fn from_hex(s: &str) -> Result<ServerKey, SealError> {
        let bytes = hex::decode(s.trim()).map_err(|_| SealError::BadKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(ServerKey(arr))
    }

    /// A fresh random key, as 64 hex digits.
    pub fn generate_hex() -> Result<String, SealError> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|_| SealError::Random)?;
        Ok(hex::encode(b))
    }

    fn aead(&self) -> Result<LessSafeKey, SealError> {
        // 32 bytes is CHACHA20_POLY1305's key length: this does not fail.
        UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| SealError::BadKey)
    }

    /// `nonce || ciphertext || tag`, bound to `context`.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = plain.to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (n, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| SealError::WrongKey)?;
        let mut buf = rest.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| SealError::WrongKey)?;
        Ok(plain.to_vec())
    }

    /// E2: an HMAC-SHA256 of `msg` under a key derived from the server key
    /// for `purpose` (so a MAC of one use is never valid for another).
    pub fn mac(&self, purpose: &str, msg: &[u8]) -> [u8; 32] {
        let derived = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0),
            purpose.as_bytes(),
        );
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
            msg,
        );
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `tag` is [`ServerKey::mac`]'s for `msg`, compared in
    /// constant time.
    pub fn mac_ok(&self, purpose: &str, msg: &[u8], tag: &[u8]) -> bool {
        let derived = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0),
            purpose.as_bytes(),
        );
        ring::hmac::verify(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
            msg,
            tag,
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let key = ServerKey::from_hex(&ServerKey::generate_hex().unwrap()).unwrap();
        let sealed = key.seal("w1\nid", b"client-secret-1").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"client"), "not in clear");
        assert_eq!(key.open("w1\nid", &sealed).unwrap(), b"client-secret-1");
        assert_eq!(key.open("w2\nid", &sealed), Err(SealError::WrongKey));
        let other = ServerKey::from_bytes([7; 32]);
        assert_eq!(other.open("w1\nid", &sealed), Err(SealError::WrongKey));
        assert_eq!(key.open("w1\nid", &sealed[..5]), Err(SealError::WrongKey));
        // Two seals of one secret differ (fresh nonces).
        assert_ne!(key.seal("c", b"x").unwrap(), key.seal("c", b"x").unwrap());
        assert!(!format!("{key:?}").contains(&hex::encode([7u8; 4])));
        assert_eq!(ServerKey::from_hex("abcd").err(), Some(SealError::BadKey));
    }

    #[test]
    fn e2_macs_hold_for_their_purpose_message_and_key_only() {
        let key = ServerKey::from_bytes([3; 32]);
        let tag = key.mac("file", b"w1/u1/99");
        assert!(key.mac_ok("file", b"w1/u1/99", &tag));
        assert!(!key.mac_ok("file", b"w1/u1/98", &tag));
        assert!(!key.mac_ok("other", b"w1/u1/99", &tag));
        assert!(!ServerKey::from_bytes([4; 32]).mac_ok("file", b"w1/u1/99", &tag));
        assert!(!key.mac_ok("file", b"w1/u1/99", &tag[..31]));
    }
}
