//! The Merkle log's hashes as tiles (the C2SP tlog-tiles layout, tiles of height 8).
//!
//! The log's stored hashes, in tlog's order (each record's leaf hash, then the interior
//! hashes it completes), are about two per message. A tile keeps only the hashes at tree
//! levels 0, 8, 16, …: up to 256 consecutive hashes of one such level. Every hash between
//! them is computed from the tile below it when read (at most 255 node hashes, within one
//! tile). That is 32 bytes per message and 1/256 of that again, where two rows of a hash
//! each cost 83 bytes, and an import writes a row per 256 messages instead of two per
//! message.
//!
//! `log_tiles (key, hashes)`: `key` is the tile level (0 for the leaves' hashes, 1 for
//! tree level 8, …) shifted left by 56, or'd with the index, at that level, of the row's
//! first hash; `hashes` are consecutive hashes from there. A row is a whole tile, or a
//! piece of one (a batch of one message adds one hash): a row never crosses a tile's end,
//! so a tile is the rows of its key range, in key order. Rows are only inserted.
//!
//! The interior hashes a writer passes are not kept: reads compute them from the tile
//! below. A hash of a stored level above the leaves (8, 16, …) is checked against the
//! tile it covers before it is kept, so every hash read follows from the leaves. A writer
//! must append whole records at the log's end.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection};
use tlog_tiles::tlog::{node_hash, split_stored_hash_index, stored_hash_count, Hash};

use chatvault_store::{Result, StoreError};

use crate::err;

/// Hashes per tile.
pub(crate) const WIDTH: u64 = 256;
/// Tree levels per tile level.
const HEIGHT: u8 = 8;
/// The index bits of a key.
const INDEX_BITS: u32 = 56;

/// The key of the row whose first hash is `first` at tile level `level`.
pub(crate) fn key(level: u8, first: u64) -> i64 {
    ((i64::from(level)) << INDEX_BITS) | first as i64
}

/// The index, at its tile level, of a row's first hash.
fn first_of(key: i64) -> u64 {
    (key as u64) & ((1 << INDEX_BITS) - 1)
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

fn hash_of(bytes: &[u8], what: impl Fn() -> String) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| corrupt(what()))
}

/// How many hashes the log holds at each tile level, lowest first: one entry per level
/// that has any.
pub(crate) fn counts(conn: &Connection, path: &Path) -> Result<Vec<u64>> {
    let mut st = conn
        .prepare_cached(
            "SELECT key, length(CAST(hashes AS BLOB)) FROM log_tiles WHERE key >= ?1 AND key < ?2 \
             ORDER BY key DESC LIMIT 1",
        )
        .map_err(|e| err(path, e))?;
    let mut out = vec![];
    for level in 0u8.. {
        if level >= 64 / HEIGHT {
            break;
        }
        let row: Option<(i64, i64)> = rusqlite::OptionalExtension::optional(
            st.query_row(params![key(level, 0), key(level + 1, 0)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            }),
        )
        .map_err(|e| err(path, e))?;
        let Some((k, len)) = row else { break };
        let first = first_of(k);
        if len <= 0 || len % 32 != 0 {
            return Err(corrupt(format!(
                "log tile row {level}/{first} holds {len} bytes, not a whole number of hashes"
            )));
        }
        out.push(first + len as u64 / 32);
    }
    // Level t holds one hash per 256^t leaves: anything else (a level missing among
    // them) is a damaged log.
    let leaves = out.first().copied().unwrap_or(0);
    for t in 1..=out.len() {
        let want = leaves >> (u32::from(HEIGHT) * t as u32);
        let n = out.get(t).copied().unwrap_or(0);
        if n != want {
            return Err(corrupt(format!(
                "the log's tiles disagree: {leaves} leaves, but {n} hashes at tile level {t} (want {want})"
            )));
        }
    }
    Ok(out)
}

/// The hashes a write transaction appends, kept until it commits.
#[derive(Default)]
pub(crate) struct Appender {
    /// Per tile level: the index of the first unwritten hash, and the unwritten hashes.
    /// `None` until the log's counts are read (the first append of the transaction).
    levels: Option<Vec<(u64, Vec<[u8; 32]>)>>,
}

impl Appender {
    fn leaves(levels: &[(u64, Vec<[u8; 32]>)]) -> u64 {
        levels
            .first()
            .map_or(0, |(start, v)| start + v.len() as u64)
    }

