//! The search index: tantivy, with exact substring semantics for every script.
//!
//! The index is a cache of the store. It holds normalised text (as grams, not as a stored
//! field), filter fields, and each message's sequence number; everything it returns is a
//! sequence number the caller resolves through the store. It can always be deleted and
//! rebuilt from the store (`chatvault reindex`), and it records in its commit payload how
//! far into the log it has indexed, so an interrupted import is caught up on the next open.
//!
//! How matching works is in [`tokenizer`]; what a match means is in [`query`].

mod newest;
pub mod query;
pub mod tokenizer;

use std::ops::Bound;
use std::path::Path;

use tantivy::collector::DocSetCollector;
use tantivy::query::{
    AllQuery, BooleanQuery, EnableScoring, Occur, PhraseQuery, Query as TQuery, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

pub use query::{Clause, Query, QueryError};
use tokenizer::{
    keyword_trigrams, BigramTokenizer, TrigramTokenizer, UnigramTokenizer, BIGRAM, TRIGRAM, UNIGRAM,
};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index {path}")]
    Tantivy {
        path: String,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("search index {path}: {what}")]
    Other { path: String, what: String },
    /// The index was built with another layout (an older version): it is derived data,
    /// to be deleted and rebuilt from the store.
    #[error("search index {path}: built by another version of chatvault; run `chatvault reindex`")]
    OtherVersion { path: String },
}

pub type Result<T> = std::result::Result<T, IndexError>;

fn tantivy_error(path: &str, source: tantivy::TantivyError) -> IndexError {
    IndexError::Tantivy {
        path: path.to_owned(),
        source,
    }
}

/// One message as the index sees it.
pub struct IndexDoc<'a> {
    pub seq: u64,
    pub sent_at_ms: i64,
    pub platform: &'a str,
    /// `platform:external_id`.
    pub conversation: &'a str,
    /// The conversation's row id in the store: what a caller's reach is resolved to.
    pub conversation_id: i64,
    pub sender_handle: &'a str,
    pub sender_name: Option<&'a str>,
    pub kind: &'a str,
    /// Already normalised.
    pub text: &'a str,
    /// The text as a reader without `pii.view` sees it (personal data masked), already
    /// normalised; `None` when the text holds no personal data (it reads the same).
    pub masked: Option<&'a str>,
}

/// Which text a query matches: as stored, or as a reader without `pii.view` sees it.
/// Text hidden by the mask must not match for that reader, or the hit count would
/// confirm a phone number digit by digit; the masked view is indexed (for the messages
/// that hold personal data), so such a reader's search pages and counts in the index
/// instead of reading every match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextView {
    #[default]
    Stored,
    Masked,
}

/// Filters that narrow a search. Times are UTC milliseconds, both ends inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// A sender's handle or display name (compared after normalisation).
    pub sender: Option<String>,
    /// `platform:external_id`.
    pub conversation: Option<String>,
    pub platform: Option<String>,
    pub kind: Option<String>,
    /// Any of these conversations (`platform:external_id`); `None` for no restriction.
    pub conversations: Option<Vec<String>>,
    /// Any of these conversations, by the store's row id; `None` for no restriction.
    /// The server narrows a search to what a caller may reach with it (a team's
    /// conversations can be thousands: a long list is checked per match against the
    /// `conv` column rather than asked as that many terms).
    pub conversation_ids: Option<Vec<i64>>,
}

/// What the index found.
pub enum IndexHits {
    /// The index decided exactly: `total` matches; `page` holds (seq, sent_at) newest first.
    Exact { total: u64, page: Vec<(u64, i64)> },
    /// The index found candidates that the caller must check with [`Query::matches`]
    /// (keywords with spaces inside). Unordered.
    Candidates(Vec<(u64, i64)>),
}

/// One text's gram fields.
#[derive(Clone, Copy)]
struct Grams {
    uni: Field,
    bi: Field,
    tri: Field,
}

