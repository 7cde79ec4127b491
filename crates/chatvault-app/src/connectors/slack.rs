//! Slack Events API: v0 request signing over the raw body (`chatvault_connect::slack`),
//! the `url_verification` handshake, and `event_callback` events.
//!
//! - `message` events become messages: the channel is the conversation, `ts` the
//!   message's id (a retry, `X-Slack-Retry-Num`, has the same `ts` and answers as a
//!   duplicate), `thread_ts` the message replied to; shared files are named in the text
//!   and described in the sealed raw record (their bytes need another API call).
//! - `message_changed` and `message_deleted` become `edit` and `recall` events that
//!   point at the original, which is never overwritten.
//! - Any other event Slack defines (a join, a reaction) is kept as a `system` message of
//!   its channel, the whole event in its sealed raw record; an event of a type this build
//!   does not know is quarantined, so nothing signed is dropped.

use serde_json::{json, Value};

use super::{Handled, Kind, Mapped, Reply, Request, Source};
use chatvault_connect::{slack, Refusal};

pub static KIND: Kind = Kind {
    name: "slack",
    secrets: &["signing_secret"],
    settings: &[],
    receive,
    map,
};

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    req.post_only("Slack's events")?;
    slack::verify(
        source.secret("signing_secret")?,
        &req.required("x-slack-request-timestamp")?,
        req.body,
        &req.required("x-slack-signature")?,
        req.now_s,
    )?;
    let event = Handled::acked(req.body.to_vec());
    let Ok(v) = serde_json::from_slice::<Value>(req.body) else {
        // Signed, and not JSON: kept in quarantine with why (`map` says).
        return Ok(event);
    };
    match v["type"].as_str() {
        Some("url_verification") => {
            let Some(challenge) = v["challenge"].as_str() else {
                return Ok(Handled::invalid("url_verification without a challenge"));
            };
            Ok(Handled::Reply(Reply::json(
                200,
                json!({"challenge": challenge}),
            )))
        }
        // An app rate limit notice: nothing to keep.
        Some("app_rate_limited") => Ok(Handled::Reply(Reply::json(200, json!({"ok": true})))),
        // `event_callback`, or a request type this build does not know (quarantined).
        _ => Ok(event),
    }
}

fn map(_: &Source<'_>, body: &[u8]) -> Result<Mapped, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    if v["type"] != "event_callback" {
        return Err(format!(
            "a request of unknown type {}",
            v["type"]
                .as_str()
                .map_or("(none)".into(), |t| format!("`{t}`"))
        ));
    }
    Ok(Mapped::one(record(&v), "slack"))
}

/// Events Slack defines that carry no message: kept whole as `system` lines of their
/// channel. Any other type is one this build does not know: quarantined.
const OTHER_EVENTS: &[&str] = &[
    "app_mention",
    "reaction_added",
    "reaction_removed",
    "member_joined_channel",
    "member_left_channel",
    "channel_created",
    "channel_deleted",
    "channel_rename",
    "channel_archive",
    "channel_unarchive",
    "channel_left",
    "channel_id_changed",
    "channel_history_changed",
    "group_open",
    "group_close",
    "group_rename",
    "group_archive",
    "group_unarchive",
    "group_left",
    "group_history_changed",
    "im_created",
    "im_open",
    "im_close",
    "im_history_changed",
    "pin_added",
    "pin_removed",
    "star_added",
    "star_removed",
    "file_created",
    "file_shared",
    "file_public",
    "file_unshared",
    "file_change",
    "file_deleted",
    "file_comment_added",
    "file_comment_edited",
    "file_comment_deleted",
    "link_shared",
    "team_join",
    "user_change",
    "emoji_changed",
    "app_home_opened",
    "app_uninstalled",
    "tokens_revoked",
    "subteam_created",
    "subteam_updated",
    "subteam_members_changed",
];

/// Slack's `ts` ("1531420618.000200", seconds and microseconds) as RFC 3339.
fn time_of(ts: &str) -> Result<String, String> {
    let (s, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: i64 = s
        .parse()
        .map_err(|_| format!("ts {ts:?} is not a Slack time"))?;
    let micros: u32 = format!("{frac:0<6}")
        .get(..6)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| format!("ts {ts:?} is not a Slack time"))?;
    chrono::DateTime::from_timestamp(secs, micros * 1000)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .ok_or_else(|| format!("ts {ts:?} is out of range"))
}

