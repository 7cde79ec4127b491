//! Inputs: a plain file, or a zip archive checked against hostile-input limits.
//!
//! A zip is validated from its central directory before any entry is read: entry names
//! must be relative paths without `..`, no entry may be a symlink or encrypted, and sizes
//! and compression ratios are bounded (zip bombs). Entries are then read on demand
//! through a positioned-read file handle, so several entries can be open at once (a chat
//! text and the media it refers to) without loading either whole. Nothing is ever
//! extracted to disk, and an archive inside the archive is never opened.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::Probe;

/// Bounds on what a zip may declare and decompress to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    /// Largest single entry, uncompressed.
    pub max_entry_bytes: u64,
    /// Largest sum of all entries, uncompressed.
    pub max_total_bytes: u64,
    /// Largest uncompressed/compressed ratio for entries over `ratio_floor` bytes.
    pub max_ratio: u64,
    pub ratio_floor: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 200_000,
            max_entry_bytes: 16 << 30,
            max_total_bytes: 64 << 30,
            // Chat text and JSON compress 5-30×; zeros compress 1000×.
            max_ratio: 150,
            ratio_floor: 1 << 20,
        }
    }
}

/// Why an input was refused before anything was read from it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct SourceError {
    pub file: String,
    pub reason: String,
}

/// A `Read + Seek` over a shared file handle using positioned reads, so clones of a
/// `ZipArchive` can read different entries at the same time.
#[derive(Clone)]
struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(not(unix))]
        let n = {
            let mut f = &*self.file;
            f.seek(SeekFrom::Start(self.pos))?;
            f.read(buf)?
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let next = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = next.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start")
        })?;
        Ok(self.pos)
    }
}

/// One entry of a validated zip.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    index: usize,
}

/// An opened input.
pub struct Source {
    /// How the input is named in reports.
    pub label: String,
    pub path: PathBuf,
    size: u64,
    zip: Option<(zip::ZipArchive<SharedFile>, Vec<Entry>)>,
    /// Bytes read so far in the current pass (uncompressed, for a zip), for progress.
    read: Arc<AtomicU64>,
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const HEAD_BYTES: usize = 64 << 10;

impl Source {
    /// Opens `path`; a zip is validated against `limits` here.
    pub fn open(path: &Path, limits: &Limits) -> Result<Source, SourceError> {
        let label = path.display().to_string();
        let err = |reason: String| SourceError {
            file: label.clone(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot open: {e}")))?;
        if meta.is_dir() {
            return Err(err("is a folder: pass the export file inside it (result.json, message_1.json, _chat.txt, …) or the export's zip".into()));
        }
        let mut f = File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut f, &mut magic).map_err(|e| err(format!("cannot read: {e}")))?;
        let size = meta.len();
        let mut source = Source {
            label: label.clone(),
            path: path.to_owned(),
            size,
            zip: None,
            read: Arc::default(),
        };
        if &magic[..n] == ZIP_MAGIC || (n == 4 && &magic == b"PK\x05\x06") {
            let listed = listed_entries(&f);
            let shared = SharedFile {
                file: Arc::new(f),
                pos: 0,
                len: size,
            };
            let archive = zip::ZipArchive::new(shared)
                .map_err(|e| err(format!("not a readable zip: {e}")))?;
            // The zip reader keeps one entry per name: two entries of one name would
            // leave one never read. The directory's own count tells.
            if let Some(listed) = listed {
                if listed as usize > archive.len() {
                    return Err(err(format!(
                        "the zip lists {listed} entries but only {} distinct names: entries share a name, and one of each would never be read; extract the zip and import its files separately",
                        archive.len()
                    )));
                }
            }
            let entries = validate(&archive, limits).map_err(err)?;
            source.zip = Some((archive, entries));
        }
        Ok(source)
    }

    pub fn is_zip(&self) -> bool {
        self.zip.is_some()
    }

    /// What progress is measured against: the file's size, or a zip's uncompressed size.
    pub fn progress_total(&self) -> u64 {
        match &self.zip {
            Some((_, entries)) => entries.iter().map(|e| e.size).sum(),
            None => self.size,
        }
    }

    /// Bytes read so far; a second pass over the same file starts again from zero.
    pub fn progress(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Opens the plain file from its start, counting what is read for progress.
    pub fn open_file(&self) -> std::io::Result<crate::CountingReader<File>> {
        self.read.store(0, Ordering::Relaxed);
        Ok(crate::CountingReader::with_counter(
            File::open(&self.path)?,
            self.read.clone(),
        ))
    }

    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The zip's entries (files only), in archive order; empty for a plain file.
    pub fn entries(&self) -> &[Entry] {
        self.zip.as_ref().map_or(&[], |(_, e)| e.as_slice())
    }

    /// Reads a plain file from the start.
    pub fn reader(&self) -> std::io::Result<Box<dyn BufRead + Send>> {
        if self.zip.is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "this importer reads plain files, not zips",
            ));
        }
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            self.open_file()?,
        )))
    }

    /// Runs `f` on a reader over one zip entry. The reader stops with an error if the
    /// entry inflates beyond its declared size.
    pub fn with_entry<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut dyn BufRead) -> T,
    ) -> std::io::Result<T> {
        let (archive, entries) = self
            .zip
            .as_ref()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a zip"))?;
        let entry = entries.iter().find(|e| e.name == name).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no entry `{name}` in the zip"),
            )
        })?;
        let mut archive = archive.clone();
        let file = archive
            .by_index(entry.index)
            .map_err(std::io::Error::other)?;
        let bounded = Bounded {
            inner: file,
            left: entry.size,
            name: entry.name.clone(),
            read: self.read.clone(),
        };
        let mut reader = BufReader::with_capacity(256 << 10, bounded);
        Ok(f(&mut reader))
    }

    /// Reads a whole zip entry of at most `max` bytes.
    pub fn read_entry(&self, name: &str, max: u64) -> std::io::Result<Vec<u8>> {
        let size = self
            .entries()
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.size);
        if let Some(s) = size.filter(|s| *s > max) {
            return Err(std::io::Error::other(format!(
                "`{name}` is {s} bytes, over the {max}-byte limit"
            )));
        }
        self.with_entry(name, |r| {
            let mut out = Vec::with_capacity(size.unwrap_or(0) as usize);
            r.take(max + 1).read_to_end(&mut out).map(|_| out)
        })?
    }

    /// What detection sees: the head of a plain file, or a zip's names and the heads of
    /// its top-level text and JSON entries.
    pub fn probe(&self) -> std::io::Result<Probe> {
        let mut probe = Probe {
            file_name: self.file_name(),
            is_zip: self.is_zip(),
            ..Probe::default()
        };
        if self.zip.is_none() {
            let mut f = File::open(&self.path)?;
            let mut head = vec![0u8; HEAD_BYTES];
            let n = read_up_to(&mut f, &mut head)?;
            head.truncate(n);
            probe.head = head;
            return Ok(probe);
        }
        probe.entries = self.entries().iter().map(|e| e.name.clone()).collect();
        let candidates: Vec<String> = self
            .entries()
            .iter()
            .filter(|e| {
                let lower = e.name.to_ascii_lowercase();
                !e.name.starts_with("__MACOSX/")
                    && (lower.ends_with(".txt") || lower.ends_with(".json"))
                    && e.name.matches('/').count() <= 1
            })
            .take(64)
            .map(|e| e.name.clone())
            .collect();
        for name in candidates {
            let head = self.with_entry(&name, |r| {
                let mut head = vec![0u8; 4096];
                read_up_to(r, &mut head).map(|n| {
                    head.truncate(n);
                    head
                })
            })??;
            probe.entry_heads.push((name, head));
        }
        Ok(probe)
    }
}

