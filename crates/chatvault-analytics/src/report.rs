//! The reports: `sla`, `agents`, `hours`, `topics` and `quality`, each computed from a
//! [`Window`] of cached summaries. Every figure is defined in `docs/metrics.md`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::cache::Window;
use crate::content::Resolution;
use crate::metrics::Side;
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
pub const BUCKETS: &[(i64, &str)] = &[
    (0, "0–10 s"),
    (10, "10–30 s"),
    (30, "30–60 s"),
    (60, "1–2 min"),
    (120, "2–5 min"),
    (300, "5–15 min"),
    (900, "15–60 min"),
    (3600, "1–4 h"),
    (14400, "≥ 4 h"),
];

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
    /// The distribution of `ms` (reordered: quantiles are selected, not sorted for).
    pub fn of(ms: &mut [i64]) -> Distribution {
        let s = |v: Option<i64>| v.map(|x| x as f64 / 1000.0);
        let mut counts = [0u64; 9];
        for x in ms.iter() {
            counts[BUCKETS
                .iter()
                .rposition(|(lo, _)| x / 1000 >= *lo)
                .unwrap_or(0)] += 1;
        }
        let q = quantiles(ms, &[0.5, 0.9, 0.99]);
        Distribution {
            count: ms.len() as u64,
            median_s: s(q[0]),
            p90_s: s(q[1]),
            p99_s: s(q[2]),
            mean_s: (!ms.is_empty())
                .then(|| ms.iter().map(|x| *x as f64).sum::<f64>() / ms.len() as f64 / 1000.0),
            histogram: BUCKETS
                .iter()
                .zip(counts)
                .map(|((_, l), c)| (l.to_string(), c))
                .collect(),
        }
    }
}

