//! Standard Webhooks: any system that can sign sends canonical messages (the batch
//! API's records: one object, an array, or `{"messages": [...]}`), signed per the spec
//! (`chatvault_connect::standard_webhooks`). Each record's own id keys it; a
//! redelivery's messages are answered as duplicates. A record that does not map is
//! answered `quarantined`, and the delivery is kept whole in the quarantine.

use super::{Handled, Kind, Mapped, Reply, Request, Source};
use chatvault_connect::{standard_webhooks, Refusal};

pub static KIND: Kind = Kind {
    name: "webhook",
    secrets: &["secret"],
    settings: &[],
    receive,
    map,
};

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    req.post_only("Standard Webhooks deliveries")?;
    standard_webhooks::verify(
        source.secret("secret")?,
        &req.required("webhook-id")?,
        &req.required("webhook-timestamp")?,
        req.body,
        &req.required("webhook-signature")?,
        req.now_s,
    )?;
    Ok(Handled::Event {
        payload: req.body.to_vec(),
        reply: Box::new(|receipt| Reply::json(200, serde_json::json!(receipt))),
    })
}

/// Verified: from here on a body that does not map is the sender's mistake, kept in
/// quarantine with why (the receipt says so): a record that does not map, or a body
/// that holds no records at all.
fn map(_: &Source<'_>, body: &[u8]) -> Result<Mapped, String> {
    let records = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(serde_json::Value::Object(mut o)) => match o.remove("messages") {
            Some(serde_json::Value::Array(a)) => a,
            Some(_) => return Err("body: `messages` is not an array".into()),
            None => vec![serde_json::Value::Object(o)],
        },
        Ok(_) => return Err("body: not a JSON object or array".into()),
        Err(e) => return Err(format!("body: {e}")),
    };
    Ok(Mapped {
        candidates: crate::ingest::parse_canonical(records, "webhook"),
        seq: None,
    })
}
