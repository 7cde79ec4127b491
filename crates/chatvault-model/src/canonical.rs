//! Canonical JSONL: one message per line, the shape the HTTP ingest API takes too.
//!
//! The schema is `docs/canonical.schema.json`; `docs/canonical-jsonl.md` explains it.
//! Parsing is strict: an unknown field, a wrong type or an invalid value rejects the line
//! with the field's name. Free-form data goes in `extra`, which is kept in the raw record.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::{
    AttachmentRef, ConversationKind, MessageKind, NewAttachment, NewMessage, Origin, Platform,
    Sender, SenderRole, Timestamp,
};

/// Longest text the archive accepts in one message (1 MiB).
pub const MAX_TEXT_BYTES: usize = 1 << 20;
/// Longest identifier (conversation, sender, source id).
pub const MAX_ID_BYTES: usize = 512;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 64;

/// Why one record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", field.as_deref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct RecordError {
    pub field: Option<String>,
    pub reason: String,
}

impl RecordError {
    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        RecordError {
            field: Some(field.to_owned()),
            reason: reason.into(),
        }
    }
    pub fn record(reason: impl Into<String>) -> Self {
        RecordError {
            field: None,
            reason: reason.into(),
        }
    }
}

/// One canonical JSONL line, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanonicalRecord {
    pub platform: String,
    pub conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_kind: Option<String>,
    #[serde(default)]
    pub source_id: Option<String>,
    pub sender_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_role: Option<String>,
    pub sent_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<CanonicalAttachment>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An attachment in canonical JSONL. The bytes come from `data` (base64) or from `path`
/// (relative to the JSONL file); with neither, the attachment is recorded by hash only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanonicalAttachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// Parses one line. Errors name the field where serde or validation can tell it.
pub fn parse_line(line: &str) -> Result<CanonicalRecord, RecordError> {
    // Fast path without path tracking; on failure, parse again to name the field.
    if let Ok(r) = serde_json::from_str::<CanonicalRecord>(line) {
        return Ok(r);
    }
    let de = &mut serde_json::Deserializer::from_str(line);
    serde_path_to_error::deserialize::<_, CanonicalRecord>(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        // serde_json says "... at line 1 column N"; the line number is ours to give.
        let msg = match msg.rfind(" at line ") {
            Some(i) => format!(
                "{}{}",
                &msg[..i],
                msg[i..].replacen(" at line 1 column", " at column", 1)
            ),
            None => msg,
        };
        let named = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("missing field") || msg.starts_with("unknown field"))
            .map(str::to_owned);
        let field = if path != "." { Some(path) } else { named };
        RecordError { field, reason: msg }
    })
}

