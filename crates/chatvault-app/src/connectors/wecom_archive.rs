//! WeCom 会话内容存档 (chat archive): the only channel for chats between staff and
//! customers (and among staff). A pull by `seq`, woken by the `msgaudit_notify` callback.
//!
//! - The pull runs in the server (`chatvault_server::pulls`): the customer's SDK
//!   (`chatvault-finance`, loaded from `--sdk-path`) answers `GetChatData` after the
//!   stored `seq`; each record's random key is opened with the customer's RSA private key
//!   (`chatvault_connect::finance`), then the SDK's `DecryptData` opens the message. Each
//!   message comes here as `{"seq": N, "msg": {…}}` ([`super::pulled`]); the cursor moves
//!   past a batch only once it is stored, so a restart mid-batch stores nothing twice
//!   (the archive answers what was stored as duplicates) and skips nothing.
//! - The callback, when the source has the app's Token and EncodingAESKey, is checked
//!   as WeCom's ([`super::wecom`]): `msgaudit_notify` wakes the pull (at most every 15 s,
//!   WeCom says); without a callback the source pulls every minute.
//! - Each message becomes one of its chat: a group's `roomid`
//!   (`wecom:archive:room:ROOMID`), else the two people's (`wecom:archive:dm:A:B`, sorted),
//!   keyed by `msgid`, sent by `from`: a customer when the id is an external contact's
//!   (`wm…`, `wo…`), else an agent. A `revoke` is a `recall` pointing at `pre_msgid`;
//!   `agree`/`disagree` and `switch` are `system` lines; media and the other documented
//!   types are named, their `sdkfileid` kept in the sealed raw record. A type this build
//!   does not know is quarantined. A skipped `seq` raises a gap alert.

use serde_json::{json, Value};

use super::{Handled, Kind, Mapped, Request, Source};
use chatvault_connect::Refusal;

pub static KIND: Kind = Kind {
    name: "wecom-archive",
    // With a callback, also `token` and `aes_key` (checked together on `source add`).
    secrets: &["corp_secret", "private_key"],
    settings: &["receive_id", "sdk_path"],
    receive,
    map,
};

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    if !source.secrets.contains_key("token") {
        return Err(Refusal::BadKey(
            "this source takes no callbacks (add it with --token-file and --aes-key-file)".into(),
        ));
    }
    super::wecom::receive_waking(source, req, "msgaudit_notify", |_| json!({}))
}

fn map(_: &Source<'_>, payload: &[u8]) -> Result<Mapped, String> {
    if payload.first() == Some(&b'<') {
        return Err(super::wecom::unknown_callback(payload));
    }
    let v: Value = serde_json::from_slice(payload).map_err(|e| format!("a pulled record: {e}"))?;
    let seq = v["seq"].as_i64();
    if v["msg"].is_null() {
        // Held with its number, so the sequence has no gap where it stands.
        return Ok(Mapped {
            candidates: vec![Err(format!(
                "record seq {}: not decrypted ({})",
                seq.unwrap_or(-1),
                v["error"].as_str().unwrap_or("no message")
            ))],
            seq,
        });
    }
    let mut m = Mapped::one(record(&v["msg"]), "wecom");
    m.seq = seq;
    Ok(m)
}

/// The types the archive documents besides text, revoke, agree/disagree: named.
const NAMED: &[&str] = &[
    "image",
    "voice",
    "video",
    "card",
    "location",
    "emotion",
    "file",
    "link",
    "weapp",
    "chatrecord",
    "todo",
    "vote",
    "collect",
    "redpacket",
    "meeting",
    "docmsg",
    "news",
    "calendar",
    "mixed",
    "meeting_voice_call",
    "voip_doc_share",
    "external_redpacket",
    "sphfeed",
    "voiptext",
    "qydiskfile",
];

fn is_external(id: &str) -> bool {
    id.starts_with("wm") || id.starts_with("wo")
}

/// The canonical record of one decrypted archive message.
fn record(m: &Value) -> Result<Value, String> {
    let str_of = |x: &Value| x.as_str().map(str::to_owned);
    let id = str_of(&m["msgid"]).ok_or("a message without msgid")?;
    if m["action"] == "switch" {
        // A staff member switched enterprises: a line of their own.
        let user = str_of(&m["user"]).unwrap_or_else(|| "unknown".into());
        let at = m["time"].as_i64().ok_or("a switch without time")?;
        return Ok(json!({
            "platform": "wecom", "conversation_id": format!("archive:user:{user}"), "source_id": format!("archive:{id}"),
            "sender_id": user, "sent_at": ms_time(at)?, "kind": "system", "text": "[switch]", "extra": m,
        }));
    }
    let from = str_of(&m["from"]).ok_or("a message without from")?;
    let at = m["msgtime"].as_i64().ok_or("a message without msgtime")?;
    let room = str_of(&m["roomid"]).filter(|r| !r.is_empty());
    let (conversation, kind_of_chat) = match &room {
        Some(r) => (format!("archive:room:{r}"), "group"),
        None => {
            let to = m["tolist"]
                .as_array()
                .and_then(|t| t.first())
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let mut pair = [from.as_str(), to];
            pair.sort_unstable();
            (format!("archive:dm:{}:{}", pair[0], pair[1]), "direct")
        }
    };
    let msgtype = m["msgtype"].as_str().unwrap_or_default();
    let mut r = json!({
        "platform": "wecom",
        "conversation_id": conversation,
        "conversation_kind": kind_of_chat,
        "source_id": format!("archive:{id}"),
        "sender_id": from,
        "sender_role": if is_external(&from) { "customer" } else { "agent" },
        "sent_at": ms_time(at)?,
        "extra": m,
    });
    let (kind, text) = match msgtype {
        "text" => (
            "text",
            m["text"]["content"].as_str().unwrap_or_default().to_owned(),
        ),
        "markdown" => (
            "text",
            m["info"]["content"].as_str().unwrap_or_default().to_owned(),
        ),
        "revoke" => {
            let pre = m["revoke"]["pre_msgid"]
                .as_str()
                .ok_or("a revoke without revoke.pre_msgid")?;
            r["target"] = json!(format!("archive:{pre}"));
            ("recall", String::new())
        }
        "agree" | "disagree" => ("system", format!("[{msgtype}]")),
        "image" => ("image", "[image]".to_owned()),
        "voice" | "meeting_voice_call" => ("voice", format!("[{msgtype}]")),
        "video" => ("video", "[video]".to_owned()),
        "file" => (
            "file",
            format!(
                "[file {}]",
                m["file"]["filename"].as_str().unwrap_or_default()
            ),
        ),
        "link" => (
            "link",
            m["link"]["title"].as_str().unwrap_or("[link]").to_owned(),
        ),
        "location" => (
            "location",
            m["location"]["address"]
                .as_str()
                .unwrap_or("[location]")
                .to_owned(),
        ),
        t if NAMED.contains(&t) => ("other", format!("[{t}]")),
        other => return Err(format!("message {id}: a message of unknown type `{other}`")),
    };
    r["kind"] = json!(kind);
    r["text"] = json!(text);
    Ok(r)
}

