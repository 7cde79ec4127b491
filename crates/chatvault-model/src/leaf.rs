//! The bytes the Merkle log hashes for each message, and the content commitment inside.
//!
//! A leaf is a versioned, length-prefixed encoding of the message's metadata plus a hiding
//! commitment to its content:
//!
//! ```text
//! commitment = SHA-256("chatvault/content/v1\0" || salt[16] || lp(text)
//!                      || u32 n || n × (sha256[32] || lp(name) || lp(mime) || u64 size)
//!                      || sha256(raw record)[32])
//! leaf       = "chatvault/leaf/v1\0" || id[16] || lp(platform) || lp(conversation_id)
//!              || opt(source_id) || dedup || lp(sender_id) || opt(sender_name)
//!              || u8 role || i64 sent_at_ms || opt(i32 offset_s) || i64 received_at_ms
//!              || u8 kind || opt(reply_to) || opt(target) || commitment[32]
//! lp(x)  = u32 big-endian length || x;   opt(x) = 0x00 | 0x01 || lp(x)
//! dedup  = 0x01 || lp(source id) | 0x02 || fingerprint[16]
//! ```
//!
//! The salt is 16 random bytes per message, stored encrypted with the content. Purging
//! destroys content and salt; the leaf (and this commitment) stay, so the log still
//! verifies, and the commitment reveals nothing about what was said. The conversation's
//! title and tags are not in the leaf: they are annotations that may change.

use sha2::{Digest, Sha256};

use crate::dedup::DedupKey;
use crate::{AttachmentRef, MessageKind, SenderRole, Timestamp};

pub const SALT_LEN: usize = 16;

const LEAF_DOMAIN: &[u8] = b"chatvault/leaf/v1\0";
const CONTENT_DOMAIN: &[u8] = b"chatvault/content/v1\0";

/// The metadata half of a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFields<'a> {
    pub id: [u8; 16],
    pub platform: &'a str,
    pub conversation_id: &'a str,
    pub source_id: Option<&'a str>,
    pub dedup: &'a DedupKey,
    pub sender_id: &'a str,
    pub sender_name: Option<&'a str>,
    pub sender_role: SenderRole,
    pub sent_at: Timestamp,
    pub received_at_ms: i64,
    pub kind: MessageKind,
    pub reply_to: Option<&'a str>,
    pub target: Option<&'a str>,
}

use crate::wire::{put_lp as lp, put_opt as opt, Reader};

/// The hiding commitment to a message's content.
pub fn commitment(
    salt: &[u8; SALT_LEN],
    text: &str,
    attachments: &[AttachmentRef],
    raw: &[u8],
) -> [u8; 32] {
    commitment_with_raw_hash(salt, text, attachments, &Sha256::digest(raw).into())
}

/// [`commitment`] for a verifier that holds the raw record's SHA-256 rather than its bytes.
pub fn commitment_with_raw_hash(
    salt: &[u8; SALT_LEN],
    text: &str,
    attachments: &[AttachmentRef],
    raw_sha256: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CONTENT_DOMAIN);
    h.update(salt);
    h.update((text.len() as u32).to_be_bytes());
    h.update(text.as_bytes());
    h.update((attachments.len() as u32).to_be_bytes());
    for a in attachments {
        h.update(a.sha256);
        for s in [&a.name, &a.mime] {
            h.update((s.len() as u32).to_be_bytes());
            h.update(s.as_bytes());
        }
        h.update(a.size.to_be_bytes());
    }
    h.update(raw_sha256);
    h.finalize().into()
}

/// The canonical leaf bytes.
pub fn leaf_bytes(f: &LeafFields<'_>, commitment: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(LEAF_DOMAIN);
    out.extend_from_slice(&f.id);
    lp(&mut out, f.platform.as_bytes());
    lp(&mut out, f.conversation_id.as_bytes());
    opt(&mut out, f.source_id.map(str::as_bytes));
    match f.dedup {
        DedupKey::Source(s) => {
            out.push(1);
            lp(&mut out, s.as_bytes());
        }
        DedupKey::Fingerprint(fp) => {
            out.push(2);
            out.extend_from_slice(fp);
        }
    }
    lp(&mut out, f.sender_id.as_bytes());
    opt(&mut out, f.sender_name.map(str::as_bytes));
    out.push(f.sender_role.code());
    out.extend_from_slice(&f.sent_at.utc_ms.to_be_bytes());
    match f.sent_at.offset_s {
        None => out.push(0),
        Some(o) => {
            out.push(1);
            out.extend_from_slice(&o.to_be_bytes());
        }
    }
    out.extend_from_slice(&f.received_at_ms.to_be_bytes());
    out.push(f.kind.code());
    opt(&mut out, f.reply_to.map(str::as_bytes));
    opt(&mut out, f.target.map(str::as_bytes));
    out.extend_from_slice(commitment);
    out
}

/// A leaf read back from its bytes (for offline proof checks and reports).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DecodedLeaf {
    pub id: String,
    pub platform: String,
    pub conversation_id: String,
    pub source_id: Option<String>,
    pub sender_id: String,
    pub sender_name: Option<String>,
    pub sender_role: SenderRole,
    pub sent_at: String,
    pub received_at: String,
    pub kind: MessageKind,
    pub reply_to: Option<String>,
    pub target: Option<String>,
    #[serde(skip)]
    pub commitment: [u8; 32],
}

