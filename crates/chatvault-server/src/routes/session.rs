//! Health, and signing in and out over the API.

use super::*;

pub async fn health() -> Json<Value> {
    Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

pub async fn login(
    AxState(state): AxState<State>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<Response> {
    let session = blocking(|| -> ApiResult<_> {
        let mut acc = state.access()?;
        let user = acc.check_login(
            &body.username,
            &body.password,
            body.totp.as_deref(),
            ip.as_deref(),
        )?;
        Ok(acc.create_session(&user)?)
    })?;
    let secure = if state.tls { "; Secure" } else { "" };
    let max_age = state.config.security.session_absolute_hours as u64 * 3600;
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}",
        session.cookie
    );
    let mut r = Json(json!(session)).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(r)
}

pub async fn whoami(caller: Caller) -> Json<Value> {
    let u = &caller.principal.user;
    let csrf = match &caller.principal.via {
        chatvault_access::sessions::Credential::Session { csrf } => Some(csrf.clone()),
        _ => None,
    };
    Json(
        json!({"user": u.name, "role": u.role, "team": u.team, "handles": u.handles, "csrf_token": csrf}),
    )
}

pub async fn logout(AxState(state): AxState<State>, caller: Caller) -> ApiResult<Response> {
    if let Some(c) = &caller.session {
        state.access()?.end_session(c)?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let expire = format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if state.tls { "; Secure" } else { "" }
    );
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&expire).map_err(ApiError::internal)?,
    );
    Ok(r)
}
