//! Time: sources that record local wall-clock time without an offset are read in the
//! zone the user names (`--tz`), by default the machine's own.

use chrono::{LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

use chatvault_model::{Timestamp, MAX_UTC_MS, MIN_UTC_MS};

/// The machine's zone and how it was found, for the import report.
pub fn machine_zone() -> (Tz, String) {
    if let Ok(tz) = std::env::var("TZ") {
        let name = tz.trim_start_matches(':');
        if let Ok(z) = name.parse::<Tz>() {
            return (z, format!("{name} (from $TZ)"));
        }
    }
    match iana_time_zone::get_timezone() {
        Ok(name) => match name.parse::<Tz>() {
            Ok(z) => (z, format!("{name} (the machine's zone)")),
            Err(_) => (
                chrono_tz::UTC,
                format!("UTC (the machine's zone `{name}` is unknown to the zone database)"),
            ),
        },
        Err(e) => (
            chrono_tz::UTC,
            format!("UTC (the machine's zone could not be read: {e})"),
        ),
    }
}

/// Turns local wall-clock times into instants.
pub trait LocalTime {
    /// The instant of `t` in this zone. In a daylight-saving fold the earlier instant is
    /// taken; a time in a gap (which no clock showed) is moved forward by the gap.
    fn instant(&self, t: NaiveDateTime) -> Option<Timestamp>;
}

impl LocalTime for Tz {
    fn instant(&self, t: NaiveDateTime) -> Option<Timestamp> {
        let dt = match self.from_local_datetime(&t) {
            LocalResult::Single(d) => d,
            LocalResult::Ambiguous(a, _) => a,
            LocalResult::None => {
                match self.from_local_datetime(&(t + chrono::Duration::hours(1))) {
                    LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => d,
                    LocalResult::None => return None,
                }
            }
        };
        let utc_ms = dt.timestamp_millis();
        (MIN_UTC_MS..=MAX_UTC_MS)
            .contains(&utc_ms)
            .then(|| Timestamp {
                utc_ms,
                offset_s: Some(dt.offset().fix().local_minus_utc()),
            })
    }
}

/// A local date and time from parts, checked.
pub fn naive(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s)
}

