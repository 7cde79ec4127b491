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
