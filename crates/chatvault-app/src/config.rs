//! The server's config: a TOML file, then `CHATVAULT_*` environment overrides, then
//! command-line flags. `chatvault config example` prints [`example`], generated from
//! [`Config::default`], so the example can never drift from the code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chatvault_access::Settings;
use chatvault_policy::{Role, RolePolicy, RoleRules};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: String,
    /// Reverse proxies in front of the server (their addresses, e.g. `127.0.0.1`): from
    /// a request they pass on, the client's address is read from `X-Forwarded-For`, so
    /// sign-in throttling and the audit log see each client, not the proxy. From any other
    /// address the header is ignored.
    pub trusted_proxies: Vec<String>,
    pub tls: Tls,
    pub limits: Limits,
    /// Sessions, sign-in throttling and anomaly rules.
    pub security: Settings,
    /// The longest a grant may run, in days.
    pub max_grant_days: u32,
    /// Per-role overrides of the defaults in PRODUCT.md; a role not named keeps its default.
    pub roles: BTreeMap<Role, RoleRules>,
    /// Deletion windows and the sweep schedule.
    pub retention: Retention,
    /// Backup target, recipients and how long each tier's sets are kept.
    pub backup: Backup,
    /// Service quality: business hours, SLA thresholds, lexicons, weights, alert tiers.
    pub analytics: chatvault_analytics::Settings,
    /// The deployment: its time zone.
    pub server: Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// The zone of times given without one (`2024-02-01`, `2024-02-01 18:30`) on the
    /// command line, in the API and in the web UI, and of times shown to people: an IANA
    /// name (`Asia/Shanghai`), `UTC` or an offset (`+08:00`). Empty: this machine's zone.
    pub timezone: String,
    /// A request that waits for the archive, or holds it, this many milliseconds or
    /// longer is logged (to standard error) with the code that took it.
    pub slow_lock_ms: u64,
    /// A file holding the token Prometheus sends (`Authorization: Bearer …`) to scrape
    /// `/metrics` (or the env `CHATVAULT_METRICS_TOKEN`). Without one, only an admin's
    /// token or session may read it.
    pub metrics_token_file: Option<std::path::PathBuf>,
    /// How often (ms, 10 to 5000) the server commits what ingest stored to the search
    /// index: stored messages are durable at once, and searchable within this.
    pub index_commit_ms: u64,
}