/// The canonical record of an `event_callback`.
fn record(v: &Value) -> Result<Value, String> {
    let ev = &v["event"];
    let str_of = |x: &Value| x.as_str().map(str::to_owned);
    let channel = str_of(&ev["channel"]).unwrap_or_else(|| "events".to_owned());
    let kind = match str_of(&ev["channel_type"]).as_deref() {
        Some("im") => "direct",
        _ => "group",
    };
    let extra = json!({"event_id": v["event_id"], "team_id": v["team_id"], "event": ev});
    let ev_type = ev["type"].as_str().unwrap_or_default();
    let subtype = ev["subtype"].as_str();
    let mut r = json!({
        "platform": "slack",
        "conversation_id": channel,
        "conversation_kind": kind,
        "extra": extra,
    });
    match (ev_type, subtype) {
        (
            "message",
            None | Some("bot_message" | "thread_broadcast" | "file_share" | "me_message"),
        ) => {
            let ts = str_of(&ev["ts"]).ok_or("a message without ts")?;
            r["source_id"] = json!(ts);
            r["sent_at"] = json!(time_of(&ts)?);
            r["sender_id"] = json!(str_of(&ev["user"])
                .or_else(|| str_of(&ev["bot_id"]))
                .unwrap_or_else(|| "unknown".into()));
            r["text"] = json!(ev["text"].as_str().unwrap_or_default());
            if let Some(parent) = str_of(&ev["thread_ts"]).filter(|p| *p != ts) {
                r["reply_to"] = json!(parent);
            }
            if let Some(files) = ev["files"].as_array().filter(|f| !f.is_empty()) {
                // The bytes need another API call (not built yet): the files are named in
                // the text and kept, as the event describes them, in the sealed raw record.
                let names: Vec<&str> = files
                    .iter()
                    .map(|f| f["name"].as_str().unwrap_or("file"))
                    .collect();
                if ev["text"].as_str().unwrap_or_default().is_empty() {
                    r["kind"] = json!("file");
                    r["text"] = json!(format!("[file {}]", names.join(", ")));
                }
            }
        }
        ("message", Some("message_changed")) => {
            let m = &ev["message"];
            let original = str_of(&m["ts"]).ok_or("message_changed without message.ts")?;
            let at = str_of(&ev["event_ts"])
                .or_else(|| str_of(&ev["ts"]))
                .ok_or("message_changed without ts")?;
            r["kind"] = json!("edit");
            r["target"] = json!(original);
            r["source_id"] = json!(format!("{original}/edit/{at}"));
            r["sent_at"] = json!(time_of(&at)?);
            r["sender_id"] = json!(str_of(&m["user"]).unwrap_or_else(|| "unknown".into()));
            r["text"] = json!(m["text"].as_str().unwrap_or_default());
        }
        ("message", Some("message_deleted")) => {
            let original = str_of(&ev["deleted_ts"]).ok_or("message_deleted without deleted_ts")?;
            let at = str_of(&ev["event_ts"])
                .or_else(|| str_of(&ev["ts"]))
                .ok_or("message_deleted without ts")?;
            r["kind"] = json!("recall");
            r["target"] = json!(original);
            r["source_id"] = json!(format!("{original}/delete/{at}"));
            r["sent_at"] = json!(time_of(&at)?);
            r["sender_id"] =
                json!(str_of(&ev["previous_message"]["user"]).unwrap_or_else(|| "unknown".into()));
            r["text"] = json!("");
        }
        _ if ev_type == "message" || OTHER_EVENTS.contains(&ev_type) => {
            // Kept whole: the event id is its key, its time Slack's.
            let id = str_of(&v["event_id"]).ok_or("an event without event_id")?;
            let at = v["event_time"]
                .as_i64()
                .map(|t| t.to_string())
                .or_else(|| str_of(&ev["event_ts"]))
                .ok_or("an event without a time")?;
            r["kind"] = json!("system");
            r["source_id"] = json!(id);
            r["sent_at"] = json!(time_of(&at)?);
            r["sender_id"] = json!(str_of(&ev["user"]).unwrap_or_else(|| "slack".into()));
            r["text"] = json!(format!(
                "[{}{}]",
                ev_type,
                subtype.map(|s| format!(" {s}")).unwrap_or_default()
            ));
        }
        _ => {
            return Err(format!(
                "event {}: an event of unknown type {}",
                v["event_id"].as_str().unwrap_or("(no id)"),
                if ev_type.is_empty() {
                    "(none)".to_owned()
                } else {
                    format!("`{ev_type}`")
                }
            ))
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_records() {
        let base = |ev: Value| json!({"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event_time": 1700000000, "event": ev});
        type Case = (
            &'static str,
            Value,
            Result<(&'static str, &'static str, &'static str), &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "a message",
                base(
                    json!({"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1700000000.000100"}),
                ),
                Ok(("text", "1700000000.000100", "hi")),
            ),
            (
                "a file with no text",
                base(
                    json!({"type": "message", "subtype": "file_share", "channel": "C1", "user": "U1", "text": "", "ts": "1700000000.000300", "files": [{"name": "发票.pdf", "mimetype": "application/pdf"}]}),
                ),
                Ok(("file", "1700000000.000300", "[file 发票.pdf]")),
            ),
            (
                "a reply in a thread",
                base(
                    json!({"type": "message", "channel": "C1", "user": "U1", "text": "re", "ts": "1700000001.000100", "thread_ts": "1700000000.000100"}),
                ),
                Ok(("text", "1700000001.000100", "re")),
            ),
            (
                "an edit",
                base(
                    json!({"type": "message", "subtype": "message_changed", "channel": "C1", "event_ts": "1700000002.000000", "message": {"ts": "1700000000.000100", "user": "U1", "text": "hi!"}}),
                ),
                Ok(("edit", "1700000000.000100/edit/1700000002.000000", "hi!")),
            ),
            (
                "a deletion",
                base(
                    json!({"type": "message", "subtype": "message_deleted", "channel": "C1", "event_ts": "1700000003.000000", "deleted_ts": "1700000000.000100"}),
                ),
                Ok(("recall", "1700000000.000100/delete/1700000003.000000", "")),
            ),
            (
                "a join, kept as a system line",
                base(
                    json!({"type": "message", "subtype": "channel_join", "channel": "C1", "user": "U2", "ts": "1700000004.000000"}),
                ),
                Ok(("system", "Ev1", "[message channel_join]")),
            ),
            (
                "a reaction",
                base(
                    json!({"type": "reaction_added", "user": "U2", "event_ts": "1700000005.000000"}),
                ),
                Ok(("system", "Ev1", "[reaction_added]")),
            ),
            (
                "an event of a type Slack adds later",
                base(json!({"type": "hologram_projected", "event_ts": "1700000006.000000"})),
                Err("unknown type `hologram_projected`"),
            ),
            (
                "a message with no ts",
                base(json!({"type": "message", "channel": "C1", "user": "U1", "text": "x"})),
                Err("without ts"),
            ),
            (
                "a ts in words",
                base(
                    json!({"type": "message", "channel": "C1", "user": "U1", "text": "x", "ts": "noon"}),
                ),
                Err("not a Slack time"),
            ),
        ];
        for (name, v, want) in cases {
            match (record(&v), want) {
                (Ok(r), Ok((kind, id, text))) => {
                    assert_eq!(r["kind"].as_str().unwrap_or("text"), kind, "{name}");
                    assert_eq!(r["source_id"], id, "{name}");
                    assert_eq!(r["text"], text, "{name}");
                    assert_eq!(r["extra"]["event_id"], "Ev1", "{name}: the event is kept");
                    assert!(
                        crate::ingest::parse_canonical(vec![r], "t")[0].is_ok(),
                        "{name}: maps to a message"
                    );
                }
                (Err(e), Err(says)) => assert!(e.contains(says), "{name}: {e}"),
                (got, want) => panic!("{name}: {got:?} against {want:?}"),
            }
        }
        assert_eq!(
            time_of("1531420618.0002"),
            Ok("2018-07-12T18:36:58.000200Z".to_owned())
        );
    }
}
