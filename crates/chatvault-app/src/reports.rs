//! Service-quality reports over the archive: keeping `analytics.db` in step with the
//! archive ([`sync`]), running reports ([`run_reports`], and [`for_manager`] as the
//! server runs them for a caller), and rendering a report as a table or CSV.
//!
//! A report shows no message content: figures, conversation ids, agent handles, and the
//! risk words hit with the ids of the messages that hold them. Team leads see their own
//! team; executives see every team. Each report is audited.

use std::path::{Path, PathBuf};

use chatvault_access::Event;
use chatvault_analytics::cache::Cache;
use chatvault_analytics::report::{self, Context};
use chatvault_analytics::{Lexicons, Msg, Side};
use chatvault_archive::{Archive, Selection, Visibility};
use chatvault_model::{MessageKind, SenderRole};
use chatvault_policy::Handle;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::service::App;

pub fn cache_path(data: &Path) -> PathBuf {
    data.join("analytics.db")
}

/// What one [`sync`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncReport {
    pub conversations: u64,
    pub rebuilt: bool,
}

const BATCH: usize = 500;

/// Brings the cache up to date: the conversations with messages since the last sync are
/// summarised again; everything is, when the lexicons, the calendar or the deletion state
/// changed (deleted messages must leave the figures). Crash-safe: the high-water mark is
/// written with the last batch, so an interrupted sync is redone.
pub fn sync(
    archive: &mut Archive,
    settings: &chatvault_analytics::Settings,
    now_ms: i64,
) -> Result<SyncReport, String> {
    let mut cache = Cache::open(&cache_path(archive.data_dir())).map_err(|e| e.to_string())?;
    let fingerprint = settings.content_fingerprint();
    let generation = archive
        .deletion_generation()
        .map_err(|e| e.to_string())?
        .to_string();
    let rebuild = cache
        .meta("fingerprint")
        .map_err(|e| e.to_string())?
        .as_deref()
        != Some(fingerprint.as_str())
        || cache
            .meta("deletion_generation")
            .map_err(|e| e.to_string())?
            .as_deref()
            != Some(generation.as_str());
    let from_seq: u64 = if rebuild {
        0
    } else {
        cache
            .meta("next_seq")
            .map_err(|e| e.to_string())?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let (keys, next_seq) = archive
        .conversations_from_seq(from_seq)
        .map_err(|e| e.to_string())?;
    if keys.is_empty() && !rebuild {
        return Ok(SyncReport {
            conversations: 0,
            rebuilt: false,
        });
    }
    let calendar = settings.calendar().map_err(|e| e.to_string())?;
    let lex = Lexicons::new(settings);
    let mut batch = vec![];
    let mut first = rebuild;
    let total = keys.len();
    for (i, key) in keys.iter().enumerate() {
        let mut msgs = vec![];
        let mut all = |_: &chatvault_model::StoredMessage, _: &[Handle]| Visibility::Full;
        archive
            .stream_visible(&Selection::Conversation(key), &mut all, &mut |m| {
                if !matches!(m.kind, MessageKind::Recall | MessageKind::Edit) {
                    msgs.push(m);
                }
                Ok(())
            })
            .map_err(|e| format!("{key}: {e}"))?;
        // Agents are named by handle (`platform:id`), as the directory of users knows them.
        let senders: Vec<String> = msgs
            .iter()
            .map(|m| format!("{}:{}", m.platform.as_str(), m.sender))
            .collect();
        let view: Vec<Msg<'_>> = msgs
            .iter()
            .zip(&senders)
            .map(|(m, sender)| Msg {
                id: &m.id,
                sent_ms: m.sent_at_ts.utc_ms,
                side: match (m.kind, m.sender_role) {
                    (MessageKind::System, _) => None,
                    (_, SenderRole::Customer) => Some(Side::Customer),
                    (_, SenderRole::Agent) => Some(Side::Agent),
                    _ => None,
                },
                sender,
                text: m.text.as_deref().unwrap_or(""),
            })
            .collect();
        let platform = key.split_once(':').map_or("", |(p, _)| p);
        batch.push(chatvault_analytics::summarise(
            key, platform, &view, &calendar, &lex, now_ms,
        ));
        if batch.len() == BATCH || i + 1 == total {
            let last = i + 1 == total;
            let meta: Vec<(&str, String)> = if last {
                vec![
                    ("fingerprint", fingerprint.clone()),
                    ("deletion_generation", generation.clone()),
                    ("next_seq", next_seq.to_string()),
                ]
            } else {
                vec![]
            };
            cache
                .store(&batch, &meta, first)
                .map_err(|e| e.to_string())?;
            first = false;
            batch.clear();
        }
    }
    if total == 0 {
        cache
            .store(
                &[],
                &[
                    ("fingerprint", fingerprint),
                    ("deletion_generation", generation),
                    ("next_seq", next_seq.to_string()),
                ],
                true,
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(SyncReport {
        conversations: total as u64,
        rebuilt: rebuild,
    })
}

/// The five reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sla,
    Agents,
    Hours,
    Topics,
    Quality,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "sla" => Kind::Sla,
            "agents" => Kind::Agents,
            "hours" => Kind::Hours,
            "topics" => Kind::Topics,
            "quality" => Kind::Quality,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Sla => "sla",
            Kind::Agents => "agents",
            Kind::Hours => "hours",
            Kind::Topics => "topics",
            Kind::Quality => "quality",
        }
    }
}

