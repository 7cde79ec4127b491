//! CSV: the shared row reader (also used by the WeChat importers) and the generic
//! importer driven by a column mapping (`--map "time=CreateTime,sender=NickName,text=StrContent"`).

use std::collections::HashMap;
use std::io::Read;

use chatvault_model::{MessageKind, Origin};

use crate::draft::Draft;
use crate::source::Source;
use crate::time::parse_any;
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

/// Longest CSV record (64 MiB): a quoted field that never closes stops here instead of
/// growing without bound.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Counts bytes since the last line end outside quotes and fails past the limit, so a
/// record's size is bounded before the CSV parser buffers it.
struct RecordBound<R> {
    inner: R,
    quoted: bool,
    since_end: u64,
}

impl<R: Read> Read for RecordBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'"' => self.quoted = !self.quoted,
                b'\n' if !self.quoted => self.since_end = 0,
                _ => {}
            }
            self.since_end += 1;
            if self.since_end > MAX_RECORD_BYTES {
                return Err(std::io::Error::other(format!(
                    "a record runs over {MAX_RECORD_BYTES} bytes (an unclosed quote?)"
                )));
            }
        }
        Ok(n)
    }
}

/// One CSV row: its fields by header name, the line it starts on, and the row as CSV.
pub(crate) struct Row<'a> {
    pub line: u64,
    pub headers: &'a [String],
    pub record: &'a csv::StringRecord,
}

impl Row<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.headers.iter().position(|h| h == name)?;
        self.record.get(i)
    }
    /// The row written back as one CSV line: the raw record kept with the message.
    pub fn raw(&self) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(vec![]);
        let _ = w.write_record(self.record);
        w.into_inner().unwrap_or_default()
    }
}

/// Reads every row of a CSV file (any encoding), calling `f` with each. Rows the CSV
/// parser cannot read are rejected with their line.
pub(crate) fn for_each_row(
    source: &Source,
    ctx: &ImportContext,
    sink: &mut Sink<'_>,
    f: &mut dyn FnMut(&Row<'_>, &mut Sink<'_>) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let io = |e: std::io::Error| ImportError::fatal(&ctx.origin(0), e.to_string());
    let (inner, encoding) = text::reader_and_encoding(source).map_err(io)?;
    let input = RecordBound {
        inner,
        quoted: false,
        since_end: 0,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(input);
    let mut headers: Vec<String> = vec![];
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                if headers.is_empty() {
                    headers = record
                        .iter()
                        .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
                        .collect();
                    continue;
                }
                if record.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                // The transcoder turned bytes it could not decode into U+FFFD.
                if encoding != encoding_rs::UTF_8 && record.iter().any(|f| f.contains('\u{fffd}')) {
                    sink.reject(
                        &ctx.origin(line),
                        format!(
                            "the row holds bytes that are not valid {} text",
                            encoding.name()
                        ),
                    )?;
                    continue;
                }
                // A quote left open swallows the rows after it into one field: a line
                // inside a field that reads as a whole row of this file is reported.
                let mut at = line;
                for field in record.iter() {
                    for (k, inner) in field.split('\n').enumerate() {
                        if k > 0 {
                            at += 1;
                            if looks_like_a_row(inner, headers.len()) {
                                sink.warn_header_like(
                                    &ctx.origin(at),
                                    format!("line {at} is inside a quoted field of the row at line {line} but reads as a row of its own (a quote left open?): kept as text of that field"),
                                )?;
                            }
                        }
                    }
                }
                f(
                    &Row {
                        line,
                        headers: &headers,
                        record: &record,
                    },
                    sink,
                )?;
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Io(_) => {
                        return Err(ImportError::fatal(&ctx.origin(line), e.to_string()))
                    }
                    csv::ErrorKind::Utf8 { .. } => sink.reject(
                        &ctx.origin(line),
                        "the row holds bytes that are not valid UTF-8 text",
                    )?,
                    _ => sink.reject(&ctx.origin(line), e.to_string())?,
                }
            }
        }
    }
}

