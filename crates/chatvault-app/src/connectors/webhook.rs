//! Standard Webhooks: any system that can sign sends canonical messages (the batch
//! API's records: one object, an array, or `{"messages": [...]}`), signed per the spec
//! (`chatvault_connect::standard_webhooks`). `webhook-id` keys the delivery; a
//! redelivery's messages are answered as duplicates.

use super::{Handled, Kind, Reply, Request, Source};
use chatvault_connect::{standard_webhooks, Refusal};

pub static KIND: Kind = Kind {
    name: "webhook",
    secrets: &["secret"],
    settings: &[],
    receive,
};

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    if req.method != "POST" {
        return Err(Refusal::Malformed(
            "method",
            "Standard Webhooks deliveries are POSTs".into(),
        ));
    }
    let header = |name: &'static str| (req.header)(name).ok_or(Refusal::Missing(name));
    standard_webhooks::verify(
        source.secret("secret")?,
        &header("webhook-id")?,
        &header("webhook-timestamp")?,
        req.body,
        &header("webhook-signature")?,
        req.now_s,
    )?;
    // Verified: from here on a body that does not map is the sender's mistake. A record
    // that does not map is answered as rejected in the receipt, with its reason; a body
    // that holds no records at all is answered 400 (signed, so not a 401), nothing stored.
    let invalid = |why: String| Ok(Handled::invalid(format!("body: {why}")));
    let records = match serde_json::from_slice::<serde_json::Value>(req.body) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(serde_json::Value::Object(mut o)) => match o.remove("messages") {
            Some(serde_json::Value::Array(a)) => a,
            Some(_) => return invalid("`messages` is not an array".into()),
            None => vec![serde_json::Value::Object(o)],
        },
        Ok(_) => return invalid("not a JSON object or array".into()),
        Err(e) => return invalid(e.to_string()),
    };
    Ok(Handled::Messages {
        candidates: crate::ingest::parse_canonical(records, "webhook"),
        reply: |receipt| Reply::json(200, serde_json::json!(receipt)),
    })
}
