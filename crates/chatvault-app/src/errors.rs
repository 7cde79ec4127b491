//! The one table of error codes. Every error chatvault reports, over HTTP or on the
//! command line, carries one of these codes; the table gives each its HTTP status, the
//! CLI's exit status, and its entry in the docs. The server's `ApiError` takes its status
//! from here, the CLI its exit status, and a test holds `docs/api.md` to the table
//! (meilisearch's `Code` is the model).

/// One error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// Stable; what clients match on (`input.invalid`).
    pub name: &'static str,
    /// The HTTP status it always has.
    pub status: u16,
    /// The CLI's exit status: 2 for every error (1 is kept for commands that ran and
    /// found a problem: `verify`, `audit verify`, `compare`).
    pub exit: u8,
    /// What it means, as `docs/api.md` says it.
    pub meaning: &'static str,
}

impl Code {
    /// The code's anchor in `docs/api.md` (`#error-input-invalid`).
    pub fn anchor(&self) -> String {
        format!("error-{}", self.name.replace(['.', '_'], "-"))
    }
}

const fn code(name: &'static str, status: u16, meaning: &'static str) -> Code {
    Code {
        name,
        status,
        exit: 2,
        meaning,
    }
}

/// Every code, by status.
pub const CODES: &[Code] = &[
    code("input.invalid", 400, "a parameter, a field or a body is malformed or out of range; the message names it"),
    code("query.invalid", 400, "the search query does not parse"),
    code("policy.invalid", 400, "a request, a grant or a policy is not well formed"),
    code("policy.unknown_role", 400, "no such role"),
    code("config.invalid", 400, "the configuration file or an override is invalid"),
    code("evidence.invalid", 400, "the file is not an evidence package"),
    code("backup.key", 400, "the backup key is missing or wrong"),
    code("auth.session", 401, "no session, or it expired: sign in"),
    code("auth.invalid", 401, "wrong user name or password"),
    code("auth.totp_required", 401, "this account needs a one-time code"),
    code("auth.totp_invalid", 401, "the one-time code is wrong, or was used already"),
    code("auth.totp_enrol", 401, "right password, authenticator never confirmed: enrol in the web UI, or sign in with a code from the URI `user add` printed"),
    code("auth.enrolment_expired", 401, "the enrolment window closed: an admin resets the authenticator"),
    code("auth.token", 401, "the bearer token is unknown, revoked or expired"),
    code("hook.refused", 401, "a capture request's signature, timestamp or headers do not hold: nothing was stored"),
    code("access.denied", 403, "outside the caller's reach (whether it exists or not)"),
    code("access.role", 403, "the caller's role may not use this"),
    code("access.team", 403, "a team lead reads only their own team"),
    code("auth.scope", 403, "the token's scope does not cover this"),
    code("auth.csrf", 403, "the CSRF token is missing or wrong"),
    code("auth.frozen", 403, "the account is frozen"),
    code("auth.locked", 403, "the account is locked after failed sign-ins: an admin unlocks it"),
    code("policy.self_approval", 403, "nobody approves their own request"),
    code("policy.not_approver", 403, "the caller's role may not approve this"),
    code("policy.frozen", 403, "the request is frozen by a hold or a restriction"),
    code("retention.locked", 403, "a locked retention policy forbids this"),
    code("evidence.masked", 403, "an evidence package needs pii.view over every message it holds"),
    code("route.unknown", 404, "no such route or page"),
    code("not_found", 404, "no such item"),
    code("user.missing", 404, "no such user"),
    code("attachment.absent", 404, "the export recorded this attachment by hash only; its bytes were never archived"),
    code("alert.not_found", 404, "no such alert"),
    code("hook.unknown", 404, "no capture source of that name"),
    code("backup.empty", 404, "the backup target holds no backup"),
    code("route.method", 405, "the route does not take this method"),
    code("user.exists", 409, "the user exists already"),
    code("policy.state", 409, "the item is not in a state that allows this (decided already, say)"),
    code("alert.state", 409, "the alert is acknowledged or resolved already"),
    code("backup.foreign", 409, "the backup is another archive's"),
    code("request.too_large", 413, "the body is over the limit"),
    code("ingest.too_large", 413, "the batch holds too many messages"),
    code("export.too_large", 413, "the export is over the API's limit: the CLI streams it"),
    code("evidence.too_large", 413, "the package is over its limit: narrow the selection"),
    code("request.content_type", 415, "the body is not JSON"),
    code("attachment.not_image", 415, "a preview of bytes that are not the image their type claims"),
    code("auth.throttled", 429, "too many failed sign-ins: wait `Retry-After` seconds"),
    code("internal", 500, "a fault of the server's: the message says what"),
    code("store", 500, "the database failed"),
    code("io", 500, "reading or writing a file failed"),
    code("index", 500, "the search index failed: `chatvault reindex` rebuilds it"),
    code("ledger", 500, "signing or checking the log failed"),
    code("key.invalid", 500, "the archive's key is missing or wrong"),
    code("access.corrupt", 500, "the access database does not hold what it should"),
    code("archive.corrupt", 500, "the archive does not hold what it should: `chatvault verify` names it"),
    code("archive.missing", 500, "the folder holds no archive: `chatvault init`"),
    code("archive.exists", 500, "the folder holds an archive already"),
    code("analytics.cache", 500, "the report cache failed: it is rebuilt from the archive"),
    code("evidence.write", 500, "writing the package failed"),
    code("backup.target", 500, "the backup target is unreachable or refused"),
    code("backup.object", 500, "a backup object is missing or altered"),
    code("backup.manifest", 500, "a backup manifest is missing, unsigned or altered"),
    code("serve", 500, "the server could not start"),
    code("error", 500, "any other failure"),
    code("archive.locked", 503, "another process is writing (an import): try again when it ends"),
    code("storage.io", 503, "the disk holding the data folder failed a write or a flush (an I/O error): nothing was acknowledged; check the disk, then retry, and messages it did store answer as duplicates"),
    code("storage.full", 507, "the disk holding the data folder is full: nothing was acknowledged; retry once space returns, and messages it did store answer as duplicates"),
];