    /// Takes the stored hashes from stored index `first`: whole records, at the log's end.
    /// A refused call leaves nothing of itself behind.
    pub(crate) fn put(
        &mut self,
        conn: &Connection,
        path: &Path,
        first: u64,
        hashes: &[[u8; 32]],
    ) -> Result<()> {
        if self.levels.is_none() {
            self.levels = Some(
                counts(conn, path)?
                    .into_iter()
                    .map(|n| (n, vec![]))
                    .collect(),
            );
        }
        let levels = self.levels.as_mut().expect("loaded above");
        let kept: Vec<usize> = levels.iter().map(|(_, v)| v.len()).collect();
        let out = Self::take(levels, conn, path, first, hashes);
        if out.is_err() {
            levels.truncate(kept.len());
            for ((_, v), n) in levels.iter_mut().zip(kept) {
                v.truncate(n);
            }
        }
        out
    }

    fn take(
        levels: &mut Vec<(u64, Vec<[u8; 32]>)>,
        conn: &Connection,
        path: &Path,
        first: u64,
        hashes: &[[u8; 32]],
    ) -> Result<()> {
        let next = stored_hash_count(Self::leaves(levels));
        if first != next {
            return Err(corrupt(format!(
                "log hashes appended at stored index {first}, but the log's next one is {next}: the log only grows at its end"
            )));
        }
        for (i, h) in hashes.iter().enumerate() {
            let index = first + i as u64;
            let (level, k) = split_stored_hash_index(index);
            if level % HEIGHT != 0 {
                continue; // computed from the tile below when read
            }
            let t = usize::from(level / HEIGHT);
            if t > 0 {
                // It covers tile `k` of the level below, whole: it must be that tile's root.
                let below = tile_below(conn, path, &levels[t - 1], t as u8 - 1, k)?;
                if subtree(&below).0 != *h {
                    return Err(corrupt(format!(
                        "log hash {index} (level {level}, index {k}) is not the hash of the 256 below it"
                    )));
                }
            }
            if levels.len() == t {
                levels.push((0, vec![]));
            }
            let (start, pending) = &mut levels[t];
            if k != *start + pending.len() as u64 {
                return Err(corrupt(format!(
                    "log hash {index} is out of order: level {level} index {k}"
                )));
            }
            pending.push(*h);
        }
        let end = stored_hash_count(Self::leaves(levels));
        if first + hashes.len() as u64 != end {
            return Err(corrupt(format!(
                "log hashes {first}..{} stop inside a record (its hashes end at {end})",
                first + hashes.len() as u64
            )));
        }
        Ok(())
    }

    /// Writes what was appended: a row per tile or piece of one.
    pub(crate) fn flush(&mut self, conn: &Connection, path: &Path) -> Result<()> {
        let Some(levels) = self.levels.as_mut() else {
            return Ok(());
        };
        let mut st = conn
            .prepare_cached("INSERT INTO log_tiles (key, hashes) VALUES (?1, ?2)")
            .map_err(|e| err(path, e))?;
        for (t, (start, pending)) in levels.iter_mut().enumerate() {
            let mut at = *start;
            let mut rest: &[[u8; 32]] = pending;
            while !rest.is_empty() {
                let room = (WIDTH - at % WIDTH) as usize;
                let (piece, more) = rest.split_at(room.min(rest.len()));
                st.execute(params![key(t as u8, at), piece.as_flattened()])
                    .map_err(|e| err(path, e))?;
                at += piece.len() as u64;
                rest = more;
            }
            *start = at;
            pending.clear();
        }
        Ok(())
    }
}

/// Tile `n` of tile level `level`, whole: its stored rows, then what this transaction
/// appends to it (`pending`, from index `start`).
fn tile_below(
    conn: &Connection,
    path: &Path,
    (start, pending): &(u64, Vec<[u8; 32]>),
    level: u8,
    n: u64,
) -> Result<Vec<[u8; 32]>> {
    let mut tile = if *start > n * WIDTH {
        read_tile(conn, path, level, n)?
    } else {
        vec![]
    };
    let from = n * WIDTH + tile.len() as u64;
    let skip = from.checked_sub(*start).map(|x| x as usize);
    if let Some(more) = skip.and_then(|s| pending.get(s..)) {
        tile.extend(more.iter().take(WIDTH as usize - tile.len()));
    }
    if tile.len() as u64 != WIDTH {
        return Err(corrupt(format!(
            "log tile {level}/{n} holds {} hashes where a hash above it needs 256",
            tile.len()
        )));
    }
    Ok(tile)
}