impl Default for Server {
    fn default() -> Server {
        Server {
            timezone: String::new(),
            slow_lock_ms: 1000,
            metrics_token_file: None,
            index_commit_ms: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backup {
    /// A folder or s3://bucket/prefix; empty: `chatvault backup --to` must say.
    pub to: String,
    /// age recipients (age1…) every backup is encrypted to.
    pub recipients: Vec<String>,
    /// Days a backup set of each tier is kept by `backup prune` (the seeds' tiers:
    /// hourly kept 6 months, weekly a year, event-triggered three years). A tier not named
    /// is kept until pruned by hand.
    pub keep_days: BTreeMap<String, u32>,
    /// Backups `serve` takes on its own: each a cron expression (optional leading seconds
    /// field, in `retention.timezone`), a tier, and whether it starts a new set. After
    /// each, expired sets are pruned.
    pub schedules: Vec<BackupSchedule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSchedule {
    pub cron: String,
    pub tier: String,
    #[serde(default)]
    pub full: bool,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            to: String::new(),
            recipients: vec![],
            keep_days: BTreeMap::from([
                ("hourly".into(), 180),
                ("weekly".into(), 365),
                ("event".into(), 1095),
            ]),
            schedules: vec![],
        }
    }
}

impl Backup {
    /// The parsed schedules, checked against a target and recipients being set.
    pub fn parsed_schedules(&self) -> Result<Vec<(croner::Cron, BackupSchedule)>, ConfigError> {
        if !self.schedules.is_empty() && (self.to.trim().is_empty() || self.recipients.is_empty()) {
            return Err(ConfigError::Invalid(
                "backup.schedules: set backup.to and backup.recipients too".into(),
            ));
        }
        self.schedules
            .iter()
            .map(|s| {
                croner::Cron::new(s.cron.trim())
                    .with_seconds_optional()
                    .parse()
                    .map(|c| (c, s.clone()))
                    .map_err(|e| {
                        ConfigError::Invalid(format!("backup.schedules: `{}`: {e}", s.cron))
                    })
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Days a deleted message stays recoverable before it is purged.
    pub recover_days: u32,
    /// When `serve` sweeps: a cron expression (minute hour day month weekday, with an
    /// optional leading seconds field), in `timezone`; empty for no scheduled sweeps.
    /// "0 22 * * *" is daily at 22:00.
    pub sweep_schedule: String,
    /// The schedule's time zone (IANA name).
    pub timezone: String,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            recover_days: 30,
            sweep_schedule: String::new(),
            timezone: "Asia/Shanghai".into(),
        }
    }
}

impl Retention {
    /// The parsed schedule, when one is set.
    pub fn schedule(&self) -> Result<Option<croner::Cron>, ConfigError> {
        if self.sweep_schedule.trim().is_empty() {
            return Ok(None);
        }
        croner::Cron::new(self.sweep_schedule.trim())
            .with_seconds_optional()
            .parse()
            .map(Some)
            .map_err(|e| {
                ConfigError::Invalid(format!(
                    "retention.sweep_schedule: `{}`: {e}",
                    self.sweep_schedule
                ))
            })
    }

    pub fn tz(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.timezone.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "retention.timezone: `{}` is not an IANA time zone",
                self.timezone
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain; with `key`, the server speaks HTTPS only.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Lowest TLS version accepted: "1.2" or "1.3".
    pub min_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, in bytes (ingest batches included).
    pub max_body_bytes: usize,
    /// Most messages in one ingest batch.
    pub max_ingest_messages: usize,
    /// Most results in one page.
    pub max_page: usize,
}

impl Default for Config {
    fn default() -> Self {
        let defaults = RolePolicy::default();
        Config {
            listen: "127.0.0.1:8440".into(),
            trusted_proxies: vec![],
            tls: Tls::default(),
            limits: Limits::default(),
            security: Settings::default(),
            max_grant_days: defaults.max_grant_days,
            roles: defaults.roles.into_iter().collect(),
            retention: Retention::default(),
            backup: Backup::default(),
            analytics: chatvault_analytics::Settings::default(),
            server: Server::default(),
        }
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: None,
            key: None,
            min_version: "1.2".into(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_ingest_messages: 1000,
            max_page: 500,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("environment variable {var}: {why}")]
    Env { var: String, why: String },
    #[error("config: {0}")]
    Invalid(String),
}

/// Variables that are not config settings (keys, the data folder, the config path).
const NOT_SETTINGS: &[&str] = &[
    "CHATVAULT_DATA",
    "CHATVAULT_KEY",
    "CHATVAULT_PASSPHRASE",
    "CHATVAULT_NEW_KEY",
    "CHATVAULT_NEW_PASSPHRASE",
    "CHATVAULT_CONFIG",
    "CHATVAULT_PASSWORD",
    "CHATVAULT_METRICS_TOKEN",
];

impl Config {
    /// Reads `path` (when given), applies `CHATVAULT_*` overrides from `env`, validates.
    /// An override names a setting by its path with `__` between levels:
    /// `CHATVAULT_LISTEN`, `CHATVAULT_TLS__MIN_VERSION`, `CHATVAULT_SECURITY__SESSION_IDLE_MINUTES`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree: toml::Table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::File {
                    path: p.to_owned(),
                    why: e.to_string(),
                })?;
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::File {
                        path: p.to_owned(),
                        why: e.to_string(),
                    })?
            }
            None => toml::Table::new(),
        };
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("CHATVAULT_") && !NOT_SETTINGS.contains(&k.as_str()))
            .collect();
        vars.sort();
        let known = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for (var, value) in vars {
            let rest = &var["CHATVAULT_".len()..];
            let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
            if !known.contains_key(&keys[0]) {
                return Err(ConfigError::Env {
                    var,
                    why: format!("no setting `{}` (see `chatvault config example`)", keys[0]),
                });
            }
            // A value is read as TOML when it parses as one (numbers, booleans, arrays), else as a string.
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"));
            let v = parsed.unwrap_or(toml::Value::String(value));
            let mut table = &mut tree;
            for k in &keys[..keys.len() - 1] {
                let entry = table
                    .entry(k.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                table = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
                    var: var.clone(),
                    why: format!("`{k}` is not a section"),
                })?;
            }
            table.insert(keys[keys.len() - 1].clone(), v);
        }
        let where_ = path.map_or_else(|| "the environment".to_owned(), |p| p.display().to_string());
        let mut cfg: Config =
            toml::Value::Table(tree)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::File {
                    path: PathBuf::from(&where_),
                    why: e.to_string(),
                })?;
        // Roles not named keep their defaults.
        for (role, rules) in RolePolicy::default().roles {
            cfg.roles.entry(role).or_insert(rules);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The deployment's time zone (`[server] timezone`; empty: this machine's).
    pub fn zone(&self) -> Result<crate::time::Zone, ConfigError> {
        if self.server.timezone.trim().is_empty() {
            return Ok(crate::time::Zone::machine());
        }
        crate::time::Zone::parse(&self.server.timezone, "server.timezone")
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.zone()?;
        self.analytics
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.listen.parse::<std::net::SocketAddr>().map_err(|_| {
            ConfigError::Invalid(format!(
                "listen: `{}` is not an address such as 127.0.0.1:8440",
                self.listen
            ))
        })?;
        // Under the throttle a stranger gets at most about 10 × the allowance plus a dozen
        // checked attempts per hour on one account; the lock must lie beyond that, or a
        // stranger could lock an owner out.
        let (t, l) = (
            self.security.throttle_after_failures,
            self.security.lock_after_failures_per_hour,
        );
        if u64::from(l) <= 10 * u64::from(t) + 12 {
            return Err(ConfigError::Invalid(format!(
                "security.lock_after_failures_per_hour ({l}) must exceed 10 × throttle_after_failures + 12 ({}), or a stranger could lock an account",
                10 * u64::from(t) + 12
            )));
        }
        if !(10..=5000).contains(&self.server.index_commit_ms) {
            return Err(ConfigError::Invalid(format!(
                "server.index_commit_ms: {} is outside 10 to 5000",
                self.server.index_commit_ms
            )));
        }
        for p in &self.trusted_proxies {
            p.trim().parse::<std::net::IpAddr>().map_err(|_| {
                ConfigError::Invalid(format!(
                    "trusted_proxies: `{p}` is not an IP address such as 127.0.0.1"
                ))
            })?;
        }
        if !matches!(self.tls.min_version.as_str(), "1.2" | "1.3") {
            return Err(ConfigError::Invalid(format!(
                "tls.min_version: `{}`; use 1.2 or 1.3",
                self.tls.min_version
            )));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid(
                "tls: give both `cert` and `key`, or neither".into(),
            ));
        }
        if self.limits.max_body_bytes < 1024
            || self.limits.max_ingest_messages == 0
            || self.limits.max_page == 0
        {
            return Err(ConfigError::Invalid(
                "limits: max_body_bytes ≥ 1024, max_ingest_messages and max_page ≥ 1".into(),
            ));
        }
        if self.max_grant_days == 0 {
            return Err(ConfigError::Invalid("max_grant_days: at least 1".into()));
        }
        if self.security.session_idle_minutes == 0 || self.security.session_absolute_hours == 0 {
            return Err(ConfigError::Invalid(
                "security: session timeouts must be at least 1".into(),
            ));
        }
        self.security
            .anomalies
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("security: {e}")))?;
        if self.retention.recover_days > 3650 {
            return Err(ConfigError::Invalid(
                "retention.recover_days: at most 3650".into(),
            ));
        }
        self.retention.schedule()?;
        self.retention.tz()?;
        self.backup.parsed_schedules()?;
        Ok(())
    }

    pub fn policy(&self) -> RolePolicy {
        RolePolicy {
            roles: self.roles.clone().into_iter().collect(),
            max_grant_days: self.max_grant_days,
        }
    }

    /// A stable digest of the effective config, to audit changes between runs.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let roles: Vec<_> = self.roles.iter().map(|(r, v)| (r.as_str(), v)).collect();
        let canonical = serde_json::json!({
            "listen": self.listen, "trusted_proxies": self.trusted_proxies, "tls": self.tls, "limits": self.limits, "security": self.security,
            "max_grant_days": self.max_grant_days, "roles": roles,
        });
        hex::encode(sha2::Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The example config: every setting at its default.
pub fn example() -> String {
    let body = toml::to_string_pretty(&Config::default()).unwrap_or_default();
    format!(
        "# chatvault server config, generated from the code's defaults (`chatvault config example`).\n\
         # Pass it with `chatvault serve --config FILE`. Any setting can be overridden by an\n\
         # environment variable: CHATVAULT_ and the path in capitals with `__` between levels,\n\
         # e.g. CHATVAULT_LISTEN=0.0.0.0:8440 or CHATVAULT_SECURITY__SESSION_IDLE_MINUTES=15.\n\
         # Role reach: nothing | own | team | all; rights: view, export, pii.view;\n\
         # approves: nobody | own_team | everyone.\n\n{body}"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn example_parses_back_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, example()).unwrap();
        assert_eq!(Config::load(Some(&p), vec![]).unwrap(), Config::default());
    }

    #[test]
    fn overrides_and_errors() {
        let ok = Config::load(
            None,
            env(&[
                ("CHATVAULT_LISTEN", "0.0.0.0:9000"),
                ("CHATVAULT_SECURITY__SESSION_IDLE_MINUTES", "5"),
                ("CHATVAULT_DATA", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.listen, "0.0.0.0:9000");
        assert_eq!(ok.security.session_idle_minutes, 5);
        let cases: &[(&str, &[(&str, &str)], &str)] = &[
            (
                "unknown variable",
                &[("CHATVAULT_LISTN", "x")],
                "CHATVAULT_LISTN",
            ),
            ("bad address", &[("CHATVAULT_LISTEN", "nowhere")], "listen"),
            (
                "bad tls version",
                &[("CHATVAULT_TLS__MIN_VERSION", "1.1")],
                "min_version",
            ),
            (
                "cert without key",
                &[("CHATVAULT_TLS__CERT", "/c.pem")],
                "both",
            ),
            (
                "zero idle timeout",
                &[("CHATVAULT_SECURITY__SESSION_IDLE_MINUTES", "0")],
                "timeouts",
            ),
            (
                "bad working hours",
                &[("CHATVAULT_SECURITY__WORKING_HOURS", "18:00-09:00")],
                "working_hours",
            ),
            (
                "wrong type",
                &[("CHATVAULT_MAX_GRANT_DAYS", "many")],
                "max_grant_days",
            ),
        ];
        for (name, vars, needle) in cases {
            let e = Config::load(None, env(vars)).expect_err(name).to_string();
            assert!(e.contains(needle), "{name}: {e}");
        }
    }

    #[test]
    fn a_role_override_keeps_the_other_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[roles.agent]\nreach = \"own\"\nwindow_days = 14\nrights = [\"view\"]\napproves = \"nobody\"\n").unwrap();
        let c = Config::load(Some(&p), vec![]).unwrap();
        assert_eq!(c.roles[&Role::Agent].window_days, Some(14));
        assert_eq!(
            c.roles[&Role::TeamLead],
            RolePolicy::default().roles[&Role::TeamLead]
        );
        std::fs::write(&p, "listen = 3\n").unwrap();
        let e = Config::load(Some(&p), vec![]).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("listen"), "{e}");
    }
}
