//! Slack request signing, v0: `X-Slack-Signature` is `v0=` and the lowercase hex
//! HMAC-SHA256, under the app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw
//! body}`; requests more than five minutes from now are refused.

use crate::{same, Refusal, Result};

pub const WINDOW_S: i64 = 300;

/// The signature Slack sends for a body at `timestamp`.
pub fn sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mac = crate::hmac_sha256(
        signing_secret.as_bytes(),
        &[b"v0:", timestamp.as_bytes(), b":", body],
    );
    format!("v0={}", hex::encode(mac))
}

/// Checks a request's timestamp and signature over its raw body.
pub fn verify(
    signing_secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_s: i64,
) -> Result<()> {
    crate::within(
        crate::timestamp("X-Slack-Request-Timestamp", timestamp)?,
        now_s,
        WINDOW_S,
    )?;
    if !signature.starts_with("v0=") {
        return Err(Refusal::Malformed(
            "X-Slack-Signature",
            "not a v0 signature".into(),
        ));
    }
    let want = sign(signing_secret, timestamp, body);
    if !same(want.as_bytes(), signature.trim().as_bytes()) {
        return Err(Refusal::BadSignature);
    }
    Ok(())
}
