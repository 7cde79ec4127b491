#![allow(dead_code)] // each command uses part of it
//! Running the real `chatvault` binary from the campaign commands (`crash-campaign`,
//! `tamper-sweep`): one way to find it, start it clean and read what it answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The binary named by `--chatvault`, else the one beside this command.
pub fn chatvault_binary(given: Option<&Path>) -> Result<PathBuf> {
    let bin = match given {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()?
            .parent()
            .context("no folder")?
            .join("chatvault"),
    };
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (cargo build --release -p chatvault)",
            bin.display()
        );
    }
    Ok(bin)
}

/// `chatvault --data DATA`, with none of the caller's key, data or config variables.
pub fn command(bin: &Path, data: &Path) -> Command {
    let mut c = Command::new(bin);
    for k in [
        "CHATVAULT_KEY",
        "CHATVAULT_PASSPHRASE",
        "CHATVAULT_DATA",
        "CHATVAULT_CONFIG",
    ] {
        c.env_remove(k);
    }
    c.arg("--data").arg(data);
    c
}

/// Runs to the end: the exit code, and stdout then stderr.
pub fn run(bin: &Path, data: &Path, args: &[&str]) -> Result<(i32, String)> {
    let out = command(bin, data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    Ok((
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// Runs with `--json`: the exit code and the last JSON line it printed.
pub fn json(bin: &Path, data: &Path, args: &[&str]) -> Result<(i32, Value)> {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let (code, out) = run(bin, data, &full)?;
    let v = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    Ok((code, v))
}

/// One HTTP/1.1 request with a bearer token on a fresh connection: (ms, status, body).
/// A client this small is enough for the campaigns and keeps an HTTP crate out of them.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<&str>,
) -> Result<(f64, u16, String)> {
    use std::io::{Read, Write};
    let t = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: campaign\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    Ok((ms, status, body))
}

/// `chatvault serve` on a free port: the child and the address it listens on.
pub fn serve(bin: &Path, data: &Path) -> Result<(std::process::Child, String)> {
    use std::io::BufRead;
    // What the server logs (slow locks, recovered panics) is kept beside the data folder.
    let log = std::fs::File::create(data.with_extension("server.log"))?;
    let mut child = command(bin, data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    match line.trim().rsplit("http://").next() {
        Some(addr) if line.contains("listening on http://") => Ok((child, addr.to_owned())),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the server did not say where it listens: {line:?}")
        }
    }
}

/// The API token `token create` printed.
pub fn token(bin: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let (code, out) = run(bin, data, args)?;
    if code != 0 {
        bail!("{args:?}: {out}");
    }
    out.split_whitespace()
        .find(|w| w.starts_with("cvt_"))
        .map(str::to_owned)
        .context("no token printed")
}

/// Copies a folder and everything in it.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), &dst)?;
        }
    }
    Ok(())
}
