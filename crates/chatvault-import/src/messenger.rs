//! Facebook Messenger and Instagram "Download your information" JSON:
//! `messages/inbox/<thread>/message_N.json`, messages newest first. Every non-ASCII
//! string is UTF-8 written as `\u00XX` escapes (latin-1 mojibake), repaired here.
//!
//! The thread's title and path come after the messages in the file, so the file is read
//! twice: once for the thread (skipping messages without building them), once streaming
//! the messages.

use chatvault_model::{ConversationKind, MessageKind, Timestamp};
use serde_json::Value;

use crate::draft::{kind_for_mime, mime_for, Draft};
use crate::jsonstream::{str_of, walk, Event, Plan};
use crate::source::Source;
use crate::time::epoch;
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct Messenger;

/// Undoes Meta's mojibake: a string whose characters all fit in one byte, and whose
/// bytes are valid UTF-8, was UTF-8 all along. Strings with any character above U+00FF
/// were written correctly and are left alone.
pub fn fix_mojibake(s: &str) -> String {
    if s.is_ascii() || s.chars().any(|c| c as u32 > 0xFF) {
        return s.to_owned();
    }
    let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8(bytes).unwrap_or_else(|_| s.to_owned())
}

fn fixed(v: &Value, key: &str) -> Option<String> {
    str_of(v, key).map(fix_mojibake)
}

/// What a file's content says about which of Meta's apps wrote it. The two share one
/// format; the folder a file sits in says nothing (users move files), so only content
/// counts: links and media paths into one app's domains, and fields only one app writes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Evidence {
    instagram: u64,
    messenger: u64,
}

impl Evidence {
    /// Counts the tells in one JSON value (the thread, or a message).
    fn add(&mut self, v: &Value) {
        match v {
            Value::String(s) => {
                let s = s.to_ascii_lowercase();
                if [
                    "instagram.com/",
                    "ig.me/",
                    "your_instagram_activity/",
                    "cdninstagram.com",
                ]
                .iter()
                .any(|t| s.contains(t))
                {
                    self.instagram += 1;
                }
                if [
                    "facebook.com/",
                    "fb.me/",
                    "m.me/",
                    "your_facebook_activity/",
                    "fbcdn.net",
                    "messenger.com/",
                ]
                .iter()
                .any(|t| s.contains(t))
                {
                    self.messenger += 1;
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    match k.as_str() {
                        // Instagram's shares name the post's owner; Messenger has calls
                        // and (older exports) typed messages.
                        "original_content_owner" => self.instagram += 1,
                        "call_duration" => self.messenger += 1,
                        "type"
                            if matches!(
                                v.as_str(),
                                Some("Generic" | "Share" | "Call" | "Subscribe" | "Unsubscribe")
                            ) =>
                        {
                            self.messenger += 1
                        }
                        _ => {}
                    }
                    self.add(v);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.add(i)),
            _ => {}
        }
    }
}

/// The platform: the one the user named (`--platform messenger|instagram`), else the
/// one the content points to (read by `scan` only when the thread alone does not
/// decide), else messenger with a warning that says so.
fn platform(
    ctx: &ImportContext,
    thread: &Value,
    scan: impl FnOnce() -> Result<Evidence, ImportError>,
) -> Result<(&'static str, Option<String>), ImportError> {
    match ctx.platform.as_ref().map(|p| p.as_str()) {
        Some("instagram") => return Ok(("instagram", None)),
        Some("messenger") => return Ok(("messenger", None)),
        _ => {}
    }
    let mut evidence = Evidence::default();
    evidence.add(thread);
    if evidence.instagram == evidence.messenger {
        evidence = scan()?;
        evidence.add(thread);
    }
    Ok(match evidence.instagram.cmp(&evidence.messenger) {
        std::cmp::Ordering::Greater => ("instagram", None),
        std::cmp::Ordering::Less => ("messenger", None),
        std::cmp::Ordering::Equal => (
            "messenger",
            Some(format!(
                "nothing in the file tells Facebook Messenger from Instagram ({} Instagram and {} Messenger links or fields): stored as messenger; name the app with --platform instagram if it was Instagram",
                evidence.instagram, evidence.messenger
            )),
        ),
    })
}

impl Importer for Messenger {
    fn name(&self) -> &'static str {
        "messenger"
    }

    fn transcodes(&self) -> bool {
        true
    }

