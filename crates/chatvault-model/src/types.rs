use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Error for a value that does not parse as one of the model's enums or identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: expected {expected}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Stable small integer used by stores; never reorder.
            pub fn code(self) -> u8 {
                self as u8
            }
            pub fn from_code(code: u8) -> Option<Self> {
                Self::ALL.get(usize::from(code)).copied()
            }
        }
        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                match s { $($text => Ok($name::$variant),)+
                    _ => Err(InvalidValue { what: $what, value: s.to_owned(),
                        expected: concat!($($text, " "),+) }) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(
    /// What a message is. `Recall` (撤回) and `Edit` are events that point at an original
    /// through [`NewMessage::target`]; the original is never overwritten.
    MessageKind, "kind", {
    Text = "text", Image = "image", Voice = "voice", Video = "video", File = "file",
    Link = "link", Location = "location", System = "system", Recall = "recall",
    Edit = "edit", Other = "other",
});

string_enum!(
    /// Which side of a service conversation a sender is on.
    SenderRole, "sender_role", {
    Customer = "customer", Agent = "agent", System = "system", Unknown = "unknown",
});

string_enum!(
    /// A one-to-one chat or a group.
    ConversationKind, "conversation_kind", {
    Direct = "direct", Group = "group",
});

/// A platform name such as `wecom`, `whatsapp` or `telegram`: lower-case ASCII letters,
/// digits, `-`, `_` or `.`, 1 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform(String);

impl Platform {
    pub fn new(name: &str) -> Result<Self, InvalidValue> {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if ok {
            Ok(Platform(name.to_owned()))
        } else {
            Err(InvalidValue {
                what: "platform",
                value: name.chars().take(40).collect(),
                expected: "1-32 characters of a-z, 0-9, '-', '_' or '.'",
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Platform {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Platform::new(&s)
    }
}
impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.0
    }
}
impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public name of a conversation: `platform:external_id`, e.g. `wecom:c-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationKey {
    pub platform: Platform,
    pub external_id: String,
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.external_id)
    }
}

impl FromStr for ConversationKey {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue {
            what: "conversation",
            value: s.chars().take(80).collect(),
            expected: "PLATFORM:EXTERNAL_ID, e.g. wecom:c-1",
        };
        let (p, id) = s.split_once(':').ok_or_else(bad)?;
        if id.is_empty() {
            return Err(bad());
        }
        Ok(ConversationKey {
            platform: Platform::new(p).map_err(|_| bad())?,
            external_id: id.to_owned(),
        })
    }
}

/// An instant in UTC milliseconds, with the source's UTC offset when the source said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    pub utc_ms: i64,
    /// Offset east of UTC in seconds, as the source recorded it. `None` when unknown.
    pub offset_s: Option<i32>,
}

/// Earliest and latest instants the archive accepts (0001-01-01 to 9999-12-31, the
/// years RFC 3339 can write). Times before 1970 are ordinary instants: old e-mail,
/// scanned records, a phone whose clock was reset.
pub const MIN_UTC_MS: i64 = -62_135_596_800_000;
pub const MAX_UTC_MS: i64 = 253_402_300_799_999;

impl Timestamp {
    pub fn utc(utc_ms: i64) -> Self {
        Timestamp {
            utc_ms,
            offset_s: None,
        }
    }

    /// Parses RFC 3339 (`2024-03-01T09:15:02+08:00`, `...Z`); the offset is kept.
    pub fn parse_rfc3339(s: &str) -> Result<Self, InvalidValue> {
        let bad = |expected| InvalidValue {
            what: "timestamp",
            value: s.chars().take(60).collect(),
            expected,
        };
        let dt = DateTime::parse_from_rfc3339(s)
            .map_err(|_| bad("RFC 3339, e.g. 2024-03-01T09:15:02+08:00"))?;
        let utc_ms = dt.timestamp_millis();
        if !(MIN_UTC_MS..=MAX_UTC_MS).contains(&utc_ms) {
            return Err(bad("a time between the years 0001 and 9999"));
        }
        Ok(Timestamp {
            utc_ms,
            offset_s: Some(dt.offset().local_minus_utc()),
        })
    }

    /// RFC 3339 in the source's offset when known, else in UTC (`Z`), with milliseconds
    /// only when they are not zero.
    pub fn to_rfc3339(&self) -> String {
        let utc = Utc
            .timestamp_millis_opt(self.utc_ms)
            .single()
            .unwrap_or_default();
        let fmt = if self.utc_ms % 1000 == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Millis
        };
        match self.offset_s.and_then(FixedOffset::east_opt) {
            Some(off) => utc.with_timezone(&off).to_rfc3339_opts(fmt, true),
            None => utc.to_rfc3339_opts(fmt, true),
        }
    }
}

/// An attachment as the model knows it: identified by the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttachmentRef {
    #[serde(with = "hex_32")]
    pub sha256: [u8; 32],
    pub name: String,
    pub mime: String,
    pub size: u64,
}

/// Where an importer found a record: the file and the 1-based line (or record number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The sender of a message, as the platform names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sender {
    /// The platform handle (user id, phone number, e-mail).
    pub id: String,
    /// Display name at the time of the message, when the source gave one.
    pub name: Option<String>,
    pub role: SenderRole,
}

/// A message as an importer produces it, before the archive gives it an id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub platform: Platform,
    pub conversation_id: String,
    pub conversation_title: Option<String>,
    pub conversation_kind: Option<ConversationKind>,
    pub source_id: Option<String>,
    pub sender: Sender,
    pub sent_at: Timestamp,
    pub kind: MessageKind,
    pub text: String,
    /// Source id of the message this one replies to.
    pub reply_to: Option<String>,
    /// For `edit` and `recall`: source id of the original message.
    pub target: Option<String>,
    pub attachments: Vec<NewAttachment>,
    pub tags: Vec<String>,
    /// The record exactly as the source wrote it (a JSONL line, a CSV row, ...).
    pub raw: Vec<u8>,
    pub origin: Origin,
}

impl NewMessage {
    pub fn conversation_key(&self) -> ConversationKey {
        ConversationKey {
            platform: self.platform.clone(),
            external_id: self.conversation_id.clone(),
        }
    }
}

/// An attachment that comes with a new message: its reference, and its bytes when the
/// import had them (an export without media still names its attachments).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    pub reference: AttachmentRef,
    pub bytes: Option<Vec<u8>>,
}

/// A message as the archive returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    pub id: String,
    pub seq: u64,
    pub platform: Platform,
    pub conversation: String,
    pub source_id: Option<String>,
    pub sender: String,
    pub sender_name: Option<String>,
    pub sender_role: SenderRole,
    pub sent_at: String,
    #[serde(skip)]
    pub sent_at_ts: Timestamp,
    pub received_at: String,
    pub kind: MessageKind,
    /// `None` once the content was purged.
    pub text: Option<String>,
    pub reply_to: Option<String>,
    pub target: Option<String>,
    pub attachments: Vec<AttachmentRef>,
    pub tags: Vec<String>,
    /// The kinds of personal data in the text (resident ID, mobile, bank card, e-mail).
    pub pii: Vec<crate::pii::PiiKind>,
}

pub(crate) mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out)
            .map_err(|_| serde::de::Error::custom("sha256 must be 64 hexadecimal characters"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_their_offset() {
        let cases = [
            (
                "beijing",
                "2024-03-01T09:15:02+08:00",
                1_709_255_702_000,
                Some(8 * 3600),
            ),
            ("utc_z", "2024-03-01T01:15:02Z", 1_709_255_702_000, Some(0)),
            ("before_1970", "1969-12-31T23:59:59Z", -1000, Some(0)),
            (
                "before_1970_millis",
                "1912-04-15T02:20:00.500+01:00",
                -1_821_307_199_500,
                Some(3600),
            ),
            (
                "first_year",
                "0001-01-01T00:00:00Z",
                -62_135_596_800_000,
                Some(0),
            ),
            (
                "millis",
                "2024-03-01T01:15:02.250Z",
                1_709_255_702_250,
                Some(0),
            ),
            (
                "negative_offset",
                "2024-02-29T20:15:02-05:00",
                1_709_255_702_000,
                Some(-5 * 3600),
            ),
        ];
        for (name, text, ms, off) in cases {
            let t = Timestamp::parse_rfc3339(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.utc_ms, ms, "{name}");
            assert_eq!(t.offset_s, off, "{name}");
            assert_eq!(t.to_rfc3339(), text, "{name}");
        }
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        let cases = [
            ("empty", ""),
            ("no_offset", "2024-03-01T09:15:02"),
            ("date_only", "2024-03-01"),
            ("bad_month", "2024-13-01T00:00:00Z"),
            ("feb_30", "2024-02-30T00:00:00Z"),
            ("hour_24", "2024-02-01T24:00:01Z"),
            ("year_0_before_range", "0000-12-31T23:59:59Z"),
            ("words", "yesterday"),
        ];
        for (name, text) in cases {
            assert!(
                Timestamp::parse_rfc3339(text).is_err(),
                "{name} should be rejected"
            );
        }
    }

    #[test]
    fn enum_codes_are_stable() {
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::from_code(k.code()), Some(*k));
            assert_eq!(k.as_str().parse::<MessageKind>(), Ok(*k));
        }
        assert_eq!(MessageKind::Text.code(), 0);
        assert_eq!(MessageKind::Other.code(), 10);
        assert_eq!(SenderRole::Unknown.code(), 3);
    }

    #[test]
    fn platforms_and_conversation_keys() {
        assert!(Platform::new("wecom").is_ok());
        for bad in ["", "WeCom", "we com", "平台", &"x".repeat(33)] {
            assert!(Platform::new(bad).is_err(), "{bad:?}");
        }
        let k: ConversationKey = "wecom:c-1:x".parse().expect("key");
        assert_eq!(k.external_id, "c-1:x");
        assert_eq!(k.to_string(), "wecom:c-1:x");
        assert!("wecom:".parse::<ConversationKey>().is_err());
        assert!("nocolon".parse::<ConversationKey>().is_err());
    }
}
