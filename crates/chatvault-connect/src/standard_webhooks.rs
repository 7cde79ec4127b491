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
        .map_err(|e| Refusal::BadKey(format!("the secret is not base64: {e}")))
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
