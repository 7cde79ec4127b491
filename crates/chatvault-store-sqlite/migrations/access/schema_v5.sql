-- access.db at schema version 5: accounts, sign-in throttling, sessions, tokens,
-- requests and grants, the audit chain and its checkpoints, enrolments, lifecycle records.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    team TEXT,
    handles TEXT NOT NULL,
    password TEXT NOT NULL,
    totp_secret BLOB,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    frozen INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    lang TEXT
) WITHOUT ROWID;
CREATE TABLE login_failures (user TEXT NOT NULL, at_ms INTEGER NOT NULL, ip TEXT NOT NULL DEFAULT '');
CREATE INDEX login_failures_user ON login_failures (user, at_ms);
CREATE INDEX login_failures_ip ON login_failures (ip, at_ms);
CREATE TABLE known_addresses (user TEXT NOT NULL, ip TEXT NOT NULL, last_ms INTEGER NOT NULL, PRIMARY KEY (user, ip)) WITHOUT ROWID;
CREATE TABLE sessions (
    id_hash BLOB PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL,
    tag BLOB
);
CREATE INDEX sessions_user ON sessions (user);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    user TEXT NOT NULL,
    scope TEXT NOT NULL,
    source TEXT,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE TABLE requests (id TEXT PRIMARY KEY, requester TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE grants (id TEXT PRIMARY KEY, holder TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE audit (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, body TEXT NOT NULL, hash BLOB NOT NULL);
CREATE INDEX audit_actor ON audit (actor, time_ms);
CREATE INDEX audit_action ON audit (action, time_ms);
CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE enrolments (ticket_hash BLOB PRIMARY KEY, user TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE lifecycle (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
INSERT INTO lifecycle VALUES ('policy', 'default', '{"name":"default","matcher":{},"keep":180,"locked":false}');