/// Parses leaf bytes made by [`leaf_bytes`].
pub fn decode_leaf(bytes: &[u8]) -> Result<DecodedLeaf, String> {
    let mut r = Reader::new(bytes, "leaf");
    if r.take(LEAF_DOMAIN.len())? != LEAF_DOMAIN {
        return Err("not a chatvault v1 leaf".into());
    }
    let id = ulid::Ulid::from_bytes(r.arr()?).to_string();
    let platform = r.string()?;
    let conversation_id = r.string()?;
    let source_id = r.opt_string()?;
    match r.u8()? {
        1 => {
            r.lp()?;
        }
        2 => {
            r.take(16)?;
        }
        t => return Err(format!("bad dedup tag {t}")),
    }
    let sender_id = r.string()?;
    let sender_name = r.opt_string()?;
    let sender_role = SenderRole::from_code(r.u8()?).ok_or("bad sender role")?;
    let sent_ms = i64::from_be_bytes(r.arr()?);
    let offset_s = match r.u8()? {
        0 => None,
        1 => Some(i32::from_be_bytes(r.arr()?)),
        t => return Err(format!("bad offset tag {t}")),
    };
    let received_ms = i64::from_be_bytes(r.arr()?);
    let kind = MessageKind::from_code(r.u8()?).ok_or("bad kind")?;
    let reply_to = r.opt_string()?;
    let target = r.opt_string()?;
    let commitment = r.arr()?;
    r.finish()?;
    Ok(DecodedLeaf {
        id,
        platform,
        conversation_id,
        source_id,
        sender_id,
        sender_name,
        sender_role,
        sent_at: Timestamp {
            utc_ms: sent_ms,
            offset_s,
        }
        .to_rfc3339(),
        received_at: Timestamp::utc(received_ms).to_rfc3339(),
        kind,
        reply_to,
        target,
        commitment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(dedup: &DedupKey) -> LeafFields<'_> {
        LeafFields {
            id: [7; 16],
            platform: "wecom",
            conversation_id: "c-1",
            source_id: Some("m-1"),
            dedup,
            sender_id: "u-7",
            sender_name: Some("张三"),
            sender_role: SenderRole::Agent,
            sent_at: Timestamp {
                utc_ms: 1_709_255_702_000,
                offset_s: Some(28_800),
            },
            received_at_ms: 1_709_255_703_000,
            kind: MessageKind::Text,
            reply_to: None,
            target: None,
        }
    }

    #[test]
    fn every_field_changes_the_leaf() {
        let d = DedupKey::Source("m-1".into());
        let d2 = DedupKey::Source("m-2".into());
        let c = [1u8; 32];
        let base = leaf_bytes(&fields(&d), &c);
        let variants: Vec<(&str, Vec<u8>)> = vec![
            (
                "id",
                leaf_bytes(
                    &LeafFields {
                        id: [8; 16],
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "platform",
                leaf_bytes(
                    &LeafFields {
                        platform: "wechat",
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "conversation",
                leaf_bytes(
                    &LeafFields {
                        conversation_id: "c-2",
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "source_id",
                leaf_bytes(
                    &LeafFields {
                        source_id: None,
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            ("dedup", leaf_bytes(&fields(&d2), &c)),
            (
                "sender",
                leaf_bytes(
                    &LeafFields {
                        sender_id: "u-8",
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "sender_name",
                leaf_bytes(
                    &LeafFields {
                        sender_name: Some("李四"),
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "role",
                leaf_bytes(
                    &LeafFields {
                        sender_role: SenderRole::Customer,
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "sent_at",
                leaf_bytes(
                    &LeafFields {
                        sent_at: Timestamp {
                            utc_ms: 1,
                            offset_s: Some(28_800),
                        },
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "offset",
                leaf_bytes(
                    &LeafFields {
                        sent_at: Timestamp {
                            utc_ms: 1_709_255_702_000,
                            offset_s: None,
                        },
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "received",
                leaf_bytes(
                    &LeafFields {
                        received_at_ms: 0,
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "kind",
                leaf_bytes(
                    &LeafFields {
                        kind: MessageKind::Image,
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "reply_to",
                leaf_bytes(
                    &LeafFields {
                        reply_to: Some("m-0"),
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            (
                "target",
                leaf_bytes(
                    &LeafFields {
                        target: Some("m-0"),
                        ..fields(&d)
                    },
                    &c,
                ),
            ),
            ("commitment", leaf_bytes(&fields(&d), &[2u8; 32])),
        ];
        for (name, v) in variants {
            assert_ne!(v, base, "{name} must change the leaf");
        }
    }

    #[test]
    fn leaves_decode_back() {
        let d = DedupKey::Fingerprint([3; 16]);
        let bytes = leaf_bytes(&fields(&d), &[9u8; 32]);
        let back = decode_leaf(&bytes).expect("decodes");
        assert_eq!(back.platform, "wecom");
        assert_eq!(back.sender_name.as_deref(), Some("张三"));
        assert_eq!(back.sent_at, "2024-03-01T09:15:02+08:00");
        assert_eq!(back.commitment, [9u8; 32]);
        for cut in [0, 10, bytes.len() - 1] {
            assert!(decode_leaf(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode_leaf(&extra).is_err());
    }

    #[test]
    fn commitment_hides_behind_the_salt() {
        let a = commitment(&[0; 16], "退款", &[], b"raw");
        let b = commitment(&[1; 16], "退款", &[], b"raw");
        assert_ne!(a, b);
        assert_ne!(commitment(&[0; 16], "退款", &[], b"raw2"), a);
        assert_eq!(commitment(&[0; 16], "退款", &[], b"raw"), a);
    }
}