/// The entry count the zip's end-of-central-directory record declares (`None` for
/// ZIP64, where that field says 0xFFFF, or when the record is not found).
fn listed_entries(f: &File) -> Option<u64> {
    #[cfg(unix)]
    use std::os::unix::fs::FileExt;
    let len = f.metadata().ok()?.len();
    let tail = len.min(22 + 65_535);
    let mut buf = vec![0u8; tail as usize];
    #[cfg(unix)]
    f.read_exact_at(&mut buf, len - tail).ok()?;
    #[cfg(not(unix))]
    {
        let mut g = f;
        g.seek(SeekFrom::Start(len - tail)).ok()?;
        g.read_exact(&mut buf).ok()?;
    }
    // The record whose comment runs exactly to the end of the file (a comment may
    // itself contain the signature).
    let at = (0..buf.len().saturating_sub(21)).rev().find(|&at| {
        buf[at..].starts_with(b"PK\x05\x06")
            && buf
                .get(at + 20..at + 22)
                .map(|c| at + 22 + usize::from(u16::from_le_bytes([c[0], c[1]])) == buf.len())
                .unwrap_or(false)
    })?;
    let total = u16::from_le_bytes([*buf.get(at + 10)?, *buf.get(at + 11)?]);
    (total != 0xFFFF).then_some(u64::from(total))
}

fn validate(archive: &zip::ZipArchive<SharedFile>, limits: &Limits) -> Result<Vec<Entry>, String> {
    if archive.len() > limits.max_entries {
        return Err(format!(
            "the zip has {} entries, over the limit of {}",
            archive.len(),
            limits.max_entries
        ));
    }
    let mut archive = archive.clone();
    let mut entries = Vec::with_capacity(archive.len());
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let f = archive
            .by_index_raw(i)
            .map_err(|e| format!("entry {i}: {e}"))?;
        let name = f.name().to_owned();
        let shown: String = name.chars().take(200).collect();
        check_entry_name(&name).map_err(|why| format!("entry `{shown}` refused: {why}"))?;
        if f.is_symlink() {
            return Err(format!(
                "entry `{shown}` refused: symbolic links are not allowed"
            ));
        }
        if f.encrypted() {
            return Err(format!(
                "entry `{shown}` is encrypted; decrypt the zip first"
            ));
        }
        if f.is_dir() {
            continue;
        }
        let (size, packed) = (f.size(), f.compressed_size());
        if size > limits.max_entry_bytes {
            return Err(format!(
                "entry `{shown}` declares {size} bytes, over the {}-byte limit",
                limits.max_entry_bytes
            ));
        }
        if size > limits.ratio_floor && size / packed.max(1) > limits.max_ratio {
            return Err(format!(
                "entry `{shown}` would inflate {}× ({packed} → {size} bytes), over the {}× limit: a zip bomb?",
                size / packed.max(1),
                limits.max_ratio
            ));
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(format!(
                "the entries add up to more than {} bytes uncompressed",
                limits.max_total_bytes
            ));
        }
        entries.push(Entry {
            name,
            size,
            index: i,
        });
    }
    Ok(entries)
}

