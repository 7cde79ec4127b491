//! Write transactions: one SQLite transaction (`BEGIN IMMEDIATE`) per batch, committed
//! whole or rolled back when dropped.

use super::*;

impl Store for SqliteStore {
    fn write(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        let path = self.path.clone();
        // Reads after this one see what it commits, or nothing of it.
        self.tiles.clear();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| err(&path, e))?;
        Ok(Box::new(SqliteTxn {
            tx,
            path,
            log: tiles::Appender::default(),
        }))
    }
}

struct SqliteTxn<'a> {
    tx: Transaction<'a>,
    path: PathBuf,
    /// The log's hashes this transaction appends, written as tiles when it commits.
    log: tiles::Appender,
}

impl SqliteTxn<'_> {
    fn e(&self, e: rusqlite::Error) -> StoreError {
        err(&self.path, e)
    }
}

impl WriteTxn for SqliteTxn<'_> {
    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn put_meta_if_absent(&mut self, key: &str, value: &[u8]) -> Result<bool> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|n| n == 1)
            .map_err(|e| self.e(e))
    }

    fn conversation(
        &mut self,
        platform: &str,
        external_id: &str,
        title: Option<&str>,
        kind: Option<u8>,
    ) -> Result<i64> {
        let mut st = self
            .tx
            .prepare_cached("SELECT id FROM conversations WHERE platform = ?1 AND external_id = ?2")
            .map_err(|e| err(&self.path, e))?;
        if let Some(id) = st
            .query_row(params![platform, external_id], |r| r.get(0))
            .optional()
            .map_err(|e| err(&self.path, e))?
        {
            return Ok(id);
        }
        drop(st);
        self.tx
            .execute(
                "INSERT INTO conversations (platform, external_id, title, kind) VALUES (?1, ?2, ?3, ?4)",
                params![platform, external_id, title, kind],
            )
            .map_err(|e| self.e(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    fn participant(
        &mut self,
        platform: &str,
        handle: &str,
        display_name: Option<&str>,
    ) -> Result<i64> {
        let mut st = self
            .tx
            .prepare_cached("SELECT id FROM participants WHERE platform = ?1 AND handle = ?2")
            .map_err(|e| err(&self.path, e))?;
        if let Some(id) = st
            .query_row(params![platform, handle], |r| r.get(0))
            .optional()
            .map_err(|e| err(&self.path, e))?
        {
            return Ok(id);
        }
        drop(st);
        self.tx
            .execute(
                "INSERT INTO participants (platform, handle, display_name) VALUES (?1, ?2, ?3)",
                params![platform, handle, display_name],
            )
            .map_err(|e| self.e(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    fn put_data_key(&mut self, k: &DataKeyRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO data_keys (conversation, kek_id, wrapped) VALUES (?1, ?2, ?3)",
                params![k.conversation, k.kek_id, k.wrapped],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn data_key(&mut self, conversation: i64) -> Result<Option<DataKeyRow>> {
        data_key_on(&self.tx, &self.path, conversation)
    }

    fn exists(&mut self, conversation: i64, key: &DedupKey) -> Result<bool> {
        let r = match key {
            DedupKey::Source(s) => self
                .tx
                .prepare_cached("SELECT 1 FROM messages WHERE conversation = ?1 AND source_id = ?2")
                .and_then(|mut st| st.exists(params![conversation, s])),
            DedupKey::Fingerprint(f) => self
                .tx
                .prepare_cached(
                    "SELECT 1 FROM messages WHERE conversation = ?1 AND fingerprint = ?2",
                )
                .and_then(|mut st| st.exists(params![conversation, &f[..]])),
        };
        r.map_err(|e| self.e(e))
    }

    fn insert_message(&mut self, m: &MessageRow) -> Result<()> {
        let mut st = self
            .tx
            .prepare_cached(&format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ))
            .map_err(|e| err(&self.path, e))?;
        st.execute(params![
            m.seq as i64,
            &m.id[..],
            m.conversation,
            m.source_id,
            m.fingerprint.as_ref().map(|f| &f[..]),
            m.sender,
            m.sender_name,
            m.sender_role,
            m.sent_at_ms,
            m.sent_offset_s,
            m.received_at_ms,
            m.kind,
            m.reply_to,
            m.target,
            m.tags,
            m.body,
            m.pii,
        ])
        .map(drop)
        .map_err(|e| err(&self.path, e))
    }

    fn put_hashes(&mut self, first: u64, hashes: &[[u8; 32]]) -> Result<()> {
        self.log.put(&self.tx, &self.path, first, hashes)
    }

    fn put_attachment(
        &mut self,
        conversation: i64,
        sha256: &[u8; 32],
        sealed: &[u8],
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO attachments (conversation, sha256, sealed) VALUES (?1, ?2, ?3)",
                params![conversation, &sha256[..], sealed],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn put_checkpoint(&mut self, cp: &CheckpointRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO checkpoints (size, root, note, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![cp.size as i64, &cp.root[..], cp.note, cp.created_at_ms],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn put_deletion(&mut self, d: &DeletionRow) -> Result<()> {
        let state = match d.state {
            DeletionState::Deleted => 1,
            DeletionState::Purged => 2,
        };
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO deletions (seq, state, deleted_ms, recover_until_ms, purged_ms, leaf_hash, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .and_then(|mut st| st.execute(params![d.seq as i64, state, d.deleted_ms, d.recover_until_ms, d.purged_ms, &d.leaf_hash[..], d.reason]))
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn remove_deletion(&mut self, seq: u64) -> Result<bool> {
        self.tx
            .execute(
                "DELETE FROM deletions WHERE seq = ?1 AND state = 1",
                [seq as i64],
            )
            .map(|n| n > 0)
            .map_err(|e| self.e(e))
    }

    fn clear_body(&mut self, seq: u64) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE messages SET body = NULL WHERE seq = ?1")
            .and_then(|mut st| st.execute([seq as i64]))
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn live_count(&mut self, conversation: i64) -> Result<u64> {
        self.tx
            .prepare_cached(
                "SELECT count(*) FROM messages WHERE conversation = ?1 AND body IS NOT NULL",
            )
            .and_then(|mut st| st.query_row([conversation], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn live_bodies(&mut self, conversation: i64) -> Result<Vec<([u8; 16], Vec<u8>)>> {
        let mut st = self
            .tx
            .prepare_cached(
                "SELECT id, body FROM messages WHERE conversation = ?1 AND body IS NOT NULL",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([conversation], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for row in rows {
            let (id, body) = row.map_err(|e| self.e(e))?;
            let id: [u8; 16] = id
                .try_into()
                .map_err(|_| StoreError::Corrupt("a message id is not 16 bytes".into()))?;
            out.push((id, body));
        }
        Ok(out)
    }

    fn attachment_shas(&mut self, conversation: i64) -> Result<Vec<[u8; 32]>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT sha256 FROM attachments WHERE conversation = ?1")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([conversation], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for row in rows {
            let h = row.map_err(|e| self.e(e))?;
            out.push(
                h.try_into().map_err(|_| {
                    StoreError::Corrupt("an attachment hash is not 32 bytes".into())
                })?,
            );
        }
        Ok(out)
    }

    fn delete_attachment(&mut self, conversation: i64, sha256: &[u8; 32]) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM attachments WHERE conversation = ?1 AND sha256 = ?2",
                params![conversation, &sha256[..]],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn delete_attachments(&mut self, conversation: i64) -> Result<u64> {
        self.tx
            .execute(
                "DELETE FROM attachments WHERE conversation = ?1",
                [conversation],
            )
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn delete_data_key(&mut self, conversation: i64) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM data_keys WHERE conversation = ?1",
                [conversation],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        let path = self.path.clone();
        self.log.flush(&self.tx, &path)?;
        self.tx.commit().map_err(|e| err(&path, e))
    }
}