/// The root of a run of 2^h hashes.
fn subtree(hashes: &[[u8; 32]]) -> Hash {
    let mut v: Vec<Hash> = hashes.iter().map(|b| Hash(*b)).collect();
    while v.len() > 1 {
        v = v.chunks_exact(2).map(|p| node_hash(p[0], p[1])).collect();
    }
    v.first().copied().unwrap_or(Hash([0; 32]))
}

/// Tile `n` of tile level `level`, as far as its rows go, read from the database.
fn read_tile(conn: &Connection, path: &Path, level: u8, n: u64) -> Result<Vec<[u8; 32]>> {
    let mut st = conn
        .prepare_cached(
            "SELECT key, hashes FROM log_tiles WHERE key >= ?1 AND key < ?2 ORDER BY key",
        )
        .map_err(|e| err(path, e))?;
    let mut rows = st
        .query(params![key(level, n * WIDTH), key(level, (n + 1) * WIDTH)])
        .map_err(|e| err(path, e))?;
    let mut tile: Vec<[u8; 32]> = Vec::with_capacity(WIDTH as usize);
    while let Some(r) = rows.next().map_err(|e| err(path, e))? {
        let k: i64 = r.get(0).map_err(|e| err(path, e))?;
        let bytes: Vec<u8> = r.get(1).map_err(|e| err(path, e))?;
        let first = first_of(k);
        let at = n * WIDTH + tile.len() as u64;
        if first != at || bytes.is_empty() || bytes.len() % 32 != 0 {
            return Err(corrupt(format!(
                "log tile {level}/{n}: a row at index {first} holding {} bytes, where the tile continues at {at}",
                bytes.len()
            )));
        }
        for c in bytes.chunks_exact(32) {
            tile.push(hash_of(c, String::new)?);
        }
        if tile.len() as u64 > WIDTH {
            return Err(corrupt(format!(
                "log tile {level}/{n} holds more than {WIDTH} hashes"
            )));
        }
    }
    Ok(tile)
}

/// Tiles read lately, for reads that walk the log (verify reads every message's hashes).
/// Cleared by every write transaction, so it only ever holds committed rows; a tile read
/// while partial is read again when a later hash is asked for.
#[derive(Default)]
pub(crate) struct Tiles {
    cache: RefCell<HashMap<(u8, u64), Arc<Vec<[u8; 32]>>>>,
    /// SQLite's `data_version` when the cache was last known good: another connection's
    /// commit (another process, or someone editing the file) changes it.
    version: std::cell::Cell<Option<i64>>,
}

/// Tiles kept at most (8 KiB each).
const CACHED: usize = 64;

impl Tiles {
    pub(crate) fn clear(&self) {
        self.cache.borrow_mut().clear();
    }

    /// Forgets what was cached if another connection has committed since: call before
    /// each read.
    pub(crate) fn fresh(&self, conn: &Connection, path: &Path) -> Result<()> {
        let now: i64 = conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| err(path, e))?;
        if self.version.replace(Some(now)) != Some(now) {
            self.clear();
        }
        Ok(())
    }

    /// Tile `n` of tile level `level`, as far as it is written.
    fn tile(
        &self,
        conn: &Connection,
        path: &Path,
        level: u8,
        n: u64,
        need: u64,
    ) -> Result<Arc<Vec<[u8; 32]>>> {
        if let Some(t) = self.cache.borrow().get(&(level, n)) {
            if t.len() as u64 >= need {
                return Ok(t.clone());
            }
        }
        let tile = read_tile(conn, path, level, n)?;
        let tile = Arc::new(tile);
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert((level, n), tile.clone());
        Ok(tile)
    }

    /// The stored hash at tlog's stored index `index`.
    pub(crate) fn read(&self, conn: &Connection, path: &Path, index: u64) -> Result<[u8; 32]> {
        let (level, k) = split_stored_hash_index(index);
        let (t, h) = (level / HEIGHT, level % HEIGHT);
        // The hash covers these hashes of tile level `t`, all in one tile.
        let (lo, hi) = (k << h, (k + 1) << h);
        let n = lo / WIDTH;
        let tile = self.tile(conn, path, t, n, hi - n * WIDTH)?;
        let base = n * WIDTH;
        let Some(below) = tile.get((lo - base) as usize..(hi - base) as usize) else {
            return Err(corrupt(format!("log hash {index} is missing")));
        };
        Ok(subtree(below).0)
    }

    /// How many stored hashes the log has (those of its whole records).
    pub(crate) fn stored(&self, conn: &Connection, path: &Path) -> Result<u64> {
        Ok(stored_hash_count(
            counts(conn, path)?.first().copied().unwrap_or(0),
        ))
    }
}

