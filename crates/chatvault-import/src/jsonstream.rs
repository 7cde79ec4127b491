//! Streaming over one large JSON document (Telegram `result.json`, DiscordChatExporter,
//! Messenger): a walker visits the document with serde and hands each element of the
//! message arrays to the importer as it is parsed, with the line it starts on. Only one
//! message is in memory at a time, whatever the file's size.
//!
//! serde_json cannot pause inside a document, so this is push-based: the importer gives
//! a [`Plan`] for each path and receives [`Event`]s.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Read;
use std::rc::Rc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::ImportError;

/// What to do with the value at a path (keys, and array indexes as decimal strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// An array of records: emit each element as [`Event::Item`].
    Stream,
    /// An object or array to walk into.
    Descend,
    /// A small value to emit whole as [`Event::Value`].
    Keep,
    Skip,
}

/// What the walker reports.
#[derive(Debug)]
pub enum Event<'a> {
    /// Walking into an array element under a `Descend` array, and out of it.
    Enter(&'a [String]),
    #[allow(dead_code)]
    Leave(&'a [String]),
    Value(&'a [String], Value),
    /// An element of a `Stream` array: the line it starts on, its exact text, and its
    /// parsed value.
    Item(u64, String, Value),
}

/// The largest single record (one element of a streamed array) that is read, 64 MiB:
/// as for lines, room for inline attachments, and a bound on memory whatever the input.
pub const MAX_ELEMENT_BYTES: u64 = 64 << 20;

/// How far the walk has read: newlines, bytes, and where the current element began.
#[derive(Default)]
pub struct Position {
    lines: Cell<u64>,
    bytes: Cell<u64>,
    element_from: Cell<Option<u64>>,
}

/// Counts what is read through it, and stops an element that grows past
/// [`MAX_ELEMENT_BYTES`] before serde_json buffers it whole.
pub struct LineCounter<R> {
    inner: R,
    at: Rc<Position>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let nl = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.at.lines.set(self.at.lines.get() + nl);
        self.at.bytes.set(self.at.bytes.get() + n as u64);
        if let Some(from) = self.at.element_from.get() {
            if self.at.bytes.get() - from > MAX_ELEMENT_BYTES {
                return Err(std::io::Error::other(format!(
                    "a record is larger than the {MAX_ELEMENT_BYTES}-byte limit"
                )));
            }
        }
        Ok(n)
    }
}

/// Rewrites `\xHH` escapes inside strings (invalid JSON that some Telegram Desktop
/// versions write for control characters) as `\u00HH`.
pub struct FixHexEscapes<R> {
    inner: R,
    in_string: bool,
    escaped: bool,
    pending: Vec<u8>,
}

impl<R: Read> FixHexEscapes<R> {
    pub fn new(inner: R) -> Self {
        FixHexEscapes {
            inner,
            in_string: false,
            escaped: false,
            pending: Vec::new(),
        }
    }
}

impl<R: Read> Read for FixHexEscapes<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            let mut chunk = [0u8; 8192];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            for &b in &chunk[..n] {
                if self.escaped {
                    self.escaped = false;
                    if b == b'x' {
                        self.pending.extend_from_slice(b"u00");
                        continue;
                    }
                } else if self.in_string && b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = !self.in_string;
                }
                self.pending.push(b);
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

type Callback<'c> = dyn FnMut(Event<'_>) -> Result<(), ImportError> + 'c;

struct Walk<'w, 'c> {
    path: &'w RefCell<Vec<String>>,
    plan: &'w dyn Fn(&[String]) -> Plan,
    on: &'w RefCell<&'c mut Callback<'c>>,
    lines: &'w Rc<Position>,
    failed: &'w RefCell<Option<ImportError>>,
}

