//! `cargo run --release -p chatvault-bench --bin shard-sim`
//!
//! The arithmetic of `docs/scale-out.md`, checked: one billion messages (by default) of
//! many organisations over five years, sharded by tenant and time the way that document
//! describes, and the searches each role makes routed to the shards that can hold their
//! matches. It prints how many shards and nodes that takes, how many shards each role's
//! search fans out to, and what latency that gives when each shard answers as this
//! machine measured (`docs/benchmarks.md`, "Speed at scale").
//!
//! It checks itself: every message is in exactly one shard, every tenant's messages are
//! all in its lane's shards, and for every simulated search the shards routed to hold
//! every message of the tenant in the window (counted independently of the routing).
//! It exits non-zero when a check fails.

use anyhow::{bail, Result};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
struct Args {
    /// Messages in the whole deployment.
    #[arg(long, default_value_t = 1_000_000_000)]
    messages: u64,
    /// Organisations (tenants), sized by a Zipf law: a few large, most small.
    #[arg(long, default_value_t = 2_000)]
    tenants: usize,
    /// The Zipf exponent of tenant sizes.
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Years of retained history.
    #[arg(long, default_value_t = 5)]
    years: u64,
    /// The most messages one shard holds (10M: the largest size measured here, p99 10 ms).
    #[arg(long, default_value_t = 10_000_000)]
    shard_max: u64,
    /// Shards one node serves: its index must stay in the page cache (10M messages take
    /// 1.5 GB of index here; 20 shards fit a 32 GB node with room for the process).
    #[arg(long, default_value_t = 20)]
    shards_per_node: u64,
    /// Copies of each shard (a node can die without stopping search).
    #[arg(long, default_value_t = 2)]
    replicas: u64,
    /// Searches to simulate.
    #[arg(long, default_value_t = 200_000)]
    searches: usize,
    /// Round trip from the router to a node, ms.
    #[arg(long, default_value_t = 0.3)]
    rtt_ms: f64,
}

/// One shard: a run of one lane's messages in time order, cut when full.
struct Shard {
    lane: usize,
    /// The time range its messages cover, in days from the start.
    from: f64,
    to: f64,
    /// Messages per tenant.
    per_tenant: Vec<(usize, u64)>,
    size: u64,
}

