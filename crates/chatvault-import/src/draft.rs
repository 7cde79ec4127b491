//! Building a [`NewMessage`] from a parsed record, with the checks every importer needs.

use chatvault_model::canonical::{MAX_ATTACHMENTS, MAX_ID_BYTES, MAX_TEXT_BYTES};
use chatvault_model::{
    AttachmentRef, ConversationKind, MessageKind, NewAttachment, NewMessage, Origin, Platform,
    Sender, SenderRole, Timestamp,
};
use sha2::{Digest, Sha256};

use crate::ImportContext;

/// A message being assembled by an importer.
#[derive(Debug, Clone)]
pub struct Draft {
    pub platform: String,
    pub conversation_id: String,
    pub conversation_title: Option<String>,
    pub conversation_kind: Option<ConversationKind>,
    pub source_id: Option<String>,
    pub sender_id: String,
    pub sender_name: Option<String>,
    pub role: SenderRole,
    pub sent_at: Option<Timestamp>,
    pub kind: MessageKind,
    pub text: String,
    pub reply_to: Option<String>,
    pub target: Option<String>,
    pub attachments: Vec<NewAttachment>,
    pub tags: Vec<String>,
}

impl Draft {
    pub fn new(platform: &str, conversation_id: impl Into<String>) -> Self {
        Draft {
            platform: platform.to_owned(),
            conversation_id: conversation_id.into(),
            conversation_title: None,
            conversation_kind: None,
            source_id: None,
            sender_id: String::new(),
            sender_name: None,
            role: SenderRole::Unknown,
            sent_at: None,
            kind: MessageKind::Text,
            text: String::new(),
            reply_to: None,
            target: None,
            attachments: vec![],
            tags: vec![],
        }
    }

    /// Adds an attachment whose bytes the import has.
    pub fn attach(&mut self, name: &str, bytes: Vec<u8>) {
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let reference = AttachmentRef {
            sha256,
            name: clean_name(name),
            mime: mime_for(name).to_owned(),
            size: bytes.len() as u64,
        };
        self.attachments.push(NewAttachment {
            reference,
            bytes: Some(bytes),
        });
    }

    pub fn tag(&mut self, t: &str) {
        if !self.tags.iter().any(|x| x == t) {
            self.tags.push(t.to_owned());
        }
    }

    /// Checks the draft and turns it into a message. `raw` is the record as the source
    /// wrote it.
    pub fn finish(self, raw: Vec<u8>, origin: Origin) -> Result<NewMessage, String> {
        let platform = Platform::new(&self.platform).map_err(|e| e.to_string())?;
        check_id("conversation", &self.conversation_id)?;
        check_id("sender", &self.sender_id)?;
        for (what, v) in [
            ("message id", &self.source_id),
            ("reply id", &self.reply_to),
            ("target id", &self.target),
        ] {
            if let Some(v) = v {
                check_id(what, v)?;
            }
        }
        let sent_at = self.sent_at.ok_or("no timestamp")?;
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "text is {} bytes, over the {MAX_TEXT_BYTES}-byte limit",
                self.text.len()
            ));
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(format!(
                "{} attachments, over the limit of {MAX_ATTACHMENTS}",
                self.attachments.len()
            ));
        }
        if matches!(self.kind, MessageKind::Recall | MessageKind::Edit) && self.target.is_none() {
            return Err(format!(
                "a {} event needs the id of the message it changes",
                self.kind
            ));
        }
        Ok(NewMessage {
            platform,
            conversation_id: self.conversation_id,
            conversation_title: self.conversation_title.map(|t| truncate(&t, 512)),
            conversation_kind: self.conversation_kind,
            source_id: self.source_id,
            sender: Sender {
                id: self.sender_id,
                name: self.sender_name.map(|n| truncate(&n, 512)),
                role: self.role,
            },
            sent_at,
            kind: self.kind,
            text: self.text,
            reply_to: self.reply_to,
            target: self.target,
            attachments: self.attachments,
            tags: self.tags,
            raw,
            origin,
        })
    }
}

/// Applies `--self`: exports write the owner as "You", "我" or "Me".
pub fn self_alias(ctx: &ImportContext, name: &str) -> Option<String> {
    const ALIASES: &[&str] = &[
        "You", "you", "我", "Me", "me", "您", "Du", "Tú", "Vous", "Você",
    ];
    ctx.self_name
        .as_ref()
        .filter(|_| ALIASES.contains(&name))
        .cloned()
}

fn check_id(what: &str, v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if v.len() > MAX_ID_BYTES {
        return Err(format!("{what} is longer than {MAX_ID_BYTES} bytes"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{what} contains a control character"));
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A display name for an attachment: the last path segment (either slash), no controls.
pub fn clean_name(path: &str) -> String {
    let last = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let name: String = last.chars().filter(|c| !c.is_control()).collect();
    let name = truncate(name.trim(), 255);
    if name.is_empty() {
        "attachment".into()
    } else {
        name
    }
}

/// A MIME type from the file extension; attachments are opaque to the archive.
pub fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(e, _)| *e == ext)
        .map_or("application/octet-stream", |(_, m)| m)
}

/// File name extensions and the MIME types they stand for.
const TYPES: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("heic", "image/heic"),
    ("mp4", "video/mp4"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("opus", "audio/opus"),
    ("ogg", "audio/ogg"),
    ("amr", "audio/amr"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("txt", "text/plain"),
    ("vcf", "text/vcard"),
    ("html", "text/html"),
    ("eml", "message/rfc822"),
];

/// The extension (with its dot) for a MIME type, or none: names an unnamed part.
pub fn extension_for(mime: &str) -> String {
    let mime = mime.to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(_, m)| *m == mime)
        .map(|(e, _)| format!(".{e}"))
        .unwrap_or_default()
}

/// The message kind an attachment's MIME type suggests.
pub fn kind_for_mime(mime: &str) -> chatvault_model::MessageKind {
    use chatvault_model::MessageKind;
    match mime.split('/').next() {
        Some("image") => MessageKind::Image,
        Some("video") => MessageKind::Video,
        Some("audio") => MessageKind::Voice,
        _ => MessageKind::File,
    }
}
