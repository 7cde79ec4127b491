//! Business hours: which spans of time count for the business-hours variant of every
//! metric. A week of opening hours in one IANA time zone, and holidays (closed all day).

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

use crate::AnalyticsError;

#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    /// Per weekday (Monday first): the open span in minutes after local midnight.
    hours: [Option<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn minutes(s: &str, field: &str) -> Result<u32, AnalyticsError> {
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| AnalyticsError::Config(format!("{field}: `{s}` is not HH:MM")))?;
    Ok(chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t))
}

impl Calendar {
    /// `days`: weekday names (`mon` … `sun`); `open`/`close`: `HH:MM` local time (close
    /// `24:00` for midnight); `holidays`: `YYYY-MM-DD`.
    pub fn new(
        timezone: &str,
        days: &[String],
        open: &str,
        close: &str,
        holidays: &[String],
    ) -> Result<Calendar, AnalyticsError> {
        let tz: Tz = timezone.parse().map_err(|_| {
            AnalyticsError::Config(format!(
                "analytics.timezone: `{timezone}` is not an IANA time zone"
            ))
        })?;
        let o = minutes(open, "analytics.business_hours.open")?;
        let c = if close.trim() == "24:00" {
            24 * 60
        } else {
            minutes(close, "analytics.business_hours.close")?
        };
        if c <= o {
            return Err(AnalyticsError::Config(format!(
                "analytics.business_hours: close {close} is not after open {open}"
            )));
        }
        let mut hours = [None; 7];
        for d in days {
            let i = DAYS
                .iter()
                .position(|x| x.eq_ignore_ascii_case(d.trim()))
                .ok_or_else(|| {
                    AnalyticsError::Config(format!(
                        "analytics.business_hours.days: `{d}`; use mon … sun"
                    ))
                })?;
            hours[i] = Some((o, c));
        }
        let holidays = holidays
            .iter()
            .map(|h| {
                NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d").map_err(|_| {
                    AnalyticsError::Config(format!(
                        "analytics.business_hours.holidays: `{h}` is not YYYY-MM-DD"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Calendar {
            tz,
            hours,
            holidays,
        })
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    fn local_ms(&self, d: NaiveDate, minute: u32) -> i64 {
        let naive = d.and_time(NaiveTime::MIN) + Duration::minutes(minute as i64);
        // A local time skipped by a DST change maps to the first instant after the gap;
        // one repeated maps to its first occurrence.
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.timestamp_millis()
            }
            chrono::LocalResult::None => self
                .tz
                .from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
                .map_or(naive.and_utc().timestamp_millis(), |t| t.timestamp_millis()),
        }
    }

    /// Milliseconds of business time in `[from, to)`.
    pub fn business_ms(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let day = |ms: i64| {
            self.tz
                .timestamp_millis_opt(ms)
                .single()
                .map(|t| t.date_naive())
        };
        let (Some(mut d), Some(last)) = (day(from_ms), day(to_ms)) else {
            return 0;
        };
        let mut total = 0;
        while d <= last {
            if let (Some((o, c)), false) = (
                self.hours[d.weekday().num_days_from_monday() as usize],
                self.holidays.contains(&d),
            ) {
                let (a, b) = (self.local_ms(d, o), self.local_ms(d, c));
                total += (b.min(to_ms) - a.max(from_ms)).max(0);
            }
            d = d.succ_opt().unwrap_or(last + Duration::days(1));
        }
        total
    }

    /// Whether an instant falls in business hours.
    pub fn is_open(&self, ms: i64) -> bool {
        self.business_ms(ms, ms + 1) == 1
    }

    /// (weekday 0 = Monday, hour 0–23) of an instant, in the calendar's zone.
    pub fn weekday_hour(&self, ms: i64) -> (usize, usize) {
        match self.tz.timestamp_millis_opt(ms).single() {
            Some(t) => (
                t.weekday().num_days_from_monday() as usize,
                chrono::Timelike::hour(&t) as usize,
            ),
            None => (0, 0),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    /// docs/metrics.md, "Business hours": Monday to Friday 09:00–18:00 Asia/Shanghai,
    /// 2026-10-01 a holiday (2026-09-28 is a Monday).
    #[test]
    fn the_documented_business_hours_examples() {
        let week: Vec<String> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cal = Calendar::new(
            "Asia/Shanghai",
            &week,
            "09:00",
            "18:00",
            &["2026-10-01".into()],
        )
        .unwrap();
        let min = 60_000;
        let cases = [
            (
                "inside one day",
                "2026-09-28T10:00:00+08:00",
                "2026-09-28T10:05:00+08:00",
                5 * min,
            ),
            (
                "a question before opening, answered at 09:10",
                "2026-09-28T08:30:00+08:00",
                "2026-09-28T09:10:00+08:00",
                10 * min,
            ),
            (
                "overnight: 17:50 to 09:05 next day",
                "2026-09-28T17:50:00+08:00",
                "2026-09-29T09:05:00+08:00",
                15 * min,
            ),
            (
                "a holiday counts nothing",
                "2026-10-01T10:00:00+08:00",
                "2026-10-01T11:00:00+08:00",
                0,
            ),
            (
                "Friday 17:00 to Monday 10:00",
                "2026-10-02T17:00:00+08:00",
                "2026-10-05T10:00:00+08:00",
                2 * 60 * min,
            ),
            (
                "a weekend only",
                "2026-10-03T10:00:00+08:00",
                "2026-10-04T16:00:00+08:00",
                0,
            ),
            (
                "UTC input, Shanghai hours: 01:00Z is 09:00 local",
                "2026-09-28T00:30:00Z",
                "2026-09-28T01:30:00Z",
                30 * min,
            ),
            (
                "reversed span",
                "2026-09-28T11:00:00+08:00",
                "2026-09-28T10:00:00+08:00",
                0,
            ),
        ];
        for (name, a, b, want) in cases {
            assert_eq!(cal.business_ms(at(a), at(b)), want, "{name}");
        }
        assert!(
            cal.is_open(at("2026-09-28T09:00:00+08:00"))
                && !cal.is_open(at("2026-09-28T18:00:00+08:00"))
        );
        assert_eq!(cal.weekday_hour(at("2026-09-28T08:30:00+08:00")), (0, 8));
    }

    #[test]
    fn bad_calendars_are_refused_naming_the_field() {
        let week = vec!["mon".to_string()];
        let cases: &[(&str, &str, &[String], &str, &str, &[String], &str)] = &[
            (
                "zone",
                "Mars/Base",
                &week,
                "09:00",
                "18:00",
                &[],
                "timezone",
            ),
            (
                "day",
                "UTC",
                &["funday".to_string()],
                "09:00",
                "18:00",
                &[],
                "days",
            ),
            ("open", "UTC", &week, "9am", "18:00", &[], "open"),
            (
                "close before open",
                "UTC",
                &week,
                "18:00",
                "09:00",
                &[],
                "not after",
            ),
            (
                "holiday",
                "UTC",
                &week,
                "09:00",
                "18:00",
                &["10/01/2026".to_string()],
                "holidays",
            ),
        ];
        for (name, tz, days, o, c, h, want) in cases {
            let e = Calendar::new(tz, days, o, c, h).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
        }
    }

    #[test]
    fn dst_zones_count_real_time() {
        // New York 2026-03-08: clocks jump from 02:00 to 03:00. Open 00:00–24:00 every day.
        let all: Vec<String> = DAYS.iter().map(|s| s.to_string()).collect();
        let cal = Calendar::new("America/New_York", &all, "00:00", "24:00", &[]).unwrap();
        let a = at("2026-03-08T00:00:00-05:00");
        let b = at("2026-03-09T00:00:00-04:00");
        assert_eq!(
            cal.business_ms(a, b),
            23 * 3_600_000,
            "that day has 23 hours"
        );
    }
}
