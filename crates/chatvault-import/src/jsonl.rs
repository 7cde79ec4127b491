//! Canonical JSONL (`docs/canonical-jsonl.md`): one message per line.

use std::io::{BufRead, Read};
use std::path::{Component, Path};

use chatvault_model::canonical::parse_line;
use chatvault_model::Origin;

use crate::lines::{BoundedLines, Line, MAX_LINE_BYTES};
use crate::source::Source;
use crate::{ImportContext, ImportError, Importer, Parsed, Probe, Rejection, Sink};

/// Largest attachment file a JSONL line may refer to (512 MiB).
pub const MAX_ATTACHMENT_BYTES: u64 = 512 << 20;

pub struct CanonicalJsonl;

impl CanonicalJsonl {
    /// The records of an in-memory or already-open JSONL stream (the demo, benchmarks and
    /// tests use this; `chatvault import` goes through [`Importer::import`]).
    pub fn open<'a>(
        &self,
        input: Box<dyn BufRead + Send + 'a>,
        ctx: ImportContext,
    ) -> Box<dyn Iterator<Item = Parsed> + Send + 'a> {
        let lines = BoundedLines::new(input, MAX_LINE_BYTES);
        Box::new(lines.filter_map(move |line| parse(line, &ctx)))
    }
}

impl Importer for CanonicalJsonl {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn description(&self) -> &'static str {
        "chatvault canonical JSONL: one message object per line"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let text = probe.text();
        let t = text.lines().next().unwrap_or_default().trim();
        if !t.starts_with('{') {
            return 0;
        }
        let keys = [
            "\"platform\"",
            "\"conversation_id\"",
            "\"sender_id\"",
            "\"sent_at\"",
        ];
        match keys.iter().filter(|k| t.contains(*k)).count() {
            4 => 90,
            n if n >= 2 => 40,
            _ => 0,
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let input = source
            .reader()
            .map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()))?;
        for line in BoundedLines::new(input, MAX_LINE_BYTES) {
            if let Some(p) = parse(line, ctx) {
                sink.push(p)?;
            }
        }
        Ok(())
    }
}

fn parse(line: Line, ctx: &ImportContext) -> Option<Parsed> {
    let origin = |number| Origin {
        file: ctx.file_label.clone(),
        line: number,
    };
    let reject =
        |number, reason: String| Some(Parsed::Rejected(Rejection::new(&origin(number), reason)));
    match line {
        Line::Text { text, .. } if text.trim().is_empty() => None,
        Line::Text { number, text } => {
            let record = match parse_line(&text) {
                Ok(r) => r,
                Err(e) => return reject(number, e.to_string()),
            };
            let mut load = |p: &str| load_attachment(ctx.base_dir.as_deref(), p);
            match record.into_new_message(text.into_bytes(), origin(number), &mut load) {
                Ok(m) => Some(Parsed::Message(Box::new(m))),
                Err(e) => reject(number, e.to_string()),
            }
        }
        Line::TooLong { number, bytes } => reject(
            number,
            format!("line is {bytes} bytes, longer than the {MAX_LINE_BYTES}-byte limit"),
        ),
        Line::Undecodable {
            number,
            valid_up_to,
            ..
        } => reject(number, crate::lines::undecodable(valid_up_to)),
        Line::IoError { number, error } => reject(number, format!("read error: {error}")),
    }
}

/// Reads an attachment named by a relative path inside `base`. Absolute paths, `..`, and
/// links that lead outside `base` are refused.
pub(crate) fn load_attachment(base: Option<&Path>, rel: &str) -> Result<Vec<u8>, String> {
    let base = base.ok_or("attachment paths are not allowed for this input")?;
    let p = Path::new(rel);
    if p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!("`{rel}` must be a relative path without `..`"));
    }
    let full = base.join(p);
    let real = full.canonicalize().map_err(|e| format!("`{rel}`: {e}"))?;
    let real_base = base
        .canonicalize()
        .map_err(|e| format!("{}: {e}", base.display()))?;
    if !real.starts_with(&real_base) {
        return Err(format!("`{rel}` leads outside the import folder"));
    }
    let f = std::fs::File::open(&real).map_err(|e| format!("`{rel}`: {e}"))?;
    let len = f.metadata().map_err(|e| format!("`{rel}`: {e}"))?.len();
    if len > MAX_ATTACHMENT_BYTES {
        return Err(format!(
            "`{rel}` is {len} bytes, over the {MAX_ATTACHMENT_BYTES}-byte limit"
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(MAX_ATTACHMENT_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("`{rel}`: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"platform":"wecom","conversation_id":"c-1","sender_id":"u-7","sent_at":"2024-03-01T09:15:02+08:00","text":"您好"}"#;

    fn run(input: &[u8], base: Option<&Path>) -> Vec<Result<u64, (u64, String)>> {
        let ctx = ImportContext {
            file_label: "in.jsonl".into(),
            base_dir: base.map(Path::to_owned),
            ..ImportContext::default()
        };
        crate::testutil::run_bytes(&CanonicalJsonl, "in.jsonl", input, &ctx)
            .into_iter()
            .map(|p| match p {
                Parsed::Message(m) => Ok(m.origin.line),
                Parsed::Rejected(r) | Parsed::Warning(r) => {
                    assert_eq!(r.file, "in.jsonl");
                    Err((r.line, r.reason))
                }
            })
            .collect()
    }

    #[test]
    fn good_bad_and_blank_lines_are_each_accounted_for() {
        let input = format!(
            "{GOOD}\n\n{{\"platform\":1}}\n{GOOD}\r\n   \n{}",
            &GOOD[..40]
        );
        let out = run(input.as_bytes(), None);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0], Ok(1));
        assert!(
            matches!(&out[1], Err((3, r)) if r.contains("platform")),
            "{:?}",
            out[1]
        );
        assert_eq!(out[2], Ok(4));
        assert!(
            matches!(&out[3], Err((6, _))),
            "truncated last line: {:?}",
            out[3]
        );
    }

    #[test]
    fn hostile_attachment_paths_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("ok.txt"), b"hi").expect("write");
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("secret"), b"s").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link"))
            .expect("symlink");
        let line = |p: &str| {
            format!(
                r#"{{"platform":"qq","conversation_id":"g","sender_id":"1","sent_at":"2024-01-01T00:00:00Z","attachments":[{{"name":"a","path":{}}}]}}"#,
                serde_json::to_string(p).expect("json")
            )
        };
        let cases = [
            ("relative_ok", "ok.txt", true),
            ("absolute", "/etc/passwd", false),
            ("dotdot", "../secret", false),
            ("missing", "nope.txt", false),
            ("symlink_outside", "link", false),
        ];
        for (name, p, ok) in cases {
            let out = run(line(p).as_bytes(), Some(dir.path()));
            assert_eq!(out[0].is_ok(), ok, "{name}: {:?}", out[0]);
        }
        let out = run(line("ok.txt").as_bytes(), None);
        assert!(out[0].is_err(), "no base folder, no paths");
    }
}
