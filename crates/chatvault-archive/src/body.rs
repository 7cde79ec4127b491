//! A message's sealed content: what is encrypted under the conversation's data key.
//!
//! ```text
//! body = 0x01 || salt[16] || lp(text) || u16 n || n × (sha256[32] || lp(name) || lp(mime) || u64 size)
//!        || raw
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
}

impl Body {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.text.len());
        out.push(1);
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
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Body, String> {
        let mut r = Reader::new(bytes, "content");
        if r.u8()? != 1 {
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
        r.finish()?;
        Ok(Body {
            salt,
            text,
            attachments,
            raw,
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
            },
            Body {
                salt: [0; 16],
                text: "x".into(),
                attachments: vec![],
                raw: Raw::Canonical {
                    conversation_title: None,
                    conversation_kind: None,
                },
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
