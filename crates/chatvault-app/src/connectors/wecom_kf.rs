//! WeCom 微信客服 (customer service over WeChat): the callback tells, the API holds.
//!
//! - The callback is WXBizMsgCrypt, as for app callbacks ([`super::wecom`]): the URL
//!   check answers the decrypted `echostr`; a `POST` carries the event
//!   `kf_msg_or_event` with a `<Token>` (valid ten minutes) and the `<OpenKfId>`. It holds
//!   no message: it wakes the source's pull, and is answered at once with an empty 200.
//! - The pull (network IO, in the server: `chatvault_server::pulls`) asks
//!   `/cgi-bin/kf/sync_msg` with the persisted cursor and the latest token, page after
//!   page while `has_more`, and hands each message here ([`super::pulled`]). The cursor
//!   moves only once a page is stored; WeCom keeps messages three days, so a pull after
//!   an outage shorter than that recovers everything.
//! - Each message becomes one of the customer's conversation with the account
//!   (`wecom:kf:OPEN_KFID:EXTERNAL_USERID`), keyed by `msgid`: a customer (`origin` 3),
//!   a servicer (5, by `servicer_userid`) or the system (4). Text, links, locations and
//!   menus become its text; media are named (`media_id` kept in the sealed raw record).
//!   Events (a session's state changing, a recall, …) are kept whole as `system` lines; a
//!   recall (`recall_msg`) is a `recall` pointing at the original. A `msgtype` this build
//!   does not know is quarantined.

use serde_json::{json, Value};

use super::{Handled, Kind, Mapped, Request, Source};
use chatvault_connect::Refusal;

pub static KIND: Kind = Kind {
    name: "wecom-kf",
    secrets: &["token", "aes_key", "corp_secret"],
    settings: &["receive_id"],
    receive,
    map,
};

/// The WeCom API server a source asks (a test double's, in tests).
pub fn api_base(settings: &std::collections::BTreeMap<String, String>) -> &str {
    settings
        .get("api_base")
        .map_or("https://qyapi.weixin.qq.com", |b| b.trim_end_matches('/'))
}

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    // Nothing to store: the messages are fetched with the token.
    super::wecom::receive_waking(
        source,
        req,
        "kf_msg_or_event",
        |field| json!({"token": field("Token"), "open_kfid": field("OpenKfId")}),
    )
}

/// A pulled message (JSON, one of `sync_msg`'s `msg_list`), or another callback (XML).
fn map(_: &Source<'_>, payload: &[u8]) -> Result<Mapped, String> {
    if payload.first() == Some(&b'<') {
        return Err(super::wecom::unknown_callback(payload));
    }
    let v: Value = serde_json::from_slice(payload).map_err(|e| format!("a pulled message: {e}"))?;
    Ok(Mapped::one(record(&v), "wecom"))
}

