//! The live SLA monitor: which customer turns are waiting for an answer right now, the
//! alerts they raise as they wait (blue, yellow, red), who each tier goes to, and how
//! fast each live source delivers its messages. The rules are in `docs/metrics.md`
//! ("Live SLA monitor").
//!
//! It is a pure state machine: the server feeds it every stored message
//! ([`Monitor::observe`]) and the time ([`Monitor::tick`]), and takes the events it
//! produced ([`Monitor::drain`]) to deliver them (webhooks, the live feed). It reads no
//! clock, no archive and no network, so every rule is a table test below.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::metrics::{quantile, Side};
use crate::settings::Alerts;

/// How many capture delays each source keeps for its p50 and p99.
pub const LATENCY_WINDOW: usize = 4096;
/// How many resolved alerts stay listed after they resolve.
pub const KEEP_RESOLVED: usize = 1000;
/// A conversation's last agent is forgotten this long after they last wrote.
const FORGET_AGENT_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Blue,
    Yellow,
    Red,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Blue, Tier::Yellow, Tier::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Blue => "blue",
            Tier::Yellow => "yellow",
            Tier::Red => "red",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A customer turn waits for an agent.
    Unanswered,
    /// A live source has sent nothing for `stalled_source_seconds`.
    SourceStalled,
    /// A message of a live source arrived more than `delayed_source_seconds` after it
    /// was sent.
    SourceDelayed,
    /// A live source's sequence skipped numbers (Telegram's `update_id`, the 会话内容存档
    /// `seq`): events between were never delivered. It stays open until acknowledged.
    SourceGap,
}

/// One step of an alert's escalation: the tier it reached, whom it went to, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub tier: Tier,
    /// A role of the chain (`agent`, `team_lead`, `manager`, or whatever the config names).
    pub notify: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub at_ms: i64,
}

/// Why an alert resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An agent replied.
    Answered,
    /// The stalled (or delayed) source sent again (in time).
    SourceResumed,
    /// The customer confirmed (a confirmation phrase): nothing is left to answer.
    CustomerConfirmed,
    /// Unanswered for `forget_turn_seconds`: the live monitor stopped watching the turn.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    pub at_ms: i64,
    pub reason: Reason,
    /// The agent who answered.
    pub by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub kind: AlertKind,
    /// `platform:conversation` (unanswered turns).
    pub conversation: Option<String>,
    pub platform: String,
    /// The source (stalled sources; for turns, the source the customer's message came by).
    pub source: Option<String>,
    /// The customer who is waiting (`platform:id`).
    pub customer: Option<String>,
    /// The agent who last wrote in the conversation: the first link of the chain.
    pub agent: Option<String>,
    /// That agent's team, when the directory knows it.
    pub team: Option<String>,
    /// Unanswered: when the customer turn started. Stalled: the source's last message.
    pub since_ms: i64,
    pub tier: Tier,
    pub notify: String,
    pub raised_ms: i64,
    pub steps: Vec<Step>,
    pub ack: Option<Ack>,
    pub resolved: Option<Resolved>,
    /// What a source alert reports, in words (a gap: which numbers are missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Alert {
    pub fn is_open(&self) -> bool {
        self.resolved.is_none()
    }
}

/// What changed, for the webhooks and the live feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `alert.raised`, `alert.escalated`, `alert.acknowledged`, `alert.resolved`.
    pub event: &'static str,
    pub at_ms: i64,
    pub alert: Alert,
}

/// One stored message as the monitor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<'a> {
    /// `platform:conversation`.
    pub conversation: &'a str,
    pub platform: &'a str,
    /// The live source it came by (an ingest token's source, or its platform).
    pub source: &'a str,
    pub side: Option<Side>,
    /// `platform:id`.
    pub sender: &'a str,
    pub sent_ms: i64,
    pub received_ms: i64,
    /// A customer message holding a confirmation phrase (谢谢, 解决了, …): it asks for
    /// nothing, so it opens no turn and closes a waiting one.
    pub confirms: bool,
}

/// One live source's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub messages: u64,
    pub last_received_ms: i64,
    /// Capture delay (`received_at − sent_at`, never negative) over the last
    /// [`LATENCY_WINDOW`] messages.
    pub p50_ms: Option<i64>,
    pub p99_ms: Option<i64>,
    pub stalled: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MonitorError {
    #[error("no alert {0}")]
    NotFound(u64),
    #[error("alert {0} is already resolved")]
    Resolved(u64),
    #[error("alert {id} was already acknowledged by {by}")]
    Acked { id: u64, by: String },
}

impl MonitorError {
    pub fn code(&self) -> &'static str {
        match self {
            MonitorError::NotFound(_) => "alert.not_found",
            MonitorError::Resolved(_) | MonitorError::Acked { .. } => "alert.state",
        }
    }
}

/// The format of [`Snapshot`]; a file of another version is refused, not guessed at.
pub const SNAPSHOT_VERSION: u32 = 1;
/// How many conversations' last agents a snapshot keeps (the most recent).
pub const KEEP_AGENTS: usize = 100_000;

