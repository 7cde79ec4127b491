//! WXBizMsgCrypt: the callback crypto of WeCom (企业微信) and, with the owner key as the
//! receiver, DingTalk's HTTP event subscription (DingCallbackCrypto).
//!
//! - Signature: lowercase hex SHA-1 of the concatenation of `token`, `timestamp`, `nonce`
//!   and the ciphertext, sorted as byte strings.
//! - Key: base64 of the 43-character EncodingAESKey plus `=`, 32 bytes; IV: its first 16.
//! - Plaintext: 16 random bytes, the message length (4 bytes, big-endian), the message,
//!   the receiver's id (WeCom: the CorpID or SuiteID; DingTalk: the AppKey, CorpId or
//!   SuiteKey). AES-256-CBC with PKCS#7 padding to 32-byte blocks.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use sha1::Digest;

use crate::{b64, same, Refusal, Result};

type Dec = cbc::Decryptor<aes::Aes256>;
type Enc = cbc::Encryptor<aes::Aes256>;

/// WXBizMsgCrypt pads to 32-byte blocks, not AES's 16, so the padding is done here: the
/// `cbc` crate's `Pkcs7` pads to the cipher's block size, which would make ciphertexts
/// the platforms' SDKs reject and refuse padding of 17 to 32 bytes that they send.
const PAD_BLOCK: usize = 32;

/// A source's WXBizMsgCrypt settings.
#[derive(Clone)]
pub struct Crypto {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("token", &"***")
            .field("key", &"***")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

/// What a verified request held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The message (WeCom: XML or JSON; DingTalk: JSON; a URL check: the `echostr`).
    pub message: Vec<u8>,
    /// The 16 random bytes the sender put first.
    pub random16: [u8; 16],
}

impl Crypto {
    /// `encoding_aes_key`: the 43 characters the platform's console shows.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Crypto> {
        let k = encoding_aes_key.trim();
        if k.len() != 43 {
            return Err(Refusal::BadKey(format!(
                "the EncodingAESKey has {} characters, not 43",
                k.len()
            )));
        }
        // The platforms' SDKs decode the key leniently: its last character's spare bits
        // are often not zero.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = lenient
            .decode(format!("{k}="))
            // Not the decoder's message: it quotes a character of the key.
            .map_err(|_| Refusal::BadKey("the EncodingAESKey is not base64".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Refusal::BadKey("the EncodingAESKey is not 32 bytes".into()))?;
        Ok(Crypto {
            token: token.to_owned(),
            key,
            receive_id: receive_id.to_owned(),
        })
    }

