//! Reads: every method sees committed data only.

use super::*;

impl StoreRead for SqliteStore {
    fn integrity_check(&self) -> Result<Vec<String>> {
        self.pragma_checks()
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.e(e))
    }

    fn meta_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT key FROM meta ORDER BY key")
            .map_err(|e| self.e(e))?;
        let keys = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for k in keys {
            let k = k.map_err(|e| self.e(e))?;
            if k.starts_with(prefix) {
                out.push(k);
            }
        }
        Ok(out)
    }

    fn conversations_of_sender(&self, sender: i64) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT conversation FROM messages WHERE sender = ?1")
            .map_err(|e| self.e(e))?;
        let ids = st
            .query_map([sender], |r| r.get::<_, i64>(0))
            .map_err(|e| self.e(e))?;
        ids.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn conversation_senders(&self, conversation: i64) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT sender FROM messages WHERE conversation = ?1")
            .map_err(|e| self.e(e))?;
        let ids = st
            .query_map([conversation], |r| r.get::<_, i64>(0))
            .map_err(|e| self.e(e))?;
        ids.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn log_size(&self) -> Result<u64> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT max(seq) FROM messages", [], |r| r.get(0))
            .map_err(|e| self.e(e))?;
        Ok(n.map_or(0, |n| n as u64 + 1))
    }

    fn message_by_seq(&self, seq: u64) -> Result<Option<MessageRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq = ?1"
            ))
            .map_err(|e| self.e(e))?;
        st.query_row([seq as i64], message_from_row)
            .optional()
            .map_err(|e| self.e(e))
    }

    fn message_by_id(&self, id: &[u8; 16]) -> Result<Option<MessageRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"
            ))
            .map_err(|e| self.e(e))?;
        st.query_row([&id[..]], message_from_row)
            .optional()
            .map_err(|e| self.e(e))
    }

    fn conversation_messages(
        &self,
        conversation: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<MessageRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation = ?1 \
                 ORDER BY sent_at, seq LIMIT ?2 OFFSET ?3"
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map(
                params![
                    conversation,
                    limit.min(i64::MAX as u64) as i64,
                    offset.min(i64::MAX as u64) as i64
                ],
                message_from_row,
            )
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn scan_messages(
        &self,
        from_seq: u64,
        f: &mut dyn FnMut(MessageRow) -> Result<bool>,
    ) -> Result<()> {
        self.scan_rows(from_seq, &mut |r| {
            f(message_from_row(r).map_err(|e| self.e(e))?)
        })
    }

    fn scan_messages_lenient(
        &self,
        from_seq: u64,
        f: &mut dyn FnMut(std::result::Result<MessageRow, (u64, String)>) -> Result<bool>,
    ) -> Result<()> {
        self.scan_rows(from_seq, &mut |r| {
            f(message_from_row(r).map_err(|e| {
                let seq = r.get::<_, i64>(0).map_or(u64::MAX, |s| s as u64);
                (seq, e.to_string())
            }))
        })
    }

    fn deletions(&self) -> Result<Vec<DeletionRow>> {
        let mut st = self
            .conn
            .prepare("SELECT seq, state, deleted_ms, recover_until_ms, purged_ms, leaf_hash, reason FROM deletions ORDER BY seq")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                let hash: Vec<u8> = r.get(5)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    hash,
                    r.get(6)?,
                ))
            })
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for row in rows {
            let (seq, state, deleted_ms, recover_until_ms, purged_ms, hash, reason) =
                row.map_err(|e| self.e(e))?;
            let leaf_hash: [u8; 32] = hash.try_into().map_err(|_| {
                StoreError::Corrupt(format!(
                    "deletion of seq {seq}: the leaf hash is not 32 bytes"
                ))
            })?;
            let state = match state {
                1 => DeletionState::Deleted,
                2 => DeletionState::Purged,
                s => {
                    return Err(StoreError::Corrupt(format!(
                        "deletion of seq {seq}: unknown state {s}"
                    )))
                }
            };
            out.push(DeletionRow {
                seq: seq as u64,
                state,
                deleted_ms,
                recover_until_ms,
                purged_ms,
                leaf_hash,
                reason,
            });
        }
        Ok(out)
    }

    fn conversation_messages_after(
        &self,
        conversation: i64,
        after: Option<(i64, u64)>,
        limit: u64,
    ) -> Result<Vec<MessageRow>> {
        let (t, s) = after.map_or((i64::MIN, -1i64), |(t, s)| (t, s as i64));
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation = ?1 AND (sent_at > ?2 OR (sent_at = ?2 AND seq > ?3)) \
                 ORDER BY sent_at, seq LIMIT ?4"
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map(params![conversation, t, s, limit as i64], message_from_row)
            .map_err(|e| self.e(e))?;
        rows.map(|r| r.map_err(|e| self.e(e))).collect()
    }

    fn conversations_of_seqs(&self, seqs: &[u64]) -> Result<Vec<i64>> {
        let mut out = std::collections::BTreeSet::new();
        let mut st = self
            .conn
            .prepare_cached("SELECT conversation FROM messages WHERE seq = ?1")
            .map_err(|e| self.e(e))?;
        for s in seqs {
            if let Some(c) = st
                .query_row([*s as i64], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(|e| self.e(e))?
            {
                out.insert(c);
            }
        }
        Ok(out.into_iter().collect())
    }

    fn conversations_from_seq(&self, seq: u64) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT conversation FROM messages WHERE seq >= ?1")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([seq as i64], |r| r.get::<_, i64>(0))
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn attachment_count(&self, conversation: i64) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT count(*) FROM attachments WHERE conversation = ?1")
            .and_then(|mut st| st.query_row([conversation], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn conversations(&self) -> Result<Vec<ConversationRow>> {
        self.conversations_where("", &[])
    }

    fn participants(&self) -> Result<Vec<ParticipantRow>> {
        self.participants_where("", &[])
    }

    fn conversation_row(&self, id: i64) -> Result<Option<ConversationRow>> {
        Ok(self.conversations_where("WHERE id = ?1", &[&id])?.pop())
    }

    fn conversation_by_key(
        &self,
        platform: &str,
        external_id: &str,
    ) -> Result<Option<ConversationRow>> {
        Ok(self
            .conversations_where(
                "WHERE platform = ?1 AND external_id = ?2",
                &[&platform, &external_id],
            )?
            .pop())
    }

    fn conversations_by_external_id(&self, external_id: &str) -> Result<Vec<ConversationRow>> {
        self.conversations_where("WHERE external_id = ?1", &[&external_id])
    }

    fn participant_row(&self, id: i64) -> Result<Option<ParticipantRow>> {
        Ok(self.participants_where("WHERE id = ?1", &[&id])?.pop())
    }

    fn participant_by_key(&self, platform: &str, handle: &str) -> Result<Option<ParticipantRow>> {
        Ok(self
            .participants_where("WHERE platform = ?1 AND handle = ?2", &[&platform, &handle])?
            .pop())
    }

    fn data_keys(&self) -> Result<Vec<DataKeyRow>> {
        let mut st = self
            .conn
            .prepare("SELECT conversation, kek_id, wrapped FROM data_keys")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(DataKeyRow {
                    conversation: r.get(0)?,
                    kek_id: r.get(1)?,
                    wrapped: r.get(2)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn data_key(&self, conversation: i64) -> Result<Option<DataKeyRow>> {
        data_key_on(&self.conn, &self.path, conversation)
    }

    fn conversation_count(&self, conversation: i64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM messages WHERE conversation = ?1",
                [conversation],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn messages_by_platform(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT c.platform, count(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation \
                 GROUP BY c.platform ORDER BY n DESC, c.platform",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>> {
        self.tiles.fresh(&self.conn, &self.path)?;
        indexes
            .iter()
            .map(|&i| self.tiles.read(&self.conn, &self.path, i))
            .collect()
    }

    fn scan_hashes(
        &self,
        from: u64,
        f: &mut dyn FnMut(u64, [u8; 32]) -> Result<bool>,
    ) -> Result<()> {
        self.tiles.fresh(&self.conn, &self.path)?;
        for i in from..self.tiles.stored(&self.conn, &self.path)? {
            if !f(i, self.tiles.read(&self.conn, &self.path, i)?)? {
                break;
            }
        }
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        self.checkpoints_where("ORDER BY size")
    }

    fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        Ok(self.checkpoints_where("ORDER BY size DESC LIMIT 1")?.pop())
    }

    fn attachment(&self, conversation: i64, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT sealed FROM attachments WHERE conversation = ?1 AND sha256 = ?2",
                params![conversation, &sha256[..]],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.e(e))
    }

    fn stats(&self) -> Result<StoreStats> {
        let count = |table: &str| -> Result<u64> {
            self.conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(|e| self.e(e))
        };
        let mut bytes = 0;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        }
        Ok(StoreStats {
            messages: self.log_size()?,
            conversations: count("conversations")?,
            participants: count("participants")?,
            attachments: count("attachments")?,
            checkpoints: count("checkpoints")?,
            bytes_on_disk: bytes,
        })
    }
}
