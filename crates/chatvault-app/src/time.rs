//! Times people type and read: one parser for the CLI, the API and the web UI.
//!
//! A time is RFC 3339 (with its own offset), milliseconds since the epoch, a date
//! (`2024-02-01`), or a date and time to the minute or second (`2024-02-01 18:30`,
//! `2024-02-01T18:30:05`). A value without a zone is in the deployment's zone
//! (`[server] timezone`, default this machine's). Both ends of a range are inclusive:
//! `to = 2024-02-01` includes all of that day, `to = "2024-02-01 18:30"` all of that minute.
//! A time shown to a person is shown in the same zone, with its name.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// A time zone: a name (`Asia/Shanghai`, `UTC`), a fixed offset (`+08:00`), or this
/// machine's zone when its name cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Local,
    Named(chrono_tz::Tz),
    Fixed(chrono::FixedOffset),
}

/// A time that could not be read: the field (or flag) it came in, the value, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: `{value}` {why}")]
pub struct TimeError {
    pub field: String,
    pub value: String,
    pub why: String,
}

fn error(field: &str, value: &str, why: impl Into<String>) -> TimeError {
    TimeError {
        field: field.to_owned(),
        value: value.to_owned(),
        why: why.into(),
    }
}

impl Zone {
    /// This machine's zone, by its IANA name when the system says it
    /// (`iana-time-zone`, which chrono itself uses), else the system's local offsets.
    pub fn machine() -> Zone {
        iana_time_zone::get_timezone()
            .ok()
            .and_then(|n| n.parse::<chrono_tz::Tz>().ok())
            .map_or(Zone::Local, Zone::Named)
    }

    /// `Asia/Shanghai`, `UTC`, `+08:00`, or `local` (this machine's). `field` names where
    /// the value came from, for the error.
    pub fn parse(s: &str, field: &str) -> Result<Zone, TimeError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("local") {
            return Ok(Zone::machine());
        }
        if let Ok(tz) = t.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Named(tz));
        }
        if t.starts_with(['+', '-']) {
            if let Ok(dt) = DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{t}")) {
                return Ok(Zone::Fixed(*dt.offset()));
            }
        }
        Err(error(
            field,
            s,
            "is not a time zone: expected a name such as Asia/Shanghai, UTC, an offset such as +08:00, or `local`",
        ))
    }

    /// The zone's name as a person reads it: `Asia/Shanghai`, `+08:00`, `local`.
    pub fn name(&self) -> String {
        match self {
            Zone::Local => "local".into(),
            Zone::Named(tz) => tz.name().into(),
            Zone::Fixed(off) => off.to_string(),
        }
    }

    /// The instant a wall-clock time names. In a repeated hour (daylight saving), the
    /// earlier; in a skipped hour, none.
    pub fn resolve(&self, naive: NaiveDateTime) -> Option<i64> {
        fn pick<T: TimeZone>(r: LocalResult<DateTime<T>>) -> Option<i64> {
            r.earliest().map(|d| d.timestamp_millis())
        }
        match self {
            Zone::Local => pick(chrono::Local.from_local_datetime(&naive)),
            Zone::Named(tz) => pick(tz.from_local_datetime(&naive)),
            Zone::Fixed(off) => pick(off.from_local_datetime(&naive)),
        }
    }

    /// An instant in this zone, with the offset in force then.
    fn local(&self, ms: i64) -> Option<DateTime<chrono::FixedOffset>> {
        let utc = DateTime::from_timestamp_millis(ms)?;
        Some(match self {
            Zone::Local => utc.with_timezone(&chrono::Local).fixed_offset(),
            Zone::Named(tz) => utc.with_timezone(tz).fixed_offset(),
            Zone::Fixed(off) => utc.with_timezone(off),
        })
    }

    /// An instant as RFC 3339 in this zone (`2024-03-01T09:15:02+08:00`).
    pub fn rfc3339(&self, ms: i64) -> String {
        self.local(ms)
            .map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
    }

    /// An instant as a person reads it, to the minute, with the zone's offset
    /// (`2024-03-01 09:15 +08:00`); empty for an instant chrono cannot hold.
    pub fn minute(&self, ms: i64) -> String {
        self.format(ms, "%Y-%m-%d %H:%M %:z")
    }

    /// A message's time (RFC 3339, with the offset its source wrote) as a person reads it
    /// here: in this zone, to the second, with the zone's offset then
    /// (`2024-03-01 09:15:02 +08:00`). A value that is not RFC 3339 comes back as it is.
    pub fn show(&self, rfc3339: &str) -> String {
        match DateTime::parse_from_rfc3339(rfc3339) {
            Ok(t) => {
                let s = self.format(t.timestamp_millis(), "%Y-%m-%d %H:%M:%S %:z");
                if s.is_empty() {
                    rfc3339.to_owned()
                } else {
                    s
                }
            }
            Err(_) => rfc3339.to_owned(),
        }
    }

    /// An instant in this zone with a chrono format string; empty for an instant chrono
    /// cannot hold.
    pub fn format(&self, ms: i64, fmt: &str) -> String {
        self.local(ms)
            .map(|t| t.format(fmt).to_string())
            .unwrap_or_default()
    }
}