/// A report's parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub team: Option<String>,
    pub platform: Option<String>,
    pub business_hours: bool,
}

/// Syncs the cache and runs one report. `directory`: an agent handle's team.
pub fn run_report(
    archive: &mut Archive,
    settings: &chatvault_analytics::Settings,
    directory: &dyn Fn(&str) -> Option<String>,
    kind: Kind,
    p: &Params,
    now_ms: i64,
) -> Result<Value, String> {
    Ok(run_reports(archive, settings, directory, &[kind], p, now_ms)?.remove(0))
}

/// Syncs the cache once and runs several reports over one window (the dashboard).
pub fn run_reports(
    archive: &mut Archive,
    settings: &chatvault_analytics::Settings,
    directory: &dyn Fn(&str) -> Option<String>,
    kinds: &[Kind],
    p: &Params,
    now_ms: i64,
) -> Result<Vec<Value>, String> {
    sync(archive, settings, now_ms)?;
    reports_from_cache(archive.data_dir(), settings, directory, kinds, p, now_ms)
}

/// Runs reports over the cache as the last [`sync`] left it. Reads `analytics.db` only,
/// so the server runs it without holding the archive: a report over a large archive
/// takes seconds, and ingest must not wait for it.
pub fn reports_from_cache(
    data_dir: &Path,
    settings: &chatvault_analytics::Settings,
    directory: &dyn Fn(&str) -> Option<String>,
    kinds: &[Kind],
    p: &Params,
    now_ms: i64,
) -> Result<Vec<Value>, String> {
    let cache = Cache::open(&cache_path(data_dir)).map_err(|e| e.to_string())?;
    let (from, to) = (p.from_ms.unwrap_or(i64::MIN), p.to_ms.unwrap_or(i64::MAX));
    let load = chatvault_analytics::cache::Load {
        terms: kinds.contains(&Kind::Topics),
        risks: kinds
            .iter()
            .any(|k| matches!(k, Kind::Topics | Kind::Quality | Kind::Agents)),
    };
    let window = cache
        .window(from, to, p.platform.as_deref(), load)
        .map_err(|e| e.to_string())?;
    let calendar = settings.calendar().map_err(|e| e.to_string())?;
    let cx = Context {
        settings,
        calendar: &calendar,
        team_of: directory,
        team: p.team.as_deref(),
        business_hours: p.business_hours,
        as_of_ms: now_ms.min(to),
    };
    kinds
        .iter()
        .map(|kind| {
            let body = match kind {
                Kind::Sla => serde_json::to_value(report::sla(&window, &cx)),
                Kind::Agents => serde_json::to_value(report::agents(&window, &cx)),
                Kind::Hours => serde_json::to_value(report::hours(&window, &cx)),
                Kind::Topics => serde_json::to_value(report::topics(&window, &cx)),
                Kind::Quality => serde_json::to_value(report::quality(&window, &cx)),
            }
            .map_err(|e| e.to_string())?;
            Ok(json!({"report": kind.name(), "from_ms": p.from_ms, "to_ms": p.to_ms, "team": p.team, "platform": p.platform, "business_hours": p.business_hours, "as_of_ms": cx.as_of_ms, "data": body}))
        })
        .collect()
}

/// Runs reports for a manager (`event`: their `report.view` entry): syncs the cache with
/// the archive held, then runs the reports over the cache without it (a report over a
/// large archive takes seconds, and ingest must not wait), and audits once (target: the
/// report, or `dashboard` for several).
pub fn for_manager(app: &App, event: Event, kinds: &[Kind], p: &Params) -> Result<Vec<Value>> {
    let fail = |e: String| Error::internal(e);
    let policy = app.config.policy();
    let org = app.access()?.org(&policy)?;
    let now = chrono::Utc::now().timestamp_millis();
    let data_dir = {
        let mut a = app.archive()?;
        sync(&mut a, &app.config.analytics, now).map_err(fail)?;
        a.data_dir().to_owned()
    };
    let v = reports_from_cache(
        &data_dir,
        &app.config.analytics,
        &directory(&org),
        kinds,
        p,
        now,
    )
    .map_err(fail)?;
    let target = if kinds.len() == 1 {
        kinds[0].name()
    } else {
        "dashboard"
    };
    app.audit(event.target(target).details(json!({"team": p.team, "from_ms": p.from_ms, "to_ms": p.to_ms, "platform": p.platform, "business_hours": p.business_hours})))?;
    Ok(v)
}

