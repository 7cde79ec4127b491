ALTER TABLE login_failures ADD COLUMN ip TEXT NOT NULL DEFAULT '';
CREATE INDEX login_failures_ip ON login_failures (ip, at_ms);
CREATE TABLE known_addresses (user TEXT NOT NULL, ip TEXT NOT NULL, last_ms INTEGER NOT NULL, PRIMARY KEY (user, ip)) WITHOUT ROWID;
