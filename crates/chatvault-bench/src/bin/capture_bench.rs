//! `cargo run --release -p chatvault-bench --bin capture-bench -- --messages 20000 --clients 32`
//!
//! Live capture under load, beside the batch ingest API, in one run. A real server
//! (`chatvault_server::serve` on a loopback port, the same code `chatvault serve` runs)
//! holds one source of each message-carrying kind: Standard Webhooks, Slack, Telegram,
//! Feishu (encrypted), WeCom (encrypted) and the DingTalk robot. `--clients` threads
//! each keep one HTTP/1.1 connection and send signed requests of one message each,
//! round-robin over the kinds, as the platforms would. Then the same number of messages
//! go to `POST /api/v1/messages` with an ingest token: one message per request (the
//! same shape of load), and in batches of 100 (the API's own use).
//!
//! Printed for each: messages/s sustained, acknowledgement p50/p99, and receipt to
//! searchable p50/p99 (every 50th message is looked for by a probe that searches the
//! archive from the moment its request was sent until it is found). Every message must
//! be acknowledged as stored, and found once afterwards.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chatvault_archive::{Archive, KeyProvider};
use chatvault_server::{Config, Shared, State};
use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// Messages per side (capture, then the API one per request, then in batches).
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TG_SECRET: &str = "tg_secret-Token_42";
const FEISHU_KEY: &str = "feishu-encrypt-key";
const WECOM: (&str, &str, &str) = (
    "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "ww1436e0e65a779aee",
);
const ROBOT_SECRET: &str = "gQkAsdf-robot-AppSecret_0x5150";
const KINDS: [&str; 6] = [
    "webhook",
    "slack",
    "telegram",
    "feishu",
    "wecom",
    "dingtalk-robot",
];