#[derive(Clone, Copy)]
struct Fields {
    text: Grams,
    /// The masked text's grams, for the messages that hold personal data.
    masked: Grams,
    /// `1` on the messages that hold personal data.
    pii: Field,
    seq: Field,
    sent_at: Field,
    /// The conversation's row id in the store.
    conv: Field,
    platform: Field,
    conversation: Field,
    sender: Field,
    kind: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let gram = |tok: &str, opt| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tok)
                .set_index_option(opt)
                .set_fieldnorms(false),
        )
    };
    let mut grams = |prefix: &str| Grams {
        uni: b.add_text_field(
            &format!("{prefix}uni"),
            gram(UNIGRAM, IndexRecordOption::Basic),
        ),
        bi: b.add_text_field(
            &format!("{prefix}bi"),
            gram(BIGRAM, IndexRecordOption::Basic),
        ),
        tri: b.add_text_field(
            &format!("{prefix}tri"),
            gram(TRIGRAM, IndexRecordOption::WithFreqsAndPositions),
        ),
    };
    let text = grams("");
    let masked = grams("masked_");
    // Untokenized terms without field norms (nothing is scored: a norm is a byte per
    // document and field for nothing).
    let string = || {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
    };
    let pii = b.add_text_field("pii", string());
    let seq = b.add_u64_field("seq", NumericOptions::default() | INDEXED | FAST);
    let sent_at = b.add_i64_field("sent_at", NumericOptions::default() | INDEXED | FAST);
    let conv = b.add_u64_field("conv", NumericOptions::default() | INDEXED | FAST);
    let platform = b.add_text_field("platform", string());
    let conversation = b.add_text_field("conversation", string());
    let sender = b.add_text_field("sender", string());
    let kind = b.add_text_field("kind", string());
    (
        b.build(),
        Fields {
            text,
            masked,
            pii,
            seq,
            sent_at,
            conv,
            platform,
            conversation,
            sender,
            kind,
        },
    )
}

/// The `seq` and `sent_at` columns of each segment of one searcher generation, and the
/// segments' time blocks ([`newest`]). Opening a column decodes its block index, so it is
/// done once per generation, not per hit.
struct Columns {
    generation: u64,
    per_segment: Vec<SegmentColumns>,
    blocks: Vec<std::sync::Arc<newest::Blocks>>,
}

struct SegmentColumns {
    seq: tantivy::columnar::Column<u64>,
    sent_at: tantivy::columnar::Column<i64>,
    conv: tantivy::columnar::Column<u64>,
}

/// What the searches of every generation share: the latest generation's columns, and the
/// time blocks of each segment (a segment's never change, so they outlive generations).
#[derive(Default)]
struct ColumnCache {
    current: Option<std::sync::Arc<Columns>>,
    blocks: newest::BlockCache,
}

type SharedColumns = std::sync::Arc<std::sync::Mutex<ColumnCache>>;

pub struct SearchIndex {
    /// Shared with the snapshots, which fill it.
    columns: SharedColumns,
    /// The last commit's payload, as this process knows it (read at open, set on commit).
    upto: u64,
    index: Index,
    reader: IndexReader,
    writer: Option<IndexWriter>,
    fields: Fields,
    path: String,
    writer_memory: usize,
    writer_threads: usize,
}

/// The `pii` field's one term.
const PII: &str = "1";