/// Why a local date and time do not exist, naming the part that is wrong: `month 13`,
/// `day 30 (February 2023 has 28 days)`, `hour 24`, or the year range.
pub fn why_no_time(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> String {
    let when = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
    let why = if !(1..=9999).contains(&y) {
        format!("year {y} (the archive keeps the years 0001 to 9999)")
    } else if !(1..=12).contains(&mo) {
        format!("month {mo}")
    } else if NaiveDate::from_ymd_opt(y, mo, d).is_none() {
        let days = (28..=31)
            .rev()
            .find(|n| NaiveDate::from_ymd_opt(y, mo, *n).is_some())
            .unwrap_or(28);
        let month = NaiveDate::from_ymd_opt(y, mo, 1)
            .map(|m| m.format("%B %Y").to_string())
            .unwrap_or_default();
        format!("day {d} ({month} has {days} days)")
    } else if h > 23 {
        format!("hour {h}")
    } else if mi > 59 {
        format!("minute {mi}")
    } else if s > 59 {
        format!("second {s}")
    } else {
        "the time is outside the years 0001 to 9999 in UTC".into()
    };
    format!("no such time: {when}: {why}")
}

/// Why an epoch value is not an instant the archive keeps.
pub fn why_no_epoch(field: &str, value: i64, millis: bool) -> String {
    let unit = if millis { "milliseconds" } else { "seconds" };
    format!("field `{field}`: {value} {unit} since 1970 is outside the years 0001 to 9999")
}

/// Epoch seconds or milliseconds (told apart by magnitude) as an instant in UTC.
pub fn epoch(value: i64, millis: bool) -> Option<Timestamp> {
    let ms = if millis {
        Some(value)
    } else {
        value.checked_mul(1000)
    }?;
    (MIN_UTC_MS..=MAX_UTC_MS)
        .contains(&ms)
        .then_some(Timestamp {
            utc_ms: ms,
            offset_s: Some(0),
        })
}

/// Parses the local date-time shapes that exports and spreadsheets write:
/// `2024-10-04 11:42:05`, `2024/10/4 11:42`, `2024-10-04T11:42:05`, optionally with
/// fractional seconds.
pub fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split(['-', '/', '.']).map(|p| p.parse::<u32>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || y < 1000 {
        return None;
    }
    let time = time.trim();
    let (time, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, mi) = (t.next()??, t.next()??);
    let sec = t.next().unwrap_or(Some(0))?;
    if t.next().is_some() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n = naive(y as i32, mo, day, h, mi, sec)?;
    if !frac.is_empty() {
        let ms: u32 = format!("{frac:0<3}")[..3].parse().ok()?;
        n += chrono::Duration::milliseconds(i64::from(ms));
    }
    Some(n)
}

/// Parses a timestamp in any shape a CSV or JSON export uses: RFC 3339 with an offset,
/// epoch seconds (10 digits) or milliseconds (13 digits), or local time in `tz`.
pub fn parse_any(s: &str, tz: &Tz) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = Timestamp::parse_rfc3339(s) {
        return Some(t);
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let v: i64 = s.parse().ok()?;
        return match s.len() {
            9 | 10 => epoch(v, false),
            12 | 13 => epoch(v, true),
            _ => None,
        };
    }
    tz.instant(parse_local(s)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_times_name_the_part() {
        let cases = [
            ("month_13", (2024, 13, 1, 0, 0, 0), "month 13"),
            (
                "feb_30",
                (2023, 2, 30, 0, 0, 0),
                "day 30 (February 2023 has 28 days)",
            ),
            (
                "leap_feb_30",
                (2024, 2, 30, 0, 0, 0),
                "day 30 (February 2024 has 29 days)",
            ),
            (
                "day_0",
                (2024, 4, 0, 0, 0, 0),
                "day 0 (April 2024 has 30 days)",
            ),
            ("hour_24", (2024, 4, 1, 24, 0, 0), "hour 24"),
            ("minute_60", (2024, 4, 1, 23, 60, 0), "minute 60"),
            ("second_61", (2024, 4, 1, 23, 59, 61), "second 61"),
            ("year_0", (0, 4, 1, 0, 0, 0), "year 0"),
        ];
        for (name, (y, mo, d, h, mi, s), want) in cases {
            let got = why_no_time(y, mo, d, h, mi, s);
            assert!(got.contains(want), "{name}: {got}");
            let instant = naive(y, mo, d, h, mi, s).and_then(|t| chrono_tz::UTC.instant(t));
            assert!(instant.is_none(), "{name}");
        }
        // Before 1970 is an ordinary instant.
        let t = chrono_tz::UTC
            .instant(naive(1969, 7, 20, 20, 17, 40).expect("time"))
            .expect("instant");
        assert_eq!(t.utc_ms, -14_182_940_000);
        assert_eq!(
            epoch(-14_182_940, false).map(|t| t.utc_ms),
            Some(-14_182_940_000)
        );
        assert!(why_no_epoch("msgtime", i64::MAX, true).contains("field `msgtime`"));
    }

    #[test]
    fn local_times_table() {
        let shanghai: Tz = "Asia/Shanghai".parse().expect("tz");
        let berlin: Tz = "Europe/Berlin".parse().expect("tz");
        let cases: Vec<(&str, &str, Tz, Option<&str>)> = vec![
            (
                "seconds",
                "2024-10-04 11:42:05",
                shanghai,
                Some("2024-10-04T03:42:05Z"),
            ),
            (
                "excel_resaved",
                "2024/10/4 11:42",
                shanghai,
                Some("2024-10-04T03:42:00Z"),
            ),
            (
                "iso_t",
                "2024-10-04T11:42:05",
                chrono_tz::UTC,
                Some("2024-10-04T11:42:05Z"),
            ),
            (
                "fraction",
                "2024-10-04 11:42:05.25",
                chrono_tz::UTC,
                Some("2024-10-04T11:42:05.250Z"),
            ),
            (
                "rfc3339",
                "2024-10-04T11:42:05+08:00",
                chrono_tz::UTC,
                Some("2024-10-04T03:42:05Z"),
            ),
            (
                "epoch_s",
                "1652135033",
                chrono_tz::UTC,
                Some("2022-05-09T22:23:53Z"),
            ),
            (
                "epoch_ms",
                "1547087894783",
                chrono_tz::UTC,
                Some("2019-01-10T02:38:14.783Z"),
            ),
            (
                "dst_gap_moves_forward",
                "2024-03-31 02:30:00",
                berlin,
                Some("2024-03-31T01:30:00Z"),
            ),
            (
                "dst_fold_takes_earlier",
                "2024-10-27 02:30:00",
                berlin,
                Some("2024-10-27T00:30:00Z"),
            ),
            ("bad_month", "2024-13-04 11:42", chrono_tz::UTC, None),
            ("words", "yesterday", chrono_tz::UTC, None),
            ("empty", "", chrono_tz::UTC, None),
            ("short_number", "12345", chrono_tz::UTC, None),
        ];
        for (name, input, tz, want) in cases {
            let got = parse_any(input, &tz).map(|t| Timestamp::utc(t.utc_ms).to_rfc3339());
            assert_eq!(got.as_deref(), want, "{name}");
        }
    }
}
