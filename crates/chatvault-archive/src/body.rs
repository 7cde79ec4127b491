//! A message's sealed content: what is encrypted under the conversation's data key.
//!
//! ```text
//! body = version || salt[16] || lp(text) || u16 n || n × (sha256[32] || lp(name) || lp(mime) || u64 size)
//!        || raw || (version 2, 3) sealed
//! sealed = opt(conversation_title) || u16 n || n × u8 stored   -- what the directory shows,
//!          || (version 3) opt(u8 conversation_kind)              sealed with the content so a
//!                                                                changed title or kind, or a
//!                                                                deleted attachment row, is named
//! raw  = 0x00 || opt(conversation_title) || opt(u8 conversation_kind)   -- "canonical"
//!      | 0x01 || lp(bytes)                                               -- "verbatim"
//! ```
//!
//! "Canonical" means the raw source record was byte-for-byte the canonical JSONL line of
//! the message, so it is rebuilt from the stored fields instead of being stored twice; the
//! import checks that rebuilding gives the same bytes before it chooses this form. Any
//! other raw record (another field order, an `extra` object, another format) is stored
//! verbatim. Either way the content commitment in the Merkle leaf covers the raw bytes.

use chatvault_model::leaf::SALT_LEN;
use chatvault_model::wire::{put_lp as lp, put_opt, Reader};
use chatvault_model::AttachmentRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Canonical {
        conversation_title: Option<String>,
        conversation_kind: Option<u8>,
    },
    Verbatim(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub salt: [u8; SALT_LEN],
    pub text: String,
    pub attachments: Vec<AttachmentRef>,
    pub raw: Raw,
    /// Written since version 2 of the body (`None` in older archives).
    pub sealed: Option<Sealed>,
}

/// Facts the directory shows beside the content, sealed with it under the conversation's
/// data key: `verify` compares the directory with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The conversation's title as this message gave it.
    pub conversation_title: Option<String>,
    /// Per attachment: whether its bytes were stored (an export without media stores none).
    pub stored: Vec<bool>,
    /// The conversation's kind as this message gave it (version 3; `None` in version 2).
    pub conversation_kind: Option<Option<u8>>,
}

impl Body {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.text.len());
        out.push(match &self.sealed {
            None => 1,
            Some(Sealed {
                conversation_kind: None,
                ..
            }) => 2,
            Some(_) => 3,
        });
        out.extend_from_slice(&self.salt);
        lp(&mut out, self.text.as_bytes());
        out.extend_from_slice(&(self.attachments.len() as u16).to_be_bytes());
        for a in &self.attachments {
            out.extend_from_slice(&a.sha256);
            lp(&mut out, a.name.as_bytes());
            lp(&mut out, a.mime.as_bytes());
            out.extend_from_slice(&a.size.to_be_bytes());
        }
        match &self.raw {
            Raw::Canonical {
                conversation_title,
                conversation_kind,
            } => {
                out.push(0);
                put_opt(&mut out, conversation_title.as_deref().map(str::as_bytes));
                match conversation_kind {
                    None => out.push(0),
                    Some(k) => out.extend_from_slice(&[1, *k]),
                }
            }
            Raw::Verbatim(b) => {
                out.push(1);
                lp(&mut out, b);
            }
        }
        if let Some(s) = &self.sealed {
            put_opt(&mut out, s.conversation_title.as_deref().map(str::as_bytes));
            out.extend_from_slice(&(s.stored.len() as u16).to_be_bytes());
            out.extend(s.stored.iter().map(|b| u8::from(*b)));
            if let Some(kind) = s.conversation_kind {
                match kind {
                    None => out.push(0),
                    Some(k) => out.extend_from_slice(&[1, k]),
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Body, String> {
        let mut r = Reader::new(bytes, "content");
        let version = r.u8()?;
        if !(1..=3).contains(&version) {
            return Err("unknown content version".into());
        }
        let salt = r.arr()?;
        let text = r.string()?;
        let n = u16::from_be_bytes(r.arr()?);
        let mut attachments = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let sha256 = r.arr()?;
            let name = r.string()?;
            let mime = r.string()?;
            let size = u64::from_be_bytes(r.arr()?);
            attachments.push(AttachmentRef {
                sha256,
                name,
                mime,
                size,
            });
        }
        let raw = match r.u8()? {
            0 => {
                let conversation_title = r.opt_string()?;
                let conversation_kind = match r.u8()? {
                    0 => None,
                    1 => Some(r.u8()?),
                    t => return Err(format!("bad kind tag {t}")),
                };
                Raw::Canonical {
                    conversation_title,
                    conversation_kind,
                }
            }
            1 => Raw::Verbatim(r.lp()?.to_vec()),
            t => return Err(format!("bad raw tag {t}")),
        };
        let sealed = if version >= 2 {
            let conversation_title = r.opt_string()?;
            let n = u16::from_be_bytes(r.arr()?);
            let mut stored = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                stored.push(r.u8()? != 0);
            }
            let conversation_kind = if version == 3 {
                Some(match r.u8()? {
                    0 => None,
                    1 => Some(r.u8()?),
                    t => return Err(format!("bad kind tag {t}")),
                })
            } else {
                None
            };
            Some(Sealed {
                conversation_title,
                stored,
                conversation_kind,
            })
        } else {
            None
        };
        r.finish()?;
        Ok(Body {
            salt,
            text,
            attachments,
            raw,
            sealed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cases = vec![
            Body {
                salt: [1; 16],
                text: "退款".into(),
                attachments: vec![],
                raw: Raw::Verbatim(b"{}".to_vec()),
                sealed: None,
            },
            Body {
                salt: [4; 16],
                text: "v2".into(),
                attachments: vec![],
                raw: Raw::Verbatim(b"{}".to_vec()),
                sealed: Some(Sealed {
                    conversation_title: Some("客户 王女士".into()),
                    stored: vec![],
                    conversation_kind: None,
                }),
            },
            Body {
                salt: [5; 16],
                text: "v3".into(),
                attachments: vec![],
                raw: Raw::Verbatim(b"{}".to_vec()),
                sealed: Some(Sealed {
                    conversation_title: None,
                    stored: vec![true],
                    conversation_kind: Some(Some(2)),
                }),
            },
            Body {
                salt: [6; 16],
                text: "v3, no kind".into(),
                attachments: vec![],
                raw: Raw::Verbatim(b"{}".to_vec()),
                sealed: Some(Sealed {
                    conversation_title: None,
                    stored: vec![],
                    conversation_kind: Some(None),
                }),
            },
            Body {
                salt: [2; 16],
                text: String::new(),
                attachments: vec![AttachmentRef {
                    sha256: [3; 32],
                    name: "a.jpg".into(),
                    mime: "image/jpeg".into(),
                    size: 9,
                }],
                raw: Raw::Canonical {
                    conversation_title: Some("客户".into()),
                    conversation_kind: Some(1),
                },
                sealed: None,
            },
            Body {
                salt: [0; 16],
                text: "x".into(),
                attachments: vec![],
                raw: Raw::Canonical {
                    conversation_title: None,
                    conversation_kind: None,
                },
                sealed: None,
            },
        ];
        for b in cases {
            let enc = b.encode();
            assert_eq!(Body::decode(&enc).expect("decodes"), b);
            for cut in 0..enc.len() {
                assert!(Body::decode(&enc[..cut]).is_err(), "truncated at {cut}");
            }
        }
    }
}
