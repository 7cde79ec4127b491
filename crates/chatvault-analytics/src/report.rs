//! The reports: `sla`, `agents`, `hours`, `topics` and `quality`, each computed from a
//! [`Window`] of cached summaries. Every figure is defined in `docs/metrics.md`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::cache::{RespRow, Window};
use crate::content::Resolution;
use crate::metrics::{quantile, Side};
use crate::{Calendar, Settings};

/// What a report needs besides the window.
pub struct Context<'a> {
    pub settings: &'a Settings,
    pub calendar: &'a Calendar,
    /// An agent's team, from the directory of users and their handles.
    pub team_of: &'a dyn Fn(&str) -> Option<String>,
    /// Only this team's responses and conversations.
    pub team: Option<&'a str>,
    /// Count business time only.
    pub business_hours: bool,
    /// "Now" for unanswered turns and the silence rule: the report's end, or the clock.
    pub as_of_ms: i64,
}

/// A team's name in reports when an agent has none.
pub const UNASSIGNED: &str = "(unassigned)";

/// Histogram buckets of response times, in seconds: `[lo, hi)`; the last is open.
pub const BUCKETS: &[(i64, &str)] = &[(0, "0–10 s"), (10, "10–30 s"), (30, "30–60 s"), (60, "1–2 min"), (120, "2–5 min"), (300, "5–15 min"), (900, "15–60 min"), (3600, "1–4 h"), (14400, "≥ 4 h")];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Distribution {
    pub count: u64,
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
    pub p99_s: Option<f64>,
    pub mean_s: Option<f64>,
    /// (bucket label, count), in [`BUCKETS`] order.
    pub histogram: Vec<(String, u64)>,
}

impl Distribution {
    pub fn of(ms: &mut [i64]) -> Distribution {
        ms.sort_unstable();
        let s = |v: Option<i64>| v.map(|x| x as f64 / 1000.0);
        let mut histogram: Vec<(String, u64)> = BUCKETS.iter().map(|(_, l)| (l.to_string(), 0)).collect();
        for x in ms.iter() {
            let i = BUCKETS.iter().rposition(|(lo, _)| x / 1000 >= *lo).unwrap_or(0);
            histogram[i].1 += 1;
        }
        Distribution {
            count: ms.len() as u64,
            median_s: s(quantile(ms, 0.5)),
            p90_s: s(quantile(ms, 0.9)),
            p99_s: s(quantile(ms, 0.99)),
            mean_s: (!ms.is_empty()).then(|| ms.iter().map(|x| *x as f64).sum::<f64>() / ms.len() as f64 / 1000.0),
            histogram,
        }
    }
}

/// One response judged against its SLA threshold.
#[derive(Debug, Clone)]
struct Judged<'w> {
    row: &'w RespRow,
    /// The agent it is credited to: who answered, or (unanswered) who spoke last.
    agent: Option<u32>,
    team: &'w str,
    threshold_ms: i64,
    /// Response time, or (unanswered) time waited so far.
    ms: i64,
    answered: bool,
    verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    Breached,
    /// Unanswered and still within its threshold.
    Pending,
}

/// Each agent's team, looked up once per report, not once per response.
struct Teams {
    of_agent: Vec<String>,
    unassigned: String,
}

impl Teams {
    fn new(w: &Window, cx: &Context<'_>) -> Teams {
        Teams { of_agent: w.agents.iter().map(|a| (cx.team_of)(a).unwrap_or_else(|| UNASSIGNED.to_owned())).collect(), unassigned: UNASSIGNED.to_owned() }
    }

    fn of(&self, agent: Option<u32>) -> &str {
        agent.map_or(self.unassigned.as_str(), |a| self.of_agent[a as usize].as_str())
    }
}