/// The canonical record of one `sync_msg` message.
fn record(m: &Value) -> Result<Value, String> {
    let str_of = |x: &Value| x.as_str().map(str::to_owned);
    let id = str_of(&m["msgid"]).ok_or("a message without msgid")?;
    let kf = str_of(&m["open_kfid"]).unwrap_or_else(|| "kf".into());
    let sent = m["send_time"]
        .as_i64()
        .ok_or("a message without send_time")?;
    let sent_at = chrono::DateTime::from_timestamp(sent, 0)
        .ok_or("send_time out of range")?
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let msgtype = m["msgtype"].as_str().unwrap_or_default();
    let ev = &m["event"];
    let customer = str_of(&m["external_userid"])
        .or_else(|| str_of(&ev["external_userid"]))
        .unwrap_or_else(|| "unknown".into());
    let (sender, role) = match m["origin"].as_i64() {
        Some(3) => (customer.clone(), "customer"),
        Some(5) => (
            str_of(&m["servicer_userid"]).unwrap_or_else(|| "servicer".into()),
            "agent",
        ),
        _ => ("wecom-kf".to_owned(), "system"),
    };
    let mut r = json!({
        "platform": "wecom",
        "conversation_id": format!("kf:{kf}:{customer}"),
        "conversation_kind": "direct",
        "source_id": format!("kf:{id}"),
        "sender_id": sender,
        "sender_role": role,
        "sent_at": sent_at,
        "extra": m,
    });
    let named = |kind: &str, what: &str| (kind.to_owned(), format!("[{what}]"));
    let (kind, text) = match msgtype {
        "text" => (
            "text".to_owned(),
            m["text"]["content"].as_str().unwrap_or_default().to_owned(),
        ),
        "image" => named("image", "image"),
        "voice" => named("voice", "voice"),
        "video" => named("video", "video"),
        "file" => named("file", "file"),
        "location" => (
            "location".to_owned(),
            [
                m["location"]["name"].as_str(),
                m["location"]["address"].as_str(),
            ]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        ),
        "link" => (
            "link".to_owned(),
            m["link"]["title"].as_str().unwrap_or("[link]").to_owned(),
        ),
        "business_card" => named("other", "business card"),
        "miniprogram" => (
            "other".to_owned(),
            format!(
                "[miniprogram {}]",
                m["miniprogram"]["title"].as_str().unwrap_or_default()
            ),
        ),
        "msgmenu" => (
            "text".to_owned(),
            [
                m["msgmenu"]["head_content"].as_str(),
                m["msgmenu"]["tail_content"].as_str(),
            ]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        ),
        "channels_shop_product" | "channels_shop_order" | "note" | "channels" => {
            named("other", msgtype)
        }
        "event" => {
            let event_type = ev["event_type"].as_str().unwrap_or_default();
            if event_type == "recall_msg" {
                let original = ev["recall_msgid"]
                    .as_str()
                    .ok_or("a recall without recall_msgid")?;
                r["target"] = json!(format!("kf:{original}"));
                ("recall".to_owned(), String::new())
            } else {
                ("system".to_owned(), format!("[event {event_type}]"))
            }
        }
        other => return Err(format!("message {id}: a message of unknown type `{other}`")),
    };
    r["kind"] = json!(kind);
    r["text"] = json!(text);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulled_messages_map_to_records() {
        let base = |extra: Value| {
            let mut v = json!({"msgid": "m1", "open_kfid": "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw", "external_userid": "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw",
                "send_time": 1615478585, "origin": 3});
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
                "the customer's text",
                base(json!({"msgtype": "text", "text": {"content": "退款进度"}})),
                Ok(("text", "退款进度", "customer")),
            ),
            (
                "a servicer's answer",
                base(
                    json!({"origin": 5, "servicer_userid": "zhangsan", "msgtype": "text", "text": {"content": "已处理"}}),
                ),
                Ok(("text", "已处理", "agent")),
            ),
            (
                "an image",
                base(
                    json!({"msgtype": "image", "image": {"media_id": "2iSLeVyqzk4eX0IB5kTi9Ljfa2rt9dwfq5WKRQ4Nvvgw"}}),
                ),
                Ok(("image", "[image]", "customer")),
            ),
            (
                "a location",
                base(
                    json!({"msgtype": "location", "location": {"latitude": 23.1, "longitude": 113.3, "name": "广州塔", "address": "海珠区"}}),
                ),
                Ok(("location", "广州塔 海珠区", "customer")),
            ),
            (
                "a session event",
                base(
                    json!({"origin": 4, "msgtype": "event", "event": {"event_type": "session_status_change", "change_type": 1}}),
                ),
                Ok(("system", "[event session_status_change]", "system")),
            ),
            (
                "a recall",
                base(
                    json!({"origin": 4, "msgtype": "event", "event": {"event_type": "recall_msg", "recall_msgid": "m0"}}),
                ),
                Ok(("recall", "", "system")),
            ),
            (
                "a type WeCom adds later",
                base(json!({"msgtype": "hologram"})),
                Err("unknown type `hologram`"),
            ),
            ("no msgid", json!({"send_time": 1}), Err("without msgid")),
        ];
        for (name, v, want) in cases {
            match (record(&v), want) {
                (Ok(r), Ok((kind, text, role))) => {
                    assert_eq!(r["kind"], kind, "{name}");
                    assert_eq!(r["text"], text, "{name}");
                    assert_eq!(r["sender_role"], role, "{name}");
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
