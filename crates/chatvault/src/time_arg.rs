//! `--from` / `--to`: RFC 3339, or a date or a date and time to the minute in `--tz`
//! (default: this machine's zone). Both ends are inclusive: `--to 2024-02-01` includes all
//! of 1 February, `--to "2024-02-01 18:30"` all of that minute.

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// A time zone given by `--tz`: a name (`Asia/Shanghai`), `UTC`, an offset (`+08:00`), or
/// `local`.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Local,
    Named(chrono_tz::Tz),
    Fixed(chrono::FixedOffset),
}

impl Zone {
    pub fn parse(s: &str) -> Result<Zone> {
        if s.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if let Ok(tz) = s.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Named(tz));
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{s}")) {
            return Ok(Zone::Fixed(*dt.offset()));
        }
        bail!("--tz `{s}`: expected a zone name such as Asia/Shanghai, UTC, an offset such as +08:00, or `local`")
    }

    fn resolve(&self, naive: NaiveDateTime) -> Option<i64> {
        fn pick<T: TimeZone>(r: LocalResult<DateTime<T>>) -> Option<i64> {
            // In a repeated hour (DST), the earlier instant; in a skipped hour, none.
            r.earliest().map(|d| d.timestamp_millis())
        }
        match self {
            Zone::Local => pick(chrono::Local.from_local_datetime(&naive)),
            Zone::Named(tz) => pick(tz.from_local_datetime(&naive)),
            Zone::Fixed(off) => pick(off.from_local_datetime(&naive)),
        }
    }
}

/// Which end of a range a value is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    From,
    To,
}

/// Parses one bound to UTC milliseconds.
pub fn parse_bound(s: &str, zone: Zone, end: End, flag: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.timestamp_millis());
    }
    let bad = || anyhow!("{flag} `{s}`: expected RFC 3339, YYYY-MM-DD, or `YYYY-MM-DD HH:MM`");
    let (naive, span) = if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        (d.and_time(NaiveTime::MIN), Duration::days(1))
    } else {
        let t = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .ok_or_else(bad)?;
        (t, Duration::minutes(1))
    };
    let start = zone
        .resolve(naive)
        .ok_or_else(|| anyhow!("{flag} `{s}` does not exist in that time zone"))?;
    Ok(match end {
        End::From => start,
        End::To => start + span.num_milliseconds() - 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_table() {
        let sh = Zone::parse("Asia/Shanghai").expect("zone");
        let utc = Zone::parse("UTC").expect("zone");
        let plus8 = Zone::parse("+08:00").expect("zone");
        let cases: Vec<(&str, &str, Zone, End, i64)> = vec![
            (
                "rfc3339_ignores_zone",
                "2024-03-01T09:15:02+08:00",
                utc,
                End::From,
                1_709_255_702_000,
            ),
            (
                "date_from_shanghai",
                "2024-03-01",
                sh,
                End::From,
                1_709_222_400_000,
            ),
            (
                "date_to_is_whole_day",
                "2024-03-01",
                sh,
                End::To,
                1_709_308_799_999,
            ),
            (
                "minute_from",
                "2024-03-01 09:15",
                plus8,
                End::From,
                1_709_255_700_000,
            ),
            (
                "minute_to_is_whole_minute",
                "2024-03-01T09:15",
                plus8,
                End::To,
                1_709_255_759_999,
            ),
            ("utc_date", "2024-03-01", utc, End::From, 1_709_251_200_000),
        ];
        for (name, s, z, e, want) in cases {
            assert_eq!(parse_bound(s, z, e, "--from").expect(name), want, "{name}");
        }
    }

    #[test]
    fn malformed_bounds() {
        let z = Zone::parse("UTC").expect("zone");
        for (name, s) in [
            ("words", "yesterday"),
            ("month_13", "2024-13-01"),
            ("seconds_without_zone", "2024-03-01 09:15:02x"),
            ("empty", ""),
        ] {
            assert!(parse_bound(s, z, End::From, "--from").is_err(), "{name}");
        }
        for bad in ["Mars/Olympus", "+25:00", ""] {
            assert!(Zone::parse(bad).is_err(), "{bad}");
        }
    }
}