fn ms_time(ms: i64) -> Result<String, String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .ok_or_else(|| format!("time {ms} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_messages_map_to_records() {
        // The documentation's sample text message, then variations.
        let base = |extra: Value| {
            let mut v = json!({"msgid": "CAQQluDa4QUY0On2rYSAgAMgzPrShAE=", "action": "send", "from": "XuJinSheng",
                "tolist": ["wmErxtDgAA9AW32YyyuYRimKr7D1KWlw"], "roomid": "", "msgtime": 1547087894783i64, "msgtype": "text",
                "text": {"content": "test"}});
            for (k, x) in extra.as_object().into_iter().flatten() {
                v[k] = x.clone();
            }
            v
        };
        type Case = (
            &'static str,
            Value,
            Result<(&'static str, &'static str, &'static str), &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "the documentation's sample",
                base(json!({})),
                Ok((
                    "text",
                    "test",
                    "archive:dm:XuJinSheng:wmErxtDgAA9AW32YyyuYRimKr7D1KWlw",
                )),
            ),
            (
                "the customer's answer, same chat",
                base(
                    json!({"from": "wmErxtDgAA9AW32YyyuYRimKr7D1KWlw", "tolist": ["XuJinSheng"], "text": {"content": "好的"}}),
                ),
                Ok((
                    "text",
                    "好的",
                    "archive:dm:XuJinSheng:wmErxtDgAA9AW32YyyuYRimKr7D1KWlw",
                )),
            ),
            (
                "in a group",
                base(json!({"roomid": "wrNplhCgAAIVZohLe57zKnvIV7xBKrig"})),
                Ok((
                    "text",
                    "test",
                    "archive:room:wrNplhCgAAIVZohLe57zKnvIV7xBKrig",
                )),
            ),
            (
                "a revoke",
                base(
                    json!({"msgtype": "revoke", "revoke": {"pre_msgid": "14822339130656386894_1603875464"}}),
                ),
                Ok((
                    "recall",
                    "",
                    "archive:dm:XuJinSheng:wmErxtDgAA9AW32YyyuYRimKr7D1KWlw",
                )),
            ),
            (
                "the customer agrees to be archived",
                base(json!({"msgtype": "agree", "agree": {"userid": "wm1", "agree_time": 1}})),
                Ok((
                    "system",
                    "[agree]",
                    "archive:dm:XuJinSheng:wmErxtDgAA9AW32YyyuYRimKr7D1KWlw",
                )),
            ),
            (
                "a file",
                base(
                    json!({"msgtype": "file", "file": {"filename": "合同.pdf", "sdkfileid": "x"}}),
                ),
                Ok((
                    "file",
                    "[file 合同.pdf]",
                    "archive:dm:XuJinSheng:wmErxtDgAA9AW32YyyuYRimKr7D1KWlw",
                )),
            ),
            (
                "a red packet",
                base(json!({"msgtype": "redpacket", "redpacket": {"type": 1}})),
                Ok((
                    "other",
                    "[redpacket]",
                    "archive:dm:XuJinSheng:wmErxtDgAA9AW32YyyuYRimKr7D1KWlw",
                )),
            ),
            (
                "a switch",
                json!({"msgid": "125289002219525886280", "action": "switch", "time": 1554119421840i64, "user": "XuJinSheng"}),
                Ok(("system", "[switch]", "archive:user:XuJinSheng")),
            ),
            (
                "a type WeCom adds later",
                base(json!({"msgtype": "hologram"})),
                Err("unknown type `hologram`"),
            ),
            (
                "no msgtime",
                json!({"msgid": "m", "from": "a"}),
                Err("msgtime"),
            ),
        ];
        for (name, v, want) in cases {
            match (record(&v), want) {
                (Ok(r), Ok((kind, text, conv))) => {
                    assert_eq!(r["kind"], kind, "{name}");
                    assert_eq!(r["text"], text, "{name}");
                    assert_eq!(r["conversation_id"], conv, "{name}");
                    assert!(
                        crate::ingest::parse_canonical(vec![r], "t")[0].is_ok(),
                        "{name}: maps to a message"
                    );
                }
                (Err(e), Err(says)) => assert!(e.contains(says), "{name}: {e}"),
                (got, want) => panic!("{name}: {got:?} against {want:?}"),
            }
        }
    }
}