/// Whether `line`, read alone, is a CSV row with `width` fields (and more than one).
fn looks_like_a_row(line: &str, width: usize) -> bool {
    if width < 2 || !line.contains(',') {
        return false;
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut rec = csv::StringRecord::new();
    matches!(r.read_record(&mut rec), Ok(true)) && rec.len() == width
}

impl Row<'_> {
    /// Why the row cannot be read by its header: it has more or fewer fields (an
    /// unquoted comma in a text cuts it; a short row has no text to give).
    pub fn width_error(&self) -> Option<String> {
        let (n, want) = (self.record.len(), self.headers.len());
        // Trailing empty fields (a spreadsheet's trailing commas) hold nothing.
        let extra_empty = n > want && self.record.iter().skip(want).all(|f| f.trim().is_empty());
        (n != want && !extra_empty).then(|| {
            format!("the row has {n} fields and the header {want} (an unquoted comma, or a missing column?)")
        })
    }
}

/// Which column holds which message field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvMap {
    fields: HashMap<String, String>,
}

const MAP_KEYS: &[&str] = &[
    "time",
    "sender",
    "text",
    "conversation",
    "id",
    "sender_name",
    "reply_to",
    "kind",
];

impl CsvMap {
    /// Parses `time=CreateTime,sender=NickName,text=StrContent`.
    pub fn parse(spec: &str) -> Result<CsvMap, String> {
        let mut fields = HashMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KEY=COLUMN"))?;
            let (k, v) = (k.trim(), v.trim());
            if !MAP_KEYS.contains(&k) {
                return Err(format!(
                    "unknown key `{k}`; keys are {}",
                    MAP_KEYS.join(", ")
                ));
            }
            if v.is_empty() {
                return Err(format!("`{k}` names no column"));
            }
            if fields.insert(k.to_owned(), v.to_owned()).is_some() {
                return Err(format!("`{k}` is mapped twice"));
            }
        }
        for required in ["time", "sender", "text"] {
            if !fields.contains_key(required) {
                return Err(format!("`{required}=COLUMN` is required"));
            }
        }
        Ok(CsvMap { fields })
    }

    fn column(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

pub struct GenericCsv;

impl Importer for GenericCsv {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn description(&self) -> &'static str {
        "any CSV, with --map naming the time, sender and text columns"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        let lower = probe.file_name.to_ascii_lowercase();
        (!probe.is_zip
            && lower.ends_with(".csv")
            && probe.text().lines().next().is_some_and(|l| l.contains(','))) as u8
            * 10
    }

    fn check(&self, ctx: &ImportContext) -> Result<(), String> {
        match ctx.csv_map {
            Some(_) => Ok(()),
            None => Err("a generic CSV needs --map, e.g. --map \"time=CreateTime,sender=NickName,text=StrContent\"".into()),
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let map = ctx
            .csv_map
            .clone()
            .ok_or_else(|| ImportError::fatal(&ctx.origin(0), "no --map given"))?;
        let platform = ctx.platform.as_ref().map_or("csv", |p| p.as_str());
        let default_conversation = ctx.conversation.clone().unwrap_or_else(|| {
            source
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "csv".into())
        });
        let mut checked = false;
        for_each_row(source, ctx, sink, &mut |row, sink| {
            if let Some(why) = row.width_error() {
                return sink.reject(&ctx.origin(row.line), why);
            }
            let origin = ctx.origin(row.line);
            if !checked {
                checked = true;
                let missing: Vec<&str> = map
                    .fields
                    .values()
                    .filter(|c| !row.headers.contains(c))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    return Err(ImportError::fatal(
                        &ctx.origin(1),
                        format!(
                            "--map names columns the header does not have: {} (the header has: {})",
                            missing.join(", "),
                            row.headers.join(", ")
                        ),
                    ));
                }
            }
            match csv_row(row, &map, platform, &default_conversation, ctx, &origin) {
                Ok(m) => sink.message(m),
                Err(e) => sink.reject(&origin, e),
            }
        })
    }
}

