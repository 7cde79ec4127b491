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
