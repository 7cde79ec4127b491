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
