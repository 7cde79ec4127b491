//! Encryption at rest: AES-256-GCM envelope encryption.
//!
//! - A **key-encryption key** ([`Kek`]) comes from a key file, from `CHATVAULT_KEY`, or from
//!   a passphrase through argon2id. It never encrypts content; it only wraps data keys.
//! - A **data key** ([`DataKey`]) is random, one per conversation, stored wrapped by the KEK.
//!   Destroying a conversation's wrapped data key crypto-shreds all its content.
//! - Every ciphertext is `nonce[12] || ciphertext || tag[16]`, and its associated data binds
//!   it to where it belongs (the message id, the conversation), so a ciphertext moved to
//!   another row fails to open.
//!
//! This crate owns keys and ciphers. It never touches files or the store: callers pass
//! bytes in and out. All primitives come from RustCrypto (`aes-gcm`, `argon2`); nothing here
//! is hand-rolled.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext does not open: wrong key, or the data or its binding ({0}) was changed")]
    Open(&'static str),
    #[error("ciphertext is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("key material is malformed: {0}")]
    BadKey(String),
}

/// A key-encryption key. Zeroed on drop.
pub struct Kek {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl Kek {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        Self::from_bytes(k)
    }

    fn from_bytes(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        // The id names a key without revealing it: a domain-separated hash, 8 bytes.
        let digest = Sha256::new_with_prefix(b"chatvault/kek-id/v1\0")
            .chain_update(key.as_ref())
            .finalize();
        let id = hex::encode(&digest[..8]);
        Kek { key, id }
    }

    /// Parses key text: `chatvault-kek-v1:BASE64`, bare base64, or 64 hex digits, of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let t = text.trim();
        let t = t.strip_prefix("chatvault-kek-v1:").unwrap_or(t);
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|e| CryptoError::BadKey(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|_| CryptoError::BadKey("expected base64 or 64 hex digits".into()))?
        };
        let bytes = Zeroizing::new(bytes);
        let arr: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            CryptoError::BadKey(format!("expected {KEY_LEN} bytes, got {}", bytes.len()))
        })?;
        Ok(Self::from_bytes(Zeroizing::new(arr)))
    }

    /// Derives a KEK from a passphrase with argon2id (64 MiB, 3 passes, 1 lane).
    pub fn from_passphrase(passphrase: &[u8], salt: &[u8]) -> Result<Self, CryptoError> {
        let params = argon2::Params::new(64 * 1024, 3, 1, Some(KEY_LEN))
            .map_err(|e| CryptoError::BadKey(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        argon
            .hash_password_into(passphrase, salt, k.as_mut())
            .map_err(|e| CryptoError::BadKey(e.to_string()))?;
        Ok(Self::from_bytes(k))
    }

    /// The key file's text. Handle with care: it is the key.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "chatvault-kek-v1:{}\n",
            base64::engine::general_purpose::STANDARD.encode(self.key.as_ref())
        ))
    }

    /// A short public name for this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.as_ref().into())
    }

    /// Wraps a data key. `binding` names what the data key belongs to.
    pub fn wrap(&self, dek: &DataKey, binding: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher(), dek.key.as_ref(), &wrap_aad(binding))
    }

    pub fn unwrap(&self, wrapped: &[u8], binding: &[u8]) -> Result<DataKey, CryptoError> {
        let bytes = Zeroizing::new(open_with(
            &self.cipher(),
            wrapped,
            &wrap_aad(binding),
            "data key wrap",
        )?);
        let arr: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::BadKey("wrapped data key has the wrong length".into()))?;
        Ok(DataKey::from_array(arr))
    }

    /// Encrypts a small secret (the signing key) directly under the KEK.
    pub fn seal_secret(&self, secret: &[u8], binding: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher(), secret, &secret_aad(binding))
    }

    pub fn open_secret(
        &self,
        sealed: &[u8],
        binding: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open_with(&self.cipher(), sealed, &secret_aad(binding), "secret").map(Zeroizing::new)
    }
}

fn wrap_aad(binding: &[u8]) -> Vec<u8> {
    [b"chatvault/dek-wrap/v1\0".as_slice(), binding].concat()
}

fn secret_aad(binding: &[u8]) -> Vec<u8> {
    [b"chatvault/secret/v1\0".as_slice(), binding].concat()
}

/// A data key with its cipher ready. Zeroed on drop.
pub struct DataKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    cipher: Aes256Gcm,
}

impl DataKey {
    pub fn generate() -> Self {
        let mut k = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self::from_array(k)
    }

