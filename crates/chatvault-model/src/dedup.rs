//! Dedup keys: how the archive knows it has seen a record before.
//!
//! A record with a source id is identified by (conversation, source id). A record without
//! one is identified by a content fingerprint: SHA-256 over platform, conversation,
//! sender, `sent_at`, text, attachment hashes and the record's ordinal among identical
//! records in the same input (so two genuine "ok" messages in the same second stay two),
//! truncated to 128 bits. Re-importing a file, or an overlapping export that holds the
//! same run of identical records, therefore stores nothing twice.

use sha2::{Digest, Sha256};

use crate::NewMessage;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DedupKey {
    Source(String),
    Fingerprint([u8; 16]),
}

/// The fingerprint of a message's content, before the ordinal is mixed in.
pub fn content_fingerprint(m: &NewMessage) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"chatvault/fingerprint/v1\0");
    for part in [
        m.platform.as_str(),
        &m.conversation_id,
        &m.sender.id,
        &m.text,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(m.sent_at.utc_ms.to_be_bytes());
    for a in &m.attachments {
        h.update(a.reference.sha256);
    }
    h.finalize().into()
}

/// The dedup key of a message. `ordinal` counts earlier records in the same input with the
/// same [`content_fingerprint`]; it is ignored when the message has a source id.
pub fn dedup_key(m: &NewMessage, content_fp: &[u8; 32], ordinal: u32) -> DedupKey {
    match &m.source_id {
        Some(id) => DedupKey::Source(id.clone()),
        None => {
            let mut h = Sha256::new();
            h.update(content_fp);
            h.update(ordinal.to_be_bytes());
            let full: [u8; 32] = h.finalize().into();
            let mut out = [0u8; 16];
            out.copy_from_slice(&full[..16]);
            DedupKey::Fingerprint(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageKind, Origin, Platform, Sender, SenderRole, Timestamp};

    fn msg(source: Option<&str>, sender: &str, ms: i64, text: &str) -> NewMessage {
        NewMessage {
            platform: Platform::new("whatsapp").expect("platform"),
            conversation_id: "c".into(),
            conversation_title: None,
            conversation_kind: None,
            source_id: source.map(str::to_owned),
            sender: Sender {
                id: sender.into(),
                name: None,
                role: SenderRole::Unknown,
            },
            sent_at: Timestamp::utc(ms),
            kind: MessageKind::Text,
            text: text.into(),
            reply_to: None,
            target: None,
            attachments: vec![],
            tags: vec![],
            raw: vec![],
            origin: Origin {
                file: "f".into(),
                line: 1,
            },
        }
    }

    fn key(m: &NewMessage, ordinal: u32) -> DedupKey {
        dedup_key(m, &content_fingerprint(m), ordinal)
    }

    #[test]
    fn dedup_table() {
        let base = msg(None, "a", 1000, "ok");
        // (name, left, right, same?)
        let cases: Vec<(&str, DedupKey, DedupKey, bool)> = vec![
            (
                "same_record_same_key",
                key(&base, 0),
                key(&base.clone(), 0),
                true,
            ),
            (
                "second_identical_record_differs",
                key(&base, 0),
                key(&base, 1),
                false,
            ),
            (
                "other_sender",
                key(&base, 0),
                key(&msg(None, "b", 1000, "ok"), 0),
                false,
            ),
            (
                "other_time",
                key(&base, 0),
                key(&msg(None, "a", 1001, "ok"), 0),
                false,
            ),
            (
                "other_text",
                key(&base, 0),
                key(&msg(None, "a", 1000, "ok!"), 0),
                false,
            ),
            (
                "source_id_wins_over_content",
                key(&msg(Some("m1"), "a", 1, "x"), 0),
                key(&msg(Some("m1"), "b", 2, "y"), 5),
                true,
            ),
            (
                "different_source_ids",
                key(&msg(Some("m1"), "a", 1, "x"), 0),
                key(&msg(Some("m2"), "a", 1, "x"), 0),
                false,
            ),
        ];
        for (name, a, b, same) in cases {
            assert_eq!(a == b, same, "{name}");
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        // "ab" + "c" must not collide with "a" + "bc".
        let a = msg(None, "ab", 0, "c");
        let b = msg(None, "a", 0, "bc");
        assert_ne!(content_fingerprint(&a), content_fingerprint(&b));
    }
}
