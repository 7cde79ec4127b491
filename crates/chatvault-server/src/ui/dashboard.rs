//! The service-quality dashboard: the sla, agents, hours, topics and quality reports of
//! one window, drawn with ECharts (data in `data-chart` attributes; `app.js` draws), with
//! filters and CSV downloads. Team leads see their team; executives pick any.

use askama::Template;
use axum::extract::Query;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::pages::{guard_or, render, UiResult, PLATFORMS};
use super::views::{clean, fmt_ms, Ctx};
use super::{Req, UiError};
use crate::analytics::{f, pct, Kind, Manager, ReportQuery};
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

fn secs(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| {
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
        Kind::Sla,
        Kind::Agents,
        Kind::Hours,
        Kind::Topics,
        Kind::Quality,
    ];
    let r = m.reports(&kinds, &p).map_err(fail)?;
    let (sla, agents, hours, topics, quality) = (
        &r[0]["data"],
        &r[1]["data"],
        &r[2]["data"],
        &r[3]["data"],
        &r[4]["data"],
    );
    let kpis = vec![
        (t.kpi_conversations, f(&sla["conversations"])),
        (t.kpi_sla, pct(&sla["overall"]["met_ratio"])),
        (
            t.kpi_frt_median,
            format!("{} s", secs(&sla["frt"]["median_s"])),
        ),
        (t.kpi_frt_p90, format!("{} s", secs(&sla["frt"]["p90_s"]))),
        (t.kpi_unanswered, f(&sla["unanswered_conversations"])),
        (
            t.kpi_quality,
            quality["mean_score"]
                .as_f64()
                .map_or("-".into(), |x| format!("{x:.1}")),
        ),
    ];
    let hist = sla["response"]["histogram"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let frt_hist = sla["frt"]["histogram"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hist_chart = json!({
        "kind": "histogram",
        "labels": hist.iter().map(|b| b[0].clone()).collect::<Vec<_>>(),
        "series": [{"name": t.series_frt, "data": frt_hist.iter().map(|b| b[1].clone()).collect::<Vec<_>>()},
                   {"name": t.series_all, "data": hist.iter().map(|b| b[1].clone()).collect::<Vec<_>>()}],
    })
    .to_string();
    let cells: Vec<Value> = hours["heatmap"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| c["responses"].as_u64().unwrap_or(0) > 0)
        .map(|c| json!([c["hour"], c["weekday"], c["median_s"]]))
        .collect();
    let heat_chart = json!({"kind": "heatmap", "days": t.weekdays.split(',').collect::<Vec<_>>(), "cells": cells}).to_string();
    let gauge_chart = json!({"kind": "gauge", "name": t.kpi_sla, "value": sla["overall"]["met_ratio"].as_f64().map(|x| (x * 1000.0).round() / 10.0)}).to_string();
    let top: Vec<Value> = topics["topics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .take(10)
        .collect();
    let topics_chart = json!({"kind": "bars", "labels": top.iter().map(|c| c["name"].clone()).collect::<Vec<_>>(), "data": top.iter().map(|c| c["conversations"].clone()).collect::<Vec<_>>()}).to_string();
    let agents_rows = agents["ranking"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .take(50)
        .map(|l| AgentRow {
            agent: clean(&f(&l["agent"])),
            team: clean(&f(&l["team"])),
            new: l["new"] == true,
            responses: f(&l["responses"]),
            median: secs(&l["median_s"]),
            p90: secs(&l["p90_s"]),
            sla: pct(&l["sla"]["met_ratio"]),
            quality: l["mean_quality"]
                .as_f64()
                .map_or("-".into(), |x| format!("{x:.1}")),
        })
        .collect();
    let cohort = |name: &'static str, c: &Value| {
        (
            name,
            f(&c["agents"]),
            secs(&c["response"]["median_s"]),
            secs(&c["response"]["p90_s"]),
            pct(&c["sla"]["met_ratio"]),
        )
    };
    let cohorts = vec![
        cohort(t.cohort_new, &agents["new"]),
        cohort(t.cohort_experienced, &agents["experienced"]),
    ];
    let breaches = sla["breaches"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .take(20)
        .map(|b| {
            let conv = f(&b["conversation"]);
            BreachRow {
                href: format!("/conversation?{}", super::views::query(&[("id", &conv)])),
                conversation: clean(&conv),
                agent: clean(&f(&b["agent"])),
                team: clean(&f(&b["team"])),
                start: b["start_ms"]
                    .as_i64()
                    .map(|ms| fmt_ms(ms, m.state().zone))
                    .unwrap_or_default(),
                waited: secs(&b["waited_s"]),
                threshold: secs(&b["threshold_s"]),
                unanswered: b["answered"] == false,
            }
        })
        .collect();
    let scripts = vec![
        (t.script_greeting, pct(&topics["greeting_ratio"])),
        (t.script_closing, pct(&topics["closing_ratio"])),
        (t.script_both, pct(&topics["both_ratio"])),
    ];
    let risks = topics["risk_words"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| (clean(&f(&c["name"])), f(&c["conversations"])))
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
        empty: sla["conversations"].as_u64().unwrap_or(0) == 0,
        kpis,
        hist_chart,
        heat_chart,
        gauge_chart,
        topics_chart,
        agents: agents_rows,
        cohorts,
        breaches,
        breaches_total: f(&sla["breaches_total"]),
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
        fail(ApiError::bad_request(
            "kind: use sla, agents, hours, topics or quality",
        ))
    })?;
    let p = m.params(&q.report_query()).map_err(fail)?;
    let v = m.reports(&[kind], &p).map_err(fail)?;
    let bytes =
        crate::analytics::csv(kind, &v[0]["data"]).map_err(|e| fail(ApiError::internal(e)))?;
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
