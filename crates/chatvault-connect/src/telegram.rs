//! Telegram Bot API webhooks: the `X-Telegram-Bot-Api-Secret-Token` header carries the
//! secret set with `setWebhook` (1–256 characters of `A-Z a-z 0-9 _ -`).

use crate::{same, Refusal, Result};

/// Checks a configured secret's shape (so a misconfiguration is named at `source add`).
pub fn check_secret(secret: &str) -> Result<()> {
    let ok = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Refusal::BadKey(
            "a Telegram secret token is 1-256 characters of A-Z, a-z, 0-9, _ and -".into(),
        ))
    }
}

/// Checks the header against the source's secret.
pub fn verify(secret: &str, header: Option<&str>) -> Result<()> {
    let got = header.ok_or(Refusal::Missing("X-Telegram-Bot-Api-Secret-Token"))?;
    // Compared as digests: equal lengths, so the time taken says nothing of the
    // secret's length either.
    use sha2::Digest;
    if same(&sha2::Sha256::digest(got), &sha2::Sha256::digest(secret)) {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}