/// One HTTP request, ready to send.
struct Req {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The text the probe searches for.
    mark: String,
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The `i`th message as `kind`'s platform sends it, signed now.
fn signed(kind: &str, i: usize, text: &str) -> Result<Req> {
    let ts = now_s();
    let conv = format!("bench-{}", i % 500);
    let (path, headers, body): (String, Vec<(String, String)>, Vec<u8>) = match kind {
        "webhook" => {
            let body = json!({"platform": "wecom", "conversation_id": conv, "source_id": format!("wh-{i}"), "sender_id": format!("c{}", i % 97),
                "sent_at": chrono::Utc::now().to_rfc3339(), "text": text}).to_string();
            let id = format!("msg_{i}");
            let sig = chatvault_connect::standard_webhooks::sign(
                WEBHOOK_SECRET,
                &id,
                ts,
                body.as_bytes(),
            )?;
            (
                "/hooks/wh".into(),
                vec![
                    ("webhook-id".into(), id),
                    ("webhook-timestamp".into(), ts.to_string()),
                    ("webhook-signature".into(), sig),
                ],
                body.into_bytes(),
            )
        }
        "slack" => {
            let body = json!({"type": "event_callback", "event_id": format!("Ev{i}"), "team_id": "T1", "event_time": ts,
                "event": {"type": "message", "channel": conv, "user": format!("U{}", i % 97), "text": text, "ts": format!("{ts}.{:06}", i % 1_000_000)}}).to_string();
            let sig =
                chatvault_connect::slack::sign(SLACK_SECRET, &ts.to_string(), body.as_bytes());
            (
                "/hooks/sl".into(),
                vec![
                    ("x-slack-request-timestamp".into(), ts.to_string()),
                    ("x-slack-signature".into(), sig),
                ],
                body.into_bytes(),
            )
        }
        "telegram" => {
            let body = json!({"update_id": i, "message": {"message_id": i, "date": ts, "chat": {"id": -(1000 + (i % 500) as i64), "type": "group", "title": "bench"},
                "from": {"id": i % 97, "first_name": "客户"}, "text": text}}).to_string();
            (
                "/hooks/tg".into(),
                vec![("x-telegram-bot-api-secret-token".into(), TG_SECRET.into())],
                body.into_bytes(),
            )
        }
        "feishu" => {
            let plain = json!({"schema": "2.0", "header": {"event_id": format!("fe{i}"), "event_type": "im.message.receive_v1", "create_time": (ts * 1000).to_string()},
                "event": {"sender": {"sender_id": {"open_id": format!("ou_{}", i % 97)}}, "message": {"message_id": format!("om_{i}"), "create_time": (ts * 1000).to_string(),
                "chat_id": conv, "chat_type": "group", "message_type": "text", "content": json!({"text": text}).to_string()}}});
            let iv: [u8; 16] = *b"0123456789abcdef";
            let body = json!({"encrypt": chatvault_connect::feishu::encrypt(FEISHU_KEY, &iv, plain.to_string().as_bytes())}).to_string();
            let sig = chatvault_connect::feishu::sign(
                FEISHU_KEY,
                &ts.to_string(),
                "n0nce",
                body.as_bytes(),
            );
            (
                "/hooks/fs".into(),
                vec![
                    ("x-lark-request-timestamp".into(), ts.to_string()),
                    ("x-lark-request-nonce".into(), "n0nce".into()),
                    ("x-lark-signature".into(), sig),
                ],
                body.into_bytes(),
            )
        }
        "wecom" => {
            let c = chatvault_connect::wxbiz::Crypto::new(WECOM.0, WECOM.1, WECOM.2)?;
            let xml = format!("<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[u{}]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{}</MsgId><AgentID>1000002</AgentID></xml>", WECOM.2, i % 97, 1_000_000 + i);
            let enc = c.encrypt(b"fedcba9876543210", xml.as_bytes())?;
            let sig = c.signature(&ts.to_string(), "1372623149", &enc);
            let q = format!("msg_signature={sig}&timestamp={ts}&nonce=1372623149");
            (
                format!("/hooks/wc?{q}"),
                vec![],
                json!({"encrypt": enc}).to_string().into_bytes(),
            )
        }
        _ => {
            let ms = ts * 1000;
            let body = json!({"msgtype": "text", "text": {"content": text}, "msgId": format!("dm{i}"), "createAt": ms, "conversationType": "2",
                "conversationId": conv, "senderId": format!("s{}", i % 97), "senderNick": "客户"}).to_string();
            let sig = chatvault_connect::dingtalk_robot::sign(ROBOT_SECRET, &ms.to_string());
            (
                "/hooks/dt".into(),
                vec![("timestamp".into(), ms.to_string()), ("sign".into(), sig)],
                body.into_bytes(),
            )
        }
    };
    Ok(Req {
        path,
        headers,
        body,
        mark: String::new(),
    })
}

/// A keep-alive HTTP/1.1 client, just enough for this bench: one request at a time,
/// Content-Length bodies (what the server sends to these requests). A client crate
/// would add its own pool and runtime to what is measured.
struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> Result<Conn> {
        let w = TcpStream::connect(addr)?;
        w.set_nodelay(true)?;
        Ok(Conn {
            r: BufReader::new(w.try_clone()?),
            w,
        })
    }

    fn send(&mut self, req: &Req) -> Result<(u16, Vec<u8>)> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            req.path,
            req.body.len()
        );
        for (k, v) in &req.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.w.write_all(head.as_bytes())?;
        self.w.write_all(&req.body)?;
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let status: u16 = line.split(' ').nth(1).context("no status")?.parse()?;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            self.r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                }
            }
        }
        let mut body = vec![0; len];
        self.r.read_exact(&mut body)?;
        Ok((status, body))
    }
}

fn quantile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

struct Figures {
    rate: f64,
    ack: Vec<Duration>,
    searchable: Vec<Duration>,
}

/// A request's maker: the `i`th request, signed when it is sent.
type Maker = Arc<dyn Fn(usize) -> Result<Req> + Send + Sync>;

fn mark(side: &str, i: usize) -> String {
    format!("CAPBENCH{side}{i:07}")
}

fn text(m: &str) -> String {
    format!("退款进度 {m} 请尽快处理")
}

