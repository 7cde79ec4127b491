//! Running the real binary, for the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Writes records as a JSONL export, one per line (for `chatvault import`).
pub fn write_jsonl(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|v| v.to_string() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

/// The binary, with none of the caller's key, data or config variables.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
    for k in [
        "CHATVAULT_KEY",
        "CHATVAULT_PASSPHRASE",
        "CHATVAULT_DATA",
        "CHATVAULT_CONFIG",
    ] {
        c.env_remove(k);
    }
    c
}

/// `chatvault --data DATA ARGS…`, with none of the caller's key or config variables;
/// `stdin` is written to its input (a password). Returns the exit code, stdout and stderr.
pub fn run_with(data: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut c = command();
    c.arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        // A command that fails before reading may have closed its input already.
        let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn run(data: &Path, args: &[&str]) -> (i32, String, String) {
    run_with(data, args, None)
}

/// Runs and insists on success; returns stdout.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(data, args);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    out
}

/// Like [`run_with`], with extra environment variables (a config file, say).
pub fn run_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = command();
    c.envs(env.iter().copied())
        .arg("--data")
        .arg(data)
        .args(args);
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `chatvault serve` on a free port, with `extra` arguments (a config, say); returns
/// once it listens.
pub fn start(data: &Path, extra: &[&str]) -> Server {
    start_env(data, extra, &[])
}

/// [`start`] with extra environment variables.
pub fn start_env(data: &Path, extra: &[&str], env: &[(String, String)]) -> Server {
    let mut c = command();
    let mut child = c
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
    assert!(line.contains("listening on http://"), "{line}");
    Server { child, addr }
}

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Value,
    /// The body as text (for what is not JSON).
    pub text: String,
}

/// One HTTP/1.1 request over a fresh connection: a client this small is enough here,
/// and keeps an HTTP client crate out of the build.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut headers = vec![];
    if let Some(c) = cookie {
        headers.push(format!("Cookie: {c}"));
    }
    if let Some(t) = csrf {
        headers.push(format!("X-CSRF-Token: {t}"));
    }
    request(addr, method, path, &headers, body)
}

/// [`http`] with any header lines (`Authorization: Bearer …`).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[String],
    body: Option<&Value>,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        payload.len()
    );
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = vec![];
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // The server answers Connection: close requests with a plain or chunked body.
    let body_text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut r = rest;
        while let Some((size, tail)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            r = &tail[n + 2..];
        }
        out
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        headers: head.to_owned(),
        body: serde_json::from_str(&body_text).unwrap_or(Value::Null),
        text: body_text,
    }
}

/// Signs in; returns the session cookie (`name=value`) and the CSRF token.
pub fn login(addr: &str, user: &str, password: &str, totp: Option<String>) -> (String, String) {
    let r = http(
        addr,
        "POST",
        "/api/v1/session",
        None,
        None,
        Some(&serde_json::json!({"username": user, "password": password, "totp": totp})),
    );
    assert_eq!(r.status, 200, "login {user}: {:?}", r.body);
    let cookie = r
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (cookie, r.body["csrf_token"].as_str().unwrap().to_owned())
}