/// A code's entry; `None` for a name not in the table.
pub fn lookup(name: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.name == name)
}

/// The HTTP status of a code (500 for a name not in the table, which a test forbids).
pub fn status(name: &str) -> u16 {
    lookup(name).map_or(500, |c| c.status)
}

/// The CLI's exit status for a code.
pub fn exit(name: &str) -> u8 {
    lookup(name).map_or(2, |c| c.exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_listed_once() {
        let mut names: Vec<&str> = CODES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a code is listed twice");
    }

    /// `docs/api.md`'s error table is this table: each code once, under its status.
    #[test]
    fn the_docs_list_every_code_with_its_status() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"))
                .expect("docs/api.md");
        let section = doc
            .split("## Errors")
            .nth(1)
            .expect("an Errors section")
            .split("\n## ")
            .next()
            .unwrap_or_default();
        let mut documented = vec![];
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let status: u16 = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("status of {name}: {line}"));
            documented.push((name.to_owned(), status));
        }
        let want: Vec<(String, u16)> = CODES
            .iter()
            .map(|c| (c.name.to_owned(), c.status))
            .collect();
        let missing: Vec<_> = want.iter().filter(|w| !documented.contains(w)).collect();
        let extra: Vec<_> = documented.iter().filter(|d| !want.contains(d)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "docs/api.md lacks {missing:?}; lists {extra:?} that the table does not"
        );
        for c in CODES {
            assert!(
                doc.contains(&format!("id=\"{}\"", c.anchor())),
                "no anchor {} for {}",
                c.anchor(),
                c.name
            );
        }
    }

    /// Every code the sources report is in the table: the literals each `fn code` maps
    /// to, and those the server's errors are made with.
    #[test]
    fn every_code_in_the_sources_is_in_the_table() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../");
        let mut unknown = vec![];
        let mut seen = 0;
        let mut stack = vec![std::path::PathBuf::from(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("crates") {
                let p = entry.expect("entry").path();
                if p.is_dir() {
                    if !p.ends_with("target") && !p.ends_with("tests") {
                        stack.push(p);
                    }
                    continue;
                }
                if p.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).expect("source");
                for name in reported_codes(&text) {
                    seen += 1;
                    if lookup(&name).is_none() {
                        unknown.push(format!("{}: {name}", p.display()));
                    }
                }
            }
        }
        assert!(seen > 50, "the scan found only {seen} codes");
        assert!(unknown.is_empty(), "codes not in the table: {unknown:#?}");
    }

    /// The string literals a source reports as codes: the arms of each `fn code`, and
    /// the first literal of each `ApiError::new(`/`ApiError::forbidden(` call.
    fn reported_codes(text: &str) -> Vec<String> {
        let mut out = vec![];
        // A code is lower case, dots and underscores; other literals (messages) are not.
        let literal = |s: &str| -> Option<String> {
            let start = s.find('"')? + 1;
            let end = start + s[start..].find('"')?;
            let l = &s[start..end];
            (!l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'))
            .then(|| l.to_owned())
        };
        for (i, _) in text.match_indices("fn code(&self)") {
            let body = &text[i..];
            let body = &body[..body.find("\n    }\n").unwrap_or(body.len())];
            for line in body.lines() {
                if let Some(arm) = line
                    .split("=>")
                    .nth(1)
                    .or_else(|| line.trim().strip_prefix("return "))
                {
                    if let Some(l) = literal(arm) {
                        out.push(l);
                    }
                }
            }
        }
        for call in ["ApiError::new(", "ApiError::forbidden("] {
            for (i, _) in text.match_indices(call) {
                let args = &text[i + call.len()..];
                let args = &args[..args.find(')').unwrap_or(args.len())];
                if let Some(l) = literal(args) {
                    out.push(l);
                }
            }
        }
        out
    }
}
