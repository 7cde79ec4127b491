//! Service-quality reports over the archive: keeping `analytics.db` in step with the
//! archive ([`sync`]), the registry of report kinds ([`REGISTRY`]), running reports
//! ([`reports_from_cache`], and [`for_manager`] as both front ends run them for a
//! caller), and a report's main table as CSV.
//!
//! Each kind is one module: its [`Def`] (name, what it loads from the cache, how it
//! runs) and its typed result's [`MainTable`]; with serde, that makes it [`Data`] (its
//! JSON, its table, and its type for the front ends that render its fields).
//! The front ends render that typed result: the API and `--json` its JSON, `--csv` its
//! table, the CLI's text and the dashboard its fields. Adding a report means one module
//! here and one entry in [`REGISTRY`]: the API, `chatvault report` (its table as text)
//! and the CSV downloads then serve it; the dashboard shows the panels it was drawn for
//! (a new kind gets a panel when one is drawn for it).
//!
//! A report shows no message content: figures, conversation ids, agent handles, and the
//! risk words hit with the ids of the messages that hold them. Team leads see their own
//! team; executives see every team. Each report is audited.

use std::path::{Path, PathBuf};

use chatvault_access::Event;
use chatvault_analytics::cache::{Cache, Load, Window};
use chatvault_analytics::report::Context;
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
                    msgs.push(m.into_inner());
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

mod agents;
mod hours;
mod quality;
mod sla;
mod topics;

