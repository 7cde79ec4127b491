//! Each live source's figures while serving: what arrived, what was stored, refused or
//! quarantined, when the last event came, and the capture latency (the platform's own
//! time of a message to stored). Kept per process, as Prometheus counters are: they
//! start at zero with the server. What lasts (the quarantine, the monitor's alerts) is
//! stored elsewhere.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::service::recover;

/// The upper bounds (ms) of the latency histogram's buckets, as `/metrics` gives them.
pub const BUCKETS_MS: [i64; 13] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/// How long a number may be missing after a later one came before it is a gap.
pub const GAP_GRACE_MS: i64 = 60_000;
/// How many later numbers may wait on a missing one before it is a gap at once.
pub const GAP_AHEAD_MAX: usize = 1_000;
/// A number this far below the last one means the platform numbers anew.
const SEQUENCE_RESET: i64 = 1_000_000;

/// p50 and p99 are taken over this many latest messages of a source.
const WINDOW: usize = 1024;

#[derive(Debug, Default, Clone)]
struct Figures {
    received: u64,
    refused: u64,
    stored: u64,
    duplicate: u64,
    quarantined: u64,
    gaps: u64,
    last_event_ms: Option<i64>,
    /// The sequence up to which every number arrived.
    last_seq: Option<i64>,
    /// Numbers that arrived ahead of a missing one, each with when it came.
    ahead: BTreeMap<i64, i64>,
    window: VecDeque<i64>,
    /// Per bucket of [`BUCKETS_MS`], then one past the last.
    buckets: [u64; BUCKETS_MS.len() + 1],
    latency_sum_ms: i64,
    latency_count: u64,
}

/// One source's figures as the API, the Sources page and `/metrics` give them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceFigures {
    pub received: u64,
    pub refused: u64,
    pub stored: u64,
    pub duplicate: u64,
    pub quarantined: u64,
    pub gaps: u64,
    pub last_event_at: Option<String>,
    pub latency_p50_ms: Option<i64>,
    pub latency_p99_ms: Option<i64>,
    /// The histogram: per bucket of [`BUCKETS_MS`] (and one past it), how many.
    #[serde(skip)]
    pub buckets: Vec<u64>,
    #[serde(skip)]
    pub latency_sum_ms: i64,
    #[serde(skip)]
    pub latency_count: u64,
}

/// Every source's figures in this process, and the pulls its platform asked for.
#[derive(Debug, Default)]
pub struct Stats {
    sources: Mutex<BTreeMap<String, Figures>>,
    /// Per source, the latest notice that messages wait to be fetched (with its token).
    wakes: Mutex<BTreeMap<String, serde_json::Value>>,
}

impl Stats {
    fn with<T>(&self, source: &str, f: impl FnOnce(&mut Figures) -> T) -> Result<T> {
        // Figures are counts: a panic mid-update leaves at worst one count off.
        let mut all = recover(&self.sources, |_| Ok::<(), Error>(()))?;
        Ok(f(all.entry(source.to_owned()).or_default()))
    }

    /// A request reached the source's endpoint.
    pub fn received(&self, source: &str) -> Result<()> {
        self.with(source, |f| f.received += 1)
    }

    /// It did not verify.
    pub fn refused(&self, source: &str) -> Result<()> {
        self.with(source, |f| f.refused += 1)
    }

    /// A verified event's outcome: messages stored (with the platform's time of each),
    /// duplicates, and whether it went to quarantine.
    pub fn delivered(
        &self,
        source: &str,
        sent_ms: &[i64],
        duplicate: u64,
        quarantined: bool,
        now_ms: i64,
    ) -> Result<()> {
        self.with(source, |f| {
            f.stored += sent_ms.len() as u64;
            f.duplicate += duplicate;
            f.quarantined += u64::from(quarantined);
            f.last_event_ms = Some(now_ms);
            for sent in sent_ms {
                let ms = now_ms.saturating_sub(*sent).max(0);
                let b = BUCKETS_MS
                    .iter()
                    .position(|up| ms <= *up)
                    .unwrap_or(BUCKETS_MS.len());
                f.buckets[b] += 1;
                f.latency_sum_ms = f.latency_sum_ms.saturating_add(ms);
                f.latency_count += 1;
                if f.window.len() == WINDOW {
                    f.window.pop_front();
                }
                f.window.push_back(ms);
            }
        })
    }

    /// A sequence number the source's platform gave (Telegram's `update_id`). Platforms
    /// deliver concurrently (Telegram up to 40 connections), so a number may come before
    /// the one below it: a number still missing [`GAP_GRACE_MS`] after a later one came
    /// (or with more than [`GAP_AHEAD_MAX`] numbers after it) is a gap. Answers the
    /// gap's last number before and first after, counted.
    pub fn sequence(&self, source: &str, seq: i64, now_ms: i64) -> Result<Option<(i64, i64)>> {
        self.with(source, |f| {
            let Some(mut last) = f.last_seq else {
                f.last_seq = Some(seq);
                return None;
            };
            if seq < last.saturating_sub(SEQUENCE_RESET) {
                // Far below: the platform started numbering anew (Telegram does after a
                // week without updates). Follow it.
                f.ahead.clear();
                f.last_seq = Some(seq);
                return None;
            }
            if seq > last {
                f.ahead.entry(seq).or_insert(now_ms);
            }
            while f.ahead.remove(&(last + 1)).is_some() {
                last += 1;
            }
            let mut gap = None;
            // The first number after the missing ones: missing since it came.
            if let Some((&first, &came)) = f.ahead.iter().next() {
                if now_ms.saturating_sub(came) >= GAP_GRACE_MS || f.ahead.len() > GAP_AHEAD_MAX {
                    gap = Some((last, first));
                    f.gaps += 1;
                    last = first;
                    f.ahead.remove(&first);
                    while f.ahead.remove(&(last + 1)).is_some() {
                        last += 1;
                    }
                }
            }
            f.last_seq = Some(last);
            gap
        })
    }

