//! What derived caches (the analytics summaries) need to stay in step with the archive:
//! which conversations changed since they last looked, and whether anything was deleted.

use crate::{Archive, Result};

impl Archive {
    /// The deletion generation: it changes with every deletion, recovery and purge.
    pub fn deletion_generation(&self) -> Result<u64> {
        Ok(self.gen_now()?.unwrap_or(0))
    }

    /// The conversations (`platform:id`) holding a message at log position `from_seq` or
    /// later, and the log's size now (the next `from_seq`).
    pub fn conversations_from_seq(&mut self, from_seq: u64) -> Result<(Vec<String>, u64)> {
        let size = self.store.log_size()?;
        let ids = if from_seq >= size {
            vec![]
        } else {
            self.store.conversations_from_seq(from_seq)?
        };
        let mut keys = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.conversation_row(id)? {
                keys.push(format!("{}:{}", c.platform, c.external_id));
            }
        }
        Ok((keys, size))
    }

    /// Every conversation (`platform:id`).
    pub fn conversation_keys(&self) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .store
            .conversations()?
            .into_iter()
            .map(|c| format!("{}:{}", c.platform, c.external_id))
            .collect();
        v.sort();
        Ok(v)
    }
}
