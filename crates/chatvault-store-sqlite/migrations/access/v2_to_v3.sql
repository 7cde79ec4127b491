CREATE TABLE lifecycle (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
INSERT INTO lifecycle VALUES ('policy', 'default', '{"name":"default","matcher":{},"keep":180,"locked":false}');
