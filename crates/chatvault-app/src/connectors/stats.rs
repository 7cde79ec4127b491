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
    last_seq: Option<i64>,
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

/// Every source's figures in this process.
#[derive(Debug, Default)]
pub struct Stats {
    sources: Mutex<BTreeMap<String, Figures>>,
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

    /// A sequence number the source's platform gave (Telegram's `update_id`): the last
    /// one before it when numbers were skipped (a gap), counted.
    pub fn sequence(&self, source: &str, seq: i64) -> Result<Option<i64>> {
        self.with(source, |f| {
            let gap = f.last_seq.filter(|last| seq > last.saturating_add(1));
            if gap.is_some() {
                f.gaps += 1;
            }
            if f.last_seq.is_none_or(|last| seq > last) {
                f.last_seq = Some(seq);
            }
            gap
        })
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
    fn a_skipped_number_is_a_gap_and_a_retry_is_not() {
        let s = Stats::default();
        let cases = [
            (10, None),
            (11, None),
            (11, None),
            (9, None),
            (14, Some(11)),
            (15, None),
        ];
        for (seq, want) in cases {
            assert_eq!(s.sequence("t", seq).unwrap(), want, "seq {seq}");
        }
        assert_eq!(s.figures("t").unwrap().gaps, 1);
    }
}
