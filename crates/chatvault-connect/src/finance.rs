//! WeCom 会话内容存档 (chat archive): each record's random key comes encrypted with the
//! customer's RSA public key (PKCS#1 v1.5), base64 (`encrypt_random_key`); the customer's
//! private key opens it, and the SDK decrypts the message with it.
//!
//! The ciphertexts come from WeCom's service over the SDK's authenticated channel, never
//! from a request anyone can send: an attacker has no decryption oracle here (the
//! `rsa` crate's PKCS#1 v1.5 decryption is not constant-time, RUSTSEC-2023-0071).

use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

use crate::{b64, Refusal, Result};

/// The customer's private key (PEM: PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
pub struct PrivateKey(RsaPrivateKey);

impl PrivateKey {
    pub fn from_pem(pem: &str) -> Result<PrivateKey> {
        RsaPrivateKey::from_pkcs1_pem(pem.trim())
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem.trim()))
            .map(PrivateKey)
            .map_err(|e| Refusal::BadKey(format!("the private key is not an RSA key in PEM: {e}")))
    }

    /// A record's random key, opened.
    pub fn random_key(&self, encrypt_random_key: &str) -> Result<String> {
        let sealed = b64()
            .decode(encrypt_random_key.trim())
            .map_err(|e| Refusal::Malformed("encrypt_random_key", format!("not base64: {e}")))?;
        let key = self
            .0
            .decrypt(Pkcs1v15Encrypt, &sealed)
            .map_err(|_| Refusal::BadKey("encrypt_random_key does not open with this private key (is publickey_ver another key's?)".into()))?;
        String::from_utf8(key)
            .map_err(|_| Refusal::Malformed("encrypt_random_key", "the key is not text".into()))
    }
}

/// What WeCom does with the customer's public key (PEM, PKCS#1 or SPKI): for tests and
/// fixtures.
pub fn encrypt_random_key(
    public_pem: &str,
    key: &str,
    rng: &mut impl rsa::rand_core::CryptoRngCore,
) -> Result<String> {
    let public = RsaPublicKey::from_pkcs1_pem(public_pem.trim())
        .or_else(|_| RsaPublicKey::from_public_key_pem(public_pem.trim()))
        .map_err(|e| Refusal::BadKey(format!("the public key: {e}")))?;
    let sealed = public
        .encrypt(rng, Pkcs1v15Encrypt, key.as_bytes())
        .map_err(|e| Refusal::BadKey(format!("encrypt: {e}")))?;
    Ok(b64().encode(sealed))
}
