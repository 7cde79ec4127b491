//! Feishu / Lark event subscription v2.
//!
//! - Key: SHA-256 of the Encrypt Key's UTF-8 bytes.
//! - Body `{"encrypt": base64(IV(16) || AES-256-CBC(key, IV, PKCS#7(plaintext)))}`.
//! - `X-Lark-Signature`: lowercase hex SHA-256 of `X-Lark-Request-Timestamp`,
//!   `X-Lark-Request-Nonce`, the Encrypt Key and the raw body, concatenated. Sent only
//!   when an Encrypt Key is configured.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::Engine;
use sha2::Digest;

use crate::{b64, same, Refusal, Result};

type Dec = cbc::Decryptor<aes::Aes256>;

/// How far a request's timestamp may be from now. Feishu documents no window; its
/// retries come within hours, each freshly signed, so a replay older than this is refused.
pub const WINDOW_S: i64 = 300;

/// Checks `X-Lark-Signature` over the raw body.
pub fn verify(
    encrypt_key: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
    signature: &str,
    now_s: i64,
) -> Result<()> {
    crate::within(
        crate::timestamp("X-Lark-Request-Timestamp", timestamp)?,
        now_s,
        WINDOW_S,
    )?;
    let mut h = sha2::Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(encrypt_key.as_bytes());
    h.update(body);
    let want = hex::encode(h.finalize());
    if !same(
        want.as_bytes(),
        signature.trim().to_ascii_lowercase().as_bytes(),
    ) {
        return Err(Refusal::BadSignature);
    }
    Ok(())
}

/// Opens the `encrypt` value of a body.
pub fn decrypt(encrypt_key: &str, encrypt: &str) -> Result<Vec<u8>> {
    let bad = |why: &str| Refusal::Malformed("encrypt", why.to_owned());
    let key: [u8; 32] = sha2::Sha256::digest(encrypt_key.as_bytes()).into();
    let mut buf = b64()
        .decode(encrypt.trim())
        .map_err(|_| bad("not base64"))?;
    if buf.len() < 32 || buf.len() % 16 != 0 {
        return Err(bad("not an IV and whole blocks"));
    }
    let (iv, data) = buf.split_at_mut(16);
    let iv: [u8; 16] = (&*iv).try_into().map_err(|_| bad("no IV"))?;
    let plain = Dec::new(&key.into(), &iv.into())
        .decrypt_padded_mut::<Pkcs7>(data)
        .map_err(|_| bad("does not decrypt"))?;
    Ok(plain.to_vec())
}