fn csv_row(
    row: &Row<'_>,
    map: &CsvMap,
    platform: &str,
    default_conversation: &str,
    ctx: &ImportContext,
    origin: &Origin,
) -> Result<chatvault_model::NewMessage, String> {
    let get = |key: &str| {
        map.column(key)
            .and_then(|c| row.get(c))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let conversation = get("conversation").unwrap_or(default_conversation);
    let mut d = Draft::new(platform, conversation);
    let time = get("time").ok_or("the time column is empty")?;
    d.sent_at = Some(parse_any(time, &ctx.tz).ok_or_else(|| {
        format!("time `{time}` is not a date-time, epoch seconds or epoch milliseconds")
    })?);
    let sender = get("sender").ok_or("the sender column is empty")?;
    d.sender_id = crate::draft::self_alias(ctx, sender).unwrap_or_else(|| sender.to_owned());
    d.sender_name = get("sender_name").map(str::to_owned);
    d.text = map
        .column("text")
        .and_then(|c| row.get(c))
        .unwrap_or("")
        .to_owned();
    d.source_id = get("id").map(str::to_owned);
    d.reply_to = get("reply_to").map(str::to_owned);
    if let Some(k) = get("kind") {
        d.kind = k.parse::<MessageKind>().map_err(|e| e.to_string())?;
    }
    d.finish(row.raw(), origin.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, messages, run_bytes};
    use crate::Parsed;

    #[test]
    fn map_parsing_table() {
        let cases = [
            (
                "ok",
                "time=CreateTime,sender=NickName,text=StrContent",
                true,
            ),
            (
                "all_keys",
                "time=t,sender=s,text=x,conversation=c,id=i,sender_name=n,reply_to=r,kind=k",
                true,
            ),
            ("missing_text", "time=t,sender=s", false),
            ("unknown_key", "time=t,sender=s,text=x,colour=c", false),
            ("no_equals", "time,sender=s,text=x", false),
            ("twice", "time=t,time=u,sender=s,text=x", false),
            ("empty_column", "time=,sender=s,text=x", false),
        ];
        for (name, spec, ok) in cases {
            assert_eq!(CsvMap::parse(spec).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn generic_csv_rows() {
        let mut c = ctx("x.csv");
        c.csv_map = Some(
            CsvMap::parse("time=CreateTime,sender=NickName,text=StrContent,id=MsgId").expect("map"),
        );
        c.tz = "Asia/Shanghai".parse().expect("tz");
        let input = "MsgId,CreateTime,NickName,StrContent\n1,2024-10-04 11:42:05,张三,\"你好\n第二行\"\n2,1728013325,李四,\"说 \"\"引号\"\"\"\n3,not a time,王五,x\n4,2024-10-04 11:42,,x\n";
        let out = run_bytes(&GenericCsv, "x.csv", input.as_bytes(), &c);
        let rejected: Vec<u64> = out
            .iter()
            .filter_map(|p| {
                if let Parsed::Rejected(r) = p {
                    Some(r.line)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(rejected, vec![5, 6]);
        let m: Vec<_> = out
            .into_iter()
            .filter(|p| matches!(p, Parsed::Message(_)))
            .collect();
        let m = messages(m);
        assert_eq!(m[0].text, "你好\n第二行");
        assert_eq!(m[0].sent_at.utc_ms, 1_728_013_325_000);
        assert_eq!(m[1].text, "说 \"引号\"");
        assert_eq!(m[1].sent_at.utc_ms, 1_728_013_325_000);
        assert_eq!(m[0].conversation_id, "x");
        // A missing column is named.
        c.csv_map = Some(CsvMap::parse("time=Nope,sender=NickName,text=StrContent").expect("map"));
        let out = run_bytes(&GenericCsv, "x.csv", input.as_bytes(), &c);
        assert!(
            matches!(&out[0], Parsed::Rejected(r) if r.reason.contains("Nope")),
            "{out:?}"
        );
    }

    #[test]
    fn unclosed_quote_is_bounded() {
        let mut r = RecordBound {
            inner: std::io::repeat(b'x').take(MAX_RECORD_BYTES + 10),
            quoted: false,
            since_end: 0,
        };
        let mut sink = std::io::sink();
        assert!(std::io::copy(&mut r, &mut sink).is_err());
    }
}
