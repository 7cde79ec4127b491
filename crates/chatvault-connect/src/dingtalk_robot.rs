//! DingTalk's outgoing robot (企业内部机器人 outgoing): the `timestamp` header (ms) and
//! `sign`, the base64 HMAC-SHA256 under the robot's AppSecret of `{timestamp}\n{secret}`;
//! requests more than an hour from now are refused.

use base64::Engine;

use crate::{b64, same, Refusal, Result};

pub const WINDOW_S: i64 = 3600;

pub fn sign(app_secret: &str, timestamp_ms: &str) -> String {
    let mac = crate::hmac_sha256(
        app_secret.as_bytes(),
        &[timestamp_ms.as_bytes(), b"\n", app_secret.as_bytes()],
    );
    b64().encode(mac)
}

pub fn verify(app_secret: &str, timestamp_ms: &str, signature: &str, now_s: i64) -> Result<()> {
    let ts = crate::timestamp("timestamp", timestamp_ms)?;
    crate::within(ts.div_euclid(1000), now_s, WINDOW_S)?;
    if !same(
        sign(app_secret, timestamp_ms).as_bytes(),
        signature.trim().as_bytes(),
    ) {
        return Err(Refusal::BadSignature);
    }
    Ok(())
}
