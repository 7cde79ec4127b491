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
use chatvault_model::AttachmentRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Canonical { conversation_title: Option<String>, conversation_kind: Option<u8> },
    Verbatim(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub salt: [u8; SALT_LEN],
    pub text: String,
    pub attachments: Vec<AttachmentRef>,
    pub raw: Raw,
}

fn lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
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
            Raw::Canonical { conversation_title, conversation_kind } => {
                out.push(0);
                match conversation_title {
                    None => out.push(0),
                    Some(t) => {
                        out.push(1);
                        lp(&mut out, t.as_bytes());
                    }
                }
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
        let mut r = Cursor(bytes);
        if r.u8()? != 1 {
            return Err("unknown content version".into());
        }
        let salt = r.take(SALT_LEN)?.try_into().map_err(|_| "salt")?;
        let text = r.string()?;
        let n = u16::from_be_bytes(r.take(2)?.try_into().map_err(|_| "count")?);
        let mut attachments = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let sha256 = r.take(32)?.try_into().map_err(|_| "sha256")?;
            let name = r.string()?;
            let mime = r.string()?;
            let size = u64::from_be_bytes(r.take(8)?.try_into().map_err(|_| "size")?);
            attachments.push(AttachmentRef { sha256, name, mime, size });
        }
        let raw = match r.u8()? {
            0 => {
                let conversation_title = match r.u8()? {
                    0 => None,
                    1 => Some(r.string()?),
                    t => return Err(format!("bad title tag {t}")),
                };
                let conversation_kind = match r.u8()? {
                    0 => None,
                    1 => Some(r.u8()?),
                    t => return Err(format!("bad kind tag {t}")),
                };
                Raw::Canonical { conversation_title, conversation_kind }
            }
            1 => {
                let n = r.len()?;
                Raw::Verbatim(r.take(n)?.to_vec())
            }
            t => return Err(format!("bad raw tag {t}")),
        };
        if !r.0.is_empty() {
            return Err("trailing bytes in content".into());
        }
        Ok(Body { salt, text, attachments, raw })
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("content is truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn len(&mut self) -> Result<usize, String> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| "length")?) as usize)
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "content is not UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cases = vec![
            Body { salt: [1; 16], text: "退款".into(), attachments: vec![], raw: Raw::Verbatim(b"{}".to_vec()) },
            Body {
                salt: [2; 16],
                text: String::new(),
                attachments: vec![AttachmentRef { sha256: [3; 32], name: "a.jpg".into(), mime: "image/jpeg".into(), size: 9 }],
                raw: Raw::Canonical { conversation_title: Some("客户".into()), conversation_kind: Some(1) },
            },
            Body { salt: [0; 16], text: "x".into(), attachments: vec![], raw: Raw::Canonical { conversation_title: None, conversation_kind: None } },
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
