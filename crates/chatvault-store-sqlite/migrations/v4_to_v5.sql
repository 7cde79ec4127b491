-- Version 5 keeps the Merkle log's hashes as tiles (src/tiles.rs): the hashes at tree
-- levels 0, 8, 16, … in rows of up to 256, the levels between computed when read.
-- The store's upgrade code (`tiles::upgrade`) copies those levels from `log_hashes` into
-- this table in the same transaction, then drops `log_hashes`: the same log, every hash
-- of it still derivable, and the signed checkpoints check it as before.
CREATE TABLE log_tiles (key INTEGER PRIMARY KEY, hashes BLOB NOT NULL);
