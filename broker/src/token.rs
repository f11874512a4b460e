//! Session tokens: 32 random bytes shown to the client as 43 base64url characters and
//! stored by the broker only as their SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The SHA-256 of a token's bytes, the only form the broker keeps.
pub type TokenHash = [u8; 32];

/// A freshly generated token and its hash.
pub struct NewToken {
    /// What the client receives, once.
    pub text: String,
    /// What the database stores.
    pub hash: TokenHash,
}

/// Makes a new token from the operating system's random source.
pub fn generate() -> Result<NewToken, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(NewToken { text: URL_SAFE_NO_PAD.encode(bytes), hash: Sha256::digest(bytes).into() })
}

/// The hash of a token sent by a client, or `None` when it is not 43 base64url characters
/// encoding 32 bytes (a malformed token is `bad_token`, like an unknown one).
pub fn hash_of(text: &str) -> Option<TokenHash> {
    if text.len() != 43 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    Some(Sha256::digest(bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_chars_and_hash_back() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.text.len(), 43);
        assert_ne!(a.text, b.text);
        assert_eq!(hash_of(&a.text), Some(a.hash));
        assert_eq!(hash_of("short"), None);
        assert_eq!(hash_of(&"!".repeat(43)), None);
    }
}
