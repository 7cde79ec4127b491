//! The live SLA monitor while serving: every message ingest stores is observed by the
//! application's monitor (`chatvault_app::live`); a tick every 200 ms here raises and
//! escalates alerts; each event goes to
//! the live feed (SSE) and to the configured webhooks, signed with HMAC-SHA256 and
//! retried with backoff, every attempt logged.
//!
//! Who sees an alert: the agent it names (by handle), team leads of its team (and of no
//! team, while nobody owns the conversation), executives (all), and admins (stalled
//! sources only). Acknowledging is audited as `alert.ack`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path as AxPath;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use chatvault_access::{Action, Outcome, User};
use chatvault_analytics::monitor::{Alert, AlertKind, SourceStatus};
use chatvault_analytics::settings::Alerts;
use chatvault_policy::Role;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::broadcast;

use crate::error::{ApiError, ApiResult};
use crate::guard::{Caller, State};
use crate::routes::blocking;

/// How often the monitor looks at the clock.
pub const TICK: Duration = Duration::from_millis(200);
/// How many delivery attempts the log keeps in memory (the file keeps them all).
const KEEP_DELIVERIES: usize = 1000;
/// The user list (for recipients and teams) is read again this often.
const USERS_EVERY: Duration = Duration::from_secs(5);
use chatvault_app::live::{SAVE_COST_FACTOR, SAVE_EVERY};
/// A live feed re-checks its session this often, and ends when it is gone.
const RECHECK: Duration = Duration::from_secs(30);

/// One event as delivered: the monitor's event, its recipients, a delivery id.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    pub id: String,
    pub event: &'static str,
    pub at: String,
    pub at_ms: i64,
    pub alert: Alert,
    /// The users the tier goes to (by the chain's role for the tier).
    pub recipients: Vec<String>,
}

/// One webhook attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub delivery: String,
    pub event: &'static str,
    pub alert: u64,
    pub url: String,
    pub attempt: u32,
    pub at_ms: i64,
    /// The HTTP status the receiver answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub ok: bool,
    /// When the next attempt goes, if one will.
    pub retry_in_ms: Option<u64>,
}

/// What delivers the monitor's events; one per server. The monitor itself is the
/// application's ([`chatvault_app::live::LiveMonitor`], `state.monitor`).
pub struct Live {
    feed: broadcast::Sender<Arc<Outgoing>>,
    deliveries: Mutex<VecDeque<Delivery>>,
    log: Option<PathBuf>,
}