/// Calls `f` with each row of a version 4 log (`log_hashes`), in index order.
fn each_old_hash(
    conn: &Connection,
    path: &Path,
    f: &mut dyn FnMut(i64, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut st = conn
        .prepare("SELECT idx, hash FROM log_hashes ORDER BY idx")
        .map_err(|e| err(path, e))?;
    let mut rows = st.query([]).map_err(|e| err(path, e))?;
    while let Some(r) = rows.next().map_err(|e| err(path, e))? {
        f(
            r.get(0).map_err(|e| err(path, e))?,
            r.get(1).map_err(|e| err(path, e))?,
        )?;
    }
    Ok(())
}

/// Moves a version 4 log (`log_hashes`: one row per stored hash) into tiles, inside the
/// caller's transaction, and drops the old table. The tiles are built from the leaves'
/// hashes, bottom up; then every old row is compared with what the tiles give. A row that
/// differs (or an interior one missing) is damage in the old log: the upgrade goes on,
/// and records the finding under `chatvault_store::LOG_FINDING` for `verify` to report. A missing
/// leaf cannot be carried over: the upgrade is refused, and the archive left as it was.
pub(crate) fn upgrade(conn: &Connection, path: &Path) -> Result<()> {
    // Per tile level: how many hashes went into whole tiles, and the tile being filled.
    let mut done: Vec<u64> = vec![0];
    let mut filling: Vec<Vec<[u8; 32]>> = vec![vec![]];
    let mut leaves = 0u64;
    {
        let mut ins = conn
            .prepare("INSERT INTO log_tiles (key, hashes) VALUES (?1, ?2)")
            .map_err(|e| err(path, e))?;
        each_old_hash(conn, path, &mut |idx, bytes| {
            let (level, k) = split_stored_hash_index(idx.max(0) as u64);
            if level != 0 {
                return Ok(());
            }
            if k != leaves {
                return Err(corrupt(format!(
                    "upgrading the log to tiles: the hash of leaf {leaves} is missing from log_hashes; the archive is left at schema version 4"
                )));
            }
            filling[0].push(hash_of(&bytes, || {
                format!("log hash {idx} is not 32 bytes")
            })?);
            leaves += 1;
            // A whole tile is written, and its root goes up a level.
            let mut t = 0;
            while filling[t].len() as u64 == WIDTH {
                ins.execute(params![key(t as u8, done[t]), filling[t].as_flattened()])
                    .map_err(|e| err(path, e))?;
                let root = subtree(&filling[t]).0;
                done[t] += WIDTH;
                filling[t].clear();
                if filling.len() == t + 1 {
                    filling.push(vec![]);
                    done.push(0);
                }
                filling[t + 1].push(root);
                t += 1;
            }
            Ok(())
        })?;
        for (t, tile) in filling.iter().enumerate() {
            if !tile.is_empty() {
                ins.execute(params![key(t as u8, done[t]), tile.as_flattened()])
                    .map_err(|e| err(path, e))?;
            }
        }
    }
    // Every old row against the tiles; and every hash the leaves call for is there.
    let tiles = Tiles::default();
    let (mut differ, mut first_bad, mut within) = (0u64, None::<i64>, 0u64);
    each_old_hash(conn, path, &mut |idx, bytes| {
        let wanted = u64::try_from(idx)
            .ok()
            .filter(|&i| i < stored_hash_count(leaves));
        within += u64::from(wanted.is_some());
        let same = wanted
            .map(|i| tiles.read(conn, path, i))
            .transpose()?
            .is_some_and(|h| h[..] == bytes[..]);
        if !same {
            differ += 1;
            first_bad.get_or_insert(idx);
        }
        Ok(())
    })?;
    let missing = stored_hash_count(leaves) - within;
    if differ > 0 || missing > 0 {
        let note = format!(
            "the log was damaged before its upgrade to tiles (schema version 5): {differ} stored hashes did not follow from the leaves' hashes (the first at stored index {}), and {missing} were missing; the leaves were kept, and the hashes above them are computed from the leaves",
            first_bad.map_or("none".to_owned(), |i| i.to_string())
        );
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![chatvault_store::LOG_FINDING, note.as_bytes()],
        )
        .map_err(|e| err(path, e))?;
    }
    conn.execute_batch("DROP TABLE log_hashes;")
        .map_err(|e| err(path, e))
}