    /// The signature of a ciphertext at `timestamp` and `nonce`.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Checks `msg_signature` over the ciphertext, then decrypts it and checks that it
    /// names this source as its receiver.
    pub fn open(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<Opened> {
        let want = self.signature(timestamp, nonce, encrypt);
        if !same(
            want.as_bytes(),
            msg_signature.trim().to_ascii_lowercase().as_bytes(),
        ) {
            return Err(Refusal::BadSignature);
        }
        let (random16, message, receiver) = self.decrypt(encrypt)?;
        if !same(receiver.as_bytes(), self.receive_id.as_bytes()) {
            return Err(Refusal::WrongReceiver { found: receiver });
        }
        Ok(Opened { message, random16 })
    }

    /// Decrypts a ciphertext into its random prefix, its message and its receiver id,
    /// without checking any signature: call it only on what [`Crypto::open`] verified (or
    /// in tests), so that no answer ever depends on how a forged ciphertext decrypts.
    pub fn decrypt(&self, encrypt: &str) -> Result<([u8; 16], Vec<u8>, String)> {
        let bad = |why: &str| Refusal::Malformed("encrypt", why.to_owned());
        let mut buf = b64()
            .decode(encrypt.trim())
            .map_err(|_| bad("not base64"))?;
        if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
            return Err(bad("not a whole number of 32-byte blocks"));
        }
        let plain = Dec::new(&self.key.into(), self.key[..16].into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| bad("does not decrypt"))?;
        let pad = usize::from(*plain.last().ok_or_else(|| bad("empty"))?);
        // Every pad byte says the pad's length (PKCS#7), not only the last.
        if pad == 0
            || pad > PAD_BLOCK
            || pad > plain.len()
            || plain[plain.len() - pad..]
                .iter()
                .any(|b| usize::from(*b) != pad)
        {
            return Err(bad("bad padding"));
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(bad("shorter than its header"));
        }
        let mut random16 = [0u8; 16];
        random16.copy_from_slice(&body[..16]);
        let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(bad("its length runs past its end"));
        }
        let receiver = String::from_utf8(rest[len..].to_vec())
            .map_err(|_| bad("the receiver id is not UTF-8"))?;
        Ok((random16, rest[..len].to_vec(), receiver))
    }

    /// Encrypts a reply (DingTalk's `success`, a WeCom passive reply) with the given
    /// random prefix: base64 of the ciphertext.
    pub fn encrypt(&self, random16: &[u8; 16], message: &[u8]) -> Result<String> {
        let len = u32::try_from(message.len())
            .map_err(|_| Refusal::Malformed("reply", "over 4 GiB".into()))?;
        let mut plain = Vec::with_capacity(20 + message.len() + self.receive_id.len() + PAD_BLOCK);
        plain.extend_from_slice(random16);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(message);
        plain.extend_from_slice(self.receive_id.as_bytes());
        pad32(&mut plain);
        let n = plain.len();
        let out = Enc::new(&self.key.into(), self.key[..16].into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, n)
            .unwrap_or_else(|_| unreachable!("the plaintext is padded to whole blocks"));
        Ok(b64().encode(out))
    }

    /// Raw AES-256-CBC of bytes padded to 32-byte blocks (DingTalk's SDK test of the
    /// cipher alone): base64.
    pub fn encrypt_raw(&self, plaintext: &[u8]) -> String {
        let mut plain = plaintext.to_vec();
        pad32(&mut plain);
        let n = plain.len();
        let out = Enc::new(&self.key.into(), self.key[..16].into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, n)
            .unwrap_or_else(|_| unreachable!("the plaintext is padded to whole blocks"));
        b64().encode(out)
    }
}

/// PKCS#7 to 32-byte blocks (see [`PAD_BLOCK`]).
fn pad32(plain: &mut Vec<u8>) {
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
}

/// How far a callback's timestamp may be from now. WeCom documents none; its retries come
/// within seconds (three, five seconds apart), so a replay older than this is refused.
pub const WINDOW_S: i64 = 300;

/// Refuses a callback timestamp outside [`WINDOW_S`]: seconds (WeCom) or milliseconds
/// (DingTalk's `timeStamp`), told apart by size. The connectors call it before
/// [`Crypto::open`]; the vendors' vectors carry timestamps of years ago.
pub fn fresh(timestamp: &str, now_s: i64) -> Result<()> {
    let t = crate::timestamp("timestamp", timestamp)?;
    let t_s = if t.unsigned_abs() >= 100_000_000_000 {
        t / 1000
    } else {
        t
    };
    crate::within(t_s, now_s, WINDOW_S)
}

/// Lowercase hex SHA-1 of the four values sorted as byte strings and joined.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut h = sha1::Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The `<Encrypt>` of a WeCom XML body, or the `encrypt` (`Encrypt`) of a JSON one
/// (DingTalk, WeCom's JSON mode).
pub fn encrypt_field(body: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Refusal::Malformed("body", "not UTF-8".into()))?
        .trim();
    if text.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Refusal::Malformed("body", e.to_string()))?;
        return ["encrypt", "Encrypt"]
            .iter()
            .find_map(|k| v.get(k).and_then(|x| x.as_str()).map(str::to_owned))
            .ok_or(Refusal::Missing("encrypt"));
    }
    xml_field(text, "Encrypt")
}

/// The text of the first `<name>` element of an XML document (CDATA or text).
pub fn xml_field(xml: &str, name: &str) -> Result<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut out = String::new();
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) if e.name().as_ref() == name.as_bytes() => inside = true,
            Ok(Event::Text(t)) if inside => out.push_str(
                &t.unescape()
                    .map_err(|e| Refusal::Malformed("body", e.to_string()))?,
            ),
            Ok(Event::CData(t)) if inside => out.push_str(&String::from_utf8_lossy(&t)),
            Ok(Event::End(e)) if inside && e.name().as_ref() == name.as_bytes() => {
                return Ok(out.trim().to_owned())
            }
            Ok(Event::Eof) => return Err(Refusal::Missing("an XML element")),
            Err(e) => return Err(Refusal::Malformed("body", e.to_string())),
            _ => {}
        }
    }
}
