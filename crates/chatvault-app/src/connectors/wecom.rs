//! WeCom (企业微信) app callbacks: WXBizMsgCrypt over the query's `msg_signature`,
//! `timestamp` and `nonce` (`chatvault_connect::wxbiz`).
//!
//! - `GET ?msg_signature&timestamp&nonce&echostr` is the URL check: the decrypted
//!   `echostr` is answered as a bare body.
//! - `POST` carries `<xml><Encrypt>…</Encrypt></xml>` (or the JSON mode's `encrypt`); the
//!   decrypted message (XML) becomes a message of the user's chat with the app, keyed by
//!   `MsgId` (an event by `FromUserName` and `CreateTime`), so WeCom's three retries store
//!   nothing twice. Media are named in the text and described in the sealed raw record
//!   (their bytes need the media API). Events are kept whole as `system` lines; a
//!   message of a type this build does not know is quarantined.
//! - The answer is an empty 200: WeCom then stops retrying.
//!
//! This captures what users send to the app. Staff↔customer chats come only through
//! 会话内容存档, which is not built yet.

use serde_json::{json, Value};

use super::{Handled, Kind, Mapped, Reply, Request, Source};
use chatvault_connect::{wxbiz, Refusal};

pub static KIND: Kind = Kind {
    name: "wecom",
    secrets: &["token", "aes_key"],
    settings: &["receive_id"],
    receive,
    map,
};

/// A query parameter, percent-decoded (a `+` stays a `+`: base64 uses it).
pub(super) fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// A verified callback: the URL check's answer, or the decrypted message.
pub(super) enum Opened {
    Check(Reply),
    Message(Vec<u8>),
}

/// The empty 200 that stops WeCom's retries.
pub(super) fn empty() -> Reply {
    Reply {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        body: vec![],
    }
}

/// Checks a callback (signature, window, receiver) and opens it: shared with 微信客服,
/// whose callbacks are the same.
pub(super) fn open(source: &Source<'_>, req: &Request<'_>) -> Result<Opened, Refusal> {
    let q = |name: &'static str| param(req.query, name).ok_or(Refusal::Missing(name));
    let (sig, ts, nonce) = (q("msg_signature")?, q("timestamp")?, q("nonce")?);
    wxbiz::fresh(&ts, req.now_s)?;
    let receive_id = source
        .info
        .settings
        .get("receive_id")
        .ok_or_else(|| Refusal::BadKey("the source has no receive_id".into()))?;
    let crypto = wxbiz::Crypto::new(
        source.secret("token")?,
        source.secret("aes_key")?,
        receive_id,
    )?;
    match req.method {
        "GET" => {
            let opened = crypto.open(&sig, &ts, &nonce, &q("echostr")?)?;
            Ok(Opened::Check(Reply {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: opened.message,
            }))
        }
        "POST" => {
            let encrypt = wxbiz::encrypt_field(req.body)?;
            Ok(Opened::Message(
                crypto.open(&sig, &ts, &nonce, &encrypt)?.message,
            ))
        }
        _ => Err(Refusal::Malformed(
            "method",
            "WeCom uses GET and POST".into(),
        )),
    }
}

/// The callback of a source that pulls (微信客服, 会话内容存档): `event` (with the note
/// `note` makes of the XML) wakes the pull and is answered at once; any other callback
/// is an event for `map`, which quarantines it.
pub(super) fn receive_waking(
    source: &Source<'_>,
    req: &Request<'_>,
    event: &str,
    note: fn(&dyn Fn(&str) -> Option<String>) -> Value,
) -> Result<Handled, Refusal> {
    match open(source, req)? {
        Opened::Check(reply) => Ok(Handled::Reply(reply)),
        Opened::Message(plain) => {
            let text = String::from_utf8(plain)
                .map_err(|_| Refusal::Malformed("message", "not UTF-8".into()))?;
            let field = |n: &str| wxbiz::xml_field(&text, n).ok().filter(|v| !v.is_empty());
            if field("Event").as_deref() == Some(event) {
                return Ok(Handled::Pull {
                    note: note(&field),
                    reply: empty(),
                });
            }
            Ok(Handled::Event {
                payload: text.into_bytes(),
                reply: Box::new(|_| empty()),
            })
        }
    }
}

/// What a pulling source's `map` makes of a callback that is not its wake-up: an
/// unknown type, quarantined.
pub(super) fn unknown_callback(payload: &[u8]) -> String {
    let xml = String::from_utf8_lossy(payload);
    let event = wxbiz::xml_field(&xml, "Event").unwrap_or_default();
    format!("a callback of unknown type `{event}`")
}

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    Ok(match open(source, req)? {
        Opened::Check(reply) => Handled::Reply(reply),
        Opened::Message(payload) => Handled::Event {
            payload,
            reply: Box::new(|_| empty()),
        },
    })
}

