//! Webhook secrets at rest: sealed with XChaCha20-Poly1305 under `WEBHOOK_SECRET_KEY`,
//! bound to their subscription's id, so a database dump alone does not hand out the
//! signing keys (and a sealed secret moved to another row does not open).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;

/// Nonce length of XChaCha20 (random nonces of this size never repeat in practice).
const NONCE_LEN: usize = 24;

/// The key secrets are sealed with.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// Reads the base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = STANDARD.decode(text).map_err(|_| {
            "must be the base64 of 32 random bytes (openssl rand -base64 32)".to_owned()
        })?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| format!("must be 32 bytes once decoded, not {}", bytes.len()))
    }

    /// The key used when none is configured: it is in the source, so it protects
    /// nothing; the service warns at start.
    pub fn built_in() -> Self {
        Self(*b"industry-events-dev-sealing-key!")
    }

    /// Seals `secret` for the subscription `id`: nonce, then ciphertext and tag.
    pub fn seal(&self, id: Uuid, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce[..]);
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let payload = Payload {
            msg: secret,
            aad: id.as_bytes(),
        };
        // Encryption fails only for messages over 256 GiB.
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens what [`Self::seal`] made for `id`; `None` when it was sealed under another
    /// key or for another subscription, or was altered.
    pub fn open(&self, id: Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let payload = Payload {
            msg: ciphertext,
            aad: id.as_bytes(),
        };
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).ok()?;
        cipher.decrypt(&XNonce::from(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_id() {
        let key = SealingKey::parse(&STANDARD.encode([7u8; 32])).expect("key");
        let id = Uuid::now_v7();
        let sealed = key.seal(id, b"whsec_abc");
        assert!(
            !sealed.windows(9).any(|w| w == b"whsec_abc"),
            "not in plain text"
        );
        assert_eq!(key.open(id, &sealed).as_deref(), Some(&b"whsec_abc"[..]));
        assert_eq!(key.open(Uuid::now_v7(), &sealed), None);
        assert_eq!(SealingKey::built_in().open(id, &sealed), None);
        assert_ne!(
            key.seal(id, b"whsec_abc"),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SealingKey::parse("short").is_err());
        assert!(SealingKey::parse(&STANDARD.encode([1u8; 16])).is_err());
    }
}