/// Entry names must be relative paths that stay inside the archive.
fn check_entry_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.contains('\0') {
        return Err("NUL in the name");
    }
    let slashed = name.replace('\\', "/");
    if slashed.starts_with('/') || slashed.as_bytes().get(1) == Some(&b':') {
        return Err("absolute path");
    }
    for c in Path::new(&slashed).components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("`..` leads outside the archive"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok(())
}

/// Stops an entry that inflates beyond what its header declared.
struct Bounded<R> {
    inner: R,
    left: u64,
    name: String,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf
            .len()
            .min(self.left.saturating_add(1).min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "`{}` inflates beyond its declared size",
                self.name
            )));
        }
        self.left -= n as u64;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub(crate) fn read_up_to<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    /// Writes a zip with the given (name, bytes, symlink) entries.
    pub fn write_zip(path: &Path, entries: &[(&str, &[u8], bool)]) {
        let f = File::create(path).expect("create");
        let mut w = zip::ZipWriter::new(f);
        for (name, bytes, link) in entries {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            if *link {
                w.add_symlink(*name, "/etc/passwd", opts).expect("symlink");
            } else {
                w.start_file(*name, opts).expect("start");
                w.write_all(bytes).expect("write");
            }
        }
        w.finish().expect("finish");
    }

    #[test]
    fn hostile_zips_are_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tmp");
        let zeros = vec![0u8; 8 << 20];
        type Entries<'a> = Vec<(&'a str, &'a [u8], bool)>;
        let cases: Vec<(&str, Entries, &str)> = vec![
            ("zip_slip", vec![("../evil.txt", b"x", false)], "outside"),
            (
                "zip_slip_nested",
                vec![("a/../../evil.txt", b"x", false)],
                "outside",
            ),
            ("absolute", vec![("/etc/cron.d/x", b"x", false)], "absolute"),
            (
                "windows_absolute",
                vec![("C:\\x.txt", b"x", false)],
                "absolute",
            ),
            ("symlink", vec![("_chat.txt", b"", true)], "symbolic"),
            ("bomb_ratio", vec![("_chat.txt", &zeros, false)], "zip bomb"),
        ];
        for (name, entries, want) in cases {
            let p = dir.path().join(format!("{name}.zip"));
            write_zip(&p, &entries);
            match Source::open(&p, &Limits::default()) {
                Ok(_) => panic!("{name}: accepted"),
                Err(e) => assert!(e.reason.contains(want), "{name}: {e}"),
            }
        }
        // Size limits.
        let p = dir.path().join("big.zip");
        write_zip(
            &p,
            &[
                ("a.txt", &[b'a'; 5000], false),
                ("b.txt", &[b'b'; 5000], false),
            ],
        );
        let tight = Limits {
            max_entry_bytes: 4000,
            ..Limits::default()
        };
        assert!(Source::open(&p, &tight).is_err());
        let tight = Limits {
            max_total_bytes: 8000,
            ..Limits::default()
        };
        assert!(Source::open(&p, &tight).is_err());
        let tight = Limits {
            max_entries: 1,
            ..Limits::default()
        };
        assert!(Source::open(&p, &tight).is_err());
        let ok = Source::open(&p, &Limits::default()).expect("ok");
        assert_eq!(ok.read_entry("b.txt", 10_000).expect("read").len(), 5000);
        assert!(ok.read_entry("b.txt", 100).is_err());
    }

    #[test]
    fn duplicate_entry_names_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("dup.zip");
        write_zip(
            &p,
            &[("_chat.txt", b"one", false), ("_chbt.txt", b"two", false)],
        );
        // The zip writer refuses duplicates: rename the second entry in place.
        let bytes = std::fs::read(&p).expect("read");
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"_chbt.txt") {
                out.extend_from_slice(b"_chat.txt");
                i += 9;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        std::fs::write(&p, out).expect("write");
        let e = Source::open(&p, &Limits::default()).err().expect("refused");
        assert!(
            e.reason
                .contains("lists 2 entries but only 1 distinct names"),
            "{e}"
        );
    }

    #[test]
    fn truncated_zip_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("t.zip");
        write_zip(&p, &[("a.txt", b"hello", false)]);
        let bytes = std::fs::read(&p).expect("read");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).expect("write");
        let e = Source::open(&p, &Limits::default()).err().expect("refused");
        assert!(e.reason.contains("zip"), "{e}");
    }
}
