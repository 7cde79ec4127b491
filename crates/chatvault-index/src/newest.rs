//! The newest page of a query's matches, and their count, without reading every match.
//!
//! tantivy's `TopDocs::order_by_fast_field` reads the `sent_at` of every match to keep the
//! newest ones, so a keyword found in half the messages costs half the archive, and counting
//! alongside it visits every match too. Two facts make most of that work unnecessary:
//!
//! - **The count** is tantivy's `Weight::count`, which for one term in a segment without
//!   deletions is the term's document frequency: no posting is read. Other queries count
//!   by walking their matches, without reading any column.
//! - **The page.** Messages mostly reach the index in time order (an export is a chat's
//!   history, live capture appends the newest, and merges concatenate segments), so a run
//!   of doc ids in a segment spans a narrow slice of time. Each segment keeps, per block of
//!   [`BLOCK`] documents, the newest and oldest `sent_at` in it (computed once per segment:
//!   segments never change). The page is collected from the blocks newest first, and the
//!   walk stops when the next block's newest message is older than the oldest one the page
//!   keeps: nothing after it can enter the page. Blocks are taken in rounds that double
//!   (each round one pass per segment, in doc order, as tantivy's postings go), so times
//!   in no order at all cost at most about two passes over the matches, never one scorer
//!   per block.
//!
//! The order is `sent_at` descending, then `seq` descending: a total order, the same as
//! the archive's for candidates that are checked one by one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::query::{Scorer, Weight};
use tantivy::{DocId, DocSet, Searcher, SegmentReader, TERMINATED};

/// Documents per block. Small enough that a block of a common keyword's matches fills a
/// page with few wasted reads, large enough that the summaries stay tiny (16 bytes per
/// 1,024 messages).
pub(crate) const BLOCK: u32 = 1024;

/// The first round's blocks; each later round takes twice as many.
const FIRST_ROUND: usize = 2;

/// A list of conversations up to this long is asked as terms (their postings are read);
/// a longer one (a team's reach: thousands) is checked per match in the `conv` column,
/// which costs a lookup per match instead of a posting list per conversation.
pub(crate) const TERMS_UP_TO: usize = 32;

/// A long list of conversation row ids, checked per match.
pub(crate) enum Within {
    /// A bit per id, for ids up to [`BITS_UP_TO`] (row ids are dense from 1).
    Bits(Vec<u64>),
    /// Sorted, for lists holding larger ids.
    Sorted(Vec<u64>),
}

/// The largest id kept as a bit: 8 MiB of bits at most.
const BITS_UP_TO: u64 = 1 << 26;

impl Within {
    /// The check for `ids`, when the list is long enough to be checked per match.
    pub(crate) fn of(ids: Option<&[i64]>) -> Option<Within> {
        let ids = ids.filter(|ids| ids.len() > TERMS_UP_TO)?;
        // A negative id is no row of the store's: it matches nothing.
        let mut ids: Vec<u64> = ids.iter().filter_map(|&i| u64::try_from(i).ok()).collect();
        ids.sort_unstable();
        ids.dedup();
        Some(match ids.last() {
            Some(&max) if max < BITS_UP_TO => {
                let mut bits = vec![0u64; (max / 64 + 1) as usize];
                for id in ids {
                    bits[(id / 64) as usize] |= 1 << (id % 64);
                }
                Within::Bits(bits)
            }
            _ => Within::Sorted(ids),
        })
    }

    fn contains(&self, id: u64) -> bool {
        match self {
            Within::Bits(bits) => usize::try_from(id / 64)
                .ok()
                .and_then(|w| bits.get(w))
                .is_some_and(|w| w & (1 << (id % 64)) != 0),
            Within::Sorted(ids) => ids.binary_search(&id).is_ok(),
        }
    }

    /// Whether document `doc` of the segment whose `conv` column this is belongs.
    pub(crate) fn holds(&self, conv: &Column<u64>, doc: DocId) -> bool {
        conv.first(doc).is_some_and(|c| self.contains(c))
    }
}

/// The newest and oldest `sent_at` of each block of one segment.
pub(crate) struct Blocks {
    newest: Vec<i64>,
    oldest: Vec<i64>,
}

impl Blocks {
    /// Reads the segment's `sent_at` column once.
    pub(crate) fn of(sent_at: &Column<i64>, max_doc: DocId) -> Blocks {
        let n = max_doc.div_ceil(BLOCK) as usize;
        let (mut newest, mut oldest) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut docs: Vec<DocId> = Vec::with_capacity(BLOCK as usize);
        let mut vals: Vec<Option<i64>> = vec![None; BLOCK as usize];
        let mut dense: Vec<i64> = vec![0; BLOCK as usize];
        let full = matches!(sent_at.index, tantivy::columnar::ColumnIndex::Full);
        for b in 0..n as u32 {
            let start = b * BLOCK;
            let end = (start + BLOCK).min(max_doc);
            let (mut hi, mut lo) = (i64::MIN, i64::MAX);
            if full {
                // Every document has its value at its own row: read the rows in one go.
                let dense = &mut dense[..(end - start) as usize];
                sent_at.values.get_range(u64::from(start), dense);
                for v in dense.iter() {
                    hi = hi.max(*v);
                    lo = lo.min(*v);
                }
            } else {
                docs.clear();
                docs.extend(start..end);
                let vals = &mut vals[..docs.len()];
                vals.fill(None);
                sent_at.first_vals(&docs, vals);
                for v in vals.iter().flatten() {
                    hi = hi.max(*v);
                    lo = lo.min(*v);
                }
            }
            newest.push(hi);
            oldest.push(lo);
        }
        Blocks { newest, oldest }
    }