    fn description(&self) -> &'static str {
        "Facebook Messenger / Instagram message_N.json (mojibake repaired)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let t = probe.text();
        if !t.trim_start().starts_with('{') {
            return 0;
        }
        match (
            t.contains("\"sender_name\""),
            t.contains("\"timestamp_ms\""),
        ) {
            (true, true) => 90,
            _ => 0,
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let open =
            || text::reader(source).map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()));
        let mut thread = serde_json::Map::new();
        let head_plan = |p: &[String]| match p {
            [k] if ["title", "thread_path", "thread_type", "participants"]
                .contains(&k.as_str()) =>
            {
                Plan::Keep
            }
            _ => Plan::Skip,
        };
        walk(open()?, &ctx.file_label, &head_plan, &mut |ev| {
            if let Event::Value(p, v) = ev {
                thread.insert(p[0].clone(), v);
            }
            Ok(())
        })?;
        let thread = Value::Object(thread);
        let (platform, note) = platform(ctx, &thread, || {
            let mut evidence = Evidence::default();
            let plan = |p: &[String]| match p {
                [k] if k == "messages" => Plan::Stream,
                _ => Plan::Skip,
            };
            walk(open()?, &ctx.file_label, &plan, &mut |ev| {
                if let Event::Item(_, _, v) = ev {
                    evidence.add(&v);
                }
                Ok(())
            })?;
            Ok(evidence)
        })?;
        if let Some(note) = note {
            sink.warn(&ctx.origin(1), note)?;
        }
        let folder = source
            .path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let conversation = ctx
            .conversation
            .clone()
            .or_else(|| str_of(&thread, "thread_path").map(str::to_owned))
            .or_else(|| folder.filter(|_| source.file_name().starts_with("message_")))
            .or_else(|| {
                source
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "thread".into());
        let title = fixed(&thread, "title");
        let participants = thread
            .get("participants")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let plan = |p: &[String]| match p {
            [k] if k == "messages" => Plan::Stream,
            _ => Plan::Skip,
        };
        let mut on = |ev: Event<'_>| -> Result<(), ImportError> {
            let Event::Item(line, raw, v) = ev else {
                return Ok(());
            };
            let origin = ctx.origin(line);
            let mut d = Draft::new(platform, conversation.clone());
            d.conversation_title = title.clone();
            d.conversation_kind = (participants > 0).then_some(if participants > 2 {
                ConversationKind::Group
            } else {
                ConversationKind::Direct
            });
            let outcome = (|| -> Result<Draft, String> {
                let ms = v
                    .get("timestamp_ms")
                    .and_then(Value::as_i64)
                    .ok_or("no `timestamp_ms`")?;
                d.sent_at = Some(
                    epoch(ms, true)
                        .map(|t| Timestamp {
                            offset_s: None,
                            ..t
                        })
                        .ok_or_else(|| crate::time::why_no_epoch("timestamp_ms", ms, true))?,
                );
                let sender = fixed(&v, "sender_name")
                    .filter(|s| !s.is_empty())
                    .ok_or("no `sender_name`")?;
                d.sender_id = crate::draft::self_alias(ctx, &sender).unwrap_or(sender);
                d.sender_name = Some(d.sender_id.clone());
                d.text = crate::jsonstream::text_of(&v, "content")?
                    .map(fix_mojibake)
                    .unwrap_or_default();
                Ok(d.clone())
            })();
            let mut d = match outcome {
                Ok(d) => d,
                Err(e) => return sink.reject(&origin, e),
            };
            if v.get("is_unsent").and_then(Value::as_bool) == Some(true) {
                d.kind = MessageKind::Other;
                d.tag("deleted");
            }
            if v.get("reactions")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty())
            {
                d.tag("reactions");
            }
            if let Some(link) = v.get("share").and_then(|s| str_of(s, "link")) {
                d.kind = MessageKind::Link;
                if !d.text.contains(link) {
                    if !d.text.is_empty() {
                        d.text.push('\n');
                    }
                    d.text.push_str(link);
                }
            }
            if v.get("call_duration").is_some() {
                d.kind = MessageKind::System;
                d.tag("call");
            }
            let media = ["photos", "videos", "audio_files", "files", "gifs"];
            let mut uris: Vec<String> = media
                .iter()
                .flat_map(|k| v.get(*k).and_then(Value::as_array).into_iter().flatten())
                .filter_map(|m| fixed(m, "uri"))
                .collect();
            if let Some(s) = v.get("sticker").and_then(|s| fixed(s, "uri")) {
                uris.push(s);
            }
            for uri in uris {
                if d.kind == MessageKind::Text {
                    d.kind = kind_for_mime(mime_for(&uri));
                }
                match load_from_export(ctx, &uri) {
                    Ok(bytes) => d.attach(&uri, bytes),
                    Err(e) => sink.warn(&origin, e)?,
                }
            }
            match d.finish(raw.into_bytes(), origin.clone()) {
                Ok(m) => sink.message(m),
                Err(e) => sink.reject(&origin, e),
            }
        };
        walk(open()?, &ctx.file_label, &plan, &mut on)
    }
}

/// Media URIs are relative to the export's root, a few folders above the message file.
fn load_from_export(ctx: &ImportContext, uri: &str) -> Result<Vec<u8>, String> {
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return Err(format!("media `{uri}` is a link, not a file in the export"));
    }
    let base = ctx
        .base_dir
        .as_deref()
        .ok_or("media files are not read for this input")?;
    for root in base.ancestors().take(6) {
        if root.join(uri).is_file() {
            return crate::jsonl::load_attachment(Some(root), uri);
        }
    }
    Err(format!("media `{uri}` is not in the export folder"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mojibake_table() {
        let cases = [
            ("chinese", "\u{e6}\u{b2}\u{a1}\u{e6}\u{9c}\u{89}", "没有"),
            ("emoji", "\u{e2}\u{9d}\u{a4}\u{ef}\u{b8}\u{8f}", "❤️"),
            ("ascii", "hello", "hello"),
            ("already_unicode", "“quoted” é", "“quoted” é"),
            ("real_latin1_not_utf8", "café", "café"),
        ];
        for (name, input, want) in cases {
            assert_eq!(fix_mojibake(input), want, "{name}");
        }
    }
}
