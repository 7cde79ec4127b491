//! Conversations, participants, who takes part where, and unwrapped data keys: bounded
//! caches over the store. The store is the truth; a miss reads it.
//!
//! Bounded, because a server that kept every conversation and participant it ever saw
//! grew with the archive: a 30-minute soak (docs/campaigns.md) added about 200 MiB for
//! 436,000 conversations. Rows are never changed once written, so a cached row is never
//! stale; a rolled-back batch or another process's writes clear the caches
//! ([`Archive::load_directory`]).

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chatvault_crypto::DataKey;
use chatvault_policy::Handle;
use chatvault_store::{ConversationRow, ParticipantRow};
use lru::LruCache;

use crate::{Archive, ArchiveError, Result};

/// How many unwrapped data keys are kept. A key with its AES-GCM state is roughly 1 KiB;
/// kept for every conversation, they were most of a 30-minute soak's memory growth
/// (436,000 conversations; docs/campaigns.md). One evicted is unwrapped again.
const DEK_CACHE: usize = 8192;

/// How many conversations and participants (each, with their keys) are kept: a few
/// hundred bytes each, so some tens of MiB at most.
const ROW_CACHE: usize = 65_536;

/// How many conversations' member lists are kept.
const MEMBER_CACHE: usize = 16_384;

/// How many participants' conversation lists are kept: the handles of the teams and
/// agents who search (a list is 8 bytes a conversation: tens of thousands for a busy
/// agent at 10M messages).
const SENDER_CACHE: usize = 256;

fn lru<K: Hash + Eq, V>(n: usize) -> LruCache<K, V> {
    LruCache::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
}

/// The row caches, behind one lock so that `&self` readers can fill them.
pub(crate) struct Rows {
    conversations: LruCache<i64, Arc<ConversationRow>>,
    conversation_ids: LruCache<(String, String), i64>,
    participants: LruCache<i64, Arc<ParticipantRow>>,
    participant_ids: LruCache<(String, String), i64>,
}

pub(crate) struct Directory {
    rows: Mutex<Rows>,
    /// The most recently used data keys, unwrapped.
    pub deks: LruCache<i64, Arc<DataKey>>,
    /// Who sent messages in each conversation, filled on demand; cleared whenever a
    /// batch stores messages.
    pub members: LruCache<i64, Arc<[Handle]>>,
    /// The conversations each participant sent messages in (row ids, ascending), filled
    /// on demand; a batch adds the conversations it wrote to, so a role's reach is not
    /// read from the store at each search.
    pub sender_conversations: LruCache<i64, Arc<Vec<i64>>>,
}

impl Default for Directory {
    fn default() -> Self {
        Directory::with_capacity(DEK_CACHE, ROW_CACHE)
    }
}

impl Directory {
    pub(crate) fn with_capacity(deks: usize, rows: usize) -> Directory {
        Directory {
            rows: Mutex::new(Rows {
                conversations: lru(rows),
                conversation_ids: lru(rows),
                participants: lru(rows),
                participant_ids: lru(rows),
            }),
            deks: lru(deks),
            members: lru(MEMBER_CACHE.min(rows)),
            sender_conversations: lru(SENDER_CACHE.min(rows)),
        }
    }

    /// An empty directory of the same capacities.
    pub(crate) fn emptied(&self) -> Directory {
        let rows = self.rows().conversations.cap().get();
        Directory::with_capacity(self.deks.cap().get(), rows)
    }