    /// The platform says messages wait (微信客服's callback): the source's pull takes the
    /// notice ([`Stats::take_wake`]) and fetches.
    pub fn wake(&self, source: &str, note: serde_json::Value) -> Result<()> {
        recover(&self.wakes, |_| Ok::<(), Error>(()))?.insert(source.to_owned(), note);
        Ok(())
    }

    /// The latest wake notice of a source, if one came since the last take.
    pub fn take_wake(&self, source: &str) -> Result<Option<serde_json::Value>> {
        Ok(recover(&self.wakes, |_| Ok::<(), Error>(()))?.remove(source))
    }

    /// One source's figures (zeros for a source nothing reached yet).
    pub fn figures(&self, source: &str) -> Result<SourceFigures> {
        self.with(source, |f| {
            let mut w: Vec<i64> = f.window.iter().copied().collect();
            w.sort_unstable();
            let q = |p: f64| {
                (!w.is_empty()).then(|| {
                    let i = ((w.len() as f64 - 1.0) * p).round() as usize;
                    w[i.min(w.len() - 1)]
                })
            };
            SourceFigures {
                received: f.received,
                refused: f.refused,
                stored: f.stored,
                duplicate: f.duplicate,
                quarantined: f.quarantined,
                gaps: f.gaps,
                last_event_at: f.last_event_ms.and_then(|ms| {
                    chrono::DateTime::from_timestamp_millis(ms)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                }),
                latency_p50_ms: q(0.5),
                latency_p99_ms: q(0.99),
                buckets: f.buckets.to_vec(),
                latency_sum_ms: f.latency_sum_ms,
                latency_count: f.latency_count,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_and_place_latencies() {
        let s = Stats::default();
        s.received("a").unwrap();
        s.received("a").unwrap();
        s.refused("a").unwrap();
        s.delivered("a", &[1_000, 900, 0], 2, false, 1_000).unwrap();
        s.delivered("a", &[], 0, true, 2_000).unwrap();
        let f = s.figures("a").unwrap();
        assert_eq!(
            (f.received, f.refused, f.stored, f.duplicate, f.quarantined),
            (2, 1, 3, 2, 1)
        );
        assert_eq!(f.latency_count, 3);
        assert_eq!(f.latency_sum_ms, 1_100);
        assert_eq!(f.buckets[0], 1, "0 ms is in the first bucket");
        assert_eq!(f.buckets[3], 1, "100 ms is in the 100 ms bucket");
        assert_eq!(f.buckets[6], 1, "1 s is in the 1 s bucket");
        assert_eq!(f.latency_p50_ms, Some(100));
        assert_eq!(s.figures("b").unwrap().received, 0, "an untouched source");
    }

    #[test]
    fn a_number_missing_past_the_grace_is_a_gap_and_one_late_or_retried_is_not() {
        let s = Stats::default();
        let g = GAP_GRACE_MS;
        // (seq, now, the gap it reveals)
        let cases = [
            (10, 0, None),
            (11, 1, None),
            (11, 2, None),               // a retry
            (9, 3, None),                // older than the watermark
            (13, 4, None),               // 12 may still come (concurrent delivery)
            (12, 5, None),               // it did: no gap
            (16, 6, None),               // 14, 15 missing...
            (17, 6 + g - 1, None),       // ...not yet for long
            (18, 6 + g, Some((13, 16))), // past the grace: a gap from 13 to 16
            (19, 6 + g + 1, None),
            // Steady reordering: 20 missing for a second only is no gap, though 21
            // came long after the grace began for another number.
            (21, 2 * g, None),
            (20, 2 * g + 1_000, None),
            (22, 2 * g + 1_001, None),
            (5, 2 * g + 1_002, None),          // a retry of an old one
            (-2_000_000, 2 * g + 1_003, None), // numbered anew
            (-1_999_999, 2 * g + 1_004, None),
            (-1_999_990, 3 * g + 2_000, None), // 8 missing, waiting
            (-1_999_989, 4 * g + 2_000, Some((-1_999_999, -1_999_990))),
        ];
        for (seq, now, want) in cases {
            assert_eq!(
                s.sequence("t", seq, now).unwrap(),
                want,
                "seq {seq} at {now}"
            );
        }
        assert_eq!(s.figures("t").unwrap().gaps, 2);
        let s = Stats::default();
        s.sequence("u", 0, 0).unwrap();
        let mut got = None;
        for seq in 2..=(GAP_AHEAD_MAX as i64 + 2) {
            got = got.or(s.sequence("u", seq, 0).unwrap());
        }
        assert_eq!(got, Some((0, 2)), "too many waiting on one: a gap at once");
    }
}