/// The payload tantivy keeps with each commit: how much of the log is indexed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    upto: u64,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it when absent.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.display().to_string();
        let t = |source| IndexError::Tantivy {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| IndexError::Other {
            path: path.clone(),
            what: e.to_string(),
        })?;
        let (schema, fields) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir).map_err(|e| IndexError::Other {
            path: path.clone(),
            what: e.to_string(),
        })?;
        // tantivy compares the schema itself: one of another layout is another version's.
        let index = match Index::open_or_create(mmap, schema.clone()) {
            Err(tantivy::TantivyError::SchemaError(_)) => {
                return Err(IndexError::OtherVersion { path })
            }
            other => other.map_err(t)?,
        };
        if index.schema() != schema {
            return Err(IndexError::OtherVersion { path });
        }
        index.tokenizers().register(UNIGRAM, UnigramTokenizer);
        index.tokenizers().register(BIGRAM, BigramTokenizer);
        index.tokenizers().register(TRIGRAM, TrigramTokenizer);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(t)?;
        let upto = Self::load_upto(&index).map_err(t)?;
        Ok(SearchIndex {
            columns: Default::default(),
            upto,
            index,
            reader,
            writer: None,
            fields,
            path,
            writer_memory: 128 << 20,
            writer_threads: 1,
        })
    }

    /// Sets the indexing threads and memory for writers opened after this call.
    pub fn set_writer_budget(&mut self, threads: usize, memory_bytes: usize) {
        self.writer_threads = threads.max(1);
        self.writer_memory = memory_bytes.max(16 << 20);
    }

    fn t(&self, source: tantivy::TantivyError) -> IndexError {
        tantivy_error(&self.path, source)
    }

    fn writer(&mut self) -> Result<&mut IndexWriter> {
        if self.writer.is_none() {
            let w = self
                .index
                .writer_with_num_threads(
                    self.writer_threads,
                    self.writer_memory * self.writer_threads,
                )
                .map_err(|e| self.t(e))?;
            self.writer = Some(w);
        }
        self.writer.as_mut().ok_or_else(|| IndexError::Other {
            path: self.path.clone(),
            what: "no writer".into(),
        })
    }

    fn load_upto(index: &Index) -> tantivy::Result<u64> {
        let metas = index.load_metas()?;
        Ok(metas
            .payload
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok())
            .map_or(0, |p| p.upto))
    }

    /// Re-reads the latest commit (another process may have committed since open).
    pub fn refresh(&mut self) -> Result<()> {
        self.upto = Self::load_upto(&self.index).map_err(|e| self.t(e))?;
        self.reader.reload().map_err(|e| self.t(e))?;
        Ok(())
    }

    /// How many leading log entries the last commit covered (as of open, or of this
    /// process's last commit).
    pub fn indexed_upto(&self) -> Result<u64> {
        Ok(self.upto)
    }

    pub fn add(&mut self, d: &IndexDoc<'_>) -> Result<()> {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        let mut grams = |g: Grams, text: &str| {
            doc.add_text(g.uni, text);
            doc.add_text(g.bi, text);
            doc.add_text(g.tri, text);
        };
        grams(f.text, d.text);
        if let Some(m) = d.masked.filter(|m| *m != d.text) {
            grams(f.masked, m);
            doc.add_text(f.pii, PII);
        }
        doc.add_u64(f.seq, d.seq);
        doc.add_i64(f.sent_at, d.sent_at_ms);
        doc.add_u64(f.conv, conv_key(d.conversation_id));
        doc.add_text(f.platform, d.platform);
        doc.add_text(f.conversation, d.conversation);
        doc.add_text(f.sender, format!("h:{}", d.sender_handle));
        if let Some(n) = d.sender_name {
            doc.add_text(
                f.sender,
                format!("n:{}", chatvault_model::normalize::normalize(n)),
            );
        }
        doc.add_text(f.kind, d.kind);
        self.writer()?.add_document(doc).map_err(|e| self.t(e))?;
        Ok(())
    }

    /// Drops what was added since the last commit (after a panic mid-batch, say): the
    /// next catch-up adds it again from the store.
    pub fn discard_uncommitted(&mut self) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.rollback().map_err(|e| tantivy_error(&self.path, e))?;
        }
        self.refresh()
    }

    /// Removes one message's document (a deletion); takes effect at the next commit.
    pub fn remove(&mut self, seq: u64) -> Result<()> {
        let term = tantivy::Term::from_field_u64(self.fields.seq, seq);
        self.writer()?.delete_term(term);
        Ok(())
    }

    /// Removes every document (for a rebuild); takes effect at the next commit.
    pub fn clear(&mut self) -> Result<()> {
        self.writer()?
            .delete_all_documents()
            .map_err(|e| self.t(e))?;
        Ok(())
    }

    /// Makes everything added so far durable and visible, recording that the first `upto`
    /// log entries are indexed.
    pub fn commit(&mut self, upto: u64) -> Result<()> {
        let payload = serde_json::to_string(&Payload { upto }).unwrap_or_default();
        let path = self.path.clone();
        let w = self.writer()?;
        let mut prepared = w.prepare_commit().map_err(|e| tantivy_error(&path, e))?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(|e| self.t(e))?;
        self.upto = upto;
        self.reader.reload().map_err(|e| self.t(e))?;
        Ok(())
    }

    /// Waits for merges and releases the writer's lock.
    pub fn close_writer(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.wait_merging_threads().map_err(|e| self.t(e))?;
        }
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The index files whose stored checksum (tantivy's per-file footer) no longer
    /// matches their bytes: damaged on disk. The index is derived data; `reindex` rebuilds it.
    /// A file that a concurrent merge removed between listing and reading is not damage:
    /// the check is tried again on the newer list.
    pub fn damaged_files(&self) -> Result<Vec<String>> {
        let mut tries = 0;
        let found = loop {
            tries += 1;
            match self.index.validate_checksum() {
                Ok(found) => break found,
                Err(_) if tries < 3 => std::thread::sleep(std::time::Duration::from_millis(50)),
                Err(e) => return Err(self.t(e)),
            }
        };
        let mut bad: Vec<String> = found.into_iter().map(|p| p.display().to_string()).collect();
        bad.sort();
        Ok(bad)
    }

    /// The current generation, to search without holding the index (or the archive that
    /// owns it): tantivy keeps the generation's files while a snapshot lives.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            searcher: self.reader.searcher(),
            fields: self.fields,
            path: self.path.clone(),
            columns: self.columns.clone(),
        }
    }

    /// Runs a query on the current generation; see [`Snapshot::search`].
    pub fn search(
        &self,
        q: &Query,
        filters: &Filters,
        limit: usize,
        offset: usize,
    ) -> Result<IndexHits> {
        self.snapshot()
            .search(q, filters, TextView::Stored, limit, offset)
    }

    /// Every match on the current generation; see [`Snapshot::search_all`].
    pub fn search_all(&self, q: &Query, filters: &Filters) -> Result<(bool, Vec<u64>)> {
        self.snapshot().search_all(q, filters, TextView::Stored)
    }
}