fn judge<'w>(w: &'w Window, teams: &'w Teams, cx: &Context<'_>) -> Vec<Judged<'w>> {
    let mut out = Vec::with_capacity(w.responses.len());
    // Thresholds by (platform, team), looked up once each.
    let mut thresholds: HashMap<(&str, &str), i64> = HashMap::new();
    for row in &w.responses {
        let conv = &w.conversations[row.conv as usize];
        let agent = row.agent.or(conv.last_agent);
        let team = teams.of(agent);
        if cx.team.is_some_and(|t| t != team) {
            continue;
        }
        let threshold_ms = *thresholds
            .entry((conv.platform.as_str(), team))
            .or_insert_with(|| cx.settings.threshold_seconds(&conv.platform, Some(team).filter(|t| *t != UNASSIGNED)) as i64 * 1000);
        let (ms, answered) = match (row.millis(), cx.business_hours) {
            (Some(raw), false) => (raw, true),
            (Some(_), true) => (row.business_ms.unwrap_or(0), true),
            (None, false) => ((cx.as_of_ms - row.start_ms).max(0), false),
            (None, true) => (cx.calendar.business_ms(row.start_ms, cx.as_of_ms), false),
        };
        let verdict = if ms > threshold_ms {
            Verdict::Breached
        } else if answered {
            Verdict::Met
        } else {
            Verdict::Pending
        };
        out.push(Judged { row, agent, team, threshold_ms, ms, answered, verdict });
    }
    out
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlaLine {
    pub name: String,
    pub met: u64,
    pub breached: u64,
    pub pending: u64,
    /// met / (met + breached), 0 to 1.
    pub met_ratio: Option<f64>,
}

