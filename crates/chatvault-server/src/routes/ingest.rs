//! `POST /api/v1/messages`: a batch of canonical records, through the application's one ingest path (`chatvault_app::ingest`).

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestBody {
    messages: Vec<Value>,
}

pub async fn ingest(
    ing: Ingestor,
    AxState(state): AxState<State>,
    ApiJson(body): ApiJson<IngestBody>,
) -> ApiResult<Json<Value>> {
    let sender = chatvault_app::ingest::Sender::new(
        ing.caller.name(),
        ing.caller.ip.as_deref(),
        ing.caller.token_source(),
    );
    let receipt =
        blocking(|| chatvault_app::ingest::ingest_canonical(&state, sender, body.messages))?;
    Ok(Json(json!(receipt)))
}

/// `GET|POST /hooks/{name}`: a live capture source's endpoint. The connector of the
/// source's kind verifies the request over its raw bytes; a handshake is answered as the
/// platform expects, messages go the ingest path and are durable before the answer.
pub async fn hook(
    AxState(state): AxState<State>,
    Path(name): Path<String>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    ClientIp(ip): ClientIp,
    body: axum::body::Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let req = chatvault_app::connectors::Request {
        method: method.as_str(),
        query: uri.query().unwrap_or(""),
        header: &header,
        body: &body,
        ip: ip.as_deref(),
        now_s: chrono::Utc::now().timestamp(),
    };
    match blocking(|| chatvault_app::connectors::receive(&state, &name, &req)) {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
            let mut resp = (status, r.body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(r.content_type),
            );
            resp
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
