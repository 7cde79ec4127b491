-- Sessions carry a tag (AES-GCM over their immutable fields); those from before have
-- none and end: their users sign in again. The bound tables get their first signed map
-- when the database is opened (chatvault-access's seal_baseline).
ALTER TABLE sessions ADD COLUMN tag BLOB;
DELETE FROM sessions;
