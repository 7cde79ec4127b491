//! Feishu / Lark event subscription v2.
//!
//! - Key: SHA-256 of the Encrypt Key's UTF-8 bytes.
//! - Body `{"encrypt": base64(IV(16) || AES-256-CBC(key, IV, PKCS#7(plaintext)))}`.
//! - `X-Lark-Signature`: lowercase hex SHA-256 of `X-Lark-Request-Timestamp`,
//!   `X-Lark-Request-Nonce`, the Encrypt Key and the raw body, concatenated. Sent only
//!   when an Encrypt Key is configured.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use sha2::Digest;

use crate::{b64, same, Refusal, Result};

type Dec = cbc::Decryptor<aes::Aes256>;
type Enc = cbc::Encryptor<aes::Aes256>;

/// How far a request's timestamp may be from now. Feishu documents no window; its
/// retries come within hours, each freshly signed, so a replay older than this is refused.
pub const WINDOW_S: i64 = 300;

/// The `X-Lark-Signature` of a raw body.
pub fn sign(encrypt_key: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(encrypt_key.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// The `encrypt` value Feishu sends for a plaintext, with the given IV (a sender's, or a
/// test's).
pub fn encrypt(encrypt_key: &str, iv: &[u8; 16], plaintext: &[u8]) -> String {
    let key: [u8; 32] = sha2::Sha256::digest(encrypt_key.as_bytes()).into();
    let ct = Enc::new(&key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut out = iv.to_vec();
    out.extend_from_slice(&ct);
    b64().encode(out)
}

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
    let want = sign(encrypt_key, timestamp, nonce, body);
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
