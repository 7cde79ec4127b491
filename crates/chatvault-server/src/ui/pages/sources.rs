//! Live capture sources (admins): each source's endpoint, status and figures since the
//! server started, its quarantine; adding one (secrets typed once, sealed, never shown
//! again), removing one, and replaying its quarantine. The same use cases as the API's
//! `/api/v1/sources` (`chatvault_app::connectors`).

use super::*;
use chatvault_app::connectors;

pub struct SourceRow {
    name: String,
    kind: String,
    endpoint: String,
    settings: String,
    secrets: String,
    status: &'static str,
    status_class: &'static str,
    received: u64,
    stored: u64,
    duplicate: u64,
    refused: u64,
    quarantined: u64,
    gaps: u64,
    held: usize,
    last_event: String,
    latency: String,
    quarantine: Vec<HeldRow>,
}

pub struct HeldRow {
    id: String,
    received: String,
    bytes: u64,
    reason: String,
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    ctx: Ctx,
    sources: Vec<SourceRow>,
    kinds: Vec<&'static str>,
    notice: Option<String>,
}

/// A source without an event for this long is shown as idle.
const IDLE_MS: i64 = 10 * 60_000;

fn sources_view(
    state: &State,
    req: &Req,
    caller: &Caller,
    notice: Option<String>,
) -> Result<Response, ApiError> {
    let lang = req.lang_for(Some(caller));
    let t = lang.strings();
    let all = blocking(|| connectors::overview(state))?;
    let held = state.access()?.quarantined(None)?;
    let now = chrono::Utc::now().timestamp_millis();
    let sources = all
        .into_iter()
        .map(|o| {
            let f = &o.figures;
            let last_ms = f
                .last_event_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis());
            let (status, status_class) = if o.quarantine > 0 {
                (t.source_attention, "bad")
            } else if last_ms.is_some_and(|l| now - l < IDLE_MS) {
                (t.source_active, "good")
            } else {
                (t.source_idle, "")
            };
            SourceRow {
                name: clean(&o.info.name),
                kind: clean(&o.info.kind),
                endpoint: clean(&o.endpoint),
                settings: clean(
                    &o.info
                        .settings
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                secrets: clean(
                    &o.info
                        .secrets
                        .iter()
                        .map(|s| format!("{s}=***"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                status,
                status_class,
                received: f.received,
                stored: f.stored,
                duplicate: f.duplicate,
                refused: f.refused,
                quarantined: f.quarantined,
                gaps: f.gaps,
                held: o.quarantine,
                last_event: last_ms
                    .map(|ms| fmt_ms(ms, state.zone))
                    .unwrap_or_else(|| "-".into()),
                latency: match (f.latency_p50_ms, f.latency_p99_ms) {
                    (Some(a), Some(b)) => format!("{a} / {b} ms"),
                    _ => "-".into(),
                },
                quarantine: held
                    .iter()
                    .filter(|q| q.source == o.info.name)
                    .map(|q| HeldRow {
                        id: clean(&q.id),
                        received: clean(&state.zone.show(&q.received_at)),
                        bytes: q.bytes,
                        reason: clean(&q.reason),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(render(&SourcesPage {
        ctx: Ctx::for_caller(lang, caller, "/admin/sources", t.capture_title),
        sources,
        // A chat archive source loads code: the console adds it (`connectors::Via`).
        kinds: connectors::KINDS
            .iter()
            .map(|k| k.name)
            .filter(|k| *k != connectors::wecom_archive::KIND.name)
            .collect(),
        notice,
    }))
}

#[derive(Deserialize)]
pub struct SourcesDone {
    done: Option<String>,
    name: Option<String>,
    released: Option<u64>,
    kept: Option<u64>,
}

pub async fn sources_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Query(d): Query<SourcesDone>,
) -> UiResult<Response> {
    let caller = super::users::admin_or(&state, &req, caller, "/admin/sources")?;
    let t = req.lang_for(Some(&caller)).strings();
    let name = clean(d.name.as_deref().unwrap_or_default());
    let notice = match d.done.as_deref() {
        Some("add") => Some(format!("{} {name}", t.source_added)),
        Some("remove") => Some(format!("{} {name}", t.source_removed)),
        Some("replay") => Some(format!(
            "{name}: {} {}, {} {}",
            t.replay_released,
            d.released.unwrap_or(0),
            t.replay_kept,
            d.kept.unwrap_or(0)
        )),
        _ => None,
    };
    sources_view(&state, &req, &caller, notice).map_err(|e| UiError::for_caller(&req, &caller, e))
}

/// The secrets a form may carry, by the names the connectors use.
const SECRET_FIELDS: [&str; 9] = [
    "secret",
    "token",
    "aes_key",
    "encrypt_key",
    "verification_token",
    "signing_secret",
    "secret_token",
    "bot_token",
    "corp_secret",
];

pub async fn source_add_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = super::users::admin_or(&state, &req, caller, "/admin/sources")?;
    let f = form(f);
    let run = || -> Result<String, ApiError> {
        let secrets = SECRET_FIELDS
            .iter()
            .filter_map(|k| {
                f.opt(k)
                    .map(|v| ((*k).to_owned(), zeroize::Zeroizing::new(v)))
            })
            .collect();
        let mut settings = std::collections::BTreeMap::new();
        for k in ["receive_id", "owner_key", "api_base"] {
            if let Some(v) = f.opt(k) {
                settings.insert(k.to_owned(), v);
            }
        }
        if !f.get("poll").is_empty() {
            settings.insert("mode".to_owned(), "poll".to_owned());
        }
        let info = blocking(|| {
            connectors::add(
                &mut *state.access()?,
                connectors::Via::Remote,
                caller.name(),
                f.get("name"),
                f.get("kind"),
                settings,
                &secrets,
            )
        })?;
        Ok(info.name)
    };
    let name = run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other(&format!(
        "/admin/sources?{}",
        views::query(&[("done", "add"), ("name", &name)])
    )))
}

pub async fn source_op_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path((name, op)): Path<(String, String)>,
) -> UiResult<Response> {
    let caller = super::users::admin_or(&state, &req, caller, "/admin/sources")?;
    let run = || -> Result<String, ApiError> {
        match op.as_str() {
            "remove" => {
                state.access()?.remove_source(caller.name(), &name)?;
                Ok(views::query(&[("done", "remove"), ("name", &name)]))
            }
            "replay" => {
                let r = blocking(|| connectors::replay(&state, caller.name(), &name))?;
                Ok(views::query(&[
                    ("done", "replay"),
                    ("name", &name),
                    ("released", &r.released.to_string()),
                    ("kept", &r.kept.len().to_string()),
                ]))
            }
            _ => Err(ApiError::new("route.unknown", "no such source operation")),
        }
    };
    let q = run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other(&format!("/admin/sources?{q}")))
}
