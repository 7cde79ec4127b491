//! Slack workspace export (zip): `users.json`, `channels.json`, `groups.json`,
//! `dms.json`, `mpims.json`, and one folder per conversation of `YYYY-MM-DD.json` day
//! files. Threads span day files: a reply points at its parent through `thread_ts`,
//! which is the parent's `ts` and so its source id. Slack markup (`<@U…>`, `<#C…|name>`,
//! `<url|label>`, `&amp;`) is resolved to readable text; the record keeps the original.

use std::collections::HashMap;

use chatvault_model::{ConversationKind, MessageKind, SenderRole, Timestamp};
use serde_json::Value;

use crate::draft::{kind_for_mime, Draft};
use crate::jsonstream::{id_of, str_of, walk, Event, Plan};
use crate::source::Source;
use crate::{ImportContext, ImportError, Importer, Probe, Sink};

pub struct Slack;

const LISTS: &[(&str, ConversationKind)] = &[
    ("channels.json", ConversationKind::Group),
    ("groups.json", ConversationKind::Group),
    ("mpims.json", ConversationKind::Group),
    ("dms.json", ConversationKind::Direct),
];

#[derive(Debug, Clone)]
struct Conversation {
    id: String,
    name: String,
    kind: ConversationKind,
}

/// What the workspace files say: user and conversation names.
#[derive(Default)]
struct Workspace {
    users: HashMap<String, String>,
    by_folder: HashMap<String, Conversation>,
    channel_names: HashMap<String, String>,
}

fn root_stream(p: &[String]) -> Plan {
    if p.is_empty() {
        Plan::Stream
    } else {
        Plan::Skip
    }
}

