//! Administration: users, freezing and unfreezing; and the API's own document and fallbacks.

use super::*;

pub async fn list_users(AxState(state): AxState<State>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"users": state.access()?.users()?})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    #[serde(default)]
    reason: String,
}

pub async fn freeze_user(
    AxState(state): AxState<State>,
    Admin(caller): Admin,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let reason = optional_body::<FreezeBody>(&body)?
        .map(|b| b.reason)
        .unwrap_or_default();
    let (s, t) = state.access()?.freeze(caller.name(), &name, &reason)?;
    Ok(Json(
        json!({"user": name, "frozen": true, "sessions_ended": s, "tokens_revoked": t}),
    ))
}

pub async fn unfreeze_user(
    AxState(state): AxState<State>,
    Admin(caller): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.access()?.unfreeze(caller.name(), &name)?;
    Ok(Json(json!({"user": name, "frozen": false})))
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        "route.unknown",
        "no such API route (see /api/v1/openapi.json)",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        "route.method",
        "this route does not take that method (see /api/v1/openapi.json)",
    )
}