/// Sends `count` requests made by `make` from `clients` connections; a probe looks for
/// every 50th message's mark in the archive from when it was sent until it is found.
fn load(
    state: &State,
    addr: &str,
    count: usize,
    make: Maker,
    clients: usize,
    per_request: usize,
) -> Result<Figures> {
    let next = Arc::new(AtomicUsize::new(0));
    let acks = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let (probe_tx, probe_rx) = mpsc::channel::<(String, Instant)>();
    let probe_state = state.clone();
    let probe = std::thread::spawn(move || -> Result<Vec<Duration>> {
        let mut out = vec![];
        for (mark, sent) in probe_rx {
            loop {
                let found = probe_state
                    .archive()
                    .map_err(|e| anyhow::anyhow!(e.message))?
                    .search(&mark, &Default::default(), 1, 0)?
                    .total;
                if found > 0 {
                    out.push(sent.elapsed());
                    break;
                }
                if sent.elapsed() > Duration::from_secs(30) {
                    bail!("{mark} not searchable 30 s after it was sent");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Ok(out)
    });
    let began = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (make, next, acks, addr, probe_tx) = (
                make.clone(),
                next.clone(),
                acks.clone(),
                addr.to_owned(),
                probe_tx.clone(),
            );
            std::thread::spawn(move || -> Result<()> {
                let mut c = Conn::open(&addr)?;
                let mut mine = vec![];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    // Signed as the platform sends it: its time is the message's.
                    let r = &make(i)?;
                    let t = Instant::now();
                    let (status, body) = c.send(r)?;
                    let took = t.elapsed();
                    if status != 200 {
                        bail!("{}: {status} {}", r.path, String::from_utf8_lossy(&body));
                    }
                    // A receipt (Standard Webhooks, the batch API) names each message;
                    // the other kinds are counted in the archive at the end.
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if let Some(rs) = v["results"].as_array() {
                        if rs.iter().any(|x| x["status"] != "stored") {
                            bail!("{}: not stored: {v}", r.path);
                        }
                    }
                    mine.push(took);
                    if i % 50 == 0 {
                        let _ = probe_tx.send((r.mark.clone(), t));
                    }
                }
                acks.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .extend(mine);
                Ok(())
            })
        })
        .collect();
    drop(probe_tx);
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
    }
    let wall = began.elapsed();
    let searchable = probe
        .join()
        .map_err(|_| anyhow::anyhow!("the probe panicked"))??;
    let ack = std::mem::take(&mut *acks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    Ok(Figures {
        rate: (count * per_request) as f64 / wall.as_secs_f64(),
        ack,
        searchable,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let data = work.path().join("data");
    Archive::init(&data, &KeyProvider::default())?;
    let mut archive = Archive::open(&data, &KeyProvider::default())?;
    let mut config = Config::default();
    config.listen = "127.0.0.1:0".into();
    config.limits.max_ingest_messages = 1000;
    let mut access = chatvault_server::open_access(&mut archive, config.security.clone())?;
    access.add_user(
        "bench",
        "ops",
        chatvault_policy::Role::Admin,
        None,
        &[],
        Some("capture-bench-password"),
        false,
    )?;
    let (_, token) =
        access.create_token("bench", "ops", chatvault_access::TokenScope::Ingest, None)?;
    let secret = |pairs: &[(&str, &str)]| -> chatvault_access::sources::Secrets {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), zeroize::Zeroizing::new((*v).to_owned())))
            .collect()
    };
    let setting = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    for (name, kind, secrets, settings) in [
        (
            "wh",
            "webhook",
            secret(&[("secret", WEBHOOK_SECRET)]),
            setting(&[]),
        ),
        (
            "sl",
            "slack",
            secret(&[("signing_secret", SLACK_SECRET)]),
            setting(&[]),
        ),
        (
            "tg",
            "telegram",
            secret(&[("secret_token", TG_SECRET)]),
            setting(&[]),
        ),
        (
            "fs",
            "feishu",
            secret(&[("encrypt_key", FEISHU_KEY)]),
            setting(&[]),
        ),
        (
            "wc",
            "wecom",
            secret(&[("token", WECOM.0), ("aes_key", WECOM.1)]),
            setting(&[("receive_id", WECOM.2)]),
        ),
        (
            "dt",
            "dingtalk-robot",
            secret(&[("secret", ROBOT_SECRET)]),
            setting(&[]),
        ),
    ] {
        chatvault_app::connectors::add(
            &mut access,
            chatvault_app::connectors::Via::Console,
            "bench",
            name,
            kind,
            settings,
            &secrets,
        )?;
    }
    let state: State = Arc::new(Shared::new(archive, access, config, false));
    let (tx, rx) = mpsc::channel();
    let serving = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _ = rt.block_on(chatvault_server::serve(serving, None, move |a| {
            let _ = tx.send(a);
        }));
    });
    let addr = rx.recv_timeout(Duration::from_secs(30))?.to_string();

    let n = args.messages;
    let capture: Maker = Arc::new(move |i| {
        let m = mark("C", i);
        let mut r = signed(KINDS[i % KINDS.len()], i, &text(&m))?;
        r.mark = m;
        Ok(r)
    });
    let api_req = move |side: &'static str, from: usize, count: usize, token: &str| {
        let msgs: Vec<Value> = (from..from + count)
            .map(|i| json!({"platform": "wecom", "conversation_id": format!("api-{}", i % 500), "source_id": format!("{side}-{i}"),
                "sender_id": format!("c{}", i % 97), "sent_at": chrono::Utc::now().to_rfc3339(), "text": text(&mark(side, i))}))
            .collect();
        Req {
            path: "/api/v1/messages".into(),
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            body: json!({"messages": msgs}).to_string().into_bytes(),
            mark: mark(side, from),
        }
    };
    let (t1, t2) = (token.clone(), token.clone());
    let one: Maker = Arc::new(move |i| Ok(api_req("A", i, 1, &t1)));
    let batched: Maker = Arc::new(move |i| Ok(api_req("B", i * 100, 100.min(n - i * 100), &t2)));

    println!(
        "capture-bench: {n} messages per side, {} clients, 2 cores",
        args.clients
    );
    let mut rows = vec![];
    for (label, make, count, per) in [
        (
            "capture: signed requests, 1 message each, 6 kinds",
            capture,
            n,
            1,
        ),
        ("batch API: 1 message per request", one, n, 1),
        (
            "batch API: 100 messages per request",
            batched,
            n.div_ceil(100),
            100,
        ),
    ] {
        let clients = if per == 1 {
            args.clients
        } else {
            args.clients.min(4)
        };
        let mut f = load(&state, &addr, count, make, clients, per)?;
        rows.push((
            label,
            f.rate,
            quantile(&mut f.ack, 0.5),
            quantile(&mut f.ack, 0.99),
            quantile(&mut f.searchable, 0.5),
            quantile(&mut f.searchable, 0.99),
        ));
    }
    println!(
        "{:<52} {:>10} {:>9} {:>9} {:>12} {:>12}",
        "", "msgs/s", "ack p50", "ack p99", "search p50", "search p99"
    );
    for (label, rate, a50, a99, s50, s99) in &rows {
        println!(
            "{label:<52} {rate:>10.0} {:>7.1}ms {:>7.1}ms {:>10.1}ms {:>10.1}ms",
            a50.as_secs_f64() * 1e3,
            a99.as_secs_f64() * 1e3,
            s50.as_secs_f64() * 1e3,
            s99.as_secs_f64() * 1e3
        );
    }
    // Every message once (what the last flush has not committed yet, committed now).
    state
        .flush_index()
        .map_err(|e| anyhow::anyhow!(e.message))?;
    for side in ["C", "A", "B"] {
        let found = state
            .archive()
            .map_err(|e| anyhow::anyhow!(e.message))?
            .search(&format!("CAPBENCH{side}"), &Default::default(), 1, 0)?
            .total;
        if found as usize != n {
            bail!("side {side}: {found} of {n} messages found");
        }
    }
    let figures =
        chatvault_app::connectors::overview(&state).map_err(|e| anyhow::anyhow!(e.message))?;
    for f in figures {
        println!(
            "  source {:<3} {:<15} stored {:>6}  duplicate {:>3}  quarantined {:>3}  capture latency p50 {:?} ms p99 {:?} ms",
            f.info.name, f.info.kind, f.figures.stored, f.figures.duplicate, f.figures.quarantined, f.figures.latency_p50_ms, f.figures.latency_p99_ms
        );
    }
    println!("every message stored once: ok");
    Ok(())
}
