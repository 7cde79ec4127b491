//! The service-quality dashboard: the sla, agents, hours, topics and quality reports of
//! one window, drawn with ECharts (data in `data-chart` attributes; `app.js` draws), with
//! filters and CSV downloads. Team leads see their team; executives pick any.

use askama::Template;
use axum::extract::Query;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chatvault_analytics::report::{
    AgentsReport, Cohort, HoursReport, QualityReport, SlaReport, TopicsReport,
};
use serde_json::json;

use super::pages::{guard_or, render, UiResult, PLATFORMS};
use super::views::{clean, fmt_ms, Ctx};
use super::{Req, UiError};
use crate::analytics::{csv, pct, Kind, Manager, Report, ReportQuery};
use crate::error::ApiError;
use crate::guard::Caller;

#[derive(Debug, Default, serde::Deserialize)]
pub struct DashQuery {
    from: Option<String>,
    to: Option<String>,
    team: Option<String>,
    platform: Option<String>,
    business_hours: Option<String>,
    kind: Option<String>,
}

impl DashQuery {
    fn report_query(&self) -> ReportQuery {
        ReportQuery {
            from: self.from.clone(),
            to: self.to.clone(),
            team: self.team.clone(),
            platform: self.platform.clone(),
            business_hours: Some(
                self.business_hours
                    .as_deref()
                    .is_some_and(|v| v == "1" || v == "on" || v == "true"),
            ),
        }
    }

    /// The filters again, for links (dates, team and platform are not message content).
    fn link(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![];
        for (k, v) in [
            ("from", &self.from),
            ("to", &self.to),
            ("team", &self.team),
            ("platform", &self.platform),
            ("business_hours", &self.business_hours),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.push((k, v));
            }
        }
        pairs.extend_from_slice(extra);
        super::views::query(&pairs)
    }
}

pub struct AgentRow {
    agent: String,
    team: String,
    new: bool,
    responses: String,
    median: String,
    p90: String,
    sla: String,
    quality: String,
}