/// Which end of a range a value is for: a `To` date or minute means its last millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    From,
    To,
}

/// Parses one time to UTC milliseconds, in `zone` when it carries none. Bounded like every
/// number a caller sends: the years 0001 to 9999.
pub fn parse_bound(s: &str, zone: Zone, end: End, field: &str) -> Result<i64, TimeError> {
    let t = s.trim();
    let ms = parse_unbounded(t, zone, end, field)?;
    if !(chatvault_model::MIN_UTC_MS..=chatvault_model::MAX_UTC_MS).contains(&ms) {
        return Err(error(field, s, "is outside the years 0001 to 9999"));
    }
    Ok(ms)
}

fn parse_unbounded(t: &str, zone: Zone, end: End, field: &str) -> Result<i64, TimeError> {
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| error(field, t, "is outside the years 0001 to 9999"));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    let (naive, span) = if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        (d.and_time(NaiveTime::MIN), Duration::days(1))
    } else if let Some(n) = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    {
        (n, Duration::seconds(1))
    } else if let Some(n) = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    {
        (n, Duration::minutes(1))
    } else {
        return Err(error(
            field,
            t,
            "is not RFC 3339, YYYY-MM-DD, `YYYY-MM-DD HH:MM[:SS]` or milliseconds",
        ));
    };
    let start = zone.resolve(naive).ok_or_else(|| {
        error(
            field,
            t,
            format!("does not exist in the time zone {}", zone.name()),
        )
    })?;
    Ok(match end {
        End::From => start,
        End::To => start + span.num_milliseconds() - 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(s: &str) -> Zone {
        Zone::parse(s, "zone").expect("zone")
    }

    #[test]
    fn shown_in_the_zone_table() {
        let cases = [
            (
                "same_zone",
                "2024-03-01T09:15:02+08:00",
                "Asia/Shanghai",
                "2024-03-01 09:15:02 +08:00",
            ),
            (
                "from_utc",
                "2024-03-01T01:15:02Z",
                "Asia/Shanghai",
                "2024-03-01 09:15:02 +08:00",
            ),
            (
                "to_utc_crosses_the_day",
                "2024-03-01T07:15:02+08:00",
                "UTC",
                "2024-02-29 23:15:02 +00:00",
            ),
            (
                "dst_offset_of_that_day",
                "2024-07-01T12:00:00Z",
                "Europe/Berlin",
                "2024-07-01 14:00:00 +02:00",
            ),
            (
                "fixed_offset",
                "2024-03-01T01:15:02Z",
                "-05:00",
                "2024-02-29 20:15:02 -05:00",
            ),
            (
                "millis_dropped",
                "2024-03-01T01:15:02.999Z",
                "UTC",
                "2024-03-01 01:15:02 +00:00",
            ),
            ("not_rfc3339_kept", "yesterday", "UTC", "yesterday"),
            ("empty_kept", "", "UTC", ""),
        ];
        for (name, given, z, want) in cases {
            assert_eq!(zone(z).show(given), want, "{name}");
        }
    }

    #[test]
    fn bounds_table() {
        let cases: Vec<(&str, &str, &str, End, Result<i64, &str>)> = vec![
            (
                "rfc3339_keeps_its_offset",
                "2024-03-01T09:15:02+08:00",
                "UTC",
                End::From,
                Ok(1_709_255_702_000),
            ),
            (
                "rfc3339_to_is_exact",
                "2024-03-01T09:15:02+08:00",
                "UTC",
                End::To,
                Ok(1_709_255_702_000),
            ),
            (
                "date_from_shanghai",
                "2024-03-01",
                "Asia/Shanghai",
                End::From,
                Ok(1_709_222_400_000),
            ),
            (
                "date_to_is_whole_day",
                "2024-03-01",
                "Asia/Shanghai",
                End::To,
                Ok(1_709_308_799_999),
            ),
            (
                "date_from_utc",
                "2024-03-01",
                "UTC",
                End::From,
                Ok(1_709_251_200_000),
            ),
            (
                "minute_from",
                "2024-03-01 09:15",
                "+08:00",
                End::From,
                Ok(1_709_255_700_000),
            ),
            (
                "minute_to_is_whole_minute",
                "2024-03-01T09:15",
                "+08:00",
                End::To,
                Ok(1_709_255_759_999),
            ),
            (
                "second_to_is_whole_second",
                "2024-03-01 09:15:02",
                "+08:00",
                End::To,
                Ok(1_709_255_702_999),
            ),
            (
                "milliseconds_are_exact",
                "1709255702000",
                "Asia/Shanghai",
                End::To,
                Ok(1_709_255_702_000),
            ),
            (
                "spaces_around",
                "  2024-03-01 ",
                "UTC",
                End::From,
                Ok(1_709_251_200_000),
            ),
            (
                "dst_gap_does_not_exist",
                "2024-03-10 02:30",
                "America/New_York",
                End::From,
                Err("does not exist in the time zone America/New_York"),
            ),
            (
                "dst_repeat_takes_earlier",
                "2024-11-03 01:30",
                "America/New_York",
                End::From,
                Ok(1_730_611_800_000),
            ),
            (
                "garbage",
                "yesterday",
                "UTC",
                End::From,
                Err("is not RFC 3339"),
            ),
            ("empty", "", "UTC", End::From, Err("is not RFC 3339")),
            (
                "month_13",
                "2024-13-01",
                "UTC",
                End::From,
                Err("is not RFC 3339"),
            ),
            (
                "huge_milliseconds",
                "9223372036854775807",
                "UTC",
                End::From,
                Err("outside the years"),
            ),
            (
                "too_many_digits",
                "99999999999999999999999",
                "UTC",
                End::From,
                Err("outside the years"),
            ),
            (
                "year_zero",
                "0000-01-01",
                "UTC",
                End::From,
                Err("outside the years"),
            ),
            (
                "negative_milliseconds",
                "-86400000",
                "UTC",
                End::From,
                Ok(-86_400_000),
            ),
            (
                "two_minus_signs",
                "--5",
                "UTC",
                End::From,
                Err("is not RFC 3339"),
            ),
            ("lone_minus", "-", "UTC", End::From, Err("is not RFC 3339")),
        ];
        for (name, input, z, end, want) in cases {
            let got = parse_bound(input, zone(z), end, "--from");
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
                (Err(e), Err(w)) => {
                    assert!(e.to_string().contains(w), "{name}: {e}");
                    assert!(e.to_string().starts_with("--from: "), "{name}: {e}");
                }
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn zones_table() {
        let cases: Vec<(&str, Result<&str, ()>)> = vec![
            ("named", Ok("Asia/Shanghai")),
            ("utc", Ok("UTC")),
            ("offset", Ok("+08:00")),
            ("negative_offset", Ok("-05:30")),
            ("unknown_name", Err(())),
            ("offset_out_of_range", Err(())),
            ("empty", Err(())),
        ];
        let inputs = [
            "Asia/Shanghai",
            "UTC",
            "+08:00",
            "-05:30",
            "Mars/Olympus",
            "+25:00",
            "",
        ];
        for ((name, want), input) in cases.into_iter().zip(inputs) {
            match (Zone::parse(input, "timezone"), want) {
                (Ok(z), Ok(w)) => assert_eq!(z.name(), w, "{name}"),
                (Err(e), Err(())) => assert!(e.to_string().starts_with("timezone: "), "{name}"),
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
        assert!(Zone::parse("local", "tz").is_ok());
    }

    #[test]
    fn shown_in_the_zone_with_its_offset() {
        let sh = zone("Asia/Shanghai");
        assert_eq!(sh.rfc3339(1_709_255_702_000), "2024-03-01T09:15:02+08:00");
        assert_eq!(sh.minute(1_709_255_702_000), "2024-03-01 09:15 +08:00");
        assert_eq!(
            zone("UTC").minute(1_709_255_702_000),
            "2024-03-01 01:15 +00:00"
        );
    }

    proptest::proptest! {
        /// What is shown is read back to the same instant, in any zone (1950 to 2100: before
        /// that, zones had local mean times with second offsets RFC 3339 cannot write).
        #[test]
        fn shown_times_read_back(ms in -631_152_000_000i64..4_102_444_800_000, z in 0usize..4) {
            let zone = [zone("Asia/Shanghai"), zone("UTC"), zone("-05:30"), zone("America/New_York")][z];
            let s = zone.rfc3339(ms);
            let back = parse_bound(&s, Zone::Named(chrono_tz::UTC), End::From, "t").expect("reads back");
            proptest::prop_assert_eq!(back, ms);
        }
    }
}