/// Nearest-rank quantiles (as [`crate::metrics::quantile`]) of unsorted values, for
/// rising `qs`: each is an O(n) selection in what is right of the one before.
pub fn quantiles(v: &mut [i64], qs: &[f64]) -> Vec<Option<i64>> {
    let n = v.len();
    let mut out = vec![];
    let mut lo = 0;
    for q in qs {
        if n == 0 {
            out.push(None);
            continue;
        }
        let k = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        if k >= lo {
            v[lo..].select_nth_unstable(k - lo);
            lo = k;
        }
        out.push(Some(v[k]));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    Breached,
    /// Unanswered and still within its threshold.
    Pending,
}

const NO_AGENT: u32 = u32::MAX;

/// One response judged against its SLA threshold (small: there are millions).
#[derive(Debug, Clone, Copy)]
struct Judged {
    conv: u32,
    /// The agent it is credited to: who answered, or (unanswered) who spoke last.
    agent: u32,
    team: u16,
    first: bool,
    answered: bool,
    verdict: Verdict,
    start_ms: i64,
    threshold_ms: i64,
    /// Response time, or (unanswered) time waited so far.
    ms: i64,
}

/// Teams, interned: each agent's team is looked up once per report.
struct Teams {
    names: Vec<String>,
    of_agent: Vec<u16>,
    unassigned: u16,
    /// The team filter: `Some(None)` when the team asked for has no one in the window.
    filter: Option<Option<u16>>,
}

impl Teams {
    fn new(w: &Window, cx: &Context<'_>) -> Teams {
        let mut names: Vec<String> = vec![UNASSIGNED.to_owned()];
        let mut of_agent = Vec::with_capacity(w.agents.len());
        for a in &w.agents {
            let t = (cx.team_of)(a).unwrap_or_else(|| UNASSIGNED.to_owned());
            let i = names.iter().position(|n| *n == t).unwrap_or_else(|| {
                names.push(t);
                names.len() - 1
            });
            of_agent.push(i as u16);
        }
        let filter = cx
            .team
            .map(|t| names.iter().position(|n| n == t).map(|i| i as u16));
        Teams {
            names,
            of_agent,
            unassigned: 0,
            filter,
        }
    }

    fn of(&self, agent: u32) -> u16 {
        if agent == NO_AGENT {
            self.unassigned
        } else {
            self.of_agent[agent as usize]
        }
    }

    fn keeps(&self, team: u16) -> bool {
        self.filter.is_none_or(|f| f == Some(team))
    }

    fn name(&self, team: u16) -> &str {
        &self.names[team as usize]
    }
}

fn judge(w: &Window, teams: &Teams, cx: &Context<'_>) -> Vec<Judged> {
    let mut out = Vec::with_capacity(w.responses.len());
    let mut platforms: Vec<&str> = vec![];
    let mut conv_platform: Vec<u16> = Vec::with_capacity(w.conversations.len());
    for c in &w.conversations {
        let i = platforms
            .iter()
            .position(|p| *p == c.platform)
            .unwrap_or_else(|| {
                platforms.push(&c.platform);
                platforms.len() - 1
            });
        conv_platform.push(i as u16);
    }
    // Thresholds by (platform, team), computed once each.
    let nt = teams.names.len();
    let mut thresholds: Vec<Option<i64>> = vec![None; platforms.len() * nt];
    for row in &w.responses {
        let conv = &w.conversations[row.conv as usize];
        let agent = row.agent.or(conv.last_agent).unwrap_or(NO_AGENT);
        let team = teams.of(agent);
        if !teams.keeps(team) {
            continue;
        }
        let p = conv_platform[row.conv as usize] as usize;
        let threshold_ms = *thresholds[p * nt + team as usize].get_or_insert_with(|| {
            let t = (team != teams.unassigned).then(|| teams.name(team));
            cx.settings.threshold_seconds(platforms[p], t) as i64 * 1000
        });
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
        out.push(Judged {
            conv: row.conv,
            agent,
            team,
            first: row.first,
            answered,
            verdict,
            start_ms: row.start_ms,
            threshold_ms,
            ms,
        });
    }
    out
}

/// The judged responses of each conversation: `js` is in conversation order, so each
/// conversation's are one run.
fn runs(js: &[Judged], conversations: usize) -> Vec<(u32, u32)> {
    let mut r = vec![(0u32, 0u32); conversations];
    let mut i = 0;
    while i < js.len() {
        let c = js[i].conv;
        let start = i;
        while i < js.len() && js[i].conv == c {
            i += 1;
        }
        r[c as usize] = (start as u32, i as u32);
    }
    r
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

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    met: u64,
    breached: u64,
    pending: u64,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Met => self.met += 1,
            Verdict::Breached => self.breached += 1,
            Verdict::Pending => self.pending += 1,
        }
    }

    fn any(&self) -> bool {
        self.met + self.breached + self.pending > 0
    }

    fn line(&self, name: &str) -> SlaLine {
        let (met, breached) = (self.met, self.breached);
        SlaLine {
            name: name.to_owned(),
            met,
            breached,
            pending: self.pending,
            met_ratio: (met + breached > 0).then(|| met as f64 / (met + breached) as f64),
        }
    }
}