fn sla_line(name: &str, js: &[&Judged<'_>]) -> SlaLine {
    let count = |v: Verdict| js.iter().filter(|j| j.verdict == v).count() as u64;
    let (met, breached, pending) = (count(Verdict::Met), count(Verdict::Breached), count(Verdict::Pending));
    SlaLine { name: name.to_owned(), met, breached, pending, met_ratio: (met + breached > 0).then(|| met as f64 / (met + breached) as f64) }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Breach {
    pub conversation: String,
    pub platform: String,
    pub agent: Option<String>,
    pub team: String,
    pub start_ms: i64,
    pub waited_s: f64,
    pub threshold_s: f64,
    pub answered: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlaReport {
    pub business_hours: bool,
    pub conversations: u64,
    /// First response times.
    pub frt: Distribution,
    /// Every answered response (first and next).
    pub response: Distribution,
    /// Next response times only.
    pub next_response: Distribution,
    pub unanswered_conversations: u64,
    pub overall: SlaLine,
    pub teams: Vec<SlaLine>,
    pub agents: Vec<SlaLine>,
    pub breaches_total: u64,
    /// The [`LIST_LIMIT`] longest waits, longest first.
    pub breaches: Vec<Breach>,
}

/// The longest lists a report carries (breaches, lowest-scoring conversations): the
/// counts are always whole; `--team`, `--platform` and the dates narrow the lists.
pub const LIST_LIMIT: usize = 1000;

/// The indexes of the `n` greatest by `key`, greatest first, without sorting them all.
fn top_n<T>(items: &[T], n: usize, key: impl Fn(&T) -> f64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    let by = |a: &usize, b: &usize| key(&items[*b]).total_cmp(&key(&items[*a])).then(a.cmp(b));
    if idx.len() > n {
        idx.select_nth_unstable_by(n, by);
        idx.truncate(n);
    }
    idx.sort_by(by);
    idx
}

fn group<'a, 'w, K: Ord>(js: &'a [Judged<'w>], key: impl Fn(&Judged<'w>) -> K) -> BTreeMap<K, Vec<&'a Judged<'w>>> {
    let mut m: BTreeMap<K, Vec<&Judged<'_>>> = BTreeMap::new();
    for j in js {
        m.entry(key(j)).or_default().push(j);
    }
    m
}

fn agent_name<'w>(w: &'w Window, a: Option<u32>) -> &'w str {
    a.map_or(UNASSIGNED, |a| w.agent(a))
}

pub fn sla(w: &Window, cx: &Context<'_>) -> SlaReport {
    let teams = Teams::new(w, cx);
    let js = judge(w, &teams, cx);
    let answered = |first: Option<bool>| -> Vec<i64> { js.iter().filter(|j| j.answered && first.is_none_or(|f| j.row.first == f)).map(|j| j.ms).collect() };
    let all: Vec<&Judged<'_>> = js.iter().collect();
    let breached: Vec<&Judged<'_>> = js.iter().filter(|j| j.verdict == Verdict::Breached).collect();
    let breaches: Vec<Breach> = top_n(&breached, LIST_LIMIT, |j| j.ms as f64)
        .into_iter()
        .map(|i| {
            let j = breached[i];
            let c = &w.conversations[j.row.conv as usize];
            Breach {
                conversation: c.key.clone(),
                platform: c.platform.clone(),
                agent: j.agent.map(|a| w.agent(a).to_owned()),
                team: j.team.to_owned(),
                start_ms: j.row.start_ms,
                waited_s: j.ms as f64 / 1000.0,
                threshold_s: j.threshold_ms as f64 / 1000.0,
                answered: j.answered,
            }
        })
        .collect();
    let convs: std::collections::HashSet<u32> = js.iter().map(|j| j.row.conv).collect();
    let unanswered: std::collections::HashSet<u32> = js.iter().filter(|j| !j.answered).map(|j| j.row.conv).collect();
    SlaReport {
        business_hours: cx.business_hours,
        conversations: convs.len() as u64,
        frt: Distribution::of(&mut answered(Some(true))),
        response: Distribution::of(&mut answered(None)),
        next_response: Distribution::of(&mut answered(Some(false))),
        unanswered_conversations: unanswered.len() as u64,
        overall: sla_line("all", &all),
        teams: group(&js, |j| j.team).iter().map(|(k, v)| sla_line(k, v)).collect(),
        agents: group(&js, |j| agent_name(w, j.agent)).iter().map(|(k, v)| sla_line(k, v)).collect(),
        breaches_total: breached.len() as u64,
        breaches,
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgentLine {
    pub agent: String,
    pub team: String,
    pub new: bool,
    pub first_message_ms: i64,
    pub responses: u64,
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
    pub frt_median_s: Option<f64>,
    pub sla: SlaLine,
    pub conversations: u64,
    pub mean_quality: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cohort {
    pub agents: u64,
    pub response: Distribution,
    pub sla: SlaLine,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgentsReport {
    pub business_hours: bool,
    pub new_agent_days: u32,
    /// Best first: SLA met ratio, then the median response time.
    pub ranking: Vec<AgentLine>,
    pub new: Cohort,
    pub experienced: Cohort,
}

pub fn agents(w: &Window, cx: &Context<'_>) -> AgentsReport {
    let teams = Teams::new(w, cx);
    let js: Vec<Judged<'_>> = judge(w, &teams, cx).into_iter().filter(|j| j.agent.is_some()).collect();
    let scores = quality_scores(w, &teams, cx);
    let new_ms = cx.settings.new_agent_days as i64 * 86_400_000;
    let first_of = |a: u32| w.agent_first_ms.get(a as usize).copied().flatten();
    // "New" is decided at each response: fewer than N days after the agent's first message.
    let is_new = |j: &Judged<'_>| j.agent.and_then(first_of).is_some_and(|f| j.row.start_ms - f < new_ms);
    let mut ranking = vec![];
    for (agent, list) in group(&js, |j| j.agent.unwrap_or(u32::MAX)) {
        let mut ms: Vec<i64> = list.iter().filter(|j| j.answered).map(|j| j.ms).collect();
        let mut frt: Vec<i64> = list.iter().filter(|j| j.answered && j.row.first).map(|j| j.ms).collect();
        let d = Distribution::of(&mut ms);
        let convs: std::collections::BTreeSet<u32> = list.iter().map(|j| j.row.conv).collect();
        let q: Vec<f64> = convs.iter().filter_map(|c| scores.get(c)).copied().collect();
        let first = first_of(agent).unwrap_or(0);
        let name = w.agent(agent);
        ranking.push(AgentLine {
            team: list[0].team.to_owned(),
            new: cx.as_of_ms - first < new_ms,
            first_message_ms: first,
            responses: d.count,
            median_s: d.median_s,
            p90_s: d.p90_s,
            frt_median_s: Distribution::of(&mut frt).median_s,
            sla: sla_line(name, &list),
            conversations: convs.len() as u64,
            mean_quality: (!q.is_empty()).then(|| q.iter().sum::<f64>() / q.len() as f64),
            agent: name.to_owned(),
        });
    }
    ranking.sort_by(|a, b| {
        b.sla.met_ratio.unwrap_or(-1.0).total_cmp(&a.sla.met_ratio.unwrap_or(-1.0)).then(a.median_s.unwrap_or(f64::MAX).total_cmp(&b.median_s.unwrap_or(f64::MAX))).then(a.agent.cmp(&b.agent))
    });
    let cohort = |new: bool| {
        let list: Vec<&Judged<'_>> = js.iter().filter(|j| is_new(j) == new).collect();
        let agents: std::collections::BTreeSet<u32> = list.iter().filter_map(|j| j.agent).collect();
        let mut ms: Vec<i64> = list.iter().filter(|j| j.answered).map(|j| j.ms).collect();
        Cohort { agents: agents.len() as u64, response: Distribution::of(&mut ms), sla: sla_line(if new { "new" } else { "experienced" }, &list) }
    };
    AgentsReport { business_hours: cx.business_hours, new_agent_days: cx.settings.new_agent_days, new: cohort(true), experienced: cohort(false), ranking }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HourCell {
    pub weekday: usize,
    pub hour: usize,
    pub responses: u64,
    pub median_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HoursReport {
    pub business_hours: bool,
    pub timezone: String,
    /// 7 × 24 cells, Monday 00 first; a response is placed by when its customer turn began.
    pub heatmap: Vec<HourCell>,
    /// By hour of day over all weekdays: (hour, responses, median seconds).
    pub by_hour: Vec<HourCell>,
    /// The hour with the slowest median (at least 5 responses).
    pub slowest_hour: Option<usize>,
}

pub fn hours(w: &Window, cx: &Context<'_>) -> HoursReport {
    let teams = Teams::new(w, cx);
    let js = judge(w, &teams, cx);
    let mut cells: Vec<Vec<i64>> = vec![vec![]; 7 * 24];
    let mut by_hour: Vec<Vec<i64>> = vec![vec![]; 24];
    for j in js.iter().filter(|j| j.answered) {
        let (d, h) = cx.calendar.weekday_hour(j.row.start_ms);
        cells[d * 24 + h].push(j.ms);
        by_hour[h].push(j.ms);
    }
    let cell = |weekday: usize, hour: usize, v: &mut Vec<i64>| {
        v.sort_unstable();
        HourCell { weekday, hour, responses: v.len() as u64, median_s: quantile(v, 0.5).map(|x| x as f64 / 1000.0) }
    };
    let heatmap: Vec<HourCell> = cells.iter_mut().enumerate().map(|(i, v)| cell(i / 24, i % 24, v)).collect();
    let by_hour: Vec<HourCell> = by_hour.iter_mut().enumerate().map(|(h, v)| cell(7, h, v)).collect();
    let slowest_hour = by_hour.iter().filter(|c| c.responses >= 5).max_by(|a, b| a.median_s.unwrap_or(0.0).total_cmp(&b.median_s.unwrap_or(0.0))).map(|c| c.hour);
    HoursReport { business_hours: cx.business_hours, timezone: cx.settings.timezone.clone(), heatmap, by_hour, slowest_hour }
}

/// The conversations of the window the team filter keeps (by the last agent's team).
fn kept<'w>(w: &'w Window, teams: &Teams, cx: &Context<'_>) -> Vec<(u32, &'w crate::cache::ConvRow)> {
    w.conversations.iter().enumerate().filter(|(_, c)| cx.team.is_none_or(|t| teams.of(c.last_agent) == t)).map(|(i, c)| (i as u32, c)).collect()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Count {
    pub name: String,
    pub conversations: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RiskLine {
    pub conversation: String,
    pub message: String,
    pub word: String,
    pub side: Option<Side>,
    pub sent_ms: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopicsReport {
    pub conversations: u64,
    /// Dictionary topics by conversations, most first.
    pub topics: Vec<Count>,
    /// The customer's keywords by conversations, most first (the top 30).
    pub keywords: Vec<Count>,
    /// Conversations with an agent message, and the share using each script stage.
    pub with_agent: u64,
    pub greeting_ratio: Option<f64>,
    pub closing_ratio: Option<f64>,
    pub both_ratio: Option<f64>,
    /// Risk words by hits, most first, and every hit.
    pub risk_words: Vec<Count>,
    pub risk_hits: Vec<RiskLine>,
}

fn top(m: HashMap<&str, u64>, n: usize) -> Vec<Count> {
    let mut v: Vec<Count> = m.into_iter().map(|(k, c)| Count { name: k.to_owned(), conversations: c }).collect();
    v.sort_by(|a, b| b.conversations.cmp(&a.conversations).then(a.name.cmp(&b.name)));
    v.truncate(n);
    v
}

pub fn topics(w: &Window, cx: &Context<'_>) -> TopicsReport {
    let teams = Teams::new(w, cx);
    let convs = kept(w, &teams, cx);
    let (mut topics, mut keywords, mut risk_words): (HashMap<&str, u64>, HashMap<&str, u64>, HashMap<&str, u64>) = Default::default();
    let mut risk_hits = vec![];
    let (mut with_agent, mut greet, mut close, mut both) = (0u64, 0u64, 0u64, 0u64);
    for (_, c) in &convs {
        for t in &c.content.topics {
            *topics.entry(t).or_default() += 1;
        }
        for t in &c.content.terms {
            *keywords.entry(t).or_default() += 1;
        }
        for r in &c.content.risks {
            *risk_words.entry(&r.word).or_default() += 1;
            risk_hits.push(RiskLine { conversation: c.key.clone(), message: r.message.clone(), word: r.word.clone(), side: r.side, sent_ms: r.sent_ms });
        }
        if let (Some(g), Some(cl)) = (c.content.greeting, c.content.closing) {
            with_agent += 1;
            greet += u64::from(g);
            close += u64::from(cl);
            both += u64::from(g && cl);
        }
    }
    let ratio = |n: u64| (with_agent > 0).then(|| n as f64 / with_agent as f64);
    risk_hits.sort_by(|a, b| a.sent_ms.cmp(&b.sent_ms).then(a.message.cmp(&b.message)));
    TopicsReport {
        conversations: convs.len() as u64,
        topics: top(topics, usize::MAX),
        keywords: top(keywords, 30),
        with_agent,
        greeting_ratio: ratio(greet),
        closing_ratio: ratio(close),
        both_ratio: ratio(both),
        risk_words: top(risk_words, usize::MAX),
        risk_hits,
    }
}

/// The four components of a conversation's quality, each 0 to 1 (docs/metrics.md,
/// "Quality score").
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Components {
    pub speed: f64,
    pub professionalism: f64,
    pub resolution: f64,
    pub emotion: f64,
}

impl Components {
    pub fn score(&self, s: &Settings) -> f64 {
        let w = &s.weights;
        let total = w.speed + w.professionalism + w.resolution + w.emotion;
        100.0 * (w.speed * self.speed + w.professionalism * self.professionalism + w.resolution * self.resolution + w.emotion * self.emotion) / total
    }
}

/// A conversation's resolution as of the report: a pending one whose silence period has
/// since run out is resolved by silence (the cache decided it when it was summarised).
pub fn resolution_at(c: &crate::cache::ConvRow, cx: &Context<'_>) -> Resolution {
    match c.content.resolution {
        Resolution::Pending if cx.as_of_ms - c.end_ms >= cx.settings.resolution.silence_hours as i64 * 3_600_000 => Resolution::Silence,
        r => r,
    }
}

fn components(c: &crate::cache::ConvRow, judged: &[&Judged<'_>], resolution: Resolution) -> Components {
    let decided: Vec<&&Judged<'_>> = judged.iter().filter(|j| j.verdict != Verdict::Pending).collect();
    let speed = if decided.is_empty() { 1.0 } else { decided.iter().filter(|j| j.verdict == Verdict::Met).count() as f64 / decided.len() as f64 };
    let scripts = match (c.content.greeting, c.content.closing) {
        (Some(g), Some(cl)) => (f64::from(u8::from(g)) + f64::from(u8::from(cl))) / 2.0,
        _ => 1.0,
    };
    let agent_risk = c.content.risks.iter().any(|r| r.side == Some(Side::Agent));
    let professionalism = (scripts - if agent_risk { 0.5 } else { 0.0 }).max(0.0);
    let resolution = match resolution {
        Resolution::Confirmed | Resolution::NoCustomer => 1.0,
        Resolution::Silence => 0.75,
        Resolution::Pending => 0.5,
        Resolution::Unresolved => 0.0,
    };
    Components { speed, professionalism, resolution, emotion: (c.content.sentiment() + 1.0) / 2.0 }
}

fn by_conversation<'a, 'w>(js: &'a [Judged<'w>]) -> HashMap<u32, Vec<&'a Judged<'w>>> {
    let mut by_conv: HashMap<u32, Vec<&Judged<'_>>> = HashMap::new();
    for j in js {
        by_conv.entry(j.row.conv).or_default().push(j);
    }
    by_conv
}

fn quality_scores(w: &Window, teams: &Teams, cx: &Context<'_>) -> HashMap<u32, f64> {
    let js = judge(w, teams, cx);
    let by_conv = by_conversation(&js);
    kept(w, teams, cx).into_iter().map(|(i, c)| (i, components(c, by_conv.get(&i).map_or(&[][..], |v| v), resolution_at(c, cx)).score(cx.settings))).collect()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QualityLine {
    pub conversation: String,
    pub platform: String,
    pub agent: Option<String>,
    pub start_ms: i64,
    pub score: f64,
    pub components: Components,
    pub resolution: Resolution,
    pub sentiment: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QualityReport {
    pub conversations: u64,
    pub mean_score: Option<f64>,
    /// Conversations with a customer, and the share resolved (confirmed or by silence).
    pub resolution: BTreeMap<String, u64>,
    pub resolved_ratio: Option<f64>,
    pub mean_sentiment: Option<f64>,
    pub weights: crate::settings::Weights,
    /// Scores in tens: [0,10), [10,20), … [90,100].
    pub score_histogram: Vec<u64>,
    /// The [`LIST_LIMIT`] lowest-scoring conversations, worst first.
    pub conversations_by_score: Vec<QualityLine>,
}

pub fn quality(w: &Window, cx: &Context<'_>) -> QualityReport {
    let teams = Teams::new(w, cx);
    let js = judge(w, &teams, cx);
    let by_conv = by_conversation(&js);
    // Scores first (no strings), then lines for the lowest only.
    let mut scored: Vec<(&crate::cache::ConvRow, f64, Components, Resolution)> = vec![];
    let mut resolution: BTreeMap<String, u64> = BTreeMap::new();
    for (i, c) in kept(w, &teams, cx) {
        let r = resolution_at(c, cx);
        let comp = components(c, by_conv.get(&i).map_or(&[][..], |v| v), r);
        *resolution.entry(r.as_str().to_owned()).or_default() += 1;
        scored.push((c, comp.score(cx.settings), comp, r));
    }
    let n = scored.len();
    let with_customer: Vec<&(&crate::cache::ConvRow, f64, Components, Resolution)> = scored.iter().filter(|l| l.3 != Resolution::NoCustomer).collect();
    let mut hist = vec![0u64; 10];
    for l in &scored {
        hist[((l.1 / 10.0) as usize).min(9)] += 1;
    }
    let lowest = top_n(&scored, LIST_LIMIT, |l| -l.1);
    let lines = lowest
        .into_iter()
        .map(|i| {
            let (c, score, comp, r) = &scored[i];
            QualityLine {
                conversation: c.key.clone(),
                platform: c.platform.clone(),
                agent: c.last_agent.map(|a| w.agent(a).to_owned()),
                start_ms: c.start_ms,
                score: *score,
                components: comp.clone(),
                resolution: *r,
                sentiment: c.content.sentiment(),
            }
        })
        .collect();
    QualityReport {
        conversations: n as u64,
        mean_score: (n > 0).then(|| scored.iter().map(|l| l.1).sum::<f64>() / n as f64),
        resolved_ratio: (!with_customer.is_empty()).then(|| with_customer.iter().filter(|l| l.3.resolved()).count() as f64 / with_customer.len() as f64),
        mean_sentiment: (!with_customer.is_empty()).then(|| with_customer.iter().map(|l| l.0.content.sentiment()).sum::<f64>() / with_customer.len() as f64),
        resolution,
        weights: cx.settings.weights.clone(),
        score_histogram: hist,
        conversations_by_score: lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/metrics.md, "Quality score": the worked example, and the bounds.
    #[test]
    fn the_documented_quality_score() {
        let s = Settings::default();
        let cases = [
            ("the worked example", Components { speed: 1.0, professionalism: 0.5, resolution: 1.0, emotion: 0.75 }, 82.5),
            ("everything best", Components { speed: 1.0, professionalism: 1.0, resolution: 1.0, emotion: 1.0 }, 100.0),
            ("everything worst", Components { speed: 0.0, professionalism: 0.0, resolution: 0.0, emotion: 0.0 }, 0.0),
        ];
        for (name, c, want) in cases {
            assert!((c.score(&s) - want).abs() < 1e-9, "{name}: {}", c.score(&s));
        }
    }

    #[test]
    fn distributions_bucket_each_value_once() {
        let mut v = vec![0, 9_999, 10_000, 59_000, 60_000, 3_600_000, 20_000_000];
        let d = Distribution::of(&mut v);
        let h: Vec<u64> = d.histogram.iter().map(|x| x.1).collect();
        assert_eq!(h, vec![2, 1, 1, 1, 0, 0, 0, 1, 1]);
        assert_eq!((d.count, d.median_s), (7, Some(59.0)));
    }
}