pub struct BreachRow {
    conversation: String,
    href: String,
    agent: String,
    team: String,
    start: String,
    waited: String,
    threshold: String,
    unanswered: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ctx: Ctx,
    from: String,
    to: String,
    team: String,
    platform: String,
    business_hours: bool,
    may_pick_team: bool,
    platforms: &'static [&'static str],
    empty: bool,
    kpis: Vec<(&'static str, String)>,
    hist_chart: String,
    heat_chart: String,
    gauge_chart: String,
    topics_chart: String,
    agents: Vec<AgentRow>,
    cohorts: Vec<(&'static str, String, String, String, String)>,
    breaches: Vec<BreachRow>,
    breaches_total: String,
    scripts: Vec<(&'static str, String)>,
    risks: Vec<(String, String)>,
    csv_links: Vec<(&'static str, String)>,
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| {
        if x >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    })
}

pub async fn dashboard_page(
    req: Req,
    m: Result<Manager, ApiError>,
    caller: Result<Caller, ApiError>,
    Query(q): Query<DashQuery>,
) -> UiResult<Response> {
    let m = guard_or(&req, m, caller)?;
    let lang = req.lang_for(Some(&m.caller));
    let t = lang.strings();
    let fail = |e| UiError::for_caller(&req, &m.caller, e);
    let p = m.params(&q.report_query()).map_err(fail)?;
    let kinds = [
        Kind::SLA,
        Kind::AGENTS,
        Kind::HOURS,
        Kind::TOPICS,
        Kind::QUALITY,
    ];
    let r = m.reports(&kinds, &p).map_err(fail)?;
    fn typed<'a, T: 'static>(r: &'a [Report], i: usize) -> Result<&'a T, ApiError> {
        r.get(i)
            .and_then(|r| r.data::<T>())
            .ok_or_else(|| ApiError::internal("a dashboard report did not run"))
    }
    let sla: &SlaReport = typed(&r, 0).map_err(fail)?;
    let agents: &AgentsReport = typed(&r, 1).map_err(fail)?;
    let hours: &HoursReport = typed(&r, 2).map_err(fail)?;
    let topics: &TopicsReport = typed(&r, 3).map_err(fail)?;
    let quality: &QualityReport = typed(&r, 4).map_err(fail)?;
    let one = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.1}"));
    let kpis = vec![
        (t.kpi_conversations, sla.conversations.to_string()),
        (t.kpi_sla, pct(sla.overall.met_ratio)),
        (t.kpi_frt_median, format!("{} s", secs(sla.frt.median_s))),
        (t.kpi_frt_p90, format!("{} s", secs(sla.frt.p90_s))),
        (t.kpi_unanswered, sla.unanswered_conversations.to_string()),
        (t.kpi_quality, one(quality.mean_score)),
    ];
    let (hist, frt_hist) = (&sla.response.histogram, &sla.frt.histogram);
    let hist_chart = json!({
        "kind": "histogram",
        "labels": hist.iter().map(|b| &b.0).collect::<Vec<_>>(),
        "series": [{"name": t.series_frt, "data": frt_hist.iter().map(|b| b.1).collect::<Vec<_>>()},
                   {"name": t.series_all, "data": hist.iter().map(|b| b.1).collect::<Vec<_>>()}],
    })
    .to_string();
    let cells: Vec<_> = hours
        .heatmap
        .iter()
        .filter(|c| c.responses > 0)
        .map(|c| json!([c.hour, c.weekday, c.median_s]))
        .collect();
    let heat_chart = json!({"kind": "heatmap", "days": t.weekdays.split(',').collect::<Vec<_>>(), "cells": cells}).to_string();
    let gauge_chart = json!({"kind": "gauge", "name": t.kpi_sla, "value": sla.overall.met_ratio.map(|x| (x * 1000.0).round() / 10.0)}).to_string();
    let top = &topics.topics[..topics.topics.len().min(10)];
    let topics_chart = json!({"kind": "bars", "labels": top.iter().map(|c| &c.name).collect::<Vec<_>>(), "data": top.iter().map(|c| c.conversations).collect::<Vec<_>>()}).to_string();
    let agents_rows = agents
        .ranking
        .iter()
        .take(50)
        .map(|l| AgentRow {
            agent: clean(&l.agent),
            team: clean(&l.team),
            new: l.new,
            responses: l.responses.to_string(),
            median: secs(l.median_s),
            p90: secs(l.p90_s),
            sla: pct(l.sla.met_ratio),
            quality: one(l.mean_quality),
        })
        .collect();
    let cohort = |name: &'static str, c: &Cohort| {
        (
            name,
            c.agents.to_string(),
            secs(c.response.median_s),
            secs(c.response.p90_s),
            pct(c.sla.met_ratio),
        )
    };
    let cohorts = vec![
        cohort(t.cohort_new, &agents.new),
        cohort(t.cohort_experienced, &agents.experienced),
    ];
    let breaches = sla
        .breaches
        .iter()
        .take(20)
        .map(|b| BreachRow {
            href: format!(
                "/conversation?{}",
                super::views::query(&[("id", &b.conversation)])
            ),
            conversation: clean(&b.conversation),
            agent: clean(b.agent.as_deref().unwrap_or("-")),
            team: clean(&b.team),
            start: fmt_ms(b.start_ms, m.state().zone),
            waited: secs(Some(b.waited_s)),
            threshold: secs(Some(b.threshold_s)),
            unanswered: !b.answered,
        })
        .collect();
    let scripts = vec![
        (t.script_greeting, pct(topics.greeting_ratio)),
        (t.script_closing, pct(topics.closing_ratio)),
        (t.script_both, pct(topics.both_ratio)),
    ];
    let risks = topics
        .risk_words
        .iter()
        .map(|c| (clean(&c.name), c.conversations.to_string()))
        .collect();
    let csv_links = kinds
        .iter()
        .map(|k| {
            (
                k.name(),
                format!("/dashboard/export?{}", q.link(&[("kind", k.name())])),
            )
        })
        .collect();
    let page = DashboardPage {
        ctx: Ctx::for_caller(lang, &m.caller, "/dashboard", t.dashboard_title),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
        team: p.team.clone().unwrap_or_default(),
        platform: q.platform.clone().unwrap_or_default(),
        business_hours: p.business_hours,
        may_pick_team: m.caller.role() == chatvault_policy::Role::Executive,
        platforms: PLATFORMS,
        empty: sla.conversations == 0,
        kpis,
        hist_chart,
        heat_chart,
        gauge_chart,
        topics_chart,
        agents: agents_rows,
        cohorts,
        breaches,
        breaches_total: sla.breaches_total.to_string(),
        scripts,
        risks,
        csv_links,
    };
    Ok(render(&page))
}

/// A report's main table as a CSV download.
pub async fn dashboard_export(
    req: Req,
    m: Result<Manager, ApiError>,
    caller: Result<Caller, ApiError>,
    Query(q): Query<DashQuery>,
) -> UiResult<Response> {
    let m = guard_or(&req, m, caller)?;
    let fail = |e| UiError::for_caller(&req, &m.caller, e);
    let kind = q.kind.as_deref().and_then(Kind::parse).ok_or_else(|| {
        fail(ApiError::bad_request(format!(
            "kind: use {}",
            Kind::names()
        )))
    })?;
    let p = m.params(&q.report_query()).map_err(fail)?;
    let v = m.reports(&[kind], &p).map_err(fail)?;
    let table = v
        .first()
        .map(|r| r.data.table())
        .ok_or_else(|| fail(ApiError::internal("the report did not run")))?;
    let bytes = csv(&table).map_err(|e| fail(ApiError::internal(e)))?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"report-{}.csv\"",
        kind.name()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
