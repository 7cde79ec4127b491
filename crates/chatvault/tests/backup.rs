//! Backups through the real binary: to a folder and to a real S3-compatible server (moto,
//! which `.ci/run` installs with pip), restore with equal roots, verify with and without
//! the key, a wrong key, a corrupted chunk, and pruning after a purge.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

fn cmd(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
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

fn run(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = cmd(data);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let (code, out, err) = run(data, &full, env);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    serde_json::from_str(out.lines().last().unwrap_or("null")).unwrap_or(Value::Null)
}

fn import(data: &Path, dir: &Path, name: &str, lines: &[Value]) {
    let f = dir.join(name);
    std::fs::write(
        &f,
        lines
            .iter()
            .map(|v| v.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    ok(data, &["import", f.to_str().unwrap()], &[]);
}

fn msg(conv: &str, i: usize, text: &str) -> Value {
    json!({"platform":"wecom","conversation_id":conv,"source_id":format!("{conv}-{i}"),"sender_id":"u1","sent_at":"2026-01-01T10:00:00+08:00","text":text})
}

struct World {
    dir: tempfile::TempDir,
    data: PathBuf,
    identity: PathBuf,
    recipient: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"], &[]);
    let many: Vec<Value> = (0..300)
        .map(|i| msg("c1", i, &format!("第{i}条 退款 订单")))
        .collect();
    import(&data, dir.path(), "a.jsonl", &many);
    let identity = dir.path().join("backup.key");
    let k = ok(
        &data,
        &["backup", "keygen", "--out", identity.to_str().unwrap()],
        &[],
    );
    let recipient = k["recipient"].as_str().unwrap().to_owned();
    World {
        dir,
        data,
        identity,
        recipient,
    }
}

/// Full, then incremental; restore each; the roots equal the backups' checkpoints.
fn round_trip(w: &World, to: &str, env: &[(&str, &str)]) {
    let full = ok(
        &w.data,
        &["backup", "--to", to, "--recipient", &w.recipient],
        env,
    );
    assert_eq!(full["kind"], "full", "{full}");
    import(
        &w.data,
        w.dir.path(),
        "b.jsonl",
        &[msg("c2", 0, "新的会话")],
    );
    let inc = ok(
        &w.data,
        &["backup", "--to", to, "--recipient", &w.recipient],
        env,
    );
    assert_eq!(
        (inc["kind"].as_str(), inc["set"].as_str()),
        (Some("incremental"), full["id"].as_str()),
        "{inc}"
    );
    // How little an incremental uploads is measured on a 16 MB archive by
    // `one_new_message_uploads_little`: this one is four 64 KiB chunks in all, each of
    // which one new message (and the index segment it adds) may touch, so here the
    // incremental is only checked to hold what changed (restored below).
    assert_eq!(inc["archive"]["tree_size"], 301);
    for (backup, size) in [(&full, 300u64), (&inc, 301)] {
        let dest = w.dir.path().join(format!("restored-{}-{size}", to.len()));
        let r = ok(
            &w.data,
            &[
                "restore",
                to,
                "--to",
                dest.to_str().unwrap(),
                "--identity",
                w.identity.to_str().unwrap(),
                "--backup",
                backup["id"].as_str().unwrap(),
            ],
            env,
        );
        assert_eq!(
            (
                r["verify_ok"].as_bool(),
                r["root_matches"].as_bool(),
                r["tree_size"].as_u64()
            ),
            (Some(true), Some(true), Some(size)),
            "{r}"
        );
        assert_eq!(r["root"], backup["archive"]["root"]);
        let s = ok(&dest, &["search", "退款"], &[]);
        assert_eq!(s["total"], 300, "the restored archive searches: {s}");
    }
    let v = ok(&w.data, &["backup", "verify", to], env);
    assert_eq!(
        (v["ok"].as_bool(), v["decrypted"].as_bool()),
        (Some(true), Some(false)),
        "audited without the key: {v}"
    );
    let v = ok(
        &w.data,
        &[
            "backup",
            "verify",
            to,
            "--identity",
            w.identity.to_str().unwrap(),
        ],
        env,
    );
    assert_eq!(
        (v["ok"].as_bool(), v["decrypted"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );
}

#[test]
fn folder_backup_restore_verify_and_failures() {
    let w = world();
    let bk = w.dir.path().join("bk");
    let to = bk.to_str().unwrap().to_owned();
    round_trip(&w, &to, &[]);

    // A chunk of the latest backup (so the restore below needs it) is a standard age file:
    // the first bytes say so.
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(bk.join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    manifests.sort();
    let latest: Value =
        serde_json::from_str(&std::fs::read_to_string(manifests.last().unwrap()).unwrap()).unwrap();
    let sha = latest["files"][0]["chunks"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let chunk = bk.join("chunks").join(format!("{sha}.age"));
    assert!(std::fs::read(&chunk)
        .unwrap()
        .starts_with(b"age-encryption.org/v1"));

    // The wrong key fails clearly, and writes nothing.
    let other = w.dir.path().join("other.key");
    ok(
        &w.data,
        &["backup", "keygen", "--out", other.to_str().unwrap()],
        &[],
    );
    let dest = w.dir.path().join("wrong-key");
    let (code, _, err) = run(
        &w.data,
        &[
            "restore",
            &to,
            "--to",
            dest.to_str().unwrap(),
            "--identity",
            other.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("does not decrypt with this identity (the wrong key?)"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing restored");

    // Bad inputs.
    let nothing = w.dir.path().join("nothing");
    let cases: &[(&str, &[&str], &str)] = &[
        ("no recipient", &["backup", "--to", &to], "no recipient"),
        (
            "a bad recipient",
            &["backup", "--to", &to, "--recipient", "age1nope"],
            "backup.key",
        ),
        (
            "an unknown scheme",
            &["backup", "--to", "ftp://x/y", "--recipient", &w.recipient],
            "use a folder or s3://",
        ),
        (
            "an empty target",
            &["backup", "verify", nothing.to_str().unwrap()],
            "backup.empty",
        ),
        (
            "restore onto data",
            &[
                "restore",
                &to,
                "--to",
                w.data.to_str().unwrap(),
                "--identity",
                w.identity.to_str().unwrap(),
            ],
            "not empty",
        ),
    ];
    for (name, args, want) in cases {
        let (code, out, err) = run(&w.data, args, &[]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(want), "{name}: {err}");
    }

    // A corrupted chunk is named by verify, with and without the key, and stops a restore.
    let mut bytes = std::fs::read(&chunk).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0x55;
    std::fs::write(&chunk, &bytes).unwrap();
    let name = chunk.file_name().unwrap().to_str().unwrap().to_owned();
    let (code, out, _) = run(&w.data, &["backup", "verify", &to], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&name) && out.contains("the stored object changed"),
        "{out}"
    );
    let (code, _, err) = run(
        &w.data,
        &[
            "restore",
            &to,
            "--to",
            w.dir.path().join("r2").to_str().unwrap(),
            "--identity",
            w.identity.to_str().unwrap(),
        ],
        &[],
    );
    assert!(code == 2 && err.contains(&name), "{err}");
}

#[test]
fn a_purge_reaches_the_backups_when_their_sets_expire() {
    let w = world();
    let bk = w.dir.path().join("bk");
    let to = bk.to_str().unwrap().to_owned();
    let old = ok(
        &w.data,
        &[
            "backup",
            "--to",
            &to,
            "--recipient",
            &w.recipient,
            "--tier",
            "hourly",
        ],
        &[],
    );
    // Everything expires and is purged.
    ok(
        &w.data,
        &["retention", "set", "default", "--keep", "1"],
        &[],
    );
    ok(
        &w.data,
        &["retention", "sweep", "--at", "2030-01-01"],
        &[("CHATVAULT_RETENTION__RECOVER_DAYS", "0")],
    );
    let newer = ok(
        &w.data,
        &[
            "backup",
            "--to",
            &to,
            "--recipient",
            &w.recipient,
            "--full",
            "--tier",
            "hourly",
        ],
        &[],
    );
    assert_ne!(old["set"], newer["set"]);
    // Within 180 days both sets stay; after, the old set and its chunks go.
    let p = ok(
        &w.data,
        &["backup", "prune", &to, "--at", "2026-12-31"],
        &[],
    );
    assert_eq!(p["sets_removed"], 0, "{p}");
    let later = (chrono::Utc::now() + chrono::Duration::days(200)).to_rfc3339();
    let p = ok(&w.data, &["backup", "prune", &to, "--at", &later], &[]);
    assert_eq!(
        (p["sets_removed"].as_u64(), p["manifests_removed"].as_u64()),
        (Some(1), Some(1)),
        "{p}"
    );
    assert!(
        p["chunks_removed"].as_u64().unwrap() >= 1,
        "the chunks holding the purged content: {p}"
    );
    let list: Value = ok(&w.data, &["backup", "list", &to], &[]);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the latest set always stays"
    );
    // What is left restores to the purged archive: tombstones, no content.
    let dest = w.dir.path().join("after");
    let r = ok(
        &w.data,
        &[
            "restore",
            &to,
            "--to",
            dest.to_str().unwrap(),
            "--identity",
            w.identity.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r["verify_ok"], true, "{r}");
    assert_eq!(ok(&dest, &["search", "退款"], &[])["total"], 0);
    let v = ok(&dest, &["verify"], &[]);
    assert_eq!(v["purged"], 300);
}

/// A real S3-compatible server: moto's, on a free port. `.ci/run` installs it (pip).
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> (Moto, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let moto = Moto(child.unwrap_or_else(|e| panic!("the S3 test needs moto_server (pip install 'moto[server]'; bash .ci/run installs it): {e}")));
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (moto, url);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("moto_server did not start on port {port}");
}

#[test]
fn s3_backup_restore_with_equal_roots() {
    let (_moto, url) = moto();
    // Create the bucket with a plain S3 call (moto accepts unsigned requests).
    let host = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    use std::io::{Read, Write};
    write!(s, "PUT /chatvault-backups HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "create bucket: {reply}");
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", url.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let w = world();
    round_trip(&w, "s3://chatvault-backups/site-a", &env);
    let list: Value = ok(
        &w.data,
        &["backup", "list", "s3://chatvault-backups/site-a"],
        &env,
    );
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn serve_takes_scheduled_backups() {
    let w = world();
    let bk = w.dir.path().join("scheduled");
    let cfg = w.dir.path().join("chatvault.toml");
    std::fs::write(
        &cfg,
        format!(
            "[backup]\nto = {:?}\nrecipients = [{:?}]\nschedules = [{{ cron = \"*/2 * * * * *\", tier = \"hourly\" }}]\n",
            bk.to_str().unwrap(),
            w.recipient
        ),
    )
    .unwrap();
    let mut child = cmd(&w.data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let count = || {
        std::fs::read_dir(bk.join("manifests"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    while std::time::Instant::now() < deadline && count() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(count() >= 2, "two scheduled backups within 20 s");
    let list = ok(&w.data, &["backup", "list", bk.to_str().unwrap()], &[]);
    let kinds: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(&kinds[..2], ["full", "incremental"]);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["tier"] == "hourly"));
    let v = ok(
        &w.data,
        &[
            "backup",
            "verify",
            bk.to_str().unwrap(),
            "--identity",
            w.identity.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(v["ok"], true, "{v}");
    let audit = ok(&w.data, &["audit", "list", "--action", "backup.run"], &[]);
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "system:backup-schedule"),
        "{audit}"
    );
}

fn manifests_in(bk: &Path) -> Vec<(PathBuf, Value)> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bk.join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| {
            let m = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, m)
        })
        .collect()
}

fn copy_chunks(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from.join("chunks")).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join("chunks").join(p.file_name().unwrap());
        if !dst.exists() {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

/// An attacker who can write to the backup target and knows the public recipient can
/// neither splice another archive's `access.db` (users, grants, audit) into a backup nor
/// pass off another archive's backup: manifests are signed by the archive's key, verify
/// names what was swapped without any key, and restore refuses unless told which archive.
#[test]
fn spliced_and_foreign_backups_are_refused() {
    let a = world();
    ok(&a.data, &["user", "add", "owner", "--role", "admin"], &[]);
    let bk = a.dir.path().join("bk");
    let to = bk.to_str().unwrap().to_owned();
    ok(
        &a.data,
        &["backup", "--to", &to, "--recipient", &a.recipient],
        &[],
    );
    // Another archive, with its own users, backed up to the attacker's folder with the
    // victim's (public) recipient.
    let b = world();
    ok(
        &b.data,
        &[
            "user",
            "add",
            "intruder",
            "--role",
            "team_lead",
            "--team",
            "t1",
        ],
        &[],
    );
    let bk_b = b.dir.path().join("bk-b");
    ok(
        &b.data,
        &[
            "backup",
            "--to",
            bk_b.to_str().unwrap(),
            "--recipient",
            &a.recipient,
        ],
        &[],
    );
    let (a_path, a_manifest) = manifests_in(&bk).pop().unwrap();
    let (_, b_manifest) = manifests_in(&bk_b).pop().unwrap();
    let key_of = |m: &Value| {
        chatvault_ledger::key_fingerprint(m["archive"]["verifier_key"].as_str().unwrap())
    };
    let (key_a, key_b) = (key_of(&a_manifest), key_of(&b_manifest));
    assert_ne!(key_a, key_b);
    let restore = |dest: &str, extra: &[&str]| {
        let dest = a.dir.path().join(dest);
        let mut args = vec![
            "restore",
            &to,
            "--to",
            dest.to_str().unwrap(),
            "--identity",
            a.identity.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = run(&a.data, &args, &[]);
        (out, dest)
    };

    // 1. access.db spliced in from the other archive: the manifest no longer says what
    //    was signed.
    copy_chunks(&bk_b, &bk);
    let mut spliced = a_manifest.clone();
    let files = spliced["files"].as_array_mut().unwrap();
    let i = files.iter().position(|f| f["name"] == "access.db").unwrap();
    files[i] = b_manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "access.db")
        .unwrap()
        .clone();
    std::fs::write(&a_path, serde_json::to_vec_pretty(&spliced).unwrap()).unwrap();
    let (code, out, _) = run(&a.data, &["backup", "verify", &to], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("changed after it was signed"), "{out}");
    let ((code, _, err), dest) = restore("spliced", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("backup.foreign") && err.contains("changed after it was signed"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing restored");
    // Unsigned (the signature removed) is refused too.
    let mut unsigned = a_manifest.clone();
    unsigned.as_object_mut().unwrap().remove("signature");
    std::fs::write(&a_path, serde_json::to_vec_pretty(&unsigned).unwrap()).unwrap();
    let ((code, _, err), _) = restore("unsigned", &[]);
    assert!(code == 2 && err.contains("not signed"), "{err}");
    std::fs::write(&a_path, serde_json::to_vec_pretty(&a_manifest).unwrap()).unwrap();

    // 2. The other archive's whole backup put into the target: the latest is now
    //    foreign, and refused by default.
    let b_name = format!("{}.json", b_manifest["id"].as_str().unwrap());
    std::fs::write(
        bk.join("manifests").join(&b_name),
        serde_json::to_vec_pretty(&b_manifest).unwrap(),
    )
    .unwrap();
    let (code, out, _) = run(&a.data, &["backup", "verify", &to], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("holds backups of 2 archives") && out.contains(&key_b),
        "{out}"
    );
    let (code, out, _) = run(
        &a.data,
        &["backup", "verify", &to, "--expect-key", &key_a],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("belongs to another archive") && out.contains(&key_b),
        "{out}"
    );
    let ((code, _, err), dest) = restore("foreign", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("backup.foreign") && err.contains("--expect-key"),
        "{err}"
    );
    assert!(!dest.exists());
    let b_id = b_manifest["id"].as_str().unwrap();
    let ((code, _, err), _) = restore(
        "foreign-pinned",
        &["--backup", b_id, "--expect-key", &key_a],
    );
    assert!(
        code == 2 && err.contains(&key_b),
        "pinned to A, B's backup is refused: {err}"
    );
    // Pinned to A, the latest is A's own, whatever else the target holds.
    let ((code, out, err), _) = restore("pinned-latest", &["--expect-key", &key_a]);
    assert_eq!(code, 0, "{out}{err}");
    // The archive's own backup restores, pinned or by default.
    let a_id = a_manifest["id"].as_str().unwrap();
    let ((code, out, err), dest) = restore("own", &["--backup", a_id, "--expect-key", &key_a]);
    assert_eq!(code, 0, "{out}{err}");
    let users = ok(&dest, &["user", "list"], &[]);
    assert!(!users.to_string().contains("intruder"), "{users}");
    // Knowingly: the other archive's backup, by its key.
    let ((code, out, err), _) = restore("knowingly", &["--expect-key", &key_b]);
    assert_eq!(code, 0, "{out}{err}");
    // 3. An older genuine manifest copied under a later name (a rollback of users,
    //    grants and audit): refused, the name is not its id.
    std::fs::remove_file(bk.join("manifests").join(&b_name)).unwrap();
    let later = bk.join("manifests").join("7ZZZZZZZZZZZZZZZZZZZZZZZZZ.json");
    std::fs::copy(&a_path, &later).unwrap();
    let ((code, _, err), _) = restore("renamed", &["--backup", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"]);
    assert!(code == 2, "{err}");
    let (code, out, _) = run(&a.data, &["backup", "verify", &to], &[]);
    assert!(code == 1 && out.contains("not under its own id"), "{out}");
    // The latest is chosen by what was signed, not by the file name.
    let ((code, out, err), _) = restore("latest-by-signed-time", &[]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::remove_file(&later).unwrap();
    // 4. A backup made before signatures: refused, unless asked for knowingly.
    let mut legacy = a_manifest.clone();
    legacy.as_object_mut().unwrap().remove("signature");
    legacy.as_object_mut().unwrap().remove("audit_head");
    std::fs::write(&a_path, serde_json::to_vec_pretty(&legacy).unwrap()).unwrap();
    let ((code, _, err), _) = restore("legacy", &[]);
    assert!(code == 2 && err.contains("not signed"), "{err}");
    let ((code, out, err), _) = restore("legacy-allowed", &["--backup", a_id, "--allow-unsigned"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// One message added to a 20,000-message archive: the incremental backup uploads the
/// chunks around the SQLite pages it touched, not the file again (content-defined
/// chunking). The figures are printed for docs/backup.md.
#[test]
fn one_new_message_uploads_little() {
    let w = world();
    let opts = chatvault_gen::GenOptions {
        messages: 20_000,
        seed: 5,
        ..Default::default()
    };
    let lines: Vec<Value> = chatvault_gen::Generator::new(opts, None)
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    import(&w.data, w.dir.path(), "big.jsonl", &lines);
    let bk = w.dir.path().join("bk");
    let to = bk.to_str().unwrap();
    let full = ok(
        &w.data,
        &["backup", "--to", to, "--recipient", &w.recipient],
        &[],
    );
    import(
        &w.data,
        w.dir.path(),
        "one.jsonl",
        &[msg("c9", 0, "只多了一条消息")],
    );
    let inc = ok(
        &w.data,
        &["backup", "--to", to, "--recipient", &w.recipient],
        &[],
    );
    let db_size = std::fs::metadata(w.data.join("archive.db")).unwrap().len();
    let (f, i) = (
        full["uploaded_bytes"].as_u64().unwrap(),
        inc["uploaded_bytes"].as_u64().unwrap(),
    );
    eprintln!(
        "backup after one message: archive.db {db_size} bytes; full upload {f} bytes in {} chunks; incremental {i} bytes in {} chunks ({:.1} %)",
        full["uploaded_chunks"], inc["uploaded_chunks"], i as f64 * 100.0 / f as f64
    );
    assert!(i * 10 < f, "one message re-uploaded {i} of {f} bytes");
    // And it restores to the same root.
    let dest = w.dir.path().join("restored");
    let r = ok(
        &w.data,
        &[
            "restore",
            to,
            "--to",
            dest.to_str().unwrap(),
            "--identity",
            w.identity.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r["root_matches"], true, "{r}");
}