impl Live {
    /// `data`: the data folder, which holds the webhook log.
    pub fn new(data: Option<&std::path::Path>) -> Live {
        Live {
            feed: broadcast::channel(1024).0,
            deliveries: Mutex::new(VecDeque::new()),
            log: data.map(|d| d.join("alerts-webhooks.jsonl")),
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        crate::guard::recover(&self.deliveries, |_| Ok::<(), ()>(()))
            .map(|d| d.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    fn record(&self, d: Delivery) {
        let line = serde_json::to_string(&d).unwrap_or_default();
        log_out!(
            "webhook {} {} alert {} → {} attempt {}: {}",
            d.delivery,
            d.event,
            d.alert,
            d.url,
            d.attempt,
            d.status
                .map_or_else(|| d.error.clone().unwrap_or_default(), |s| s.to_string())
        );
        if let Some(p) = &self.log {
            use std::io::Write;
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = written {
                log_err!("webhook log {}: {e}", p.display());
            }
        }
        if let Ok(mut q) = crate::guard::recover(&self.deliveries, |_| Ok::<(), ()>(())) {
            if q.len() == KEEP_DELIVERIES {
                q.pop_front();
            }
            q.push_back(d);
        }
    }
}

/// The webhook key: the config's, else `CHATVAULT_WEBHOOK_SECRET`. Webhooks without one
/// are refused at startup: an unsigned alert could be forged by anyone on the path.
pub fn webhook_secret(cfg: &Alerts) -> Result<Option<Vec<u8>>, String> {
    if cfg.webhooks.is_empty() {
        return Ok(None);
    }
    let s = if cfg.webhook_secret.is_empty() {
        std::env::var("CHATVAULT_WEBHOOK_SECRET").unwrap_or_default()
    } else {
        cfg.webhook_secret.clone()
    };
    if s.len() < 16 {
        return Err("analytics.alerts.webhooks are set: give them a webhook_secret (or CHATVAULT_WEBHOOK_SECRET) of at least 16 characters to sign with".into());
    }
    Ok(Some(s.into_bytes()))
}

/// `sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}`: what a receiver checks.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // A key of any length is valid for HMAC: new_from_slice cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The users an alert's tier goes to.
fn recipients(a: &Alert, users: &[User]) -> Vec<String> {
    let pick = |f: &dyn Fn(&User) -> bool| {
        users
            .iter()
            .filter(|u| !u.frozen && f(u))
            .map(|u| u.name.clone())
            .collect::<Vec<_>>()
    };
    match a.notify.as_str() {
        "agent" => match &a.agent {
            Some(h) => pick(&|u| u.handles.iter().any(|x| x.is(h))),
            None => vec![],
        },
        "team_lead" => {
            pick(&|u| u.role == Role::TeamLead && (a.team.is_none() || u.team == a.team))
        }
        "manager" | "executive" => pick(&|u| u.role == Role::Executive),
        other => pick(&|u| u.role.as_str() == other),
    }
}

/// Whether `caller` sees alert `a`.
pub fn sees(caller: &Caller, a: &Alert) -> bool {
    let u = &caller.principal.user;
    match u.role {
        Role::Executive => true,
        Role::Admin => a.kind != AlertKind::Unanswered,
        Role::TeamLead => a.kind == AlertKind::Unanswered && (a.team.is_none() || a.team == u.team),
        Role::Agent => {
            a.kind == AlertKind::Unanswered
                && a.agent
                    .as_ref()
                    .is_some_and(|h| u.handles.iter().any(|x| x.is(h)))
        }
        Role::Legal | Role::Auditor => false,
    }
}

fn may_watch(role: Role) -> bool {
    !matches!(role, Role::Legal | Role::Auditor)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Starts the tick and the webhook workers. Fails (before the server listens) when the
/// webhooks have no key.
pub fn start(state: &State) -> Result<(), String> {
    let cfg = &state.config.analytics.alerts;
    if !cfg.enabled {
        return Ok(());
    }
    let secret = webhook_secret(cfg)?;
    state.monitor.restore()?;
    let mut queues = vec![];
    if let Some(secret) = secret {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        for url in &cfg.webhooks {
            // One worker per address keeps each receiver's events in order.
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Arc<Outgoing>>();
            queues.push(tx);
            tokio::spawn(deliver(
                state.clone(),
                client.clone(),
                url.clone(),
                secret.clone(),
                cfg.webhook_attempts,
                rx,
            ));
        }
    }
    tokio::spawn(ticks(state.clone(), queues));
    Ok(())
}

async fn ticks(state: State, queues: Vec<tokio::sync::mpsc::UnboundedSender<Arc<Outgoing>>>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The users (for recipients) and their teams, read again every USERS_EVERY.
    let mut users: Vec<User> = vec![];
    let mut directory = chatvault_policy::Directory::default();
    let mut users_at: Option<tokio::time::Instant> = None;
    let mut seq: u64 = 0;
    let mut next_save = tokio::time::Instant::now() + SAVE_EVERY;
    loop {
        every.tick().await;
        if users_at.is_none_or(|t| t.elapsed() >= USERS_EVERY) {
            let s = state.clone();
            if let Ok(Ok(list)) =
                tokio::task::spawn_blocking(move || s.access().and_then(|a| Ok(a.users()?))).await
            {
                directory = chatvault_policy::Directory::default();
                for u in &list {
                    directory.add_user(&u.name, u.team.as_deref(), &u.handles);
                }
                users = list;
            }
            users_at = Some(tokio::time::Instant::now());
        }
        let team_of = |agent: &str| {
            let h = chatvault_access::users::parse_handle(agent).ok()?;
            directory.team_of_handle(&h).map(str::to_owned)
        };
        let now = chrono::Utc::now().timestamp_millis();
        let (events, snapshot) = match state.monitor.monitor() {
            Ok(mut m) => {
                m.tick(now, &team_of);
                let snap = if tokio::time::Instant::now() >= next_save {
                    m.snapshot(now)
                } else {
                    None
                };
                (m.drain(), snap)
            }
            Err(e) => {
                log_err!("alerts: {}", e.message);
                return;
            }
        };
        if let (Some(snap), Some(path)) =
            (snapshot, state.monitor.state_file().map(ToOwned::to_owned))
        {
            let started = tokio::time::Instant::now();
            match tokio::task::spawn_blocking(move || chatvault_app::live::save(&path, &snap)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log_err!("alerts: {e}"),
                Err(e) => log_err!("alerts: saving the state: {e}"),
            }
            next_save = started + SAVE_EVERY.max(started.elapsed() * SAVE_COST_FACTOR);
        }
        for e in events {
            seq += 1;
            let out = Arc::new(Outgoing {
                id: format!("{}-{seq}", e.alert.id),
                event: e.event,
                at: rfc3339(e.at_ms),
                at_ms: e.at_ms,
                recipients: recipients(&e.alert, &users),
                alert: e.alert,
            });
            // No one listening is not an error.
            let _ = state.live.feed.send(out.clone());
            for q in &queues {
                let _ = q.send(out.clone());
            }
        }
    }
}

/// Backoff before attempt `n + 1` (n from 1): 1 s, 2 s, 4 s, … at most 60 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs((1u64 << (n.saturating_sub(1)).min(6)).min(60))
}

async fn deliver(
    state: State,
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
    attempts: u32,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Arc<Outgoing>>,
) {
    while let Some(out) = rx.recv().await {
        let body = match serde_json::to_vec(&*out) {
            Ok(b) => b,
            Err(e) => {
                log_err!("webhook {}: {e}", out.id);
                continue;
            }
        };
        for attempt in 1..=attempts {
            let ts = chrono::Utc::now().timestamp();
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-chatvault-event", out.event)
                .header("x-chatvault-delivery", &out.id)
                .header("x-chatvault-timestamp", ts.to_string())
                .header("x-chatvault-signature", signature(&secret, ts, &body))
                .body(body.clone())
                .send()
                .await;
            let (status, error) = match sent {
                Ok(r) => (
                    Some(r.status().as_u16()),
                    (!r.status().is_success()).then(|| format!("HTTP {}", r.status())),
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            let ok = error.is_none();
            let retry = (!ok && attempt < attempts).then(|| backoff(attempt));
            state.live.record(Delivery {
                delivery: out.id.clone(),
                event: out.event,
                alert: out.alert.id,
                url: url.clone(),
                attempt,
                at_ms: chrono::Utc::now().timestamp_millis(),
                status,
                error,
                ok,
                retry_in_ms: retry.map(|d| d.as_millis() as u64),
            });
            match retry {
                Some(d) => tokio::time::sleep(d).await,
                None => break,
            }
        }
    }
}

/// What `GET /api/v1/alerts` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub enabled: bool,
    pub now_ms: i64,
    /// Customer turns waiting now (all of them: a count, naming no one).
    pub waiting: u64,
    pub alerts: Vec<Alert>,
    pub sources: Vec<SourceStatus>,
}

/// A caller who may watch alerts (not legal officers or auditors).
pub struct Watcher {
    pub caller: Caller,
    state: State,
}

impl axum::extract::FromRequestParts<State> for Watcher {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &State,
    ) -> ApiResult<Watcher> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if may_watch(caller.role()) {
            return Ok(Watcher {
                caller,
                state: state.clone(),
            });
        }
        state.audit(caller.event(Action::AccessDenied).result(Outcome::Denied).details(json!({"reason": "alerts are for agents, team leads, executives and admins", "path": parts.uri.path()})))?;
        Err(ApiError::forbidden(
            "access.role",
            format!(
                "the {} role does not watch SLA alerts",
                caller.role().as_str()
            ),
        ))
    }
}

impl Watcher {
    /// The alerts this caller sees, open ones first; the waiting count; the sources.
    pub fn list(&self) -> ApiResult<Listing> {
        let now = chrono::Utc::now().timestamp_millis();
        let m = self.state.monitor.monitor()?;
        let alerts: Vec<Alert> = m
            .alerts()
            .into_iter()
            .filter(|a| sees(&self.caller, a))
            .cloned()
            .collect();
        let sources = if matches!(self.caller.role(), Role::Agent) {
            vec![]
        } else {
            m.sources(now)
        };
        Ok(Listing {
            enabled: self.state.monitor.enabled(),
            now_ms: now,
            waiting: m.waiting() as u64,
            alerts,
            sources,
        })
    }

    /// Acknowledges one alert for this caller, audited.
    pub fn ack(&self, id: u64) -> ApiResult<Alert> {
        let now = chrono::Utc::now().timestamp_millis();
        let r = {
            let mut m = self.state.monitor.monitor()?;
            match m.get(id) {
                Some(a) if sees(&self.caller, a) => m.ack(id, self.caller.name(), now),
                _ => Err(chatvault_analytics::monitor::MonitorError::NotFound(id)),
            }
        };
        match r {
            Ok(a) => {
                self.state.audit(self.caller.event(Action::AlertAck).target(&id.to_string()).details(json!({"conversation": a.conversation, "source": a.source, "tier": a.tier, "kind": a.kind})))?;
                Ok(a)
            }
            Err(e) => Err(ApiError::new(e.code(), e.to_string())),
        }
    }
}

pub async fn list_route(w: Watcher) -> ApiResult<Json<Listing>> {
    Ok(Json(w.list()?))
}

pub async fn ack_route(w: Watcher, AxPath(id): AxPath<String>) -> ApiResult<Json<Value>> {
    let Ok(id) = id.parse::<u64>() else {
        return Err(ApiError::new("alert.not_found", format!("no alert {id}")));
    };
    let a = blocking(|| w.ack(id))?;
    Ok(Json(json!({"alert": a})))
}

/// Webhook attempts, newest first (admins and executives).
pub async fn deliveries_route(w: Watcher) -> ApiResult<Json<Value>> {
    if !matches!(w.caller.role(), Role::Admin | Role::Executive) {
        return Err(ApiError::forbidden(
            "access.role",
            "webhook deliveries are for admins and executives",
        ));
    }
    Ok(Json(json!({"deliveries": w.state.live.deliveries()})))
}

/// The live feed: `text/event-stream`, one SSE event per alert event this caller sees
/// (`event:` the event name, `data:` the JSON delivered to webhooks), a `resync` event
/// when the feed fell behind, and keep-alive comments. Session callers only; the feed
/// ends when the session does.
pub async fn stream_route(
    w: Watcher,
) -> ApiResult<Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>>> {
    let Some(cookie) = w.caller.session.clone() else {
        return Err(ApiError::forbidden(
            "auth.scope",
            "the live feed is for signed-in people; services take the webhooks",
        ));
    };
    let Watcher { caller, state } = w;
    let rx = state.live.feed.subscribe();
    let checked = tokio::time::Instant::now();
    let stream = futures::stream::unfold(
        (rx, caller, checked, state, cookie, false),
        |(mut rx, caller, mut checked, state, cookie, done)| async move {
            if done {
                return None;
            }
            loop {
                if checked.elapsed() >= RECHECK {
                    checked = tokio::time::Instant::now();
                    let s = state.clone();
                    let c = cookie.clone();
                    let alive = tokio::task::spawn_blocking(move || {
                        s.access()
                            .map(|mut a| a.session(&c).is_ok())
                            .unwrap_or(false)
                    })
                    .await
                    .unwrap_or(false);
                    if !alive {
                        let ev = SseEvent::default().event("end").data("the session ended");
                        return Some((Ok(ev), (rx, caller, checked, state, cookie, true)));
                    }
                }
                let next = tokio::time::timeout(RECHECK, rx.recv()).await;
                let ev = match next {
                    Err(_) => continue,
                    Ok(Ok(out)) if sees(&caller, &out.alert) => SseEvent::default()
                        .event(out.event)
                        .id(out.id.clone())
                        .data(serde_json::to_string(&*out).unwrap_or_default()),
                    Ok(Ok(_)) => continue,
                    Ok(Err(broadcast::error::RecvError::Lagged(n))) => SseEvent::default()
                        .event("resync")
                        .data(format!("{n} events were missed: read /api/v1/alerts again")),
                    Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                };
                return Some((Ok(ev), (rx, caller, checked, state, cookie, false)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // The signed input is exactly `{timestamp}.{body}`, as docs/api.md tells receivers.
        let body = br#"{"event":"alert.raised"}"#;
        let sig = signature(b"0123456789abcdef", 1_700_000_000, body);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(b"1700000000.{\"event\":\"alert.raised\"}");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(
            sig,
            signature(b"0123456789abcdef", 1_700_000_001, body),
            "the timestamp is signed"
        );
        assert_ne!(
            sig,
            signature(b"0123456789abcdeX", 1_700_000_000, body),
            "the key matters"
        );
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let got: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn webhooks_need_a_key() {
        let mut a = Alerts {
            webhooks: vec!["http://127.0.0.1:9/hook".into()],
            ..Alerts::default()
        };
        a.webhook_secret = "short".into();
        assert!(webhook_secret(&a).unwrap_err().contains("webhook_secret"));
        a.webhook_secret = "a-long-enough-secret".into();
        assert_eq!(
            webhook_secret(&a).unwrap().unwrap(),
            b"a-long-enough-secret"
        );
        assert_eq!(
            webhook_secret(&Alerts::default()).unwrap(),
            None,
            "no webhooks, no key needed"
        );
    }
}