    /// A key from 32 secret bytes (a service secret the archive keeps sealed).
    pub fn from_secret(bytes: &[u8]) -> Result<Self, CryptoError> {
        let k: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::Truncated(bytes.len()))?;
        Ok(Self::from_array(k))
    }

    fn from_array(mut k: [u8; KEY_LEN]) -> Self {
        let key = Zeroizing::new(k);
        zeroize::Zeroize::zeroize(&mut k);
        let cipher = Aes256Gcm::new(key.as_ref().into());
        DataKey { key, cipher }
    }

    /// Encrypts `plaintext`, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher, plaintext, aad)
    }

    /// Decrypts what [`Self::seal`] made with the same `aad`; `what` names it in errors.
    pub fn open(
        &self,
        sealed: &[u8],
        aad: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.cipher, sealed, aad, what)
    }
}

fn seal_with(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    // thread_rng is a CSPRNG (ChaCha, reseeded from the OS); random 96-bit nonces are safe
    // for far more than the 2^32 messages one data key will ever seal.
    rand::thread_rng().fill_bytes(&mut nonce);
    // Encryption with a valid key and in-memory buffers cannot fail.
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(
    cipher: &Aes256Gcm,
    sealed: &[u8],
    aad: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < OVERHEAD {
        return Err(CryptoError::Truncated(sealed.len()));
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Open(what))
}

/// Random bytes from the thread CSPRNG (salts).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dek = DataKey::generate();
        let sealed = dek.seal("退款申请 ✓".as_bytes(), b"msg-1");
        assert_eq!(sealed.len(), "退款申请 ✓".len() + OVERHEAD);
        assert_eq!(
            dek.open(&sealed, b"msg-1", "body").expect("opens"),
            "退款申请 ✓".as_bytes()
        );
    }

    #[test]
    fn open_failures_table() {
        let dek = DataKey::generate();
        let other = DataKey::generate();
        let sealed = dek.seal(b"hello", b"msg-1");
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN + 1] ^= 1;
        let mut flipped_nonce = sealed.clone();
        flipped_nonce[0] ^= 1;
        let mut flipped_tag = sealed.clone();
        *flipped_tag.last_mut().expect("non-empty") ^= 1;
        let cases: Vec<(&str, &DataKey, Vec<u8>, &[u8])> = vec![
            ("wrong_key", &other, sealed.clone(), b"msg-1"),
            ("swapped_aad", &dek, sealed.clone(), b"msg-2"),
            ("flipped_ciphertext", &dek, flipped, b"msg-1"),
            ("flipped_nonce", &dek, flipped_nonce, b"msg-1"),
            ("flipped_tag", &dek, flipped_tag, b"msg-1"),
            ("truncated", &dek, sealed[..10].to_vec(), b"msg-1"),
            ("empty", &dek, vec![], b"msg-1"),
        ];
        for (name, key, ct, aad) in cases {
            assert!(key.open(&ct, aad, "body").is_err(), "{name} must not open");
        }
    }

    #[test]
    fn wrap_and_wrong_kek() {
        let kek = Kek::generate();
        let dek = DataKey::generate();
        let wrapped = kek.wrap(&dek, b"conv-1");
        let back = kek.unwrap(&wrapped, b"conv-1").expect("unwraps");
        assert_eq!(
            back.open(&dek.seal(b"x", b"a"), b"a", "t")
                .expect("same key"),
            b"x"
        );
        assert!(
            Kek::generate().unwrap(&wrapped, b"conv-1").is_err(),
            "wrong KEK"
        );
        assert!(
            kek.unwrap(&wrapped, b"conv-2").is_err(),
            "wrap moved to another conversation"
        );
    }

    #[test]
    fn key_text_round_trip_and_bad_keys() {
        let kek = Kek::generate();
        let again = Kek::parse(&kek.to_text()).expect("parses");
        assert_eq!(again.id(), kek.id());
        let hex_key = "00".repeat(32);
        assert!(Kek::parse(&hex_key).is_ok());
        for (name, bad) in [
            ("short", "AAAA"),
            ("not_base64", "!!!"),
            ("long_hex", &"00".repeat(33)),
            ("empty", ""),
        ] {
            assert!(Kek::parse(bad).is_err(), "{name}");
        }
    }

    #[test]
    fn passphrase_is_deterministic_per_salt() {
        let a = Kek::from_passphrase(b"correct horse", b"0123456789abcdef").expect("argon2");
        let b = Kek::from_passphrase(b"correct horse", b"0123456789abcdef").expect("argon2");
        let c = Kek::from_passphrase(b"correct horse", b"fedcba9876543210").expect("argon2");
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
    }

    #[test]
    fn secrets_are_bound() {
        let kek = Kek::generate();
        let s = kek.seal_secret(b"signing key", b"signer");
        assert_eq!(
            kek.open_secret(&s, b"signer").expect("opens").as_slice(),
            b"signing key"
        );
        assert!(kek.open_secret(&s, b"other").is_err());
    }
}