/// One generation of the index. A search runs its query on a snapshot, so the archive's
/// lock is not held while tantivy walks the postings (counting a common keyword's matches
/// grows with the archive; ingest must not wait for it).
pub struct Snapshot {
    searcher: Searcher,
    fields: Fields,
    path: String,
    columns: SharedColumns,
}

impl Snapshot {
    fn t(&self, source: tantivy::TantivyError) -> IndexError {
        tantivy_error(&self.path, source)
    }

    /// One keyword in one text's gram fields (the stored text's, or the masked text's).
    fn keyword_in(&self, k: &str, g: Grams) -> Box<dyn TQuery> {
        if k.chars().any(char::is_whitespace) {
            let words: Vec<&str> = k.split_whitespace().collect();
            // Found through its words; the caller checks the whole phrase.
            let parts = words
                .iter()
                .map(|w| (Occur::Must, self.keyword_in(w, g)))
                .collect();
            return Box::new(BooleanQuery::new(parts));
        }
        let term = |field, text: &str| -> Box<dyn TQuery> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            ))
        };
        match k.chars().count() {
            1 => term(g.uni, k),
            2 => term(g.bi, k),
            3 => term(g.tri, k),
            // A phrase of its trigrams, which cover every character (see `tokenizer`).
            _ => Box::new(PhraseQuery::new_with_offset(
                keyword_trigrams(k)
                    .into_iter()
                    .map(|(o, t)| (o, Term::from_field_text(g.tri, &t)))
                    .collect(),
            )),
        }
    }

    /// The messages holding personal data (their masked text differs from the stored).
    fn with_pii(&self) -> Box<dyn TQuery> {
        Box::new(TermQuery::new(
            Term::from_field_text(self.fields.pii, PII),
            IndexRecordOption::Basic,
        ))
    }

    /// One keyword as `view` reads the text. In the masked view, a message with personal
    /// data matches through its masked grams and any other through its text (the same).
    fn keyword_query(&self, k: &str, view: TextView) -> Box<dyn TQuery> {
        let f = self.fields;
        let stored = self.keyword_in(k, f.text);
        if view == TextView::Stored {
            return stored;
        }
        let pii = || self.with_pii();
        let plain: Box<dyn TQuery> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, stored),
            (Occur::MustNot, pii()),
        ]));
        let masked: Box<dyn TQuery> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, self.keyword_in(k, f.masked)),
            (Occur::Must, pii()),
        ]));
        Box::new(BooleanQuery::new(vec![
            (Occur::Should, plain),
            (Occur::Should, masked),
        ]))
    }

    fn build(&self, q: &Query, filters: &Filters, view: TextView) -> Box<dyn TQuery> {
        self.build_with(q, filters, &|k| self.keyword_query(k, view))
    }

    /// The query with each keyword asked as `keyword` says, and the filters.
    fn build_with(
        &self,
        q: &Query,
        filters: &Filters,
        keyword: &dyn Fn(&str) -> Box<dyn TQuery>,
    ) -> Box<dyn TQuery> {
        let f = self.fields;
        let exact = q.index_is_exact();
        let mut parts: Vec<(Occur, Box<dyn TQuery>)> = vec![];
        for c in &q.clauses {
            let any: Vec<Box<dyn TQuery>> = c.any.iter().map(|k| keyword(k)).collect();
            let clause: Box<dyn TQuery> = if any.len() == 1 {
                any.into_iter().next().unwrap_or_else(|| Box::new(AllQuery))
            } else {
                Box::new(BooleanQuery::new(
                    any.into_iter().map(|q| (Occur::Should, q)).collect(),
                ))
            };
            if c.negated {
                // Excluding a phrase by its words would drop true hits: leave it to the check.
                if exact {
                    parts.push((Occur::MustNot, clause));
                }
            } else {
                parts.push((Occur::Must, clause));
            }
        }
        let term = |field, text: &str| -> Box<dyn TQuery> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            ))
        };
        if filters.from_ms.is_some() || filters.to_ms.is_some() {
            let lo = filters.from_ms.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_i64(f.sent_at, v))
            });
            let hi = filters.to_ms.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_i64(f.sent_at, v))
            });
            parts.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        if let Some(s) = &filters.sender {
            let by_handle = term(f.sender, &format!("h:{s}"));
            let by_name = term(
                f.sender,
                &format!("n:{}", chatvault_model::normalize::normalize(s)),
            );
            parts.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, by_handle),
                    (Occur::Should, by_name),
                ])),
            ));
        }
        for (field, v) in [
            (f.conversation, &filters.conversation),
            (f.platform, &filters.platform),
            (f.kind, &filters.kind),
        ] {
            if let Some(v) = v {
                parts.push((Occur::Must, term(field, v)));
            }
        }
        if let Some(list) = &filters.conversations {
            let any: Vec<(Occur, Box<dyn TQuery>)> = list
                .iter()
                .map(|c| (Occur::Should, term(f.conversation, c)))
                .collect();
            // An empty list matches nothing: a boolean query of no clauses has no documents.
            parts.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        if let Some(ids) = &filters.conversation_ids {
            // A long list is checked per match instead (`Within`).
            if ids.len() <= newest::TERMS_UP_TO {
                let any: Vec<(Occur, Box<dyn TQuery>)> = ids
                    .iter()
                    .map(|&id| -> (Occur, Box<dyn TQuery>) {
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(
                                Term::from_field_u64(f.conv, conv_key(id)),
                                IndexRecordOption::Basic,
                            )),
                        )
                    })
                    .collect();
                parts.push((Occur::Must, Box::new(BooleanQuery::new(any))));
            }
        }
        if !parts.iter().any(|(o, _)| *o == Occur::Must) {
            parts.push((Occur::Must, Box::new(AllQuery)));
        }
        if parts.len() == 1 {
            // A single clause needs no boolean wrapper.
            return parts
                .pop()
                .map_or_else(|| Box::new(AllQuery) as Box<dyn TQuery>, |(_, q)| q);
        }
        Box::new(BooleanQuery::new(parts))
    }

    fn columns(&self, searcher: &Searcher) -> Result<std::sync::Arc<Columns>> {
        let generation = searcher.generation().generation_id();
        let mut cache = self
            .columns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache
            .current
            .as_ref()
            .filter(|c| c.generation == generation)
        {
            return Ok(c.clone());
        }
        let per_segment = searcher
            .segment_readers()
            .iter()
            .map(|r| {
                let ff = r.fast_fields();
                Ok(SegmentColumns {
                    seq: ff.u64("seq").map_err(|e| self.t(e))?,
                    sent_at: ff.i64("sent_at").map_err(|e| self.t(e))?,
                    conv: ff.u64("conv").map_err(|e| self.t(e))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sent_at: Vec<_> = per_segment.iter().map(|c| &c.sent_at).collect();
        let blocks = cache.blocks.for_searcher(searcher, &sent_at);
        let c = std::sync::Arc::new(Columns {
            generation,
            per_segment,
            blocks,
        });
        cache.current = Some(c.clone());
        Ok(c)
    }

    fn seq_and_time(&self, columns: &Columns, addr: DocAddress) -> Result<(u64, i64)> {
        let (seq, at) = columns
            .per_segment
            .get(addr.segment_ord as usize)
            .map(|c| (c.seq.first(addr.doc_id), c.sent_at.first(addr.doc_id)))
            .unwrap_or((None, None));
        match (seq, at) {
            (Some(s), Some(a)) => Ok((s, a)),
            _ => Err(IndexError::Other {
                path: self.path.clone(),
                what: format!("document {addr:?} has no seq"),
            }),
        }
    }

    /// Every match of `tq` in the long conversation list of `filters`, if any, unordered.
    fn collect(
        &self,
        tq: &dyn TQuery,
        filters: &Filters,
        cols: &Columns,
    ) -> Result<Vec<DocAddress>> {
        let mut docs: Vec<DocAddress> = self
            .searcher
            .search(tq, &DocSetCollector)
            .map_err(|e| self.t(e))?
            .into_iter()
            .collect();
        if let Some(within) = newest::Within::of(filters.conversation_ids.as_deref()) {
            docs.retain(|a| {
                cols.per_segment
                    .get(a.segment_ord as usize)
                    .is_some_and(|c| within.holds(&c.conv, a.doc_id))
            });
        }
        Ok(docs)
    }

    /// Runs a query on the text as `view` reads it. With an exact query, returns the
    /// total and one page, newest first.
    pub fn search(
        &self,
        q: &Query,
        filters: &Filters,
        view: TextView,
        limit: usize,
        offset: usize,
    ) -> Result<IndexHits> {
        let searcher = &self.searcher;
        if q.index_is_exact() {
            // One count (a document frequency where tantivy can) and the newest page,
            // read block by block from the newest (see `newest`), which also applies the
            // time range: through the blocks, not a range query over the `sent_at` column.
            let untimed = Filters {
                from_ms: None,
                to_ms: None,
                ..filters.clone()
            };
            let cols = self.columns(searcher)?;
            let segments: Vec<newest::Segment<'_>> = cols
                .per_segment
                .iter()
                .zip(&cols.blocks)
                .map(|(c, blocks)| newest::Segment {
                    seq: &c.seq,
                    sent_at: &c.sent_at,
                    conv: &c.conv,
                    blocks,
                })
                .collect();
            let range = (
                filters.from_ms.unwrap_or(i64::MIN),
                filters.to_ms.unwrap_or(i64::MAX),
            );
            let within = newest::Within::of(filters.conversation_ids.as_deref());
            let weigh = |tq: &dyn TQuery| {
                tq.weight(EnableScoring::disabled_from_searcher(searcher))
                    .map_err(|e| self.t(e))
            };
            let count = |w: &dyn tantivy::query::Weight| -> Result<u64> {
                newest::count(searcher, w, &segments, within.as_ref(), range).map_err(|e| self.t(e))
            };
            // The query the page is read with (and, in the stored view, counted with).
            let weight = weigh(self.build(q, &untimed, view).as_ref())?;
            let total = match view {
                TextView::Stored => count(weight.as_ref())?,
                // In the masked view a query is (Q_S AND NOT P) OR (Q_M AND P): Q with the
                // stored text's grams for a message without personal data (P), with the
                // masked text's for one with. Every message is one or the other, so the
                // count is |Q_S| - |Q_S AND P| + |Q_M AND P|. The first is a document
                // frequency where tantivy can give one; the others walk only matches with
                // personal data. Counted as one query, every match of Q_S was walked to
                // exclude the few with personal data.
                TextView::Masked => {
                    let f = self.fields;
                    let stored = self.build_with(q, &untimed, &|k| self.keyword_in(k, f.text));
                    let masked = self.build_with(q, &untimed, &|k| self.keyword_in(k, f.masked));
                    let with_pii = |x: Box<dyn TQuery>| -> Box<dyn TQuery> {
                        Box::new(BooleanQuery::new(vec![
                            (Occur::Must, x),
                            (Occur::Must, self.with_pii()),
                        ]))
                    };
                    let all = count(weigh(stored.as_ref())?.as_ref())?;
                    let hidden = count(weigh(with_pii(stored).as_ref())?.as_ref())?;
                    let shown = count(weigh(with_pii(masked).as_ref())?.as_ref())?;
                    all.saturating_sub(hidden) + shown
                }
            };
            let page = newest::page(
                searcher,
                weight.as_ref(),
                &segments,
                within.as_ref(),
                range,
                total,
                offset,
                limit,
            )
            .map_err(|e| self.t(e))?;
            Ok(IndexHits::Exact { total, page })
        } else {
            let tq = self.build(q, filters, view);
            let cols = self.columns(searcher)?;
            let all = self
                .collect(tq.as_ref(), filters, &cols)?
                .into_iter()
                .map(|a| self.seq_and_time(&cols, a))
                .collect::<Result<Vec<_>>>()?;
            Ok(IndexHits::Candidates(all))
        }
    }

    /// Every match of a query, unordered: exact (`true`) or candidates to check (`false`).
    pub fn search_all(
        &self,
        q: &Query,
        filters: &Filters,
        view: TextView,
    ) -> Result<(bool, Vec<u64>)> {
        let cols = self.columns(&self.searcher)?;
        let seqs = self
            .collect(self.build(q, filters, view).as_ref(), filters, &cols)?
            .into_iter()
            .map(|a| self.seq_and_time(&cols, a).map(|x| x.0))
            .collect::<Result<Vec<_>>>()?;
        Ok((q.index_is_exact(), seqs))
    }
}

/// A conversation's row id as the `conv` column holds it. The store's row ids are
/// positive; anything else is kept apart from every real id (it matches nothing).
fn conv_key(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(u64::MAX)
}

/// Sums the sizes of the files under `dir` (the index's footprint).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