fn check_id(field: &str, v: &str) -> Result<(), RecordError> {
    if v.trim().is_empty() {
        return Err(RecordError::field(field, "must not be empty"));
    }
    if v.len() > MAX_ID_BYTES {
        return Err(RecordError::field(
            field,
            format!("longer than {MAX_ID_BYTES} bytes"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(RecordError::field(field, "contains a control character"));
    }
    Ok(())
}

fn check_opt_id(field: &str, v: &Option<String>) -> Result<(), RecordError> {
    v.as_deref().map_or(Ok(()), |v| check_id(field, v))
}

fn parse_enum<T: std::str::FromStr<Err = crate::InvalidValue>>(
    field: &str,
    v: &Option<String>,
) -> Result<Option<T>, RecordError> {
    v.as_deref()
        .map(|s| {
            s.parse::<T>()
                .map_err(|e| RecordError::field(field, e.to_string()))
        })
        .transpose()
}

impl CanonicalRecord {
    /// Validates the record and turns it into a [`NewMessage`]. `load` reads an
    /// attachment's `path`; the model itself does no IO.
    pub fn into_new_message(
        self,
        raw: Vec<u8>,
        origin: Origin,
        load: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<NewMessage, RecordError> {
        let platform = Platform::new(&self.platform)
            .map_err(|e| RecordError::field("platform", e.to_string()))?;
        check_id("conversation_id", &self.conversation_id)?;
        check_id("sender_id", &self.sender_id)?;
        check_opt_id("source_id", &self.source_id)?;
        check_opt_id("reply_to", &self.reply_to)?;
        check_opt_id("target", &self.target)?;
        let sent_at = Timestamp::parse_rfc3339(&self.sent_at)
            .map_err(|e| RecordError::field("sent_at", e.to_string()))?;
        let kind = parse_enum::<MessageKind>("kind", &self.kind)?.unwrap_or(MessageKind::Text);
        let role = parse_enum::<SenderRole>("sender_role", &self.sender_role)?
            .unwrap_or(SenderRole::Unknown);
        let conversation_kind =
            parse_enum::<ConversationKind>("conversation_kind", &self.conversation_kind)?;
        if self.text.is_none() && self.attachments.is_none() {
            return Err(RecordError::record("needs `text` or `attachments`"));
        }
        let text = self.text.unwrap_or_default();
        if text.len() > MAX_TEXT_BYTES {
            return Err(RecordError::field(
                "text",
                format!("longer than {MAX_TEXT_BYTES} bytes"),
            ));
        }
        if matches!(kind, MessageKind::Recall | MessageKind::Edit) && self.target.is_none() {
            return Err(RecordError::field(
                "target",
                format!("required for kind `{kind}`: the original's source id"),
            ));
        }
        for (i, t) in self.tags.iter().enumerate() {
            check_id(&format!("tags[{i}]"), t)?;
        }
        let attachments = self.attachments.unwrap_or_default();
        if attachments.len() > MAX_ATTACHMENTS {
            return Err(RecordError::field(
                "attachments",
                format!("more than {MAX_ATTACHMENTS}"),
            ));
        }
        let attachments = attachments
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.resolve(&format!("attachments[{i}]"), load))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewMessage {
            platform,
            conversation_id: self.conversation_id,
            conversation_title: self.conversation_title,
            conversation_kind,
            source_id: self.source_id,
            sender: Sender {
                id: self.sender_id,
                name: self.sender_name,
                role,
            },
            sent_at,
            kind,
            text,
            reply_to: self.reply_to,
            target: self.target,
            attachments,
            tags: self.tags,
            raw,
            origin,
        })
    }

    /// The canonical record for a message (the inverse of [`Self::into_new_message`] for
    /// everything but attachment bytes, which are referred to by hash).
    pub fn from_message(m: &NewMessage) -> Self {
        CanonicalRecord {
            platform: m.platform.to_string(),
            conversation_id: m.conversation_id.clone(),
            conversation_title: m.conversation_title.clone(),
            conversation_kind: m.conversation_kind.map(|k| k.as_str().to_owned()),
            source_id: m.source_id.clone(),
            sender_id: m.sender.id.clone(),
            sender_name: m.sender.name.clone(),
            sender_role: Some(m.sender.role.as_str().to_owned()),
            sent_at: m.sent_at.to_rfc3339(),
            kind: Some(m.kind.as_str().to_owned()),
            text: Some(m.text.clone()),
            reply_to: m.reply_to.clone(),
            target: m.target.clone(),
            attachments: Some(
                m.attachments
                    .iter()
                    .map(|a| CanonicalAttachment {
                        sha256: Some(hex::encode(a.reference.sha256)),
                        name: a.reference.name.clone(),
                        mime: Some(a.reference.mime.clone()),
                        size: Some(a.reference.size),
                        path: None,
                        data: None,
                    })
                    .collect(),
            ),
            tags: m.tags.clone(),
            extra: None,
        }
    }

    pub fn to_line(&self) -> String {
        // A derived Serialize of strings, options and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl CanonicalAttachment {
    fn resolve(
        self,
        field: &str,
        load: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<NewAttachment, RecordError> {
        use sha2::{Digest, Sha256};
        if self.name.is_empty() || self.name.len() > MAX_ID_BYTES {
            return Err(RecordError::field(
                &format!("{field}.name"),
                "must be 1 to 512 bytes",
            ));
        }
        let bytes = match (&self.data, &self.path) {
            (Some(_), Some(_)) => {
                return Err(RecordError::field(field, "give `data` or `path`, not both"));
            }
            (Some(d), None) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .map_err(|e| {
                        RecordError::field(&format!("{field}.data"), format!("not base64: {e}"))
                    })?,
            ),
            (None, Some(p)) => {
                Some(load(p).map_err(|e| RecordError::field(&format!("{field}.path"), e))?)
            }
            (None, None) => None,
        };
        let declared = match &self.sha256 {
            Some(h) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).map_err(|_| {
                    RecordError::field(
                        &format!("{field}.sha256"),
                        "must be 64 hexadecimal characters",
                    )
                })?;
                Some(out)
            }
            None => None,
        };
        let (sha256, size) = match (&bytes, declared) {
            (Some(b), declared) => {
                let actual: [u8; 32] = Sha256::digest(b).into();
                if declared.is_some_and(|d| d != actual) {
                    return Err(RecordError::field(
                        &format!("{field}.sha256"),
                        "does not match the attachment's bytes",
                    ));
                }
                if self.size.is_some_and(|s| s != b.len() as u64) {
                    return Err(RecordError::field(
                        &format!("{field}.size"),
                        "does not match the attachment's bytes",
                    ));
                }
                (actual, b.len() as u64)
            }
            (None, Some(d)) => (d, self.size.unwrap_or(0)),
            (None, None) => {
                return Err(RecordError::field(
                    field,
                    "needs `sha256`, `data` or `path`",
                ));
            }
        };
        let mime = self
            .mime
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok(NewAttachment {
            reference: AttachmentRef {
                sha256,
                name: self.name,
                mime,
                size,
            },
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"platform":"wecom","conversation_id":"c-1","conversation_title":"客户 王女士","conversation_kind":"direct","source_id":"m-1","sender_id":"u-7","sender_name":"张三","sender_role":"agent","sent_at":"2024-03-01T09:15:02+08:00","kind":"text","text":"您好，请问有什么可以帮您？","reply_to":null,"attachments":[]}"#;

    fn check(line: &str) -> Result<NewMessage, RecordError> {
        let origin = Origin {
            file: "t.jsonl".into(),
            line: 1,
        };
        parse_line(line)?.into_new_message(line.as_bytes().to_vec(), origin, &mut |p| {
            Err(format!("no file {p}"))
        })
    }

    #[test]
    fn the_issue_example_parses() {
        let m = check(GOOD).expect("valid");
        assert_eq!(m.platform.as_str(), "wecom");
        assert_eq!(m.sender.name.as_deref(), Some("张三"));
        assert_eq!(m.sender.role, SenderRole::Agent);
        assert_eq!(m.sent_at.utc_ms, 1_709_255_702_000);
        assert_eq!(m.sent_at.offset_s, Some(28_800));
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.conversation_kind, Some(ConversationKind::Direct));
    }

    #[test]
    fn minimal_record_gets_defaults() {
        let m = check(r#"{"platform":"qq","conversation_id":"g","sender_id":"1","sent_at":"2024-01-01T00:00:00Z","text":"hi"}"#)
            .expect("valid");
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.sender.role, SenderRole::Unknown);
        assert_eq!(m.source_id, None);
    }

    #[test]
    fn malformed_records_name_their_field() {
        let with = |k: &str, v: &str| {
            let mut j: serde_json::Value = serde_json::from_str(GOOD).expect("json");
            j[k] = serde_json::from_str(v).expect("value");
            j.to_string()
        };
        let without = |k: &str| {
            let mut j: serde_json::Value = serde_json::from_str(GOOD).expect("json");
            j.as_object_mut().expect("object").remove(k);
            j.to_string()
        };
        let cases: Vec<(&str, String, Option<&str>)> = vec![
            ("not_json", "{".into(), None),
            ("array", "[]".into(), None),
            ("truncated", GOOD[..GOOD.len() - 10].into(), None),
            ("missing_platform", without("platform"), Some("platform")),
            ("missing_sender", without("sender_id"), Some("sender_id")),
            ("missing_sent_at", without("sent_at"), Some("sent_at")),
            (
                "bad_platform",
                with("platform", r#""We Com""#),
                Some("platform"),
            ),
            (
                "empty_conversation",
                with("conversation_id", r#""""#),
                Some("conversation_id"),
            ),
            (
                "control_in_sender",
                with("sender_id", r#""a\u0007b""#),
                Some("sender_id"),
            ),
            (
                "bad_time",
                with("sent_at", r#""2024-03-01 09:15""#),
                Some("sent_at"),
            ),
            (
                "time_as_number",
                with("sent_at", "1709255702"),
                Some("sent_at"),
            ),
            ("bad_kind", with("kind", r#""sticker""#), Some("kind")),
            (
                "bad_role",
                with("sender_role", r#""boss""#),
                Some("sender_role"),
            ),
            (
                "bad_conv_kind",
                with("conversation_kind", r#""channel""#),
                Some("conversation_kind"),
            ),
            ("unknown_field", with("sent_ad", r#""x""#), Some("sent_ad")),
            ("text_not_string", with("text", "42"), Some("text")),
            (
                "attachment_size_not_number",
                with("attachments", r#"[{"name":"a","size":"x"}]"#),
                Some("attachments[0].size"),
            ),
            (
                "recall_without_target",
                with("kind", r#""recall""#),
                Some("target"),
            ),
            (
                "bad_attachment_hash",
                with("attachments", r#"[{"name":"a.jpg","sha256":"zz"}]"#),
                Some("attachments[0].sha256"),
            ),
            (
                "attachment_no_bytes_no_hash",
                with("attachments", r#"[{"name":"a.jpg"}]"#),
                Some("attachments[0]"),
            ),
            (
                "attachment_bad_base64",
                with("attachments", r#"[{"name":"a","data":"!!"}]"#),
                Some("attachments[0].data"),
            ),
            (
                "attachment_missing_file",
                with("attachments", r#"[{"name":"a","path":"x.jpg"}]"#),
                Some("attachments[0].path"),
            ),
            (
                "attachment_hash_mismatch",
                with(
                    "attachments",
                    r#"[{"name":"a","data":"aGk=","sha256":"0000000000000000000000000000000000000000000000000000000000000000"}]"#,
                ),
                Some("attachments[0].sha256"),
            ),
        ];
        let mut no_text = serde_json::from_str::<serde_json::Value>(GOOD).expect("json");
        no_text.as_object_mut().expect("obj").remove("text");
        no_text.as_object_mut().expect("obj").remove("attachments");
        let mut cases = cases;
        cases.push(("neither_text_nor_attachments", no_text.to_string(), None));
        for (name, line, field) in cases {
            let err = check(&line).expect_err(name);
            if let Some(f) = field {
                assert_eq!(err.field.as_deref(), Some(f), "{name}: {err}");
            }
            assert!(!err.reason.is_empty(), "{name}");
        }
    }

    #[test]
    fn inline_attachment_is_hashed() {
        let line = r#"{"platform":"qq","conversation_id":"g","sender_id":"1","sent_at":"2024-01-01T00:00:00Z","attachments":[{"name":"hi.txt","mime":"text/plain","data":"aGk="}]}"#;
        let m = check(line).expect("valid");
        assert_eq!(m.attachments[0].reference.size, 2);
        assert_eq!(
            hex::encode(m.attachments[0].reference.sha256),
            "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
        );
        assert_eq!(m.attachments[0].bytes.as_deref(), Some(&b"hi"[..]));
    }

    #[test]
    fn writing_then_parsing_is_the_identity() {
        let m = check(GOOD).expect("valid");
        let line = CanonicalRecord::from_message(&m).to_line();
        let again = check(&line).expect("valid again");
        assert_eq!(
            CanonicalRecord::from_message(&again),
            CanonicalRecord::from_message(&m)
        );
    }
}