impl Workspace {
    /// The workspace's names. A list file that cannot be read is reported as a warning
    /// and the import goes on: its people and channels are shown by their ids.
    fn load(
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<Workspace, ImportError> {
        let mut ws = Workspace::default();
        let mut ws_errors: Vec<String> = vec![];
        let names: Vec<String> = source.entries().iter().map(|e| e.name.clone()).collect();
        let top = |file: &str| {
            names
                .iter()
                .find(|n| {
                    n.as_str() == file
                        || n.ends_with(&format!("/{file}")) && n.matches('/').count() == 1
                })
                .cloned()
        };
        // Slackbot writes as a user no users.json lists.
        ws.users.insert("USLACKBOT".into(), "Slackbot".into());
        // Enterprise Grid exports name their users in org_users.json.
        for entry in ["users.json", "org_users.json"].into_iter().filter_map(top) {
            let label = format!("{}!{entry}", ctx.file_label);
            source
                .with_entry(&entry, |r| {
                    walk(r, &label, &root_stream, &mut |ev| {
                        if let Event::Item(_, _, u) = ev {
                            if let Some(id) = id_of(&u, "id") {
                                let profile = u.get("profile").unwrap_or(&Value::Null);
                                let name = [
                                    str_of(profile, "display_name"),
                                    str_of(&u, "real_name"),
                                    str_of(profile, "real_name"),
                                    str_of(&u, "name"),
                                ]
                                .into_iter()
                                .flatten()
                                .find(|n| !n.is_empty())
                                .unwrap_or(&id)
                                .to_owned();
                                ws.users.insert(id, name);
                            }
                        }
                        Ok(())
                    })
                })
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .unwrap_or_else(|e| ws_errors.push(format!("`{entry}`: {e}")));
        }
        for (file, kind) in LISTS {
            let Some(entry) = top(file) else { continue };
            let label = format!("{}!{entry}", ctx.file_label);
            source
                .with_entry(&entry, |r| {
                    walk(r, &label, &root_stream, &mut |ev| {
                        let Event::Item(_, _, c) = ev else {
                            return Ok(());
                        };
                        let Some(id) = id_of(&c, "id") else {
                            return Ok(());
                        };
                        let name = str_of(&c, "name").map(str::to_owned);
                        // Channel and group folders are named after the channel; DM folders after the id.
                        let folder = if *file == "dms.json" {
                            id.clone()
                        } else {
                            name.clone().unwrap_or_else(|| id.clone())
                        };
                        let title = match (&name, c.get("members").and_then(Value::as_array)) {
                            (Some(n), _) => n.clone(),
                            (None, Some(m)) => m
                                .iter()
                                .filter_map(Value::as_str)
                                .map(|u| ws.users.get(u).cloned().unwrap_or_else(|| u.to_owned()))
                                .collect::<Vec<_>>()
                                .join(", "),
                            (None, None) => id.clone(),
                        };
                        ws.channel_names.insert(id.clone(), title.clone());
                        ws.by_folder.insert(
                            folder,
                            Conversation {
                                id,
                                name: title,
                                kind: *kind,
                            },
                        );
                        Ok(())
                    })
                })
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .unwrap_or_else(|e| ws_errors.push(format!("`{entry}`: {e}")));
        }
        for e in ws_errors {
            sink.warn(
                &ctx.origin(0),
                format!("{e}; the names it holds are shown as ids"),
            )?;
        }
        Ok(ws)
    }

    /// Names for the users `users.json` lacks (a partial export, a deleted account),
    /// from the `user_profile` that messages carry, read in a first pass over the day
    /// files so that a mention before the person's first message is named too. A day
    /// file that cannot be read is skipped here; the import pass reports it.
    fn learn_profiles(&mut self, source: &Source, days: &[(String, String, String)]) {
        for (_, _, entry) in days {
            let users = &mut self.users;
            let _ = source.with_entry(entry, |r| {
                walk(r, entry, &root_stream, &mut |ev| {
                    let Event::Item(_, _, v) = ev else {
                        return Ok(());
                    };
                    if let (Some(user), Some(name)) = (str_of(&v, "user"), profile_name(&v)) {
                        if !users.contains_key(user) {
                            users.insert(user.to_owned(), name.to_owned());
                        }
                    }
                    Ok(())
                })
            });
        }
    }

    /// Slack mrkdwn to readable text: mentions become names, links their labels.
    fn resolve(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('<') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let Some(j) = after.find('>') else {
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let inner = &after[..j];
            let (target, label) = match inner.split_once('|') {
                Some((t, l)) => (t, Some(l)),
                None => (inner, None),
            };
            let rendered = if let Some(user) = target.strip_prefix('@') {
                format!(
                    "@{}",
                    label
                        .map(str::to_owned)
                        .or_else(|| self.users.get(user).cloned())
                        .unwrap_or_else(|| user.to_owned())
                )
            } else if let Some(ch) = target.strip_prefix('#') {
                format!(
                    "#{}",
                    label
                        .map(str::to_owned)
                        .or_else(|| self.channel_names.get(ch).cloned())
                        .unwrap_or_else(|| ch.to_owned())
                )
            } else if let Some(special) = target.strip_prefix('!') {
                match label {
                    Some(l) => l.to_owned(),
                    None => format!("@{}", special.split('^').next().unwrap_or(special)),
                }
            } else {
                match label {
                    Some(l) if l != target => format!("{l} ({target})"),
                    _ => target.to_owned(),
                }
            };
            out.push_str(&rendered);
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }
}

/// The name in a message's `user_profile`: display name, real name, then user name.
fn profile_name(v: &Value) -> Option<&str> {
    let profile = v.get("user_profile")?;
    ["display_name", "real_name", "name"]
        .into_iter()
        .filter_map(|k| str_of(profile, k))
        .find(|n| !n.trim().is_empty())
}

/// `ts` ("1458980525.000012") as an instant; the string itself stays the message id.
fn parse_ts(ts: &str) -> Option<Timestamp> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let negative = secs.starts_with('-');
    let digits = secs.strip_prefix('-').unwrap_or(secs);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = digits.parse().ok()?;
    let micros: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    let ms = secs.checked_mul(1000)?.checked_add(micros / 1000)?;
    crate::time::epoch(if negative { -ms } else { ms }, true)
}

fn is_day_file(name: &str) -> Option<(&str, &str)> {
    let (folder, file) = name.rsplit_once('/')?;
    let day = file.strip_suffix(".json")?;
    let ok = day.len() == 10 && day.as_bytes()[4] == b'-' && day.as_bytes()[7] == b'-';
    ok.then_some((folder.rsplit('/').next().unwrap_or(folder), day))
}

impl Importer for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn description(&self) -> &'static str {
        "Slack workspace export zip (channels, groups, DMs, MPIMs, threads)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if !probe.is_zip {
            return 0;
        }
        let lists = probe
            .entries
            .iter()
            .filter(|e| {
                [
                    "channels.json",
                    "users.json",
                    "groups.json",
                    "dms.json",
                    "mpims.json",
                ]
                .iter()
                .any(|l| e.ends_with(l))
            })
            .count();
        let days = probe
            .entries
            .iter()
            .filter(|e| is_day_file(e).is_some())
            .count();
        match (lists, days) {
            (l, d) if l >= 2 && d >= 1 => 95,
            (l, _) if l >= 2 => 60,
            _ => 0,
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let mut ws = Workspace::load(source, ctx, sink)?;
        let mut days: Vec<(String, String, String)> = source
            .entries()
            .iter()
            .filter_map(|e| {
                is_day_file(&e.name)
                    .map(|(folder, day)| (folder.to_owned(), day.to_owned(), e.name.clone()))
            })
            .collect();
        days.sort();
        ws.learn_profiles(source, &days);
        for (folder, _, entry) in days {
            let conv = ws
                .by_folder
                .get(&folder)
                .cloned()
                .unwrap_or_else(|| Conversation {
                    id: format!("folder:{folder}"),
                    name: folder.clone(),
                    kind: ConversationKind::Group,
                });
            let label = format!("{}!{entry}", ctx.file_label);
            let entry_ctx = ImportContext {
                file_label: label.clone(),
                ..ctx.clone()
            };
            let result = source.with_entry(&entry, |r| {
                walk(r, &label, &root_stream, &mut |ev| {
                    let Event::Item(line, raw, v) = ev else {
                        return Ok(());
                    };
                    let origin = entry_ctx.origin(line);
                    match message(&ws, &conv, &v)
                        .and_then(|d| d.finish(raw.into_bytes(), origin.clone()))
                    {
                        Ok(m) => sink.message(m),
                        Err(e) => sink.reject(&origin, e),
                    }
                })
            });
            // A day file that cannot be read is rejected where it fails; the other day
            // files, channels and DMs are read all the same.
            let failed = match result {
                Ok(Ok(())) => None,
                Ok(Err(ImportError::Stopped)) => return Err(ImportError::Stopped),
                Ok(Err(ImportError::Fatal { line, reason, .. })) => Some((line, reason)),
                Err(e) => Some((0, e.to_string())),
            };
            if let Some((line, reason)) = failed {
                sink.reject(
                    &entry_ctx.origin(line),
                    format!("{reason}; the rest of this day file could not be read"),
                )?;
            }
        }
        // Every other JSON file is named: nothing in the zip is passed over unsaid.
        for e in source.entries() {
            let name = e.name.as_str();
            let base = name.rsplit('/').next().unwrap_or(name);
            if name.ends_with(".json")
                && is_day_file(name).is_none()
                && !KNOWN_FILES.contains(&base)
                && !name.starts_with("__MACOSX/")
            {
                sink.warn(
                    &ctx.origin(0),
                    format!("`{name}` is neither a day file (CHANNEL/YYYY-MM-DD.json) nor a list chatvault reads: not imported"),
                )?;
            }
        }
        Ok(())
    }
}

