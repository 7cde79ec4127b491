//! Standard Webhooks (standardwebhooks.com): `webhook-signature` holds space-separated
//! `v1,<base64 HMAC-SHA256>` signatures, under the base64 secret after `whsec_`, of
//! `{webhook-id}.{webhook-timestamp}.{raw body}`. Any one matching is enough (senders
//! rotate secrets); other versions are skipped. Requests more than five minutes from
//! now are refused. `webhook-id` is the idempotency key.

use base64::Engine;

use crate::{b64, same, Refusal, Result};

pub const WINDOW_S: i64 = 300;

/// The key a `whsec_…` secret (or the bare base64) stands for.
pub fn key(secret: &str) -> Result<Vec<u8>> {
    let s = secret.trim();
    let s = s.strip_prefix("whsec_").unwrap_or(s);
    b64()
        .decode(s)
        // Not the decoder's message: it quotes a character of the secret.
        .map_err(|_| Refusal::BadKey("the secret is not base64".into()))
}

/// The shortest key a source may be added with: the spec's recommended minimum (24 to 64
/// random bytes). A shorter one could be guessed; an empty one signs for anyone.
pub const MIN_KEY_BYTES: usize = 24;

/// Checks a secret a source is about to be added with.
pub fn check_secret(secret: &str) -> Result<()> {
    let k = key(secret)?;
    if k.len() < MIN_KEY_BYTES {
        return Err(Refusal::BadKey(format!(
            "the secret is {} bytes; use at least {MIN_KEY_BYTES} random bytes (whsec_ and their base64)",
            k.len()
        )));
    }
    Ok(())
}

/// The `v1,…` signature of a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let mac = crate::hmac_sha256(
        &key(secret)?,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    Ok(format!("v1,{}", b64().encode(mac)))
}

/// Checks a request's timestamp and that one of its `v1` signatures matches.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
    now_s: i64,
) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Refusal::Missing("webhook-id"));
    }
    let ts = crate::timestamp("webhook-timestamp", timestamp)?;
    crate::within(ts, now_s, WINDOW_S)?;
    let want = sign(secret, id, ts, body)?;
    let want = want.as_bytes();
    // Every candidate is compared, so the time taken does not say which one matched.
    let mut any = false;
    for sig in signatures.split_whitespace() {
        if sig.starts_with("v1,") {
            any |= same(sig.as_bytes(), want);
        }
    }
    if any {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}