/// One kind of report: its name (the API's `/reports/{kind}`, the CLI's argument), what
/// it reads from the cache beside the figures, and how it runs.
pub struct Def {
    pub name: &'static str,
    pub load: Load,
    pub run: fn(&Window, &Context<'_>) -> Box<dyn Data>,
}

/// Every kind, in the order they are listed.
pub static REGISTRY: &[&Def] = &[
    &sla::DEF,
    &agents::DEF,
    &hours::DEF,
    &topics::DEF,
    &quality::DEF,
];

/// A kind of report: one entry of the [`REGISTRY`].
#[derive(Clone, Copy)]
pub struct Kind(&'static Def);

impl Kind {
    pub const SLA: Kind = Kind(&sla::DEF);
    pub const AGENTS: Kind = Kind(&agents::DEF);
    pub const HOURS: Kind = Kind(&hours::DEF);
    pub const TOPICS: Kind = Kind(&topics::DEF);
    pub const QUALITY: Kind = Kind(&quality::DEF);

    pub fn parse(s: &str) -> Option<Kind> {
        REGISTRY.iter().find(|d| d.name == s).map(|d| Kind(d))
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn all() -> impl Iterator<Item = Kind> {
        REGISTRY.iter().map(|d| Kind(d))
    }

    /// The kinds as a person lists them: `sla, agents, hours, topics or quality`.
    pub fn names() -> String {
        let names: Vec<&str> = REGISTRY.iter().map(|d| d.name).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Kind {}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

/// A report's typed result.
pub trait Data: std::any::Any + Send + Sync {
    /// The report's fields as JSON (what the API documents).
    fn json(&self) -> serde_json::Result<Value>;
    /// Its main table: the CSV export, and the CLI's text for a kind it has no text for.
    fn table(&self) -> Table;
    /// For a front end that renders this kind's fields ([`Report::data`]).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What a kind's module writes for its result type: the main table. The rest of
/// [`Data`] comes from serde and the type itself.
pub trait MainTable {
    fn table(&self) -> Table;
}

impl<T: MainTable + serde::Serialize + std::any::Any + Send + Sync> Data for T {
    fn json(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }
    fn table(&self) -> Table {
        MainTable::table(self)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A report's main table: column names and rows of cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// One report as run: its kind, its parameters, the instant it describes, its result.
pub struct Report {
    pub kind: Kind,
    pub params: Params,
    pub as_of_ms: i64,
    pub data: Box<dyn Data>,
}

impl Report {
    /// The result as its kind's type, for a front end that renders its fields.
    pub fn data<T: 'static>(&self) -> Option<&T> {
        self.data.as_any().downcast_ref::<T>()
    }

    /// The report as the API answers it: `{"report", "from_ms", "to_ms", "team",
    /// "platform", "business_hours", "as_of_ms", "data"}`.
    pub fn json(&self) -> Result<Value> {
        let p = &self.params;
        let data = self.data.json().map_err(Error::internal)?;
        Ok(
            json!({"report": self.kind.name(), "from_ms": p.from_ms, "to_ms": p.to_ms, "team": p.team, "platform": p.platform, "business_hours": p.business_hours, "as_of_ms": self.as_of_ms, "data": data}),
        )
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

impl Params {
    /// Parameters whose window is a window: `from` after `to` is refused
    /// (`input.invalid`).
    pub fn checked(
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        team: Option<String>,
        platform: Option<String>,
        business_hours: bool,
    ) -> Result<Params> {
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                return Err(Error::bad_request("`from` is after `to`"));
            }
        }
        Ok(Params {
            from_ms,
            to_ms,
            team,
            platform,
            business_hours,
        })
    }
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
) -> std::result::Result<Vec<Report>, String> {
    let cache = Cache::open(&cache_path(data_dir)).map_err(|e| e.to_string())?;
    let (from, to) = (p.from_ms.unwrap_or(i64::MIN), p.to_ms.unwrap_or(i64::MAX));
    let load = kinds.iter().fold(
        Load {
            terms: false,
            risks: false,
        },
        |l, k| Load {
            terms: l.terms || k.0.load.terms,
            risks: l.risks || k.0.load.risks,
        },
    );
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
    Ok(kinds
        .iter()
        .map(|kind| Report {
            kind: *kind,
            params: p.clone(),
            as_of_ms: cx.as_of_ms,
            data: (kind.0.run)(&window, &cx),
        })
        .collect())
}

/// Runs reports for a manager (`event`: their `report.view` entry): syncs the cache with
/// the archive held, then runs the reports over the cache without it (a report over a
/// large archive takes seconds, and ingest must not wait), and audits once (target: the
/// report, or `dashboard` for several).
pub fn for_manager(app: &App, event: Event, kinds: &[Kind], p: &Params) -> Result<Vec<Report>> {
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

/// How the tables show values: a whole number without decimals, others with two.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// An optional number; `-` for none.
pub fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), num)
}

/// An optional text; `-` for none.
pub fn opt_text(x: Option<&str>) -> String {
    x.map_or_else(|| "-".into(), str::to_owned)
}

/// A ratio as a percentage; `-` for none.
pub fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

/// A report's main table as CSV: UTF-8 with a BOM, every cell Excel-safe (agent handles
/// and conversation ids come from the sources, so they are untrusted).
pub fn csv(table: &Table) -> std::result::Result<Vec<u8>, String> {
    let mut w = ::csv::Writer::from_writer(Vec::from("\u{FEFF}".as_bytes()));
    w.write_record(&table.columns).map_err(|e| e.to_string())?;
    for r in &table.rows {
        w.write_record(r.iter().map(|c| chatvault_export::csv_cell(c)))
            .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_names_each_kind_once_and_parses_back() {
        let names: Vec<&str> = Kind::all().map(Kind::name).collect();
        assert_eq!(names, ["sla", "agents", "hours", "topics", "quality"]);
        for k in Kind::all() {
            assert_eq!(Kind::parse(k.name()), Some(k));
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert_eq!(Kind::names(), "sla, agents, hours, topics or quality");
        for bad in ["", "SLA", "sla ", "dashboard"] {
            assert_eq!(Kind::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_table() {
        let cases = [
            ("whole", num(3.0), "3"),
            ("fraction", num(0.755), "0.76"),
            ("none", opt(None), "-"),
            ("some", opt(Some(12.5)), "12.50"),
            ("pct_none", pct(None), "-"),
            ("pct", pct(Some(0.8754)), "87.5%"),
            ("text_none", opt_text(None), "-"),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn csv_cells_are_excel_safe_and_start_with_a_bom() {
        let t = Table {
            columns: vec!["name", "n"],
            rows: vec![vec!["=cmd|' /C calc'!A0".into(), "1".into()]],
        };
        let bytes = csv(&t).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with('\u{FEFF}'));
        assert!(text.contains("'=cmd"), "{text}");
    }
}