/// A team directory from the access database: handle → team of the user holding it.
pub fn directory(org: &chatvault_policy::Org) -> impl Fn(&str) -> Option<String> + '_ {
    move |agent: &str| {
        let (p, id) = agent.split_once(':')?;
        org.directory
            .team_of_handle(&Handle::new(p, id))
            .map(str::to_owned)
    }
}

/// A report value as a table cell.
pub fn f(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) => n.as_f64().map_or_else(
            || n.to_string(),
            |x| {
                if x.fract() == 0.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.2}")
                }
            },
        ),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A ratio as a percentage.
pub fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

/// The main table of each report, for CSV.
pub fn table(kind: Kind, d: &Value) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let arr = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    match kind {
        Kind::Sla => {
            let mut rows = vec![];
            for (scope, list) in [
                ("all", vec![d["overall"].clone()]),
                ("team", arr("teams")),
                ("agent", arr("agents")),
            ] {
                for l in list {
                    rows.push(vec![
                        scope.into(),
                        f(&l["name"]),
                        f(&l["met"]),
                        f(&l["breached"]),
                        f(&l["pending"]),
                        f(&l["met_ratio"]),
                    ]);
                }
            }
            (
                vec!["scope", "name", "met", "breached", "pending", "met_ratio"],
                rows,
            )
        }
        Kind::Agents => (
            vec![
                "agent",
                "team",
                "new",
                "responses",
                "median_s",
                "p90_s",
                "frt_median_s",
                "sla_met_ratio",
                "conversations",
                "mean_quality",
            ],
            arr("ranking")
                .iter()
                .map(|l| {
                    vec![
                        f(&l["agent"]),
                        f(&l["team"]),
                        f(&l["new"]),
                        f(&l["responses"]),
                        f(&l["median_s"]),
                        f(&l["p90_s"]),
                        f(&l["frt_median_s"]),
                        f(&l["sla"]["met_ratio"]),
                        f(&l["conversations"]),
                        f(&l["mean_quality"]),
                    ]
                })
                .collect(),
        ),
        Kind::Hours => (
            vec!["weekday", "hour", "responses", "median_s"],
            arr("heatmap")
                .iter()
                .map(|c| {
                    vec![
                        f(&c["weekday"]),
                        f(&c["hour"]),
                        f(&c["responses"]),
                        f(&c["median_s"]),
                    ]
                })
                .collect(),
        ),
        Kind::Topics => {
            let mut rows = vec![];
            for (what, k) in [
                ("topic", "topics"),
                ("keyword", "keywords"),
                ("risk_word", "risk_words"),
            ] {
                for c in arr(k) {
                    rows.push(vec![what.into(), f(&c["name"]), f(&c["conversations"])]);
                }
            }
            (vec!["kind", "name", "count"], rows)
        }
        Kind::Quality => (
            vec![
                "conversation",
                "platform",
                "agent",
                "score",
                "speed",
                "professionalism",
                "resolution",
                "emotion",
                "resolution_state",
                "sentiment",
            ],
            arr("conversations_by_score")
                .iter()
                .map(|l| {
                    let c = &l["components"];
                    vec![
                        f(&l["conversation"]),
                        f(&l["platform"]),
                        f(&l["agent"]),
                        f(&l["score"]),
                        f(&c["speed"]),
                        f(&c["professionalism"]),
                        f(&c["resolution"]),
                        f(&c["emotion"]),
                        f(&l["resolution"]),
                        f(&l["sentiment"]),
                    ]
                })
                .collect(),
        ),
    }
}

/// A report's main table as CSV: UTF-8 with a BOM, every cell Excel-safe (agent handles
/// and conversation ids come from the sources, so they are untrusted).
pub fn csv(kind: Kind, data: &Value) -> Result<Vec<u8>, String> {
    let (head, rows) = table(kind, data);
    let mut w = ::csv::Writer::from_writer(Vec::from("\u{FEFF}".as_bytes()));
    w.write_record(head).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(r.iter().map(|c| chatvault_export::csv_cell(c)))
            .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}