    pub(crate) fn rows(&self) -> MutexGuard<'_, Rows> {
        // The caches hold only what the store says: a panic half-way through an update
        // leaves them usable.
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A conversation's id by its key, as cached (the batch writer's fast path).
    pub(crate) fn cached_conversation_id(&self, platform: &str, external_id: &str) -> Option<i64> {
        self.rows()
            .conversation_ids
            .get(&(platform.to_owned(), external_id.to_owned()))
            .copied()
    }

    pub(crate) fn remember_conversation_id(&self, platform: &str, external_id: &str, id: i64) {
        self.rows()
            .conversation_ids
            .put((platform.to_owned(), external_id.to_owned()), id);
    }

    pub(crate) fn cached_participant_id(&self, platform: &str, handle: &str) -> Option<i64> {
        self.rows()
            .participant_ids
            .get(&(platform.to_owned(), handle.to_owned()))
            .copied()
    }

    pub(crate) fn remember_participant_id(&self, platform: &str, handle: &str, id: i64) {
        self.rows()
            .participant_ids
            .put((platform.to_owned(), handle.to_owned()), id);
    }

    #[cfg(test)]
    pub(crate) fn cached_rows(&self) -> usize {
        let r = self.rows();
        r.conversations.len() + r.participants.len()
    }
}

impl Archive {
    /// Forgets every cached row, member list and data key: the store is read again on
    /// demand (after a rolled-back batch, or when another process may have written).
    pub(crate) fn load_directory(&mut self) -> Result<()> {
        self.dir = self.dir.emptied();
        Ok(())
    }

    /// A conversation by its row id; `None` when the store has no such row.
    pub(crate) fn conversation_row(&self, id: i64) -> Result<Option<Arc<ConversationRow>>> {
        if let Some(c) = self.dir.rows().conversations.get(&id) {
            return Ok(Some(c.clone()));
        }
        let Some(c) = self.store.conversation_row(id)? else {
            return Ok(None);
        };
        Ok(Some(self.remember_conversation(c)))
    }

    /// A conversation that a stored row names: its absence is corruption.
    pub(crate) fn conversation(&self, id: i64) -> Result<Arc<ConversationRow>> {
        self.conversation_row(id)?
            .ok_or_else(|| ArchiveError::Corrupt(format!("conversation row {id} is unknown")))
    }

    /// A conversation's row id by its platform and external id.
    pub(crate) fn conversation_by_key(
        &self,
        platform: &str,
        external_id: &str,
    ) -> Result<Option<i64>> {
        if let Some(id) = self.dir.cached_conversation_id(platform, external_id) {
            return Ok(Some(id));
        }
        Ok(self
            .store
            .conversation_by_key(platform, external_id)?
            .map(|c| self.remember_conversation(c).id))
    }

    /// Every conversation with this external id, on any platform (read from the store).
    pub(crate) fn conversations_by_external_id(&self, external_id: &str) -> Result<Vec<i64>> {
        Ok(self
            .store
            .conversations_by_external_id(external_id)?
            .into_iter()
            .map(|c| self.remember_conversation(c).id)
            .collect())
    }

    fn remember_conversation(&self, c: ConversationRow) -> Arc<ConversationRow> {
        let c = Arc::new(c);
        let mut rows = self.dir.rows();
        rows.conversation_ids
            .put((c.platform.clone(), c.external_id.clone()), c.id);
        rows.conversations.put(c.id, c.clone());
        c
    }

    /// A participant by its row id; `None` when the store has no such row.
    pub(crate) fn participant_row(&self, id: i64) -> Result<Option<Arc<ParticipantRow>>> {
        if let Some(p) = self.dir.rows().participants.get(&id) {
            return Ok(Some(p.clone()));
        }
        let Some(p) = self.store.participant_row(id)? else {
            return Ok(None);
        };
        let p = Arc::new(p);
        let mut rows = self.dir.rows();
        rows.participant_ids
            .put((p.platform.clone(), p.handle.clone()), p.id);
        rows.participants.put(p.id, p.clone());
        Ok(Some(p))
    }

    /// A participant's row id by platform and handle.
    pub(crate) fn participant_by_key(&self, platform: &str, handle: &str) -> Result<Option<i64>> {
        if let Some(id) = self.dir.cached_participant_id(platform, handle) {
            return Ok(Some(id));
        }
        let Some(p) = self.store.participant_by_key(platform, handle)? else {
            return Ok(None);
        };
        self.dir.remember_participant_id(platform, handle, p.id);
        Ok(Some(p.id))
    }
}
