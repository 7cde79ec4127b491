-- Version 4 records deletions: recoverable first, then purged (the row and its leaf
-- stay, the content goes; the row is the tombstone).
CREATE TABLE IF NOT EXISTS deletions (
    seq INTEGER PRIMARY KEY REFERENCES messages (seq),
    state INTEGER NOT NULL,
    deleted_ms INTEGER NOT NULL,
    recover_until_ms INTEGER NOT NULL,
    purged_ms INTEGER,
    leaf_hash BLOB NOT NULL,
    reason TEXT NOT NULL
);
