//! The handlers. Each one that returns content takes a [`ContentReader`]; the others
//! take the guard of the role they serve, or the bare state for sign-in.

use crate::ApiQuery;
use axum::extract::{Path, State as AxState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatvault_access::audit::AuditFilter;
use chatvault_access::{Action, Outcome};
use chatvault_app::time::{parse_bound, End, Zone};
use chatvault_policy::{Handle, Right, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::guard::{Admin, Auditor, Caller, ContentReader, Ingestor, State, SESSION_COOKIE};
use crate::ApiJson;

/// Runs blocking work (argon2, SQLite, decryption) off the async workers when the
/// runtime has worker threads to spare.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A time from a caller: [`chatvault_app::time`]'s one parser, in the deployment's zone
/// when the value names none; `end_of_day`: a date or minute means its last millisecond.
pub fn parse_time(s: &str, field: &str, end_of_day: bool, zone: Zone) -> ApiResult<i64> {
    let end = if end_of_day { End::To } else { End::From };
    parse_bound(s, zone, end, field).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn time_value(v: &Value, field: &str, end_of_day: bool, zone: Zone) -> ApiResult<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(ms) => parse_time(&ms.to_string(), field, end_of_day, zone),
            None => Err(ApiError::bad_request(format!("{field}: not an integer"))),
        },
        Value::String(s) => parse_time(s, field, end_of_day, zone),
        _ => Err(ApiError::bad_request(format!(
            "{field}: give RFC 3339 text or milliseconds"
        ))),
    }
}

/// A JSON body that may be left out.
pub(crate) fn optional_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<Option<T>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

/// The client's address, when the server knows it.
pub struct ClientIp(pub Option<String>);

impl axum::extract::FromRequestParts<crate::State> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::State,
    ) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(crate::guard::client_ip(
            parts,
            &state.config.trusted_proxies,
        )))
    }
}

mod admin;
mod audit;
mod content;
mod ingest;
mod requests;
mod session;
mod sources;

pub use admin::*;
pub use audit::*;
pub use content::*;
pub use ingest::*;
pub use requests::*;
pub use session::*;
pub use sources::*;