/// Lines by name, for the tallies that saw anything.
fn lines<'a>(tallies: &[Tally], name: impl Fn(usize) -> &'a str) -> Vec<SlaLine> {
    let mut v: Vec<SlaLine> = tallies
        .iter()
        .enumerate()
        .filter(|(_, t)| t.any())
        .map(|(i, t)| t.line(name(i)))
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
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

/// The longest lists a report carries (breaches, lowest-scoring conversations, risk
/// hits): the counts are always whole; `--team`, `--platform` and the dates narrow the
/// lists.
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

pub fn sla(w: &Window, cx: &Context<'_>) -> SlaReport {
    let teams = Teams::new(w, cx);
    let js = judge(w, &teams, cx);
    let (mut frt, mut next) = (vec![], vec![]);
    let mut overall = Tally::default();
    let mut by_team = vec![Tally::default(); teams.names.len()];
    let mut by_agent = vec![Tally::default(); w.agents.len() + 1];
    let (mut seen, mut open) = (
        vec![false; w.conversations.len()],
        vec![false; w.conversations.len()],
    );
    let mut breached = vec![];
    for (i, j) in js.iter().enumerate() {
        overall.add(j.verdict);
        by_team[j.team as usize].add(j.verdict);
        by_agent[if j.agent == NO_AGENT {
            w.agents.len()
        } else {
            j.agent as usize
        }]
        .add(j.verdict);
        seen[j.conv as usize] = true;
        if j.answered {
            if j.first { &mut frt } else { &mut next }.push(j.ms);
        } else {
            open[j.conv as usize] = true;
        }
        if j.verdict == Verdict::Breached {
            breached.push(i);
        }
    }
    let breaches = top_n(&breached, LIST_LIMIT, |i| js[*i].ms as f64)
        .into_iter()
        .map(|k| {
            let j = &js[breached[k]];
            let c = &w.conversations[j.conv as usize];
            Breach {
                conversation: c.key.clone(),
                platform: c.platform.clone(),
                agent: (j.agent != NO_AGENT).then(|| w.agent(j.agent).to_owned()),
                team: teams.name(j.team).to_owned(),
                start_ms: j.start_ms,
                waited_s: j.ms as f64 / 1000.0,
                threshold_s: j.threshold_ms as f64 / 1000.0,
                answered: j.answered,
            }
        })
        .collect();
    let mut all: Vec<i64> = frt.iter().chain(&next).copied().collect();
    SlaReport {
        business_hours: cx.business_hours,
        conversations: seen.iter().filter(|x| **x).count() as u64,
        frt: Distribution::of(&mut frt),
        response: Distribution::of(&mut all),
        next_response: Distribution::of(&mut next),
        unanswered_conversations: open.iter().filter(|x| **x).count() as u64,
        overall: overall.line("all"),
        teams: lines(&by_team, |i| teams.name(i as u16)),
        agents: lines(&by_agent, |i| {
            if i == w.agents.len() {
                UNASSIGNED
            } else {
                w.agent(i as u32)
            }
        }),
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

#[derive(Default)]
struct AgentAcc {
    ms: Vec<i64>,
    frt: Vec<i64>,
    tally: Tally,
    conversations: u64,
    last_conv: Option<u32>,
    quality_sum: f64,
    quality_n: u64,
    team: u16,
}

pub fn agents(w: &Window, cx: &Context<'_>) -> AgentsReport {
    let teams = Teams::new(w, cx);
    let js = judge(w, &teams, cx);
    let scores = conversation_scores(w, &teams, &js, cx);
    let new_ms = cx.settings.new_agent_days as i64 * 86_400_000;
    let first_of = |a: u32| w.agent_first_ms.get(a as usize).copied().flatten();
    let mut acc: Vec<AgentAcc> = (0..w.agents.len()).map(|_| AgentAcc::default()).collect();
    // Cohorts are decided at each response: new when fewer than N days after the agent's
    // first message.
    let (mut new_ms_list, mut old_ms_list) = (vec![], vec![]);
    let (mut new_tally, mut old_tally) = (Tally::default(), Tally::default());
    let (mut new_agents, mut old_agents) =
        (vec![false; w.agents.len()], vec![false; w.agents.len()]);
    for j in js.iter().filter(|j| j.agent != NO_AGENT) {
        let a = &mut acc[j.agent as usize];
        a.team = j.team;
        a.tally.add(j.verdict);
        if j.answered {
            a.ms.push(j.ms);
            if j.first {
                a.frt.push(j.ms);
            }
        }
        if a.last_conv != Some(j.conv) {
            a.last_conv = Some(j.conv);
            a.conversations += 1;
            if let Some(s) = scores[j.conv as usize] {
                a.quality_sum += s;
                a.quality_n += 1;
            }
        }
        let is_new = first_of(j.agent).is_some_and(|f| j.start_ms - f < new_ms);
        let (list, tally, agents) = if is_new {
            (&mut new_ms_list, &mut new_tally, &mut new_agents)
        } else {
            (&mut old_ms_list, &mut old_tally, &mut old_agents)
        };
        tally.add(j.verdict);
        agents[j.agent as usize] = true;
        if j.answered {
            list.push(j.ms);
        }
    }
    let mut ranking = vec![];
    for (i, mut a) in acc.into_iter().enumerate() {
        if !a.tally.any() {
            continue;
        }
        let d = Distribution::of(&mut a.ms);
        let first = first_of(i as u32).unwrap_or(0);
        let name = w.agent(i as u32);
        ranking.push(AgentLine {
            team: teams.name(a.team).to_owned(),
            new: cx.as_of_ms - first < new_ms,
            first_message_ms: first,
            responses: d.count,
            median_s: d.median_s,
            p90_s: d.p90_s,
            frt_median_s: quantiles(&mut a.frt, &[0.5])[0].map(|x| x as f64 / 1000.0),
            sla: a.tally.line(name),
            conversations: a.conversations,
            mean_quality: (a.quality_n > 0).then(|| a.quality_sum / a.quality_n as f64),
            agent: name.to_owned(),
        });
    }
    ranking.sort_by(|a, b| {
        b.sla
            .met_ratio
            .unwrap_or(-1.0)
            .total_cmp(&a.sla.met_ratio.unwrap_or(-1.0))
            .then(
                a.median_s
                    .unwrap_or(f64::MAX)
                    .total_cmp(&b.median_s.unwrap_or(f64::MAX)),
            )
            .then(a.agent.cmp(&b.agent))
    });
    let cohort = |list: &mut Vec<i64>, tally: &Tally, agents: &[bool], name: &str| Cohort {
        agents: agents.iter().filter(|x| **x).count() as u64,
        response: Distribution::of(list),
        sla: tally.line(name),
    };
    AgentsReport {
        business_hours: cx.business_hours,
        new_agent_days: cx.settings.new_agent_days,
        new: cohort(&mut new_ms_list, &new_tally, &new_agents, "new"),
        experienced: cohort(&mut old_ms_list, &old_tally, &old_agents, "experienced"),
        ranking,
    }
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
    /// By hour of day over all weekdays (weekday 7).
    pub by_hour: Vec<HourCell>,
    /// The hour with the slowest median (at least 5 responses).
    pub slowest_hour: Option<usize>,
}

pub fn hours(w: &Window, cx: &Context<'_>) -> HoursReport {
    let teams = Teams::new(w, cx);
    let js = judge(w, &teams, cx);
    let mut cells: Vec<Vec<i64>> = vec![vec![]; 7 * 24];
    // The zone's offset changes rarely: convert through a cache of whole hours.
    let mut last: Option<(i64, (usize, usize))> = None;
    for j in js.iter().filter(|j| j.answered) {
        let hour = j.start_ms.div_euclid(3_600_000);
        let (d, h) = match last {
            Some((k, v)) if k == hour => v,
            _ => {
                let v = cx.calendar.weekday_hour(j.start_ms);
                last = Some((hour, v));
                v
            }
        };
        cells[d * 24 + h].push(j.ms);
    }
    let cell = |weekday: usize, hour: usize, v: &mut [i64]| HourCell {
        weekday,
        hour,
        responses: v.len() as u64,
        median_s: quantiles(v, &[0.5])[0].map(|x| x as f64 / 1000.0),
    };
    let mut by_hour_ms: Vec<Vec<i64>> = (0..24)
        .map(|h| {
            (0..7)
                .flat_map(|d| cells[d * 24 + h].iter().copied())
                .collect()
        })
        .collect();
    let heatmap: Vec<HourCell> = cells
        .iter_mut()
        .enumerate()
        .map(|(i, v)| cell(i / 24, i % 24, v))
        .collect();
    let by_hour: Vec<HourCell> = by_hour_ms
        .iter_mut()
        .enumerate()
        .map(|(h, v)| cell(7, h, v))
        .collect();
    let slowest_hour = by_hour
        .iter()
        .filter(|c| c.responses >= 5)
        .max_by(|a, b| {
            a.median_s
                .unwrap_or(0.0)
                .total_cmp(&b.median_s.unwrap_or(0.0))
        })
        .map(|c| c.hour);
    HoursReport {
        business_hours: cx.business_hours,
        timezone: cx.settings.timezone.clone(),
        heatmap,
        by_hour,
        slowest_hour,
    }
}

/// Whether the team filter keeps a conversation (by its last agent's team).
fn keeps(teams: &Teams, c: &crate::cache::ConvRow) -> bool {
    teams.keeps(teams.of(c.last_agent.unwrap_or(NO_AGENT)))
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
    /// Risk words by hits, most first.
    pub risk_words: Vec<Count>,
    pub risk_hits_total: u64,
    /// The newest [`LIST_LIMIT`] hits, newest first.
    pub risk_hits: Vec<RiskLine>,
}

fn top(m: HashMap<&str, u64>, n: usize) -> Vec<Count> {
    let mut v: Vec<Count> = m
        .into_iter()
        .map(|(k, c)| Count {
            name: k.to_owned(),
            conversations: c,
        })
        .collect();
    v.sort_by(|a, b| {
        b.conversations
            .cmp(&a.conversations)
            .then(a.name.cmp(&b.name))
    });
    v.truncate(n);
    v
}

pub fn topics(w: &Window, cx: &Context<'_>) -> TopicsReport {
    let teams = Teams::new(w, cx);
    let (mut topics, mut keywords, mut risk_words): (
        HashMap<&str, u64>,
        HashMap<&str, u64>,
        HashMap<&str, u64>,
    ) = Default::default();
    let mut hits: Vec<(&crate::cache::ConvRow, &crate::content::RiskHit)> = vec![];
    let (mut n, mut with_agent, mut greet, mut close, mut both) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for c in w.conversations.iter().filter(|c| keeps(&teams, c)) {
        n += 1;
        for t in &c.content.topics {
            *topics.entry(t).or_default() += 1;
        }
        for t in &c.content.terms {
            *keywords.entry(t).or_default() += 1;
        }
        for r in &c.content.risks {
            *risk_words.entry(&r.word).or_default() += 1;
            hits.push((c, r));
        }
        if let (Some(g), Some(cl)) = (c.content.greeting, c.content.closing) {
            with_agent += 1;
            greet += u64::from(g);
            close += u64::from(cl);
            both += u64::from(g && cl);
        }
    }
    let ratio = |k: u64| (with_agent > 0).then(|| k as f64 / with_agent as f64);
    let risk_hits = top_n(&hits, LIST_LIMIT, |(_, r)| r.sent_ms as f64)
        .into_iter()
        .map(|i| {
            let (c, r) = hits[i];
            RiskLine {
                conversation: c.key.clone(),
                message: r.message.clone(),
                word: r.word.clone(),
                side: r.side,
                sent_ms: r.sent_ms,
            }
        })
        .collect();
    TopicsReport {
        conversations: n,
        topics: top(topics, usize::MAX),
        keywords: top(keywords, 30),
        with_agent,
        greeting_ratio: ratio(greet),
        closing_ratio: ratio(close),
        both_ratio: ratio(both),
        risk_words: top(risk_words, usize::MAX),
        risk_hits_total: hits.len() as u64,
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
        100.0
            * (w.speed * self.speed
                + w.professionalism * self.professionalism
                + w.resolution * self.resolution
                + w.emotion * self.emotion)
            / total
    }
}

/// A conversation's resolution as of the report: a pending one whose silence period has
/// since run out is resolved by silence (the cache decided it when it was summarised).
pub fn resolution_at(c: &crate::cache::ConvRow, cx: &Context<'_>) -> Resolution {
    match c.content.resolution {
        Resolution::Pending
            if cx.as_of_ms - c.end_ms
                >= cx.settings.resolution.silence_hours as i64 * 3_600_000 =>
        {
            Resolution::Silence
        }
        r => r,
    }
}

fn components(c: &crate::cache::ConvRow, judged: &[Judged], resolution: Resolution) -> Components {
    let (mut met, mut decided) = (0u32, 0u32);
    for j in judged {
        match j.verdict {
            Verdict::Met => {
                met += 1;
                decided += 1;
            }
            Verdict::Breached => decided += 1,
            Verdict::Pending => {}
        }
    }
    let speed = if decided == 0 {
        1.0
    } else {
        met as f64 / decided as f64
    };
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
    Components {
        speed,
        professionalism,
        resolution,
        emotion: (c.content.sentiment() + 1.0) / 2.0,
    }
}

/// Each conversation's score (`None` where the team filter leaves it out).
fn conversation_scores(
    w: &Window,
    teams: &Teams,
    js: &[Judged],
    cx: &Context<'_>,
) -> Vec<Option<f64>> {
    let r = runs(js, w.conversations.len());
    w.conversations
        .iter()
        .enumerate()
        .map(|(i, c)| {
            keeps(teams, c).then(|| {
                components(
                    c,
                    &js[r[i].0 as usize..r[i].1 as usize],
                    resolution_at(c, cx),
                )
                .score(cx.settings)
            })
        })
        .collect()
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
    /// Conversations by resolution, and the share of those with a customer resolved
    /// (confirmed or by silence).
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
    let r = runs(&js, w.conversations.len());
    // Scores first (no strings), then lines for the lowest only.
    let mut scored: Vec<(u32, f64, Resolution)> = vec![];
    let mut resolution: BTreeMap<String, u64> = BTreeMap::new();
    let (mut with_customer, mut resolved, mut sentiment) = (0u64, 0u64, 0.0f64);
    let mut hist = vec![0u64; 10];
    for (i, c) in w
        .conversations
        .iter()
        .enumerate()
        .filter(|(_, c)| keeps(&teams, c))
    {
        let res = resolution_at(c, cx);
        let score = components(c, &js[r[i].0 as usize..r[i].1 as usize], res).score(cx.settings);
        *resolution.entry(res.as_str().to_owned()).or_default() += 1;
        if res != Resolution::NoCustomer {
            with_customer += 1;
            resolved += u64::from(res.resolved());
            sentiment += c.content.sentiment();
        }
        hist[((score / 10.0) as usize).min(9)] += 1;
        scored.push((i as u32, score, res));
    }
    let n = scored.len();
    let lines = top_n(&scored, LIST_LIMIT, |l| -l.1)
        .into_iter()
        .map(|k| {
            let (i, score, res) = scored[k];
            let c = &w.conversations[i as usize];
            QualityLine {
                conversation: c.key.clone(),
                platform: c.platform.clone(),
                agent: c.last_agent.map(|a| w.agent(a).to_owned()),
                start_ms: c.start_ms,
                score,
                components: components(
                    c,
                    &js[r[i as usize].0 as usize..r[i as usize].1 as usize],
                    res,
                ),
                resolution: res,
                sentiment: c.content.sentiment(),
            }
        })
        .collect();
    QualityReport {
        conversations: n as u64,
        mean_score: (n > 0).then(|| scored.iter().map(|l| l.1).sum::<f64>() / n as f64),
        resolved_ratio: (with_customer > 0).then(|| resolved as f64 / with_customer as f64),
        mean_sentiment: (with_customer > 0).then(|| sentiment / with_customer as f64),
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
            (
                "the worked example",
                Components {
                    speed: 1.0,
                    professionalism: 0.5,
                    resolution: 1.0,
                    emotion: 0.75,
                },
                82.5,
            ),
            (
                "everything best",
                Components {
                    speed: 1.0,
                    professionalism: 1.0,
                    resolution: 1.0,
                    emotion: 1.0,
                },
                100.0,
            ),
            (
                "everything worst",
                Components {
                    speed: 0.0,
                    professionalism: 0.0,
                    resolution: 0.0,
                    emotion: 0.0,
                },
                0.0,
            ),
        ];
        for (name, c, want) in cases {
            assert!((c.score(&s) - want).abs() < 1e-9, "{name}: {}", c.score(&s));
        }
    }

    #[test]
    fn selected_quantiles_equal_sorted_ones() {
        let cases: &[(&str, Vec<i64>)] = &[
            ("ten", (1..=10).rev().collect()),
            ("one", vec![7]),
            ("repeats", vec![3, 1, 3, 3, 2, 9, 9, 0]),
            ("none", vec![]),
        ];
        for (name, v) in cases {
            let mut sorted = v.clone();
            sorted.sort_unstable();
            let want: Vec<Option<i64>> = [0.5, 0.9, 0.99]
                .iter()
                .map(|q| crate::metrics::quantile(&sorted, *q))
                .collect();
            assert_eq!(quantiles(&mut v.clone(), &[0.5, 0.9, 0.99]), want, "{name}");
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