    fn len(&self) -> usize {
        self.newest.len()
    }

    /// The doc ids of block `b`: `start..stop`.
    fn docs(&self, b: usize, max_doc: DocId) -> (DocId, DocId) {
        let start = b as u32 * BLOCK;
        (start, (start + BLOCK).min(max_doc))
    }

    /// Whether block `b` may hold a document sent in `lo..=hi`.
    fn overlaps(&self, b: usize, lo: i64, hi: i64) -> bool {
        self.newest[b] >= lo && self.oldest[b] <= hi
    }

    /// Whether every document of block `b` was sent in `lo..=hi` (an empty block is not).
    fn inside(&self, b: usize, lo: i64, hi: i64) -> bool {
        self.oldest[b] >= lo && self.newest[b] <= hi && self.oldest[b] <= self.newest[b]
    }
}

/// Block summaries by segment, kept across generations (a segment's never change) and
/// pruned to the segments of the latest generation asked about.
#[derive(Default)]
pub(crate) struct BlockCache {
    by_segment: HashMap<SegmentId, Arc<Blocks>>,
}

impl BlockCache {
    /// The summaries of `searcher`'s segments, in segment order.
    pub(crate) fn for_searcher(
        &mut self,
        searcher: &Searcher,
        sent_at: &[&Column<i64>],
    ) -> Vec<Arc<Blocks>> {
        let readers = searcher.segment_readers();
        let out: Vec<Arc<Blocks>> = readers
            .iter()
            .zip(sent_at)
            .map(|(r, col)| {
                self.by_segment
                    .entry(r.segment_id())
                    .or_insert_with(|| Arc::new(Blocks::of(col, r.max_doc())))
                    .clone()
            })
            .collect();
        let live: std::collections::HashSet<SegmentId> =
            readers.iter().map(|r| r.segment_id()).collect();
        self.by_segment.retain(|id, _| live.contains(id));
        out
    }
}

/// One segment as the walk reads it.
pub(crate) struct Segment<'a> {
    pub seq: &'a Column<u64>,
    pub sent_at: &'a Column<i64>,
    pub conv: &'a Column<u64>,
    pub blocks: &'a Blocks,
}

/// The `want` newest matches, kept as a min-heap on (sent_at, seq).
struct Page {
    want: usize,
    heap: BinaryHeap<Reverse<(i64, u64)>>,
}

impl Page {
    fn full(&self) -> bool {
        self.heap.len() >= self.want
    }

    /// The oldest kept message's time once the page is full: anything older cannot enter.
    fn floor(&self) -> Option<i64> {
        self.full()
            .then(|| self.heap.peek().map(|Reverse((at, _))| *at))
            .flatten()
    }

    fn offer(&mut self, seg: &Segment<'_>, doc: DocId) {
        let Some(at) = seg.sent_at.first(doc) else {
            return;
        };
        if self.floor().is_some_and(|f| at < f) {
            return;
        }
        let Some(seq) = seg.seq.first(doc) else {
            return;
        };
        let item = Reverse((at, seq));
        if !self.full() {
            self.heap.push(item);
        } else if self.heap.peek().is_some_and(|min| item < *min) {
            // `Reverse`: smaller means newer.
            self.heap.pop();
            self.heap.push(item);
        }
    }
}

/// Calls `f` with each match of `scorer` in block `b` of `seg` that is alive, sent in
/// `lo..=hi` and in `within`'s conversations. Returns whether the scorer goes on past the
/// block.
fn each_in_block(
    scorer: &mut Box<dyn Scorer>,
    seg: &Segment<'_>,
    reader: &SegmentReader,
    b: usize,
    within: Option<&Within>,
    (lo, hi): (i64, i64),
    f: &mut dyn FnMut(DocId),
) -> bool {
    let alive = reader.alive_bitset();
    let inside = seg.blocks.inside(b, lo, hi);
    let (start, stop) = seg.blocks.docs(b, reader.max_doc());
    let mut doc = scorer.doc();
    if doc < start {
        doc = scorer.seek(start);
    }
    while doc != TERMINATED && doc < stop {
        if alive.is_none_or(|a| a.is_alive(doc))
            && (inside
                || seg
                    .sent_at
                    .first(doc)
                    .is_some_and(|at| (lo..=hi).contains(&at)))
            && within.is_none_or(|w| w.holds(seg.conv, doc))
        {
            f(doc);
        }
        doc = scorer.advance();
    }
    doc != TERMINATED
}