impl Walk<'_, '_> {
    fn copy(&self) -> Self {
        Walk {
            path: self.path,
            plan: self.plan,
            on: self.on,
            lines: self.lines,
            failed: self.failed,
        }
    }
    fn emit<E: serde::de::Error>(&self, ev: Event<'_>) -> Result<(), E> {
        let r = (self.on.borrow_mut())(ev);
        r.map_err(|e| {
            *self.failed.borrow_mut() = Some(e);
            E::custom("stopped by the importer")
        })
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.path.borrow_mut().push(key);
            let plan = (self.plan)(&self.path.borrow());
            match plan {
                Plan::Stream => map.next_value_seed(Items(self.copy()))?,
                Plan::Descend => map.next_value_seed(self.copy())?,
                Plan::Keep => {
                    let v: Value = map.next_value()?;
                    let path = self.path.borrow().clone();
                    self.emit(Event::Value(&path, v))?;
                }
                Plan::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            self.path.borrow_mut().pop();
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            self.path.borrow_mut().push(i.to_string());
            let path = self.path.borrow().clone();
            self.emit(Event::Enter(&path))?;
            let more = seq.next_element_seed(self.copy())?.is_some();
            if more {
                self.emit(Event::Leave(&path))?;
            }
            self.path.borrow_mut().pop();
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A `Stream` array: each element is parsed alone and emitted.
struct Items<'w, 'c>(Walk<'w, 'c>);

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((line, raw, v)) = seq.next_element_seed(Element(self.0.lines))? {
            self.0.emit(Event::Item(line, raw, v))?;
        }
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One element, with the line it starts on. serde_json has read the element's first
/// byte when it hands over, so the newlines counted so far end on that line.
struct Element<'w>(&'w Rc<Position>);

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = (u64, String, Value);
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> Result<(u64, String, Value), D::Error> {
        let line = self.0.lines.get() + 1;
        // serde_json reads the counter byte by byte, so the element is measured exactly.
        self.0.element_from.set(Some(self.0.bytes.get()));
        // The exact text is kept as the raw record (numbers beyond 64 bits included).
        let raw = <Box<serde_json::value::RawValue> as serde::Deserialize>::deserialize(d);
        self.0.element_from.set(None);
        let raw = raw?;
        let v = serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
        Ok((line, raw.get().to_owned(), v))
    }
}

/// Walks the JSON document in `input`. A syntax error is fatal and names its line.
pub fn walk<'c>(
    input: impl Read,
    file: &str,
    plan: &dyn Fn(&[String]) -> Plan,
    on: &'c mut Callback<'c>,
) -> Result<(), ImportError> {
    let lines = Rc::new(Position::default());
    // The counter sits above the buffer: serde_json reads it byte by byte, so the count
    // is exact at every point serde_json reaches.
    let reader = LineCounter {
        inner: std::io::BufReader::with_capacity(256 << 10, input),
        at: lines.clone(),
    };
    let path = RefCell::new(vec![]);
    let failed = RefCell::new(None);
    let on = RefCell::new(on);
    let walker = Walk {
        path: &path,
        plan,
        on: &on,
        lines: &lines,
        failed: &failed,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = match plan(&[]) {
        Plan::Stream => Items(walker).deserialize(&mut de),
        _ => walker.deserialize(&mut de),
    }
    .and_then(|()| de.end());
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    result.map_err(|e| ImportError::Fatal {
        file: file.to_owned(),
        line: e.line() as u64,
        reason: format!("invalid JSON: {}", strip_position(&e.to_string())),
    })
}

fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}

/// A string field of a JSON object.
pub fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// A text field: absent or null is none, a string is the text, and anything else (a
/// number, an object) is an error naming the field, so a schema change never turns
/// into a message with its text silently left out.
pub fn text_of<'v>(v: &'v Value, key: &str) -> Result<Option<&'v str>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "field `{key}`: {} where text was expected",
            match other {
                Value::Bool(_) => "true or false",
                Value::Number(_) => "a number",
                Value::Array(_) => "a list",
                _ => "an object",
            }
        )),
    }
}

/// An id that may be written as a string or a number (ids beyond 2^53 must be strings).
pub fn id_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_streamed_with_their_lines() {
        let doc = "{\n \"name\": \"x\",\n \"messages\": [\n  {\"id\": 1},\n  {\n   \"id\": 2\n  }\n ],\n \"other\": [1,2]\n}";
        let plan = |p: &[String]| match p {
            [k] if k == "messages" => Plan::Stream,
            [k] if k == "name" => Plan::Keep,
            _ => Plan::Skip,
        };
        let mut got = vec![];
        let mut on = |e: Event<'_>| {
            match e {
                Event::Item(line, raw, v) => got.push(format!("{line}:{}:{}", v["id"], raw.len())),
                Event::Value(p, v) => got.push(format!("{}={v}", p.join("."))),
                _ => {}
            }
            Ok(())
        };
        walk(doc.as_bytes(), "f.json", &plan, &mut on).expect("walk");
        assert_eq!(got, vec!["name=\"x\"", "4:1:9", "5:2:16"]);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let doc = "{\n \"messages\": [\n  {\"id\": 1},\n  {\"id\": \n";
        let plan = |p: &[String]| {
            if p.is_empty() {
                Plan::Descend
            } else {
                Plan::Stream
            }
        };
        let mut n = 0;
        let mut on = |_: Event<'_>| {
            n += 1;
            Ok(())
        };
        let err = walk(doc.as_bytes(), "f.json", &plan, &mut on).expect_err("error");
        assert!(matches!(err, ImportError::Fatal { line: 5, .. }), "{err:?}");
        assert_eq!(n, 1, "the first record was still delivered");
    }

    #[test]
    fn an_oversized_record_stops_the_walk_with_its_line() {
        let big = "x".repeat(MAX_ELEMENT_BYTES as usize + 10);
        let doc = format!("[{{\"a\":1}},\n{{\"a\":\"{big}\"}},\n{{\"a\":3}}]");
        let mut seen = vec![];
        let plan = |p: &[String]| {
            if p.is_empty() {
                Plan::Stream
            } else {
                Plan::Skip
            }
        };
        let r = walk(doc.as_bytes(), "f.json", &plan, &mut |ev| {
            if let Event::Item(line, _, _) = ev {
                seen.push(line);
            }
            Ok(())
        });
        assert_eq!(seen, vec![1], "the record before it was handed over");
        match r {
            Err(ImportError::Fatal { line, reason, .. }) => {
                assert_eq!(line, 2, "{reason}");
                assert!(
                    reason.contains("larger than the 67108864-byte limit"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hex_escapes_are_repaired() {
        let mut out = String::new();
        FixHexEscapes::new(&br#"{"a":"x\x0Cy","b":"\\x41","c":"\"\x1b"}"#[..])
            .read_to_string(&mut out)
            .expect("read");
        assert_eq!(out, r#"{"a":"x\u000Cy","b":"\\x41","c":"\"\u001b"}"#);
        let v: Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(v["a"], "x\u{c}y");
        assert_eq!(v["b"], "\\x41");
    }
}
