//! `--from`, `--to`, `--at`, `--expires`: read by the application's one time parser
//! ([`chatvault_app::time`]), in `--tz` when a command has it, else in the deployment's
//! zone (`[server] timezone` of the config in `CHATVAULT_CONFIG`; default this machine's),
//! exactly as the API and the web UI read them. Both ends are inclusive: `--to 2024-02-01`
//! includes all of 1 February, `--to "2024-02-01 18:30"` all of that minute.

use anyhow::Result;
pub use chatvault_app::time::{End, Zone};

/// The deployment's zone, from the config.
pub fn deployment_zone() -> Result<Zone> {
    Ok(crate::security::load_config()?.zone()?)
}

/// One time flag to UTC milliseconds: in `tz` (a `--tz` value) when given, else in the
/// deployment's zone.
pub fn parse(s: &str, flag: &str, end: End, tz: Option<&str>) -> Result<i64> {
    let zone = match tz {
        Some(t) => Zone::parse(t, "--tz")?,
        None => deployment_zone()?,
    };
    Ok(chatvault_app::time::parse_bound(s, zone, end, flag)?)
}