/// Counts every match of `weight` (in `within`'s conversations, when given) whose
/// `sent_at` is in `lo..=hi`. The time range is applied here (and in [`page`]), not in
/// `weight`: blocks wholly outside it are never read, blocks wholly inside it need no
/// check of the time, and a segment wholly inside it is counted as if there were no range
/// (a document frequency where tantivy can). A reach of the last 7 days reads the 7 days'
/// postings, not 60 days'.
pub(crate) fn count(
    searcher: &Searcher,
    weight: &dyn Weight,
    segments: &[Segment<'_>],
    within: Option<&Within>,
    (lo, hi): (i64, i64),
) -> tantivy::Result<u64> {
    let readers = searcher.segment_readers();
    let keep = |seg: &Segment<'_>, doc: DocId| within.is_none_or(|w| w.holds(seg.conv, doc));
    let timed = lo != i64::MIN || hi != i64::MAX;
    let mut total = 0u64;
    for (r, seg) in readers.iter().zip(segments) {
        let blocks = seg.blocks;
        let alive = r.alive_bitset();
        let whole = !timed || (0..blocks.len()).all(|b| blocks.inside(b, lo, hi));
        total += if whole {
            match within {
                None => u64::from(weight.count(r)?),
                Some(_) => {
                    let mut n = 0u64;
                    weight.for_each_no_score(r, &mut |docs: &[DocId]| {
                        n += docs
                            .iter()
                            .filter(|&&d| alive.is_none_or(|a| a.is_alive(d)) && keep(seg, d))
                            .count() as u64;
                    })?;
                    n
                }
            }
        } else {
            // Only the blocks the range reaches, in doc order, with one scorer.
            let mut n = 0u64;
            let mut scorer = None;
            for b in 0..blocks.len() {
                if !blocks.overlaps(b, lo, hi) {
                    continue;
                }
                let scorer = match &mut scorer {
                    Some(s) => s,
                    None => scorer.insert(weight.scorer(r, 1.0)?),
                };
                if !each_in_block(scorer, seg, r, b, within, (lo, hi), &mut |_| n += 1) {
                    break;
                }
            }
            n
        };
    }
    Ok(total)
}

/// The `offset`th to `offset + limit`th newest matches of `weight` (in `within`'s
/// conversations, sent in `lo..=hi`), as (seq, sent_at), given their count `total`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn page(
    searcher: &Searcher,
    weight: &dyn Weight,
    segments: &[Segment<'_>],
    within: Option<&Within>,
    (lo, hi): (i64, i64),
    total: u64,
    offset: usize,
    limit: usize,
) -> tantivy::Result<Vec<(u64, i64)>> {
    let readers = searcher.segment_readers();
    let want = offset.saturating_add(limit);
    let want = want.min(usize::try_from(total).unwrap_or(usize::MAX));
    if want == 0 {
        return Ok(vec![]);
    }
    let mut page = Page {
        want,
        heap: BinaryHeap::with_capacity(want + 1),
    };
    // Every block that may hold a match in the time range, newest first.
    let mut order: Vec<(i64, usize, u32)> = vec![];
    for (s, seg) in segments.iter().enumerate() {
        for (b, &newest) in seg.blocks.newest.iter().enumerate() {
            if seg.blocks.overlaps(b, lo, hi) {
                order.push((newest.min(hi), s, b as u32));
            }
        }
    }
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut next = 0;
    let mut round = FIRST_ROUND;
    while next < order.len() {
        if page.floor().is_some_and(|f| order[next].0 < f) {
            break;
        }
        let end = (next + round).min(order.len());
        let mut batch: Vec<(usize, u32)> = order[next..end].iter().map(|x| (x.1, x.2)).collect();
        batch.sort_unstable();
        let mut i = 0;
        while i < batch.len() {
            let s = batch[i].0;
            let (seg, reader) = (&segments[s], &readers[s]);
            let mut scorer = weight.scorer(reader, 1.0)?;
            while i < batch.len() && batch[i].0 == s {
                let b = batch[i].1;
                i += 1;
                if page
                    .floor()
                    .is_some_and(|f| seg.blocks.newest[b as usize] < f)
                {
                    continue;
                }
                each_in_block(
                    &mut scorer,
                    seg,
                    reader,
                    b as usize,
                    within,
                    (lo, hi),
                    &mut |doc| page.offer(seg, doc),
                );
            }
        }
        next = end;
        round = round.saturating_mul(2);
    }
    let mut kept: Vec<(i64, u64)> = page.heap.into_iter().map(|Reverse(x)| x).collect();
    kept.sort_unstable_by(|a, b| b.cmp(a));
    Ok(kept
        .into_iter()
        .skip(offset)
        .map(|(at, seq)| (seq, at))
        .collect())
}