/// This machine's measured search time of one shard (all query classes, p50 and p99 at
/// 1M, 3M and 10M messages), interpolated in log-log, as a log-normal.
fn shard_latency_ms(size: u64, rng: &mut StdRng) -> f64 {
    const POINTS: [(f64, f64, f64); 3] = [
        (1e6, 0.578, 1.783),
        (3e6, 0.669, 3.432),
        (1e7, 0.894, 10.205),
    ];
    let x = (size.max(1) as f64).ln();
    let (mut p50, mut p99) = (POINTS[0].1, POINTS[0].2);
    for w in POINTS.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x >= a.0.ln() {
            let t = (x - a.0.ln()) / (b.0.ln() - a.0.ln());
            p50 = (a.1.ln() + t * (b.1.ln() - a.1.ln())).exp();
            p99 = (a.2.ln() + t * (b.2.ln() - a.2.ln())).exp();
        }
    }
    // Log-normal through (p50, p99): sigma = ln(p99/p50) / z(0.99).
    let sigma = (p99 / p50).ln() / 2.326;
    let z: f64 = {
        // Box-Muller.
        let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    p50 * (sigma * z).exp()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let a = Args::parse();
    let days = a.years as f64 * 365.0;
    // Tenant sizes: Zipf, scaled to the total, each at least one message.
    let weights: Vec<f64> = (1..=a.tenants)
        .map(|r| 1.0 / (r as f64).powf(a.zipf))
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<u64> = weights
        .iter()
        .map(|w| ((w / sum) * a.messages as f64).floor().max(1.0) as u64)
        .collect();
    let short = a.messages as i64 - sizes.iter().sum::<u64>() as i64;
    sizes[0] = (sizes[0] as i64 + short).max(1) as u64;
    // Lanes: a tenant with at least a quarter of a shard's worth of messages has its own;
    // the others share lanes, packed first-fit largest first up to four shards' worth, so
    // a small tenant's all-time search reaches at most a few shards.
    let own = a.shard_max / 4;
    let lane_cap = 4 * a.shard_max;
    let mut lane_of = vec![0usize; a.tenants];
    let mut lanes: Vec<(u64, Vec<usize>)> = vec![];
    let mut order: Vec<usize> = (0..a.tenants).collect();
    order.sort_by_key(|&t| std::cmp::Reverse(sizes[t]));
    for &t in &order {
        let slot = if sizes[t] >= own {
            None
        } else {
            lanes.iter().position(|(used, members)| {
                members.iter().all(|&m| sizes[m] < own) && used + sizes[t] <= lane_cap
            })
        };
        let l = slot.unwrap_or_else(|| {
            lanes.push((0, vec![]));
            lanes.len() - 1
        });
        lanes[l].0 += sizes[t];
        lanes[l].1.push(t);
        lane_of[t] = l;
    }
    // Each lane's messages arrive evenly over the years (every tenant at its own rate);
    // the lane's open shard is cut when it holds `shard_max`.
    let mut shards: Vec<Shard> = vec![];
    for (l, (total, members)) in lanes.iter().enumerate() {
        // Each tenant's share of a shard is rounded to whole messages: leave room for it.
        let room = a.shard_max.saturating_sub(members.len() as u64).max(1);
        let n = total.div_ceil(room).max(1);
        for i in 0..n {
            let (from, to) = (days * i as f64 / n as f64, days * (i + 1) as f64 / n as f64);
            let per_tenant: Vec<(usize, u64)> = members
                .iter()
                .map(|&t| {
                    // This tenant's messages in [from, to): an even share of its total.
                    let lo = sizes[t] * i / n;
                    let hi = sizes[t] * (i + 1) / n;
                    (t, hi - lo)
                })
                .filter(|&(_, c)| c > 0)
                .collect();
            let size = per_tenant.iter().map(|x| x.1).sum();
            shards.push(Shard {
                lane: l,
                from,
                to,
                per_tenant,
                size,
            });
        }
    }
    // Checks: every message in exactly one shard; every tenant whole in its lane.
    let placed: u64 = shards.iter().map(|s| s.size).sum();
    if placed != a.messages {
        bail!("{placed} messages placed of {}", a.messages);
    }
    let mut per_tenant = vec![0u64; a.tenants];
    for s in &shards {
        for &(t, c) in &s.per_tenant {
            if lane_of[t] != s.lane {
                bail!("tenant {t} has messages outside its lane");
            }
            per_tenant[t] += c;
        }
        if s.size > a.shard_max {
            bail!("a shard holds {} messages, over {}", s.size, a.shard_max);
        }
    }
    if per_tenant != sizes {
        bail!("a tenant's messages are not all placed once");
    }
    let nodes = (shards.len() as u64 * a.replicas).div_ceil(a.shards_per_node);
    let mut shard_sizes: Vec<f64> = shards.iter().map(|s| s.size as f64).collect();
    // Searches: a tenant picked by its size (more people in larger organisations), a role
    // by the mix below, and its window: agent 7 days, team lead 30, executive and legal
    // all of the retained history (legal's grant names conversations, not a window).
    let roles: [(&str, f64, Option<f64>); 4] = [
        ("agent (7 days)", 0.60, Some(7.0)),
        ("team lead (30 days)", 0.25, Some(30.0)),
        ("executive (all time)", 0.10, None),
        ("legal (all time)", 0.05, None),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let cum: Vec<f64> = sizes
        .iter()
        .scan(0.0, |acc, &s| {
            *acc += s as f64;
            Some(*acc)
        })
        .collect();
    let mut by_lane: Vec<Vec<usize>> = vec![vec![]; lanes.len()];
    for (i, s) in shards.iter().enumerate() {
        by_lane[s.lane].push(i);
    }
    let mut out: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); roles.len()];
    for _ in 0..a.searches {
        let pick = rng.gen_range(0.0..cum[cum.len() - 1]);
        let t = cum.partition_point(|&c| c <= pick).min(a.tenants - 1);
        let r = {
            let x: f64 = rng.gen();
            let mut acc = 0.0;
            roles
                .iter()
                .position(|(_, w, _)| {
                    acc += w;
                    x < acc
                })
                .unwrap_or(0)
        };
        let now = days;
        let from = roles[r].2.map_or(0.0, |w| now - w);
        // Routing: the tenant's lane's shards whose time range meets the window.
        let routed: Vec<usize> = by_lane[lane_of[t]]
            .iter()
            .copied()
            .filter(|&i| shards[i].to > from && shards[i].from <= now)
            .collect();
        // Check, independently of the routing: every shard holding this tenant's
        // messages in the window is routed to.
        for s in &shards {
            let holds = s.per_tenant.iter().any(|&(x, c)| x == t && c > 0);
            let meets = s.to > from && s.from <= now;
            if holds && meets && !routed.iter().any(|&i| std::ptr::eq(&shards[i], s)) {
                bail!("a search of tenant {t} missed a shard holding its messages");
            }
        }
        // Latency: the shards are spread over the nodes, each node answers its share on
        // two cores, the router waits for the slowest and merges the pages (20 per shard).
        let spread = nodes.min(routed.len() as u64).max(1) as usize;
        let mut per_node = vec![0.0f64; spread];
        for (k, &i) in routed.iter().enumerate() {
            per_node[k % spread] += shard_latency_ms(shards[i].size, &mut rng) / 2.0;
        }
        let slowest = per_node.iter().copied().fold(0.0, f64::max);
        let merge_ms = routed.len() as f64 * 20.0 * 1e-5;
        out[r].0.push(routed.len() as f64);
        out[r].1.push(a.rtt_ms + slowest + merge_ms);
    }
    println!(
        "{} messages, {} tenants (largest {}, median {}), {} years; lanes: {} ({} of one tenant)",
        a.messages,
        a.tenants,
        sizes[0],
        {
            let mut s = sizes.clone();
            s.sort_unstable();
            s[s.len() / 2]
        },
        a.years,
        lanes.len(),
        lanes
            .iter()
            .filter(|(_, m)| m.len() == 1 && sizes[m[0]] >= own)
            .count()
    );
    println!(
        "shards: {} of at most {} (sizes: median {:.0}, min {:.0}); nodes: {} ({} shards each, {} copies)",
        shards.len(),
        a.shard_max,
        pct(&mut shard_sizes, 0.5),
        pct(&mut shard_sizes, 0.0),
        nodes,
        a.shards_per_node,
        a.replicas
    );
    println!(
        "{:<22} {:>8} {:>12} {:>12} {:>10} {:>10}",
        "role", "share", "fan-out p50", "fan-out p99", "p50 ms", "p99 ms"
    );
    let mut json = serde_json::Map::new();
    json.insert("shards".into(), shards.len().into());
    json.insert("nodes".into(), nodes.into());
    for ((name, w, _), (mut fan, mut ms)) in roles.iter().zip(out) {
        if ms.is_empty() {
            continue;
        }
        let (f50, f99, l50, l99) = (
            pct(&mut fan, 0.5),
            pct(&mut fan, 0.99),
            pct(&mut ms, 0.5),
            pct(&mut ms, 0.99),
        );
        println!("{name:<22} {w:>8.2} {f50:>12.0} {f99:>12.0} {l50:>10.2} {l99:>10.2}");
        json.insert(
            name.split(' ').next().unwrap_or(name).into(),
            serde_json::json!({"fanout_p50": f50, "fanout_p99": f99, "p50_ms": l50, "p99_ms": l99}),
        );
    }
    println!("checks: every message in one shard, every tenant in its lane, every search routed to every shard holding its matches");
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}
