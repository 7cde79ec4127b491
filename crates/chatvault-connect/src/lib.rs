//! `chatvault-connect`: what the live capture platforms sign and encrypt, verified and
//! opened over the raw request bytes, before anything is parsed or stored
//! (`../shared/spec/CONNECTORS.md`; each vendor's own vectors run in `tests/vectors.rs`).
//!
//! - [`wxbiz`]: WeCom (企业微信) and DingTalk (钉钉) callbacks, WXBizMsgCrypt: a SHA-1
//!   signature over the sorted token, timestamp, nonce and ciphertext; AES-256-CBC with
//!   the receiver's id inside the plaintext. Also the encrypted replies they expect.
//! - [`feishu`]: Feishu / Lark event subscription: `X-Lark-Signature` and the encrypted
//!   envelope.
//! - [`slack`]: Slack's v0 request signing.
//! - [`standard_webhooks`]: the Standard Webhooks contract (`webhook-id`, `-timestamp`,
//!   `-signature`), for any system that can sign.
//! - [`dingtalk_robot`]: DingTalk's outgoing robot (`timestamp\nsecret`).
//! - [`telegram`]: the Bot API's secret token header.
//!
//! Invariants:
//! - Every MAC, signature and token is compared in constant time.
//! - A timestamp outside the platform's window is refused before any MAC is computed
//!   (WXBizMsgCrypt's callers check [`wxbiz::fresh`] before [`wxbiz::Crypto::open`]).
//! - Nothing is decrypted before its signature verifies, and no error quotes a secret.
//! - This crate does no IO and holds no state: the server calls it on the request's bytes.

use subtle::ConstantTimeEq;

pub mod dingtalk_robot;
pub mod feishu;
pub mod finance;
pub mod slack;
pub mod standard_webhooks;
pub mod telegram;
pub mod wxbiz;

/// Why a request is refused. Each is a 401 to the platform; nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{0} is malformed: {1}")]
    Malformed(&'static str, String),
    #[error("the signature does not match")]
    BadSignature,
    #[error("the timestamp is {skew_s} s from now, outside the {window_s} s window")]
    Stale { skew_s: i64, window_s: i64 },
    #[error("the decrypted message is for receiver {found:?}, not this source's")]
    WrongReceiver { found: String },
    #[error("the configured key is unusable: {0}")]
    BadKey(String),
}

pub type Result<T> = std::result::Result<T, Refusal>;

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Refuses a timestamp (seconds) more than `window_s` from `now_s` either way.
pub fn within(ts_s: i64, now_s: i64, window_s: i64) -> Result<()> {
    let skew_s = now_s.saturating_sub(ts_s);
    if skew_s.unsigned_abs() > window_s.unsigned_abs() {
        return Err(Refusal::Stale { skew_s, window_s });
    }
    Ok(())
}

/// A header's integer timestamp.
pub(crate) fn timestamp(what: &'static str, s: &str) -> Result<i64> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| Refusal::Malformed(what, "not an integer".into()))
}

/// HMAC-SHA256 of the parts, in order.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes a key of any length: this cannot fail.
    let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}
