//! Standard Webhooks signing: secrets are `whsec_` and the base64 of their key bytes;
//! a signature is `v1,` and the base64 of HMAC-SHA256 over `<id>.<timestamp>.<body>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How a secret's text starts.
pub const SECRET_PREFIX: &str = "whsec_";
/// How many random bytes a new secret has (the scheme asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// A signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut key = vec![0u8; SECRET_BYTES];
        rand::fill(&mut key[..]);
        Self(key)
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Option<Self> {
        let key = STANDARD.decode(text.strip_prefix(SECRET_PREFIX)?).ok()?;
        (24..=64).contains(&key.len()).then_some(Self(key))
    }

    /// The text a client is shown once and verifies with.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes keys of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC accepts every key length")
        };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature for each secret, space-separated.
pub fn signature_header(
    secrets: &[Secret],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_example() {
        // The worked example of the Standard Webhooks specification.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_are_random() {
        let a = Secret::generate();
        assert!(a.to_text().starts_with("whsec_"));
        assert_eq!(Secret::parse(&a.to_text()), Some(a.clone()));
        assert_ne!(a, Secret::generate());
        assert_eq!(Secret::parse("whsec_c2hvcnQ="), None, "too short");
        assert_eq!(Secret::parse("nope"), None);
    }

    #[test]
    fn two_secrets_sign_with_a_space_between() {
        let (a, b) = (Secret::generate(), Secret::generate());
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [a.sign("msg_1", 1, b"{}"), b.sign("msg_1", 1, b"{}")]
        );
    }
}
