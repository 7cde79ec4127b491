-- The whole schema at version 5, for a new archive (user_version 0).
-- Each step after it upgrades an existing archive by one version; see migrate() in
-- src/lib.rs. A step never rewrites message rows; the one to version 5 moves the log's
-- hashes into tiles (the same log: every hash of it is still read back unchanged).
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    external_id TEXT NOT NULL,
    title TEXT,
    kind INTEGER,
    UNIQUE (platform, external_id)
);
CREATE TABLE participants (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    handle TEXT NOT NULL,
    display_name TEXT,
    UNIQUE (platform, handle)
);
CREATE TABLE data_keys (
    conversation INTEGER PRIMARY KEY REFERENCES conversations (id),
    kek_id TEXT NOT NULL,
    wrapped BLOB NOT NULL
);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    conversation INTEGER NOT NULL REFERENCES conversations (id),
    source_id TEXT,
    fingerprint BLOB,
    sender INTEGER NOT NULL REFERENCES participants (id),
    sender_name TEXT,
    sender_role INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    sent_offset INTEGER,
    received_at INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    reply_to TEXT,
    target TEXT,
    tags TEXT,
    body BLOB,
    pii INTEGER,
    CHECK ((source_id IS NULL) <> (fingerprint IS NULL))
);
CREATE UNIQUE INDEX messages_source ON messages (conversation, source_id) WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX messages_fingerprint ON messages (conversation, fingerprint) WHERE fingerprint IS NOT NULL;
CREATE INDEX messages_time ON messages (conversation, sent_at);
CREATE INDEX messages_sender ON messages (sender, conversation);
-- The Merkle log's hashes as tiles: see src/tiles.rs. key = tile level << 56 | index of the
-- row's first hash at that level; hashes = consecutive 32-byte hashes, within one tile.
CREATE TABLE log_tiles (key INTEGER PRIMARY KEY, hashes BLOB NOT NULL);
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE attachments (
    conversation INTEGER NOT NULL REFERENCES conversations (id),
    sha256 BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (conversation, sha256)
) WITHOUT ROWID;
CREATE TABLE deletions (
    seq INTEGER PRIMARY KEY REFERENCES messages (seq),
    state INTEGER NOT NULL,
    deleted_ms INTEGER NOT NULL,
    recover_until_ms INTEGER NOT NULL,
    purged_ms INTEGER,
    leaf_hash BLOB NOT NULL,
    reason TEXT NOT NULL
);