/// The monitor's state as `alerts-state.json` keeps it across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub version: u32,
    pub taken_ms: i64,
    pub next_id: u64,
    pub open: Vec<SnapTurn>,
    /// (conversation, agent, when they last wrote).
    pub last_agent: Vec<(String, String, i64)>,
    pub alerts: Vec<Alert>,
    pub resolved: Vec<u64>,
    pub sources: Vec<SnapSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapTurn {
    pub conversation: String,
    pub start_ms: i64,
    pub customer: String,
    pub platform: String,
    pub source: String,
    pub alert: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapSource {
    pub source: String,
    pub messages: u64,
    pub last_ms: i64,
    pub stalled: Option<u64>,
    #[serde(default)]
    pub delayed: Option<u64>,
}

#[derive(Debug)]
struct OpenTurn {
    start_ms: i64,
    customer: String,
    platform: String,
    source: String,
    alert: Option<u64>,
}

#[derive(Debug)]
struct SourceStats {
    messages: u64,
    last_ms: i64,
    delays: VecDeque<i64>,
    stalled: Option<u64>,
    delayed: Option<u64>,
}

#[derive(Debug)]
pub struct Monitor {
    tiers_ms: [i64; 3],
    chain: Vec<String>,
    stalled_ms: i64,
    delayed_ms: i64,
    /// How long an unanswered turn is watched.
    forget_ms: i64,
    /// How many unanswered turns are watched at once (the longest-waiting leave first).
    max_open: usize,
    /// Open customer turns by conversation.
    open: HashMap<String, OpenTurn>,
    /// Each conversation's last agent and when they last wrote.
    last_agent: HashMap<String, (String, i64)>,
    alerts: BTreeMap<u64, Alert>,
    resolved: VecDeque<u64>,
    sources: BTreeMap<String, SourceStats>,
    next_id: u64,
    events: Vec<Event>,
    last_prune_ms: i64,
    /// Something worth a new snapshot happened since the last one.
    changed: bool,
}

impl Monitor {
    pub fn new(cfg: &Alerts) -> Monitor {
        let s = |x: u32| i64::from(x) * 1000;
        Monitor {
            tiers_ms: [
                s(cfg.blue_seconds),
                s(cfg.yellow_seconds),
                s(cfg.red_seconds),
            ],
            chain: if cfg.chain.is_empty() {
                vec!["agent".into()]
            } else {
                cfg.chain.clone()
            },
            stalled_ms: s(cfg.stalled_source_seconds),
            delayed_ms: s(cfg.delayed_source_seconds),
            forget_ms: s(cfg.forget_turn_seconds).max(2 * s(cfg.red_seconds)),
            max_open: usize::try_from(cfg.max_open_turns.max(1)).unwrap_or(usize::MAX),
            open: HashMap::new(),
            last_agent: HashMap::new(),
            alerts: BTreeMap::new(),
            resolved: VecDeque::new(),
            sources: BTreeMap::new(),
            next_id: 1,
            events: vec![],
            last_prune_ms: i64::MIN,
            changed: false,
        }
    }

    /// Whom a tier goes to: the chain's entry for it, or its last entry when the chain is
    /// shorter than the tiers.
    pub fn notify(&self, tier: Tier) -> &str {
        &self.chain[tier.index().min(self.chain.len() - 1)]
    }

    /// The highest tier a turn waiting `waited_ms` has reached.
    pub fn tier_for(&self, waited_ms: i64) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .rev()
            .find(|t| waited_ms >= self.tiers_ms[t.index()])
    }

    /// A message the archive stored (duplicates are not observed).
    ///
    /// A customer message opens a turn unless one is open; an agent message sent at or
    /// after the open turn's start answers it and resolves its alert, and so does the
    /// customer's own confirmation. A customer message
    /// received more than the red tier after it was sent is history arriving late (a
    /// backfill), not a live wait: it opens no turn.
    pub fn observe(&mut self, m: &Observed<'_>) {
        self.changed = true;
        let delay = m.received_ms.saturating_sub(m.sent_ms).max(0);
        let src = self
            .sources
            .entry(m.source.to_owned())
            .or_insert_with(|| SourceStats {
                messages: 0,
                last_ms: m.received_ms,
                delays: VecDeque::new(),
                stalled: None,
                delayed: None,
            });
        src.messages += 1;
        src.last_ms = src.last_ms.max(m.received_ms);
        if src.delays.len() == LATENCY_WINDOW {
            src.delays.pop_front();
        }
        src.delays.push_back(delay);
        if let Some(id) = src.stalled.take() {
            self.resolve(id, m.received_ms, Reason::SourceResumed, None);
        }
        match m.side {
            Some(Side::Customer) if m.confirms => {
                if self
                    .open
                    .get(m.conversation)
                    .is_some_and(|t| m.sent_ms >= t.start_ms)
                {
                    if let Some(id) = self.open.remove(m.conversation).and_then(|t| t.alert) {
                        self.resolve(
                            id,
                            m.received_ms,
                            Reason::CustomerConfirmed,
                            Some(m.sender.to_owned()),
                        );
                    }
                }
            }
            Some(Side::Customer) => {
                // A message stamped after it was received (a source's clock runs fast)
                // waits from when it was received.
                let start_ms = m.sent_ms.min(m.received_ms);
                if let Some(t) = self.open.get_mut(m.conversation) {
                    t.start_ms = t.start_ms.min(start_ms);
                    return;
                }
                let answered_later = self
                    .last_agent
                    .get(m.conversation)
                    .is_some_and(|(_, at)| *at >= m.sent_ms);
                if delay > self.tiers_ms[Tier::Red.index()] || answered_later {
                    return;
                }
                self.open.insert(
                    m.conversation.to_owned(),
                    OpenTurn {
                        start_ms,
                        customer: m.sender.to_owned(),
                        platform: m.platform.to_owned(),
                        source: m.source.to_owned(),
                        alert: None,
                    },
                );
            }
            Some(Side::Agent) => {
                let e = self
                    .last_agent
                    .entry(m.conversation.to_owned())
                    .or_insert_with(|| (m.sender.to_owned(), m.sent_ms));
                if m.sent_ms >= e.1 {
                    *e = (m.sender.to_owned(), m.sent_ms);
                }
                if self
                    .open
                    .get(m.conversation)
                    .is_some_and(|t| m.sent_ms >= t.start_ms)
                {
                    if let Some(id) = self.open.remove(m.conversation).and_then(|t| t.alert) {
                        self.resolve(
                            id,
                            m.received_ms,
                            Reason::Answered,
                            Some(m.sender.to_owned()),
                        );
                    }
                }
            }
            None => {}
        }
    }

    /// Raises and escalates what `now_ms` calls for. `team_of` names an agent's team.
    pub fn tick(&mut self, now_ms: i64, team_of: &dyn Fn(&str) -> Option<String>) {
        // Past the cap, the longest-waiting turns leave first (checked every tick, so
        // the excess is never more than one tick's arrivals).
        if self.open.len() > self.max_open {
            let excess = self.open.len() - self.max_open;
            let mut by_wait: Vec<(i64, &String)> =
                self.open.iter().map(|(c, t)| (t.start_ms, c)).collect();
            by_wait.select_nth_unstable(excess - 1);
            let mut oldest: Vec<(String, i64)> = by_wait[..excess]
                .iter()
                .map(|(at, c)| ((*c).clone(), *at))
                .collect();
            oldest.sort_by_key(|(c, at)| (*at, c.clone()));
            self.forget(oldest, now_ms);
        }
        let mut due: Vec<(String, Tier)> = self
            .open
            .iter()
            .filter_map(|(c, t)| {
                let tier = self.tier_for(now_ms.saturating_sub(t.start_ms))?;
                let current = t.alert.and_then(|id| self.alerts.get(&id));
                match current {
                    None => Some((c.clone(), tier)),
                    Some(a) if a.ack.is_none() && a.tier < tier => Some((c.clone(), tier)),
                    Some(_) => None,
                }
            })
            .collect();
        // Oldest waits first, so events come out in a stable order.
        due.sort_by_key(|(c, _)| (self.open[c].start_ms, c.clone()));
        for (c, tier) in due {
            let notify = self.notify(tier).to_owned();
            let step = Step {
                tier,
                notify: notify.clone(),
                at_ms: now_ms,
            };
            let existing = self.open[&c].alert;
            match existing {
                Some(id) => {
                    if let Some(a) = self.alerts.get_mut(&id) {
                        a.tier = tier;
                        a.notify = notify;
                        a.steps.push(step);
                        let alert = a.clone();
                        self.emit(Event {
                            event: "alert.escalated",
                            at_ms: now_ms,
                            alert,
                        });
                    }
                }
                None => {
                    let id = self.take_id();
                    let t = &self.open[&c];
                    let agent = self.last_agent.get(&c).map(|(a, _)| a.clone());
                    let team = agent.as_deref().and_then(team_of);
                    let alert = Alert {
                        id,
                        kind: AlertKind::Unanswered,
                        conversation: Some(c.clone()),
                        platform: t.platform.clone(),
                        source: Some(t.source.clone()),
                        customer: Some(t.customer.clone()),
                        agent,
                        team,
                        since_ms: t.start_ms,
                        tier,
                        notify,
                        raised_ms: now_ms,
                        steps: vec![step],
                        ack: None,
                        resolved: None,
                        detail: None,
                    };
                    if let Some(t) = self.open.get_mut(&c) {
                        t.alert = Some(id);
                    }
                    self.raise(alert);
                }
            }
        }
        let stalled: Vec<(String, i64)> = self
            .sources
            .iter()
            .filter(|(_, s)| {
                s.stalled.is_none() && now_ms.saturating_sub(s.last_ms) >= self.stalled_ms
            })
            .map(|(n, s)| (n.clone(), s.last_ms))
            .collect();
        for (name, last) in stalled {
            let id = self.source_alert(AlertKind::SourceStalled, &name, last, now_ms, None);
            if let Some(s) = self.sources.get_mut(&name) {
                s.stalled = Some(id);
            }
        }
        if now_ms.saturating_sub(self.last_prune_ms) >= 60_000 {
            self.last_prune_ms = now_ms;
            self.last_agent
                .retain(|_, (_, at)| now_ms.saturating_sub(*at) < FORGET_AGENT_MS);
            // Turns unanswered past the horizon leave the monitor, so what it watches
            // (and each tick and snapshot walks) does not grow with the archive.
            let mut expired: Vec<(String, i64)> = self
                .open
                .iter()
                .filter(|(_, t)| now_ms.saturating_sub(t.start_ms) > self.forget_ms)
                .map(|(c, t)| (c.clone(), t.start_ms))
                .collect();
            expired.sort_by_key(|(c, at)| (*at, c.clone()));
            self.forget(expired, now_ms);
            // Each conversation's last agent is only asked whether an answer came after a
            // late customer message: the latest are kept, as the snapshot keeps them.
            if self.last_agent.len() > KEEP_AGENTS + KEEP_AGENTS / 4 {
                let mut ats: Vec<i64> = self.last_agent.values().map(|(_, at)| *at).collect();
                let (_, nth, _) = ats.select_nth_unstable_by(KEEP_AGENTS, |a, b| b.cmp(a));
                let cut = *nth;
                self.last_agent.retain(|_, (_, at)| *at > cut);
            }
        }
    }

    /// Stops watching these turns (oldest first), resolving their alerts as expired.
    fn forget(&mut self, turns: Vec<(String, i64)>, now_ms: i64) {
        for (c, _) in turns {
            if let Some(t) = self.open.remove(&c) {
                self.changed = true;
                if let Some(id) = t.alert {
                    self.resolve(id, now_ms, Reason::Expired, None);
                }
            }
        }
    }

    /// Someone takes an alert on: it records who and when, and it escalates no further.
    /// It stays open until the turn is answered.
    pub fn ack(&mut self, id: u64, by: &str, now_ms: i64) -> Result<Alert, MonitorError> {
        let a = self.alerts.get_mut(&id).ok_or(MonitorError::NotFound(id))?;
        if !a.is_open() {
            return Err(MonitorError::Resolved(id));
        }
        if let Some(k) = &a.ack {
            return Err(MonitorError::Acked {
                id,
                by: k.by.clone(),
            });
        }
        a.ack = Some(Ack {
            by: by.to_owned(),
            at_ms: now_ms,
        });
        let alert = a.clone();
        self.emit(Event {
            event: "alert.acknowledged",
            at_ms: now_ms,
            alert: alert.clone(),
        });
        Ok(alert)
    }

    /// What survives a restart, when something changed since the last call: open turns,
    /// alerts (open and the kept resolved ones), each conversation's last agent (the
    /// latest [`KEEP_AGENTS`]), and each source's count and last message. Capture delays
    /// are not kept: the window refills.
    pub fn snapshot(&mut self, now_ms: i64) -> Option<Snapshot> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        let mut open: Vec<SnapTurn> = self
            .open
            .iter()
            .map(|(c, t)| SnapTurn {
                conversation: c.clone(),
                start_ms: t.start_ms,
                customer: t.customer.clone(),
                platform: t.platform.clone(),
                source: t.source.clone(),
                alert: t.alert,
            })
            .collect();
        open.sort_by(|a, b| a.conversation.cmp(&b.conversation));
        let mut last_agent: Vec<(String, String, i64)> = self
            .last_agent
            .iter()
            .map(|(c, (a, at))| (c.clone(), a.clone(), *at))
            .collect();
        // Only a snapshot over the cap needs an order (the latest kept): a partial select,
        // not a sort, every 2 s under the monitor's lock.
        if last_agent.len() > KEEP_AGENTS {
            last_agent.select_nth_unstable_by(KEEP_AGENTS, |a, b| b.2.cmp(&a.2));
            last_agent.truncate(KEEP_AGENTS);
        }
        Some(Snapshot {
            version: SNAPSHOT_VERSION,
            taken_ms: now_ms,
            next_id: self.next_id,
            open,
            last_agent,
            alerts: self.alerts.values().cloned().collect(),
            resolved: self.resolved.iter().copied().collect(),
            sources: self
                .sources
                .iter()
                .map(|(n, s)| SnapSource {
                    source: n.clone(),
                    messages: s.messages,
                    last_ms: s.last_ms,
                    stalled: s.stalled,
                    delayed: s.delayed,
                })
                .collect(),
        })
    }

    /// A monitor that goes on from a snapshot, under the current config.
    pub fn restore(cfg: &Alerts, snap: Snapshot) -> Result<Monitor, String> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(format!(
                "version {} (this build reads {SNAPSHOT_VERSION})",
                snap.version
            ));
        }
        let mut m = Monitor::new(cfg);
        m.alerts = snap.alerts.into_iter().map(|a| (a.id, a)).collect();
        let max_id = m.alerts.keys().next_back().copied().unwrap_or(0);
        m.next_id = snap.next_id.max(max_id + 1);
        m.resolved = snap
            .resolved
            .into_iter()
            .filter(|id| m.alerts.get(id).is_some_and(|a| !a.is_open()))
            .collect();
        for t in snap.open {
            let alert = t
                .alert
                .filter(|id| m.alerts.get(id).is_some_and(Alert::is_open));
            m.open.insert(
                t.conversation,
                OpenTurn {
                    start_ms: t.start_ms,
                    customer: t.customer,
                    platform: t.platform,
                    source: t.source,
                    alert,
                },
            );
        }
        m.last_agent = snap
            .last_agent
            .into_iter()
            .map(|(c, a, at)| (c, (a, at)))
            .collect();
        for s in snap.sources {
            let stalled = s
                .stalled
                .filter(|id| m.alerts.get(id).is_some_and(Alert::is_open));
            let delayed = s
                .delayed
                .filter(|id| m.alerts.get(id).is_some_and(Alert::is_open));
            m.sources.insert(
                s.source,
                SourceStats {
                    messages: s.messages,
                    last_ms: s.last_ms,
                    delays: VecDeque::new(),
                    stalled,
                    delayed,
                },
            );
        }
        Ok(m)
    }

    /// The events since the last drain, oldest first.
    pub fn drain(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn get(&self, id: u64) -> Option<&Alert> {
        self.alerts.get(&id)
    }

    /// Open alerts (oldest first), then the last [`KEEP_RESOLVED`] resolved ones (newest
    /// first).
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut out: Vec<&Alert> = self.alerts.values().filter(|a| a.is_open()).collect();
        out.extend(
            self.resolved
                .iter()
                .rev()
                .filter_map(|id| self.alerts.get(id)),
        );
        out
    }

    /// How many customer turns are waiting now.
    pub fn waiting(&self) -> usize {
        self.open.len()
    }

    pub fn sources(&self, now_ms: i64) -> Vec<SourceStatus> {
        self.sources
            .iter()
            .map(|(name, s)| {
                let mut d: Vec<i64> = s.delays.iter().copied().collect();
                d.sort_unstable();
                SourceStatus {
                    source: name.clone(),
                    messages: s.messages,
                    last_received_ms: s.last_ms,
                    p50_ms: quantile(&d, 0.5),
                    p99_ms: quantile(&d, 0.99),
                    stalled: s.stalled.is_some()
                        || now_ms.saturating_sub(s.last_ms) >= self.stalled_ms,
                }
            })
            .collect()
    }

    fn emit(&mut self, e: Event) {
        self.changed = true;
        self.events.push(e);
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Raises a red alert about a live source (`platform:name`), to the chain's last
    /// link; `since_ms` is when what it reports began.
    fn source_alert(
        &mut self,
        kind: AlertKind,
        source: &str,
        since_ms: i64,
        now_ms: i64,
        detail: Option<String>,
    ) -> u64 {
        let id = self.take_id();
        let notify = self.chain.last().cloned().unwrap_or_default();
        let platform = source.split_once(':').map_or(source, |(p, _)| p).to_owned();
        self.raise(Alert {
            id,
            kind,
            conversation: None,
            platform,
            source: Some(source.to_owned()),
            customer: None,
            agent: None,
            team: None,
            since_ms,
            tier: Tier::Red,
            notify: notify.clone(),
            raised_ms: now_ms,
            steps: vec![Step {
                tier: Tier::Red,
                notify,
                at_ms: now_ms,
            }],
            ack: None,
            resolved: None,
            detail,
        });
        id
    }

    /// A live capture source's message took `received_ms − sent_ms` from its platform to
    /// stored: over `delayed_source_seconds`, a delayed-source alert (once, while it
    /// lasts); in time, the open one resolves. Only capture calls it: an import or a
    /// backfill through the API is old by nature.
    pub fn capture_delay(&mut self, source: &str, sent_ms: i64, received_ms: i64) {
        let delay = received_ms.saturating_sub(sent_ms).max(0);
        let open = self.sources.get(source).and_then(|s| s.delayed);
        match (delay > self.delayed_ms, open) {
            (true, None) => {
                self.changed = true;
                let id = self.source_alert(
                    AlertKind::SourceDelayed,
                    source,
                    sent_ms,
                    received_ms,
                    Some(format!("{} s from sent to stored", delay / 1000)),
                );
                if let Some(s) = self.sources.get_mut(source) {
                    s.delayed = Some(id);
                }
            }
            (false, Some(id)) => {
                self.changed = true;
                if let Some(s) = self.sources.get_mut(source) {
                    s.delayed = None;
                }
                self.resolve(id, received_ms, Reason::SourceResumed, None);
            }
            _ => {}
        }
    }

    /// A live source's sequence went from `last` to `next`, skipping the numbers
    /// between: a gap alert naming them (acknowledged by a person; nothing resolves it).
    pub fn gap(&mut self, source: &str, last: i64, next: i64, now_ms: i64) -> u64 {
        self.changed = true;
        let missing = next.saturating_sub(last).saturating_sub(1);
        let detail = format!("{missing} missing after {last} (the next was {next})");
        self.source_alert(AlertKind::SourceGap, source, now_ms, now_ms, Some(detail))
    }

    fn raise(&mut self, alert: Alert) {
        let at_ms = alert.raised_ms;
        self.emit(Event {
            event: "alert.raised",
            at_ms,
            alert: alert.clone(),
        });
        self.alerts.insert(alert.id, alert);
    }

    fn resolve(&mut self, id: u64, at_ms: i64, reason: Reason, by: Option<String>) {
        let Some(a) = self.alerts.get_mut(&id) else {
            return;
        };
        a.resolved = Some(Resolved { at_ms, reason, by });
        let alert = a.clone();
        self.emit(Event {
            event: "alert.resolved",
            at_ms,
            alert,
        });
        self.resolved.push_back(id);
        while self.resolved.len() > KEEP_RESOLVED {
            if let Some(old) = self.resolved.pop_front() {
                self.alerts.remove(&old);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn cfg() -> Alerts {
        Alerts {
            blue_seconds: 30,
            yellow_seconds: 300,
            red_seconds: 7200,
            stalled_source_seconds: 100_000,
            ..Alerts::default()
        }
    }

    fn msg<'a>(
        conv: &'a str,
        side: Side,
        sender: &'a str,
        sent: i64,
        received: i64,
    ) -> Observed<'a> {
        Observed {
            conversation: conv,
            platform: "wecom",
            source: "wecom",
            side: Some(side),
            sender,
            sent_ms: sent,
            received_ms: received,
            confirms: false,
        }
    }

    fn team(agent: &str) -> Option<String> {
        (agent == "wecom:a1").then(|| "service".to_owned())
    }

    fn events(m: &mut Monitor) -> Vec<(&'static str, u64, Tier, String)> {
        m.drain()
            .into_iter()
            .map(|e| (e.event, e.alert.id, e.alert.tier, e.alert.notify))
            .collect()
    }

    #[test]
    fn tiers_and_chain() {
        let m = Monitor::new(&cfg());
        let cases = [
            ("just under blue", 29_999, None),
            ("blue at 30 s", 30 * S, Some(Tier::Blue)),
            ("still blue", 299 * S, Some(Tier::Blue)),
            ("yellow at 5 min", 300 * S, Some(Tier::Yellow)),
            ("red at 2 h", 7200 * S, Some(Tier::Red)),
        ];
        for (name, waited, want) in cases {
            assert_eq!(m.tier_for(waited), want, "{name}");
        }
        assert_eq!(
            (
                m.notify(Tier::Blue),
                m.notify(Tier::Yellow),
                m.notify(Tier::Red)
            ),
            ("agent", "team_lead", "manager")
        );
        let short = Monitor::new(&Alerts {
            chain: vec!["team_lead".into()],
            ..cfg()
        });
        assert_eq!(
            short.notify(Tier::Red),
            "team_lead",
            "a short chain ends with its last entry"
        );
    }

    #[test]
    fn an_unanswered_turn_escalates_then_is_acknowledged_then_resolves() {
        let mut m = Monitor::new(&cfg());
        m.observe(&msg("wecom:c1", Side::Agent, "wecom:a1", 0, 0));
        m.observe(&msg("wecom:c1", Side::Customer, "wecom:u1", 10 * S, 10 * S));
        m.observe(&msg("wecom:c1", Side::Customer, "wecom:u1", 20 * S, 20 * S));
        m.tick(39_999, &team);
        assert_eq!(
            events(&mut m),
            vec![],
            "the turn started at 10 s: nothing before 40 s"
        );
        m.tick(40 * S, &team);
        let raised = m.get(1).unwrap().clone();
        assert_eq!(
            (
                raised.agent.as_deref(),
                raised.team.as_deref(),
                raised.customer.as_deref(),
                raised.since_ms
            ),
            (Some("wecom:a1"), Some("service"), Some("wecom:u1"), 10 * S)
        );
        assert_eq!(
            events(&mut m),
            vec![("alert.raised", 1, Tier::Blue, "agent".into())]
        );
        m.tick(41 * S, &team);
        assert_eq!(events(&mut m), vec![], "raised once");
        m.tick(310 * S, &team);
        assert_eq!(
            events(&mut m),
            vec![("alert.escalated", 1, Tier::Yellow, "team_lead".into())]
        );
        let a = m.ack(1, "lead", 320 * S).unwrap();
        assert_eq!(
            a.ack,
            Some(Ack {
                by: "lead".into(),
                at_ms: 320 * S
            })
        );
        assert_eq!(
            m.ack(1, "other", 321 * S),
            Err(MonitorError::Acked {
                id: 1,
                by: "lead".into()
            })
        );
        m.tick(8000 * S, &team);
        assert_eq!(
            events(&mut m),
            vec![("alert.acknowledged", 1, Tier::Yellow, "team_lead".into())],
            "an acknowledged alert escalates no further"
        );
        m.observe(&msg(
            "wecom:c1",
            Side::Agent,
            "wecom:a2",
            8001 * S,
            8001 * S,
        ));
        let ev = m.drain();
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (ev[0].event, ev[0].alert.resolved.clone()),
            (
                "alert.resolved",
                Some(Resolved {
                    at_ms: 8001 * S,
                    reason: Reason::Answered,
                    by: Some("wecom:a2".into())
                })
            )
        );
        assert_eq!(m.waiting(), 0);
        assert_eq!(m.ack(1, "lead", 8002 * S), Err(MonitorError::Resolved(1)));
        assert_eq!(m.ack(9, "lead", 0), Err(MonitorError::NotFound(9)));
        let steps: Vec<Tier> = m.get(1).unwrap().steps.iter().map(|s| s.tier).collect();
        assert_eq!(steps, vec![Tier::Blue, Tier::Yellow]);
    }

    #[test]
    fn the_customers_confirmation_resolves_a_raised_alert() {
        let mut m = Monitor::new(&cfg());
        m.observe(&msg("wecom:c1", Side::Customer, "wecom:u1", 0, 0));
        m.tick(30 * S, &team);
        m.observe(&Observed {
            confirms: true,
            ..msg("wecom:c1", Side::Customer, "wecom:u1", 40 * S, 40 * S)
        });
        let ev = m.drain();
        assert_eq!(
            ev.iter().map(|e| e.event).collect::<Vec<_>>(),
            ["alert.raised", "alert.resolved"]
        );
        assert_eq!(
            ev[1].alert.resolved,
            Some(Resolved {
                at_ms: 40 * S,
                reason: Reason::CustomerConfirmed,
                by: Some("wecom:u1".into())
            })
        );
        assert_eq!(m.waiting(), 0);
    }

    #[test]
    fn named_cases() {
        struct Case {
            name: &'static str,
            msgs: Vec<Observed<'static>>,
            now: i64,
            want: Vec<(&'static str, Tier)>,
            waiting: usize,
        }
        let c = |side, sender, sent, received| msg("wecom:c1", side, sender, sent, received);
        let cases = [
            Case {
                name: "answered in time: no alert",
                msgs: vec![
                    c(Side::Customer, "wecom:u1", 0, 0),
                    c(Side::Agent, "wecom:a1", 20 * S, 20 * S),
                ],
                now: 100 * S,
                want: vec![],
                waiting: 0,
            },
            Case {
                name: "answered late but before the tick: no alert",
                msgs: vec![
                    c(Side::Customer, "wecom:u1", 0, 0),
                    c(Side::Agent, "wecom:a1", 50 * S, 50 * S),
                ],
                now: 100 * S,
                want: vec![],
                waiting: 0,
            },
            Case {
                name: "a first customer message, no agent yet",
                msgs: vec![c(Side::Customer, "wecom:u1", 0, 0)],
                now: 30 * S,
                want: vec![("alert.raised", Tier::Blue)],
                waiting: 1,
            },
            Case {
                name: "a long wait raises at its tier at once",
                msgs: vec![c(Side::Customer, "wecom:u1", 0, 0)],
                now: 400 * S,
                want: vec![("alert.raised", Tier::Yellow)],
                waiting: 1,
            },
            Case {
                name: "backfill older than the red tier opens no turn",
                msgs: vec![c(Side::Customer, "wecom:u1", 0, 7201 * S)],
                now: 8000 * S,
                want: vec![],
                waiting: 0,
            },
            Case {
                name: "a late customer message already answered opens no turn",
                msgs: vec![
                    c(Side::Agent, "wecom:a1", 100 * S, 100 * S),
                    c(Side::Customer, "wecom:u1", 50 * S, 101 * S),
                ],
                now: 200 * S,
                want: vec![],
                waiting: 0,
            },
            Case {
                name: "an agent message older than the turn does not answer it",
                msgs: vec![
                    c(Side::Customer, "wecom:u1", 100 * S, 100 * S),
                    c(Side::Agent, "wecom:a1", 90 * S, 101 * S),
                ],
                now: 130 * S,
                want: vec![("alert.raised", Tier::Blue)],
                waiting: 1,
            },
            Case {
                name: "a customer's confirmation opens no turn",
                msgs: vec![
                    c(Side::Agent, "wecom:a1", 0, 0),
                    Observed {
                        confirms: true,
                        ..c(Side::Customer, "wecom:u1", 10 * S, 10 * S)
                    },
                ],
                now: 100 * S,
                want: vec![],
                waiting: 0,
            },
            Case {
                name: "a confirmation closes the waiting turn before its alert",
                msgs: vec![
                    c(Side::Customer, "wecom:u1", 0, 0),
                    Observed {
                        confirms: true,
                        ..c(Side::Customer, "wecom:u1", 10 * S, 10 * S)
                    },
                ],
                now: 100 * S,
                want: vec![],
                waiting: 0,
            },
            Case {
                name: "a new question after a confirmation waits from itself",
                msgs: vec![
                    Observed {
                        confirms: true,
                        ..c(Side::Customer, "wecom:u1", 0, 0)
                    },
                    c(Side::Customer, "wecom:u1", 50 * S, 50 * S),
                ],
                now: 79 * S,
                want: vec![],
                waiting: 1,
            },
            Case {
                name: "system messages are no side",
                msgs: vec![
                    c(Side::Customer, "wecom:u1", 0, 0),
                    Observed {
                        side: None,
                        ..c(Side::Agent, "wecom:sys", 10 * S, 10 * S)
                    },
                ],
                now: 30 * S,
                want: vec![("alert.raised", Tier::Blue)],
                waiting: 1,
            },
        ];
        for case in cases {
            let mut m = Monitor::new(&cfg());
            for o in &case.msgs {
                m.observe(o);
            }
            m.tick(case.now, &team);
            let got: Vec<(&str, Tier)> = m
                .drain()
                .into_iter()
                .map(|e| (e.event, e.alert.tier))
                .collect();
            assert_eq!(got, case.want, "{}", case.name);
            assert_eq!(m.waiting(), case.waiting, "{}", case.name);
        }
    }

    /// Past `max_open_turns`, the longest-waiting turns leave the monitor (their alerts
    /// resolved as expired), and the conversations' last agents are held to the latest
    /// [`KEEP_AGENTS`]: what the monitor holds is bounded whatever the traffic.
    #[test]
    fn the_watched_turns_and_last_agents_are_capped() {
        let mut m = Monitor::new(&Alerts {
            max_open_turns: 3,
            ..cfg()
        });
        for i in 0..5 {
            let c = format!("wecom:c{i}");
            m.observe(&msg(&c, Side::Customer, "wecom:u", i * S, i * S));
        }
        m.tick(100 * S, &team);
        assert_eq!(m.waiting(), 3);
        let raised: Vec<String> = m
            .drain()
            .into_iter()
            .map(|e| format!("{} {}", e.event, e.alert.conversation.unwrap_or_default()))
            .collect();
        assert_eq!(
            raised,
            [
                "alert.raised wecom:c2",
                "alert.raised wecom:c3",
                "alert.raised wecom:c4"
            ],
            "c0 and c1 waited longest and left before any alert"
        );
        m.observe(&msg(
            "wecom:c5",
            Side::Customer,
            "wecom:u",
            101 * S,
            101 * S,
        ));
        m.tick(102 * S, &team);
        let ev = m.drain();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(
            (
                ev[0].event,
                ev[0].alert.conversation.as_deref(),
                ev[0].alert.resolved.as_ref().map(|r| r.reason)
            ),
            ("alert.resolved", Some("wecom:c2"), Some(Reason::Expired))
        );
        let open: Vec<String> = m
            .snapshot(102 * S)
            .map(|s| s.open.into_iter().map(|t| t.conversation).collect())
            .unwrap_or_default();
        assert_eq!(open, ["wecom:c3", "wecom:c4", "wecom:c5"]);

        // Last agents: pruned to the latest KEEP_AGENTS once they pass it by a quarter.
        let n = KEEP_AGENTS + KEEP_AGENTS / 4 + 10;
        for i in 0..n {
            let c = format!("wecom:a{i}");
            m.observe(&msg(
                &c,
                Side::Agent,
                "wecom:a1",
                200 * S + i as i64,
                200 * S,
            ));
        }
        assert_eq!(m.last_agent.len(), n);
        m.tick(300 * S, &team);
        assert_eq!(m.last_agent.len(), KEEP_AGENTS);
        assert!(m.last_agent.contains_key(&format!("wecom:a{}", n - 1)));
        assert!(!m
            .last_agent
            .contains_key(&format!("wecom:a{}", n - KEEP_AGENTS - 1)));
    }

    /// A turn nobody answers leaves the monitor after `forget_turn_seconds`, its alert
    /// resolved as expired, so what the monitor holds does not grow with every
    /// conversation whose customer spoke last. A message stamped in the future (a fast
    /// clock) waits from when it was received.
    #[test]
    fn unanswered_turns_expire_and_future_stamps_wait_from_receipt() {
        let mut m = Monitor::new(&Alerts {
            forget_turn_seconds: 10_000,
            red_seconds: 5_000,
            ..cfg()
        });
        for i in 0..50 {
            let c = format!("wecom:c{i}");
            m.observe(&msg(&c, Side::Customer, "wecom:u", 0, 0));
        }
        // Stamped an hour ahead of its receipt.
        m.observe(&msg(
            "wecom:late",
            Side::Customer,
            "wecom:u",
            9_000 * S,
            5_400 * S,
        ));
        m.tick(7_300 * S, &team);
        assert_eq!(m.waiting(), 51);
        let tiers: Vec<Tier> = m.drain().iter().map(|e| e.alert.tier).collect();
        assert_eq!(
            (
                tiers.iter().filter(|t| **t == Tier::Red).count(),
                tiers.len()
            ),
            (50, 51),
            "the 50 old turns are red; the future-stamped one has waited 1,900 s (yellow)"
        );
        m.tick(10_001 * S, &team);
        assert_eq!(
            m.waiting(),
            1,
            "only the turn received at 5,400 s is still watched"
        );
        let ev = m.drain();
        let expired = ev
            .iter()
            .filter(|e| {
                e.event == "alert.resolved"
                    && e.alert.resolved.as_ref().map(|r| r.reason) == Some(Reason::Expired)
            })
            .count();
        assert_eq!(expired, 50, "{ev:?}");
        assert!(m.snapshot(10_001 * S).is_some_and(|s| s.open.len() == 1));
        // Its wait counts from receipt: red by 5,400 + 7,200 s, gone after 5,400 + 10,000 s.
        m.tick(12_600 * S, &team);
        assert!(m.drain().iter().any(|e| e.alert.tier == Tier::Red));
        m.tick(15_401 * S, &team);
        assert_eq!(m.waiting(), 0);
    }

    #[test]
    fn capture_latency_and_stalled_sources() {
        let mut m = Monitor::new(&Alerts {
            stalled_source_seconds: 600,
            ..cfg()
        });
        for i in 0..100 {
            m.observe(&Observed {
                side: None,
                ..msg("wecom:c1", Side::Agent, "wecom:x", i * S, i * S + i * 10)
            });
        }
        m.observe(&Observed {
            side: None,
            source: "slack",
            ..msg("slack:c", Side::Agent, "slack:x", 5 * S, 4 * S)
        });
        let s = m.sources(100 * S);
        assert_eq!(
            (
                s[0].source.as_str(),
                s[0].p50_ms,
                s[0].p99_ms,
                s[0].messages,
                s[0].stalled
            ),
            ("slack", Some(0), Some(0), 1, false),
            "a clock ahead of the archive counts as no delay"
        );
        assert_eq!(
            (
                s[1].source.as_str(),
                s[1].p50_ms,
                s[1].p99_ms,
                s[1].messages
            ),
            ("wecom", Some(490), Some(980), 100)
        );
        m.drain();
        m.tick(99 * S + 990 + 600 * S - 1, &team);
        assert_eq!(
            m.drain().len(),
            1,
            "slack stalled first (last message at 4 s)"
        );
        m.tick(99 * S + 990 + 600 * S, &team);
        let ev = m.drain();
        assert_eq!(
            (
                ev.len(),
                ev[0].alert.kind,
                ev[0].alert.source.as_deref(),
                ev[0].alert.notify.as_str()
            ),
            (1, AlertKind::SourceStalled, Some("wecom"), "manager")
        );
        m.tick(800 * S, &team);
        assert_eq!(m.drain(), vec![], "stalled once");
        m.observe(&Observed {
            side: None,
            ..msg("wecom:c1", Side::Agent, "wecom:x", 801 * S, 801 * S)
        });
        let ev = m.drain();
        assert_eq!(
            (ev[0].event, ev[0].alert.resolved.as_ref().map(|r| r.reason)),
            ("alert.resolved", Some(Reason::SourceResumed))
        );
        assert!(m
            .sources(801 * S)
            .iter()
            .any(|s| s.source == "wecom" && !s.stalled));
    }

    #[test]
    fn the_latency_window_is_bounded_and_resolved_alerts_are_capped() {
        let mut m = Monitor::new(&cfg());
        for i in 0..(LATENCY_WINDOW as i64 + 10) {
            m.observe(&Observed {
                side: None,
                ..msg(
                    "wecom:c",
                    Side::Agent,
                    "wecom:x",
                    0,
                    if i < 10 { 1_000_000 } else { 1 },
                )
            });
        }
        assert_eq!(
            m.sources(0)[0].p99_ms,
            Some(1),
            "the ten old slow ones left the window"
        );
        for i in 0..(KEEP_RESOLVED as i64 + 5) {
            let conv = format!("wecom:c{i}");
            m.observe(&msg(&conv, Side::Customer, "wecom:u", i, i));
            m.tick(i + 30 * S, &team);
            m.observe(&msg(&conv, Side::Agent, "wecom:a1", i + 31 * S, i + 31 * S));
        }
        assert_eq!(m.alerts().len(), KEEP_RESOLVED);
        assert!(m.get(1).is_none() && m.get(KEEP_RESOLVED as u64 + 5).is_some());
    }

    #[test]
    fn a_snapshot_restores_open_turns_and_alerts() {
        let mut m = Monitor::new(&cfg());
        assert!(m.snapshot(0).is_none(), "nothing happened: no snapshot");
        m.observe(&msg("wecom:c1", Side::Agent, "wecom:a1", 0, 0));
        m.observe(&msg("wecom:c1", Side::Customer, "wecom:u1", 10 * S, 10 * S));
        m.observe(&msg("wecom:c2", Side::Customer, "wecom:u2", 10 * S, 10 * S));
        m.tick(40 * S, &team);
        m.ack(1, "lead", 41 * S).unwrap();
        m.observe(&msg("wecom:c2", Side::Agent, "wecom:a1", 45 * S, 45 * S));
        m.drain();
        let snap = m.snapshot(50 * S).unwrap();
        assert!(m.snapshot(51 * S).is_none(), "unchanged since");
        let text = serde_json::to_string(&snap).unwrap();
        let mut r = Monitor::restore(&cfg(), serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!((r.waiting(), r.alerts().len()), (1, 2));
        assert_eq!(
            r.get(1).unwrap().ack.as_ref().map(|a| a.by.as_str()),
            Some("lead")
        );
        assert!(r.get(2).unwrap().resolved.is_some());
        // It goes on: the acknowledged alert resolves when answered; new ids do not clash.
        r.observe(&msg("wecom:c1", Side::Agent, "wecom:a1", 60 * S, 60 * S));
        assert_eq!(r.drain()[0].event, "alert.resolved");
        r.observe(&msg("wecom:c3", Side::Customer, "wecom:u3", 60 * S, 60 * S));
        r.tick(100 * S, &team);
        assert_eq!(r.drain()[0].alert.id, 3);
        let bad = Snapshot {
            version: 99,
            ..snap
        };
        assert!(Monitor::restore(&cfg(), bad)
            .unwrap_err()
            .contains("version 99"));
    }

    proptest::proptest! {
        /// Whatever arrives in whatever order: each alert's events go raised, then
        /// escalations to ever higher tiers, then at most one acknowledgement, then at most
        /// one resolution (nothing escalates once acknowledged); and an open unanswered
        /// alert always has its turn still waiting.
        #[test]
        fn alert_lifecycles_are_well_formed(ops in proptest::collection::vec((0u8..4, 0u8..3, 0i64..400, 0i64..50), 1..120)) {
            let mut m = Monitor::new(&cfg());
            let mut now = 0i64;
            let mut history: std::collections::HashMap<u64, Vec<Event>> = Default::default();
            for (op, conv, dt, skew) in ops {
                now += dt * S / 4;
                let c = format!("wecom:c{conv}");
                match op {
                    0 | 1 => {
                        let side = if op == 0 { Side::Customer } else { Side::Agent };
                        let sender = if op == 0 { "wecom:u" } else { "wecom:a1" };
                        m.observe(&Observed { conversation: &c, platform: "wecom", source: "wecom", side: Some(side), sender, sent_ms: now - skew * S, received_ms: now, confirms: op == 0 && skew % 7 == 0 });
                    }
                    2 => m.tick(now, &team),
                    _ => {
                        if let Some(id) = m.alerts().first().map(|a| a.id) {
                            let _ = m.ack(id, "lead", now);
                        }
                    }
                }
                for e in m.drain() {
                    history.entry(e.alert.id).or_default().push(e);
                }
            }
            for (id, evs) in &history {
                proptest::prop_assert_eq!(evs[0].event, "alert.raised", "alert {} starts raised", id);
                let mut tier = evs[0].alert.tier;
                let mut stage = 0;
                for e in &evs[1..] {
                    let s = match e.event { "alert.escalated" => 0, "alert.acknowledged" => 1, "alert.resolved" => 2, other => panic!("{other}") };
                    proptest::prop_assert!(s >= stage && !(s == stage && s > 0), "alert {}: {:?}", id, evs.iter().map(|e| e.event).collect::<Vec<_>>());
                    proptest::prop_assert!(e.alert.tier >= tier);
                    tier = e.alert.tier;
                    stage = s;
                }
            }
            for a in m.alerts().into_iter().filter(|a| a.is_open() && a.kind == AlertKind::Unanswered) {
                let c = a.conversation.clone().unwrap_or_default();
                proptest::prop_assert!(m.open.get(&c).is_some_and(|t| t.alert == Some(a.id)), "open alert {} has its waiting turn", a.id);
            }
        }
    }
}
