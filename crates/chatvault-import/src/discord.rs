//! DiscordChatExporter JSON (Tyrrrz/DiscordChatExporter): one file per channel or
//! thread, `{guild, channel, messages: [...]}`, streamed message by message. Media
//! exported with `--media` sit in `<file>.json_Files/`, named with Windows backslashes
//! when exported on Windows.

use chatvault_model::{ConversationKind, MessageKind, SenderRole, Timestamp};
use serde_json::Value;

use crate::draft::{kind_for_mime, mime_for, Draft};
use crate::jsonstream::{id_of, str_of, walk, Event, Plan};
use crate::source::Source;
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct Discord;

fn plan(path: &[String]) -> Plan {
    match path.first().map(String::as_str) {
        Some("guild" | "channel") if path.len() == 1 => Plan::Keep,
        Some("messages") if path.len() == 1 => Plan::Stream,
        _ => Plan::Skip,
    }
}

impl Importer for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn transcodes(&self) -> bool {
        true
    }

    fn description(&self) -> &'static str {
        "DiscordChatExporter JSON (guild channels, DMs, groups, threads)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let t = probe.text();
        let t = t.trim_start();
        let keys = [
            "\"guild\"",
            "\"channel\"",
            "\"messages\"",
            "\"dateRange\"",
            "\"timestampEdited\"",
            "\"author\"",
        ];
        let n = keys.iter().filter(|k| t.contains(*k)).count();
        if t.starts_with('{') && t.contains("\"guild\"") && n >= 4 {
            90
        } else {
            0
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let input =
            text::reader(source).map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()))?;
        let (mut guild, mut channel) = (Value::Null, Value::Null);
        let mut on = |ev: Event<'_>| -> Result<(), ImportError> {
            match ev {
                Event::Value(p, v) if p[0] == "guild" => guild = v,
                Event::Value(_, v) => channel = v,
                Event::Item(line, raw, v) => {
                    let origin = ctx.origin(line);
                    match message(&guild, &channel, &v, ctx, sink, &origin)? {
                        Ok(d) => match d.finish(raw.into_bytes(), origin.clone()) {
                            Ok(m) => sink.message(m)?,
                            Err(e) => sink.reject(&origin, e)?,
                        },
                        Err(e) => sink.reject(&origin, e)?,
                    }
                }
                _ => {}
            }
            Ok(())
        };
        walk(input, &ctx.file_label, &plan, &mut on)
    }
}

fn message(
    guild: &Value,
    channel: &Value,
    v: &Value,
    ctx: &ImportContext,
    sink: &mut Sink<'_>,
    origin: &chatvault_model::Origin,
) -> Result<Result<Draft, String>, ImportError> {
    let Some(channel_id) = id_of(channel, "id") else {
        return Ok(Err(
            "the file has no `channel.id` before its messages".into()
        ));
    };
    let mut d = Draft::new("discord", channel_id);
    let ctype = str_of(channel, "type").unwrap_or("");
    let cname = str_of(channel, "name").unwrap_or("");
    d.conversation_title = Some(match (str_of(guild, "name"), str_of(channel, "category")) {
        (Some(g), Some(cat)) if !ctype.starts_with("Direct") => format!("{g} / {cat} / {cname}"),
        (Some(g), None) if !ctype.starts_with("Direct") => format!("{g} / {cname}"),
        _ => cname.to_owned(),
    });
    d.conversation_kind = Some(if ctype == "DirectTextChat" {
        ConversationKind::Direct
    } else {
        ConversationKind::Group
    });
    let Some(id) = id_of(v, "id") else {
        return Ok(Err("message has no `id`".into()));
    };
    d.source_id = Some(id);
    let Some(ts) = str_of(v, "timestamp") else {
        return Ok(Err("message has no `timestamp`".into()));
    };
    match Timestamp::parse_rfc3339(ts) {
        Ok(t) => d.sent_at = Some(t),
        Err(e) => return Ok(Err(format!("field `timestamp`: {e}"))),
    }
    let author = v.get("author").unwrap_or(&Value::Null);
    let Some(author_id) = id_of(author, "id") else {
        return Ok(Err("message has no `author.id`".into()));
    };
    d.sender_id = author_id;
    d.sender_name = str_of(author, "nickname")
        .or_else(|| str_of(author, "name"))
        .map(str::to_owned);
    if author.get("isBot").and_then(Value::as_bool) == Some(true) {
        d.tag("bot");
    }
    d.text = match crate::jsonstream::text_of(v, "content") {
        Ok(t) => t.unwrap_or("").to_owned(),
        Err(e) => return Ok(Err(e)),
    };
    let mtype = str_of(v, "type").unwrap_or("Default");
    if !matches!(mtype, "Default" | "Reply") {
        d.kind = MessageKind::System;
        d.role = SenderRole::System;
        d.tag(&mtype.to_ascii_lowercase());
    }
    if let Some(r) = v.get("reference").filter(|_| mtype != "ThreadCreated") {
        d.reply_to = id_of(r, "messageId");
    }
    if v.get("timestampEdited").is_some_and(|e| !e.is_null()) {
        d.tag("edited");
    }
    if v.get("isPinned").and_then(Value::as_bool) == Some(true) {
        d.tag("pinned");
    }
    if v.get("reactions")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty())
    {
        d.tag("reactions");
    }
    for a in v
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let url = str_of(a, "url").unwrap_or("");
        let name = str_of(a, "fileName").unwrap_or(url);
        if d.kind == MessageKind::Text {
            d.kind = kind_for_mime(mime_for(name));
        }
        if url.starts_with("http://") || url.starts_with("https://") || url.is_empty() {
            d.tag("media-remote");
            continue;
        }
        let rel = url.replace('\\', "/");
        let rel = percent_decode(&rel);
        match crate::jsonl::load_attachment(ctx.base_dir.as_deref(), &rel) {
            Ok(bytes) => d.attach(name, bytes),
            Err(e) => sink.warn(origin, format!("attachment not imported: {e}"))?,
        }
    }
    Ok(Ok(d))
}

/// DiscordChatExporter escapes file URLs (`%20` for spaces).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b.png"), "a b.png");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%你好"), "%你好");
        assert_eq!(percent_decode("%E4%BD%A0.png"), "你.png");
    }
}
