//! The alert feed: open SLA alerts first (tier, who it went to, how long the customer has
//! waited), then the recently resolved; an acknowledge button on each open one; capture
//! latency per live source. The list reloads itself from the SSE feed (`app.js`).

use askama::Template;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use chatvault_analytics::monitor::{Alert, AlertKind, Tier};

use super::pages::{guard_or, render, UiResult};
use super::views::{clean, query, Ctx};
use super::{Lang, Req, UiError};
use crate::alerts::Watcher;
use crate::error::ApiError;
use crate::guard::Caller;

pub struct AlertRow {
    id: u64,
    tier: &'static str,
    tier_label: &'static str,
    what: String,
    href: Option<String>,
    agent: String,
    team: String,
    notify: String,
    since: String,
    waited: String,
    steps: String,
    ack: Option<String>,
    resolved: Option<String>,
}

pub struct SourceRow {
    source: String,
    messages: u64,
    last: String,
    p50: String,
    p99: String,
    stalled: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    ctx: Ctx,
    list: AlertsList,
}

/// The list alone (the page includes the same template).
#[derive(Template)]
#[template(path = "alerts_list.html")]
struct AlertsFragment {
    list: AlertsList,
}

struct AlertsList {
    t: &'static super::i18n::Strings,
    csrf: String,
    waiting: u64,
    open: Vec<AlertRow>,
    resolved: Vec<AlertRow>,
    sources: Vec<SourceRow>,
    show_sources: bool,
}

/// `95 s`, `12 min`, `3.5 h`.
fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else {
        format!("{:.1} h", s as f64 / 3600.0)
    }
}

/// Alert times to the second (a threshold is seconds).
fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn tier_label(lang: Lang, tier: Tier) -> &'static str {
    let t = lang.strings();
    match tier {
        Tier::Blue => t.tier_blue,
        Tier::Yellow => t.tier_yellow,
        Tier::Red => t.tier_red,
    }
}

/// A link of the escalation chain in the page's language (the config may name any role).
fn chain_label(lang: Lang, name: &str) -> String {
    let t = lang.strings();
    match name {
        "manager" => t.chain_manager.to_owned(),
        other => chatvault_policy::Role::parse(other).map_or_else(
            |_| clean(other),
            |r| super::views::role_label(t, r).to_owned(),
        ),
    }
}

fn row(lang: Lang, a: &Alert, now_ms: i64) -> AlertRow {
    let t = lang.strings();
    let (label, what) = match a.kind {
        AlertKind::Unanswered => (
            tier_label(lang, a.tier),
            clean(a.conversation.as_deref().unwrap_or_default()),
        ),
        AlertKind::SourceStalled | AlertKind::SourceDelayed | AlertKind::SourceGap => (
            match a.kind {
                AlertKind::SourceStalled => t.source_stalled,
                AlertKind::SourceDelayed => t.source_delayed,
                _ => t.source_gap,
            },
            clean(&format!(
                "{}{}",
                a.source.as_deref().unwrap_or_default(),
                a.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )),
        ),
    };
    let end = a.resolved.as_ref().map_or(now_ms, |r| r.at_ms);
    AlertRow {
        id: a.id,
        tier: a.tier.as_str(),
        tier_label: label,
        href: a
            .conversation
            .as_ref()
            .map(|c| format!("/conversation?{}", query(&[("id", c)]))),
        what,
        agent: clean(a.agent.as_deref().unwrap_or("-")),
        team: clean(a.team.as_deref().unwrap_or("-")),
        notify: chain_label(lang, &a.notify),
        since: at(a.since_ms),
        waited: span(end - a.since_ms),
        steps: a
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{} → {}",
                    tier_label(lang, s.tier),
                    chain_label(lang, &s.notify)
                )
            })
            .collect::<Vec<_>>()
            .join(" · "),
        ack: a
            .ack
            .as_ref()
            .map(|k| format!("{} · {}", clean(&k.by), at(k.at_ms))),
        resolved: a.resolved.as_ref().map(|r| {
            use chatvault_analytics::monitor::Reason;
            let why = match r.reason {
                Reason::Answered => t.resolved_answered,
                Reason::SourceResumed => t.resolved_resumed,
                Reason::CustomerConfirmed => t.resolved_confirmed,
                Reason::Expired => t.resolved_expired,
            };
            format!(
                "{} · {why}{}",
                at(r.at_ms),
                r.by.as_deref()
                    .map(|b| format!(" · {}", clean(b)))
                    .unwrap_or_default()
            )
        }),
    }
}

fn list(lang: Lang, w: &Watcher) -> Result<AlertsList, ApiError> {
    let v = w.list()?;
    let ms = |x: Option<i64>| x.map_or("-".into(), |m| format!("{m} ms"));
    let sources = v
        .sources
        .iter()
        .map(|s| SourceRow {
            source: clean(&s.source),
            messages: s.messages,
            last: at(s.last_received_ms),
            p50: ms(s.p50_ms),
            p99: ms(s.p99_ms),
            stalled: s.stalled,
        })
        .collect();
    let (open, resolved): (Vec<&Alert>, Vec<&Alert>) = v.alerts.iter().partition(|a| a.is_open());
    Ok(AlertsList {
        t: lang.strings(),
        csrf: super::views::csrf_of(&w.caller),
        waiting: v.waiting,
        open: open.into_iter().map(|a| row(lang, a, v.now_ms)).collect(),
        resolved: resolved
            .into_iter()
            .take(50)
            .map(|a| row(lang, a, v.now_ms))
            .collect(),
        show_sources: !matches!(w.caller.role(), chatvault_policy::Role::Agent),
        sources,
    })
}

fn listing(
    req: &Req,
    w: Result<Watcher, ApiError>,
    caller: Result<Caller, ApiError>,
) -> UiResult<(Lang, Watcher, AlertsList)> {
    let w = guard_or(req, w, caller)?;
    let lang = req.lang_for(Some(&w.caller));
    let list = list(lang, &w).map_err(|e| UiError::for_caller(req, &w.caller, e))?;
    Ok((lang, w, list))
}

pub async fn alerts_page(
    req: Req,
    w: Result<Watcher, ApiError>,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let (lang, w, list) = listing(&req, w, caller)?;
    Ok(render(&AlertsPage {
        ctx: Ctx::for_caller(lang, &w.caller, "/alerts", lang.strings().alerts_title),
        list,
    }))
}

/// The list alone, for the live reload.
pub async fn alerts_fragment(
    req: Req,
    w: Result<Watcher, ApiError>,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let (_, _, list) = listing(&req, w, caller)?;
    Ok(render(&AlertsFragment { list }))
}

pub async fn ack_submit(
    req: Req,
    w: Result<Watcher, ApiError>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let w = guard_or(&req, w, caller)?;
    let fail = |e| UiError::for_caller(&req, &w.caller, e);
    let id = id
        .parse::<u64>()
        .map_err(|_| fail(ApiError::new("alert.not_found", format!("no alert {id}"))))?;
    crate::routes::blocking(|| w.ack(id)).map_err(fail)?;
    Ok(Redirect::to("/alerts").into_response())
}