/// The workspace files besides day files: those read for names, and those that hold no
/// messages.
const KNOWN_FILES: &[&str] = &[
    "users.json",
    "org_users.json",
    "channels.json",
    "groups.json",
    "dms.json",
    "mpims.json",
    "integration_logs.json",
    "canvases.json",
    "huddles.json",
    "lists.json",
    "file_conversations.json",
];

fn message(ws: &Workspace, conv: &Conversation, v: &Value) -> Result<Draft, String> {
    let mut d = Draft::new("slack", conv.id.clone());
    d.conversation_title = Some(conv.name.clone());
    d.conversation_kind = Some(conv.kind);
    let ts = str_of(v, "ts").ok_or("field `ts`: missing")?;
    d.sent_at =
        Some(parse_ts(ts).ok_or_else(|| format!("field `ts`: `{ts}` is not a Slack timestamp"))?);
    d.source_id = Some(ts.to_owned());
    if let Some(parent) = str_of(v, "thread_ts").filter(|t| *t != ts) {
        d.reply_to = Some(parent.to_owned());
    }
    let subtype = str_of(v, "subtype").unwrap_or("");
    let user = str_of(v, "user")
        .or_else(|| str_of(v, "bot_id"))
        .or_else(|| str_of(v, "username"));
    d.sender_id = user.unwrap_or("unknown").to_owned();
    d.sender_name = str_of(v, "user")
        .and_then(|u| ws.users.get(u).cloned())
        .or_else(|| profile_name(v).map(str::to_owned))
        .or_else(|| str_of(v, "username").map(str::to_owned));
    let mut text = ws.resolve(crate::jsonstream::text_of(v, "text")?.unwrap_or(""));
    if text.is_empty() {
        let fallbacks: Vec<String> = v
            .get("attachments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| str_of(a, "fallback").or_else(|| str_of(a, "text")))
            .map(|t| ws.resolve(t))
            .collect();
        text = fallbacks.join("\n");
    }
    d.text = text;
    match subtype {
        "" | "thread_broadcast" | "me_message" | "file_share" | "file_comment"
        | "message_replied" => {}
        "bot_message" => d.tag("bot"),
        "tombstone" => {
            d.kind = MessageKind::Other;
            d.tag("deleted");
        }
        other => {
            d.kind = MessageKind::System;
            d.role = SenderRole::System;
            d.tag(other);
        }
    }
    if v.get("edited").is_some() {
        d.tag("edited");
    }
    if v.get("reactions")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty())
    {
        d.tag("reactions");
    }
    let files: Vec<&Value> = v
        .get("files")
        .and_then(Value::as_array)
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let files = if files.is_empty() {
        v.get("file").into_iter().collect()
    } else {
        files
    };
    for f in files {
        if d.kind == MessageKind::Text {
            d.kind = kind_for_mime(str_of(f, "mimetype").unwrap_or(""));
        }
        // Slack exports link to files (url_private) but do not contain them.
        d.tag("media-remote");
        if d.text.is_empty() {
            d.text = str_of(f, "title")
                .or_else(|| str_of(f, "name"))
                .unwrap_or("")
                .to_owned();
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_table() {
        let mut ws = Workspace::default();
        ws.users.insert("U1".into(), "Ann".into());
        ws.channel_names.insert("C1".into(), "general".into());
        let cases = [
            ("mention", "<@U1>: hi", "@Ann: hi"),
            ("mention_label", "<@U2|bob> hi", "@bob hi"),
            ("unknown_user", "<@U9>", "@U9"),
            ("channel", "see <#C1>", "see #general"),
            ("channel_label", "<#C2|random>", "#random"),
            ("link_label", "<https://x.io|site>", "site (https://x.io)"),
            ("link_bare", "<https://x.io>", "https://x.io"),
            ("special", "<!here> <!subteam^S1|@ops>", "@here @ops"),
            ("escapes", "a &lt;b&gt; &amp;amp;", "a <b> &amp;"),
            ("unclosed", "a < b", "a < b"),
            (
                "cjk",
                "<@U1> 你好 <https://例子.cn|链接>",
                "@Ann 你好 链接 (https://例子.cn)",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(ws.resolve(input), want, "{name}");
        }
    }

    #[test]
    fn ts_table() {
        assert_eq!(
            parse_ts("1458980525.000012").map(|t| t.utc_ms),
            Some(1_458_980_525_000)
        );
        assert_eq!(
            parse_ts("1458980525.123456").map(|t| t.utc_ms),
            Some(1_458_980_525_123)
        );
        assert_eq!(
            parse_ts("1458980525").map(|t| t.utc_ms),
            Some(1_458_980_525_000)
        );
        assert_eq!(parse_ts("soon"), None);
        // Before 1970 is an instant like any other.
        assert_eq!(parse_ts("-5.5").map(|t| t.utc_ms), Some(-5_500));
        assert_eq!(parse_ts("-.5"), None);
    }
}
