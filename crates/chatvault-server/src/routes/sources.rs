//! Live capture sources over the API (admins): list with figures, add, remove, the
//! quarantine and its replay; and `/metrics`, the sources' figures for Prometheus.

use super::*;
use axum::extract::FromRequestParts;
use chatvault_app::connectors::{self, stats::BUCKETS_MS};
use zeroize::Zeroizing;

pub async fn list_sources(
    AxState(state): AxState<State>,
    Admin(_): Admin,
) -> ApiResult<Json<Value>> {
    let all = blocking(|| connectors::overview(&state))?;
    Ok(Json(json!({"sources": all})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    name: String,
    kind: String,
    #[serde(default)]
    settings: std::collections::BTreeMap<String, String>,
    /// Each secret by its name (`secret`, `token`, `aes_key`, …), as text: sealed at once,
    /// never answered again.
    #[serde(default)]
    secrets: std::collections::BTreeMap<String, String>,
}

pub async fn add_source(
    AxState(state): AxState<State>,
    Admin(caller): Admin,
    ApiJson(body): ApiJson<NewSource>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let secrets = body
        .secrets
        .into_iter()
        .map(|(k, v)| (k, Zeroizing::new(v.trim().to_owned())))
        .collect();
    let info = blocking(|| {
        connectors::add(
            &mut *state.access()?,
            connectors::Via::Remote,
            caller.name(),
            &body.name,
            &body.kind,
            body.settings,
            &secrets,
        )
    })?;
    Ok((StatusCode::CREATED, Json(json!(info))))
}

pub async fn remove_source(
    AxState(state): AxState<State>,
    Admin(caller): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    blocking(|| -> ApiResult<()> { Ok(state.access()?.remove_source(caller.name(), &name)?) })?;
    Ok(Json(json!({"source": name, "removed": true})))
}

pub async fn source_quarantine(
    AxState(state): AxState<State>,
    Admin(_): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let events = blocking(|| connectors::quarantine(&state, &name))?;
    Ok(Json(json!({"source": name, "events": events})))
}

pub async fn replay_source(
    AxState(state): AxState<State>,
    Admin(caller): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = blocking(|| connectors::replay(&state, caller.name(), &name))?;
    Ok(Json(json!(r)))
}

/// `GET /metrics`: the Prometheus text format, for an admin's token or session, or for
/// the scrape token (`[server] metrics_token_file`, or `CHATVAULT_METRICS_TOKEN`).
pub async fn metrics(
    AxState(state): AxState<State>,
    mut parts: axum::http::request::Parts,
) -> Response {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let scrape = match scrape_token(&state) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let scraper = matches!((&bearer, &scrape), (Some(b), Some(t)) if chatvault_connect::same(b.as_bytes(), t.as_bytes()));
    if !scraper {
        if let Err(e) = Admin::from_request_parts(&mut parts, &state).await {
            return e.into_response();
        }
    }
    match blocking(|| connectors::overview(&state)) {
        Ok(all) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            exposition(&all),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The configured scrape token, if any.
fn scrape_token(state: &State) -> ApiResult<Option<Zeroizing<String>>> {
    if let Ok(t) = std::env::var("CHATVAULT_METRICS_TOKEN") {
        if !t.trim().is_empty() {
            return Ok(Some(Zeroizing::new(t.trim().to_owned())));
        }
    }
    let Some(path) = &state.config.server.metrics_token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ApiError::internal(format!("server.metrics_token_file {}: {e}", path.display()))
    })?;
    Ok(Some(Zeroizing::new(text.trim().to_owned())).filter(|t| !t.is_empty()))
}

/// The sources' figures in Prometheus' text exposition format (0.0.4). Written by hand:
/// a few lines of `name{labels} value`, over figures this crate already keeps, where a
/// metrics crate would bring its own registry to mirror them into. Label values are
/// source names (a-z, 0-9, - and _) and kinds, so nothing needs escaping.
fn exposition(all: &[connectors::Overview]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    type Field = fn(&connectors::stats::SourceFigures) -> u64;
    let counters: [(&str, &str, Field); 6] = [
        (
            "received",
            "Requests that reached the source's endpoint.",
            |f| f.received,
        ),
        (
            "refused",
            "Requests refused (bad signature, missing header, stale).",
            |f| f.refused,
        ),
        ("stored", "Messages stored.", |f| f.stored),
        (
            "duplicates",
            "Messages already stored (retries, redeliveries).",
            |f| f.duplicate,
        ),
        (
            "quarantined",
            "Verified events that did not map, kept in quarantine.",
            |f| f.quarantined,
        ),
        (
            "gaps",
            "Skips in the source's sequence (events never delivered).",
            |f| f.gaps,
        ),
    ];
    for (name, help, get) in counters {
        let _ = writeln!(out, "# HELP chatvault_capture_{name}_total {help}");
        let _ = writeln!(out, "# TYPE chatvault_capture_{name}_total counter");
        for s in all {
            let _ = writeln!(
                out,
                "chatvault_capture_{name}_total{{source=\"{}\",kind=\"{}\"}} {}",
                s.info.name,
                s.info.kind,
                get(&s.figures)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP chatvault_capture_quarantine_events Events held in the source's quarantine now."
    );
    let _ = writeln!(out, "# TYPE chatvault_capture_quarantine_events gauge");
    for s in all {
        let _ = writeln!(
            out,
            "chatvault_capture_quarantine_events{{source=\"{}\",kind=\"{}\"}} {}",
            s.info.name, s.info.kind, s.quarantine
        );
    }
    let _ = writeln!(out, "# HELP chatvault_capture_last_event_timestamp_seconds When the source's last event was stored.");
    let _ = writeln!(
        out,
        "# TYPE chatvault_capture_last_event_timestamp_seconds gauge"
    );
    for s in all {
        if let Some(t) = s
            .figures
            .last_event_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let _ = writeln!(
                out,
                "chatvault_capture_last_event_timestamp_seconds{{source=\"{}\",kind=\"{}\"}} {:.3}",
                s.info.name,
                s.info.kind,
                t.timestamp_millis() as f64 / 1000.0
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP chatvault_capture_latency_seconds From the platform's time of a message to stored."
    );
    let _ = writeln!(out, "# TYPE chatvault_capture_latency_seconds histogram");
    for s in all {
        let f = &s.figures;
        let labels = format!("source=\"{}\",kind=\"{}\"", s.info.name, s.info.kind);
        let mut cumulative = 0u64;
        for (i, up) in BUCKETS_MS.iter().enumerate() {
            cumulative += f.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "chatvault_capture_latency_seconds_bucket{{{labels},le=\"{}\"}} {cumulative}",
                *up as f64 / 1000.0
            );
        }
        let _ = writeln!(
            out,
            "chatvault_capture_latency_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            f.latency_count
        );
        let _ = writeln!(
            out,
            "chatvault_capture_latency_seconds_sum{{{labels}}} {:.3}",
            f.latency_sum_ms as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "chatvault_capture_latency_seconds_count{{{labels}}} {}",
            f.latency_count
        );
    }
    out
}