/// The decrypted callback message.
fn map(_: &Source<'_>, plain: &[u8]) -> Result<Mapped, String> {
    let text = std::str::from_utf8(plain).map_err(|_| "the decrypted message is not UTF-8")?;
    Ok(Mapped::one(record(text), "wecom"))
}

/// The canonical record of a decrypted callback message (XML).
fn record(xml: &str) -> Result<Value, String> {
    let field = |name: &str| wxbiz::xml_field(xml, name).ok().filter(|v| !v.is_empty());
    let from = field("FromUserName").ok_or("a message without FromUserName")?;
    let created: i64 = field("CreateTime")
        .and_then(|t| t.parse().ok())
        .ok_or("a message without CreateTime")?;
    let sent_at = chrono::DateTime::from_timestamp(created, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .ok_or("CreateTime out of range")?;
    let msg_type = field("MsgType").ok_or("a message without MsgType")?;
    let mut extra = serde_json::Map::new();
    for name in [
        "ToUserName",
        "AgentID",
        "MsgId",
        "MediaId",
        "FileName",
        "PicUrl",
        "Format",
        "Title",
        "Url",
        "Event",
        "EventKey",
    ] {
        if let Some(v) = field(name) {
            extra.insert(name.to_owned(), json!(v));
        }
    }
    extra.insert("xml".into(), json!(xml));
    let mut r = json!({
        "platform": "wecom",
        "conversation_id": format!("app:{from}"),
        "conversation_kind": "direct",
        "sender_id": from,
        "sent_at": sent_at,
    });
    let (kind, text) = match msg_type.as_str() {
        "text" => ("text", field("Content").unwrap_or_default()),
        "image" => ("image", "[image]".to_owned()),
        "voice" => ("voice", "[voice]".to_owned()),
        "video" => ("video", "[video]".to_owned()),
        "location" => (
            "location",
            field("Label").unwrap_or_else(|| "[location]".into()),
        ),
        "link" => ("link", field("Title").unwrap_or_else(|| "[link]".into())),
        "event" => (
            "system",
            format!("[event {}]", field("Event").unwrap_or_default()),
        ),
        "file" => (
            "file",
            format!("[file {}]", field("FileName").unwrap_or_default()),
        ),
        other => {
            return Err(format!(
                "message {}: a message of unknown type `{other}`",
                field("MsgId").unwrap_or_else(|| format!("{from}/{created}"))
            ))
        }
    };
    r["kind"] = json!(kind);
    r["text"] = json!(text);
    // MsgId keys a message; an event has none: its sender and time key it.
    r["source_id"] = json!(field("MsgId").unwrap_or_else(|| format!("{from}/{created}")));
    r["extra"] = Value::Object(extra);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_map_to_records() {
        let x = |body: &str| {
            format!("<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName><FromUserName><![CDATA[ChenJiaShun]]></FromUserName><CreateTime>1476422779</CreateTime>{body}<AgentID>1000002</AgentID></xml>")
        };
        type Case = (
            &'static str,
            String,
            Result<(&'static str, &'static str, &'static str), &'static str>,
        );
        let cases: Vec<Case> = vec![
            ("the vendor's sample text", x("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>1456453720</MsgId>"), Ok(("text", "你好", "1456453720"))),
            ("an image", x("<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://x]]></PicUrl><MediaId><![CDATA[m]]></MediaId><MsgId>1456453721</MsgId>"), Ok(("image", "[image]", "1456453721"))),
            ("an event, keyed by sender and time", x("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event>"), Ok(("system", "[event enter_agent]", "ChenJiaShun/1476422779"))),
            ("a type WeCom adds later", x("<MsgType><![CDATA[hologram]]></MsgType><MsgId>9</MsgId>"), Err("unknown type `hologram`")),
            ("no sender", "<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>".to_owned(), Err("FromUserName")),
            ("a time in words", "<xml><FromUserName>a</FromUserName><CreateTime>noon</CreateTime><MsgType>text</MsgType></xml>".to_owned(), Err("CreateTime")),
        ];
        for (name, xml, want) in cases {
            match (record(&xml), want) {
                (Ok(r), Ok((kind, text, id))) => {
                    assert_eq!(r["kind"], kind, "{name}");
                    assert_eq!(r["text"], text, "{name}");
                    assert_eq!(r["source_id"], id, "{name}");
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
            param("a=1&echostr=ab%2Bc%3D&b=2", "echostr").as_deref(),
            Some("ab+c=")
        );
        assert_eq!(
            param("echostr=ab+c", "echostr").as_deref(),
            Some("ab+c"),
            "a bare + stays"
        );
    }
}
