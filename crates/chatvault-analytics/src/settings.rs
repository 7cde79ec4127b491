//! The `[analytics]` section of the configuration: calendar, SLA thresholds, lexicons,
//! weights and alert tiers, with the seeds' defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::AnalyticsError;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The zone of business hours and of the hour × weekday heatmap.
    pub timezone: String,
    pub business_hours: BusinessHours,
    pub sla: Sla,
    /// An agent is "new" for this many days after their first message in the archive.
    pub new_agent_days: u32,
    pub resolution: ResolutionRule,
    /// Topic → keywords; a conversation is about a topic when any message holds any of
    /// its keywords.
    pub topics: BTreeMap<String, Vec<String>>,
    pub scripts: Scripts,
    /// Risk words (legal exposure, insults); every hit is listed.
    pub risk_words: Vec<String>,
    pub sentiment: SentimentLexicon,
    pub weights: Weights,
    pub alerts: Alerts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessHours {
    pub days: Vec<String>,
    pub open: String,
    pub close: String,
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sla {
    /// Seconds to the first agent reply when no team or platform rule applies (service).
    pub default_seconds: u32,
    /// Per team (queue): e.g. `sales = 60`. A team rule beats a platform rule.
    pub teams: BTreeMap<String, u32>,
    /// Per platform: e.g. `email = 3600`.
    pub platforms: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResolutionRule {
    /// A conversation whose last customer message holds one of these is resolved.
    pub confirm_phrases: Vec<String>,
    /// A conversation whose last turn is the agent's is resolved when the customer has
    /// not written for this long.
    pub silence_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scripts {
    /// The first agent message should hold one of these.
    pub greeting: Vec<String>,
    /// The last agent message should hold one of these.
    pub closing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentimentLexicon {
    pub positive: Vec<String>,
    pub negative: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub speed: f64,
    pub professionalism: f64,
    pub resolution: f64,
    pub emotion: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    /// The live monitor runs while serving (default); `false` turns it off.
    pub enabled: bool,
    /// Seconds a customer turn waits before each tier: blue, yellow, red.
    pub blue_seconds: u32,
    pub yellow_seconds: u32,
    pub red_seconds: u32,
    /// Who each tier goes to, in order: the agent, then the team lead, then the manager.
    pub chain: Vec<String>,
    /// Outgoing webhooks (JSON signed with HMAC-SHA256 in `X-Chatvault-Signature`).
    pub webhooks: Vec<String>,
    /// The HMAC key of the webhooks (or the env `CHATVAULT_WEBHOOK_SECRET`).
    pub webhook_secret: String,
    /// Tries per webhook delivery, with backoff doubling from 1 s (capped at 60 s).
    pub webhook_attempts: u32,
    /// A live source that sends nothing for this long raises a stalled-source alert.
    pub stalled_source_seconds: u32,
    /// A live source whose message arrives this long after it was sent (the platform's
    /// own time to stored) raises a delayed-source alert, resolved by the next message
    /// that arrives in time.
    pub delayed_source_seconds: u32,
    /// A customer turn still unanswered after this long (and never less than twice
    /// `red_seconds`, so a red alert always stands a while) leaves the live monitor: its
    /// alert resolves as `expired` (the SLA report still counts it). Without a limit,
    /// every conversation whose customer spoke last stays watched forever.
    pub forget_turn_seconds: u32,
    /// The most unanswered turns watched at once. Past it, the longest-waiting turns
    /// leave the monitor as if forgotten (their alerts resolve as `expired`; the SLA
    /// report still counts them), so the monitor's memory and each saved state stay
    /// bounded whatever the traffic: 2,000 messages a second with a third of the
    /// conversations ending on the customer would otherwise keep about 20 million turns
    /// for the three default days.
    pub max_open_turns: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        let topic = |k: &str, v: &[&str]| (k.to_owned(), strings(v));
        Settings {
            timezone: "Asia/Shanghai".into(),
            business_hours: BusinessHours::default(),
            sla: Sla::default(),
            new_agent_days: 30,
            resolution: ResolutionRule::default(),
            topics: [
                topic("退货", &["退货", "退回", "return"]),
                topic("退款", &["退款", "退钱", "refund"]),
                topic(
                    "物流",
                    &[
                        "物流", "快递", "发货", "到货", "配送", "delivery", "shipping",
                    ],
                ),
                topic("售后", &["售后", "维修", "保修", "换货", "warranty"]),
                topic("发票", &["发票", "invoice"]),
                topic(
                    "账户",
                    &["账户", "账号", "密码", "登录", "account", "password"],
                ),
            ]
            .into_iter()
            .collect(),
            scripts: Scripts::default(),
            risk_words: strings(&[
                "违约", "赔偿", "投诉", "起诉", "律师", "12315", "曝光", "骗子", "垃圾", "滚",
                "lawyer", "sue",
            ]),
            sentiment: SentimentLexicon::default(),
            weights: Weights::default(),
            alerts: Alerts::default(),
        }
    }
}

impl Default for BusinessHours {
    fn default() -> BusinessHours {
        BusinessHours {
            days: strings(&["mon", "tue", "wed", "thu", "fri"]),
            open: "09:00".into(),
            close: "18:00".into(),
            holidays: vec![],
        }
    }
}

impl Default for Sla {
    fn default() -> Sla {
        Sla {
            default_seconds: 30,
            teams: [("sales".to_owned(), 60)].into_iter().collect(),
            platforms: BTreeMap::new(),
        }
    }
}

impl Default for ResolutionRule {
    fn default() -> ResolutionRule {
        ResolutionRule {
            confirm_phrases: strings(&[
                "解决了",
                "好的谢谢",
                "好的，谢谢",
                "谢谢",
                "可以了",
                "没问题了",
                "收到了",
                "明白了",
                "thanks",
                "thank you",
                "solved",
                "resolved",
            ]),
            silence_hours: 24,
        }
    }
}

impl Default for Scripts {
    fn default() -> Scripts {
        Scripts {
            greeting: strings(&["您好", "你好", "欢迎", "hello", "hi "]),
            closing: strings(&["感谢", "谢谢", "再见", "祝您", "还有什么", "thank", "bye"]),
        }
    }
}

impl Default for SentimentLexicon {
    fn default() -> SentimentLexicon {
        SentimentLexicon {
            positive: strings(&[
                "谢谢",
                "感谢",
                "满意",
                "好评",
                "不错",
                "很好",
                "太好了",
                "辛苦",
                "解决了",
                "点赞",
                "thanks",
                "great",
                "good",
                "perfect",
            ]),
            negative: strings(&[
                "不满意",
                "差评",
                "太差",
                "失望",
                "生气",
                "垃圾",
                "骗子",
                "投诉",
                "退款",
                "不好",
                "不行",
                "慢",
                "怎么还",
                "还没",
                "angry",
                "terrible",
                "bad",
                "worst",
            ]),
        }
    }
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            speed: 0.3,
            professionalism: 0.25,
            resolution: 0.25,
            emotion: 0.2,
        }
    }
}

/// The largest `max_open_turns` taken. (Not measured at this size: 20,000 turns with
/// their alerts and 100,000 last agents saved as 14.4 MB of JSON in the soak.)
pub const MAX_OPEN_TURNS: u32 = 1_000_000;

impl Default for Alerts {
    fn default() -> Alerts {
        Alerts {
            enabled: true,
            blue_seconds: 30,
            yellow_seconds: 300,
            red_seconds: 7200,
            chain: strings(&["agent", "team_lead", "manager"]),
            webhooks: vec![],
            webhook_secret: String::new(),
            webhook_attempts: 6,
            stalled_source_seconds: 600,
            delayed_source_seconds: 300,
            forget_turn_seconds: 3 * 86_400,
            max_open_turns: 20_000,
        }
    }
}

impl Settings {
    pub fn calendar(&self) -> Result<Calendar, AnalyticsError> {
        let b = &self.business_hours;
        Calendar::new(&self.timezone, &b.days, &b.open, &b.close, &b.holidays)
    }

    /// Checks what a config file may get wrong, naming the field.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        self.calendar()?;
        let w = &self.weights;
        if [w.speed, w.professionalism, w.resolution, w.emotion]
            .iter()
            .any(|x| !x.is_finite() || *x < 0.0)
            || w.speed + w.professionalism + w.resolution + w.emotion <= 0.0
        {
            return Err(AnalyticsError::Config(
                "analytics.weights: each weight is 0 or more, and they may not all be 0".into(),
            ));
        }
        let a = &self.alerts;
        if !(a.blue_seconds <= a.yellow_seconds && a.yellow_seconds <= a.red_seconds)
            || a.blue_seconds == 0
        {
            return Err(AnalyticsError::Config("analytics.alerts: the tiers must rise: 0 < blue_seconds ≤ yellow_seconds ≤ red_seconds".into()));
        }
        if !(1..=MAX_OPEN_TURNS).contains(&a.max_open_turns) {
            return Err(AnalyticsError::Config(format!(
                "analytics.alerts.max_open_turns: from 1 to {MAX_OPEN_TURNS}, not {}",
                a.max_open_turns
            )));
        }
        if a.chain.is_empty() || a.chain.iter().any(|c| c.trim().is_empty()) {
            return Err(AnalyticsError::Config(
                "analytics.alerts.chain: name at least one role, and no empty ones".into(),
            ));
        }
        if let Some(u) = a
            .webhooks
            .iter()
            .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(AnalyticsError::Config(format!(
                "analytics.alerts.webhooks: `{u}` is not an http:// or https:// address"
            )));
        }
        if a.webhook_attempts == 0 || a.webhook_attempts > 20 {
            return Err(AnalyticsError::Config(
                "analytics.alerts.webhook_attempts: from 1 to 20".into(),
            ));
        }
        if a.stalled_source_seconds == 0 {
            return Err(AnalyticsError::Config(
                "analytics.alerts.stalled_source_seconds: must be more than 0".into(),
            ));
        }
        if a.delayed_source_seconds == 0 {
            return Err(AnalyticsError::Config(
                "analytics.alerts.delayed_source_seconds: must be more than 0".into(),
            ));
        }
        if self.sla.default_seconds == 0 {
            return Err(AnalyticsError::Config(
                "analytics.sla.default_seconds: must be more than 0".into(),
            ));
        }
        Ok(())
    }

    /// The SLA threshold in seconds for a response on `platform` by an agent of `team`.
    pub fn threshold_seconds(&self, platform: &str, team: Option<&str>) -> u32 {
        team.and_then(|t| self.sla.teams.get(t))
            .or_else(|| self.sla.platforms.get(platform))
            .copied()
            .unwrap_or(self.sla.default_seconds)
    }

    /// A fingerprint of everything the cached per-conversation results depend on: when
    /// it changes, the cache is rebuilt.
    pub fn content_fingerprint(&self) -> String {
        let v = serde_json::json!([
            self.topics,
            self.scripts,
            self.risk_words,
            self.sentiment,
            self.resolution.confirm_phrases,
            self.timezone,
            self.business_hours
        ]);
        v.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let alerts = |f: &dyn Fn(&mut Alerts)| {
            let mut s = Settings::default();
            f(&mut s.alerts);
            s
        };
        let cases: Vec<(&str, Settings, Option<&str>)> = vec![
            ("the defaults", Settings::default(), None),
            (
                "tiers that fall",
                alerts(&|a| a.yellow_seconds = 10),
                Some("analytics.alerts: the tiers must rise"),
            ),
            (
                "a zero blue tier",
                alerts(&|a| a.blue_seconds = 0),
                Some("analytics.alerts: the tiers must rise"),
            ),
            (
                "no open turn watched",
                alerts(&|a| a.max_open_turns = 0),
                Some("analytics.alerts.max_open_turns: from 1 to 1000000, not 0"),
            ),
            (
                "more open turns than the largest taken",
                alerts(&|a| a.max_open_turns = u32::MAX),
                Some("analytics.alerts.max_open_turns"),
            ),
            (
                "an empty chain",
                alerts(&|a| a.chain.clear()),
                Some("analytics.alerts.chain"),
            ),
            (
                "a blank chain entry",
                alerts(&|a| a.chain.push(" ".into())),
                Some("analytics.alerts.chain"),
            ),
            (
                "a webhook that is no http address",
                alerts(&|a| a.webhooks = vec!["ftp://x/hook".into()]),
                Some("analytics.alerts.webhooks: `ftp://x/hook`"),
            ),
            (
                "no webhook attempts",
                alerts(&|a| a.webhook_attempts = 0),
                Some("analytics.alerts.webhook_attempts"),
            ),
            (
                "too many webhook attempts",
                alerts(&|a| a.webhook_attempts = 21),
                Some("analytics.alerts.webhook_attempts"),
            ),
            (
                "a zero stall time",
                alerts(&|a| a.stalled_source_seconds = 0),
                Some("analytics.alerts.stalled_source_seconds"),
            ),
            (
                "negative weights",
                Settings {
                    weights: Weights {
                        speed: -1.0,
                        ..Weights::default()
                    },
                    ..Settings::default()
                },
                Some("analytics.weights"),
            ),
            (
                "a bad time zone",
                Settings {
                    timezone: "Mars/Olympus".into(),
                    ..Settings::default()
                },
                Some("Mars/Olympus"),
            ),
        ];
        for (name, s, want) in cases {
            match (s.validate(), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_config_file_section_parses_and_unknown_keys_are_refused() {
        let s: Settings = toml::from_str(
            "[alerts]\nblue_seconds = 2\nwebhooks = [\"https://hooks.example/cv\"]\n",
        )
        .unwrap();
        assert_eq!(
            (
                s.alerts.blue_seconds,
                s.alerts.yellow_seconds,
                s.alerts.webhooks.len(),
                s.alerts.enabled
            ),
            (2, 300, 1, true)
        );
        let e = toml::from_str::<Settings>("[alerts]\nblue = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `blue`"), "{e}");
    }
}
