//! Realistic synthetic archives for the demo, the benchmark and tests.
//!
//! Conversations between customers and agents across several platforms, in Chinese and
//! English, with realistic turn structure: customers write in bursts, agents answer after
//! a log-normal delay (some far past an SLA), some messages carry PII (mobile numbers,
//! e-mail addresses, order numbers), and a few are edited or recalled. The texts come from
//! the built-in dialogues, or from real dialogues (the CrossWOZ corpus) when a corpus folder
//! is given. Output is canonical JSONL, so everything generated goes through the same import
//! path as a user's file. Generation is deterministic for a given seed.
//!
//! This crate does no IO except reading a corpus folder the caller names.

use std::io::Read;
use std::path::Path;

use chatvault_model::canonical::{CanonicalAttachment, CanonicalRecord};
use chatvault_model::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A dialogue: alternating turns, `true` for the customer side.
#[derive(Debug, Clone)]
pub struct Dialogue {
    pub turns: Vec<(bool, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("corpus {path}: {what}")]
    Bad { path: String, what: String },
}

/// Loads CrossWOZ-style dialogues (`*.json.zip`, each one JSON object of dialogues with
/// `messages: [{role: "usr"|"sys", content}]`) from a folder.
pub fn load_corpus(dir: &Path) -> Result<Vec<Dialogue>, CorpusError> {
    #[derive(serde::Deserialize)]
    struct Msg {
        role: String,
        content: String,
    }
    #[derive(serde::Deserialize)]
    struct Dia {
        messages: Vec<Msg>,
    }
    let bad = |path: &Path, what: String| CorpusError::Bad {
        path: path.display().to_string(),
        what,
    };
    let mut out = vec![];
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".json.zip"))
        .collect();
    entries.sort();
    for path in entries {
        let f = std::fs::File::open(&path).map_err(|e| bad(&path, e.to_string()))?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| bad(&path, e.to_string()))?;
        for i in 0..z.len() {
            let mut entry = z.by_index(i).map_err(|e| bad(&path, e.to_string()))?;
            if !entry.name().ends_with(".json") {
                continue;
            }
            // The corpus files are tens of MB; bound what a stray file can make us read.
            let mut text = String::new();
            (&mut entry)
                .take(512 << 20)
                .read_to_string(&mut text)
                .map_err(|e| bad(&path, e.to_string()))?;
            let all: std::collections::BTreeMap<String, Dia> =
                serde_json::from_str(&text).map_err(|e| bad(&path, e.to_string()))?;
            for d in all.into_values() {
                let turns: Vec<(bool, String)> = d
                    .messages
                    .into_iter()
                    .filter(|m| !m.content.trim().is_empty())
                    .map(|m| (m.role == "usr", m.content))
                    .collect();
                if turns.len() >= 2 {
                    out.push(Dialogue { turns });
                }
            }
        }
    }
    if out.is_empty() {
        return Err(bad(dir, "no dialogues found".into()));
    }
    Ok(out)
}

const ZH_DIALOGUES: &[&[&str]] = &[
    &[
        "你好，我上周买的扫地机器人一直连不上WiFi",
        "您好，请问有什么可以帮您？",
        "就是配网的时候一直失败",
        "请您先长按电源键10秒重置一下，再重新配网试试",
        "好的我试试",
        "试了还是不行，能退货吗？",
        "可以的，已为您登记退货申请，订单号{order}，快递员会在24小时内上门取件",
        "好的谢谢",
        "感谢您的耐心，祝您生活愉快！",
    ],
    &[
        "在吗？我的快递三天没动了",
        "您好，这里是售后客服，请提供一下订单号",
        "{order}",
        "查到了，物流显示在中转站滞留，我们已经催促快递公司",
        "什么时候能到啊，我急用",
        "预计明天送达，如果明天还没到可以直接申请退款",
        "好吧",
        "还有其他可以帮您的吗？",
    ],
    &[
        "发票什么时候能开？",
        "您好，请问需要开具增值税普通发票还是专用发票？",
        "普通发票就行，抬头是个人",
        "好的，发票会在3个工作日内发送到您的邮箱，请提供邮箱地址",
        "{email}",
        "已登记，请注意查收",
        "谢谢",
    ],
    &[
        "我要投诉！你们的产品质量太差了",
        "非常抱歉给您带来不好的体验，请问具体是什么问题呢？",
        "用了两天就坏了，屏幕不亮",
        "理解您的心情，我们可以为您办理换货或者退款，您看哪种方式合适？",
        "退款吧，再也不买了",
        "好的，退款申请已提交，预计3到5个工作日原路退回",
        "如果不退我就去消费者协会投诉，还要求赔偿",
        "请您放心，我们一定按规定处理，不会违约",
    ],
    &[
        "你好，想问一下这款手机支持5G吗",
        "您好，支持的，这款是双模5G",
        "待机时间多长",
        "正常使用可以待机一天半左右",
        "安装简单吗？我买的是壁挂式的",
        "安装很简单，我们也提供免费上门安装服务",
        "那帮我预约一下吧，电话{phone}",
        "好的已为您预约，师傅会提前联系您",
    ],
    &[
        "订单待处理中是什么意思？",
        "您好，待处理表示仓库正在拣货，一般24小时内发货",
        "能改地址吗",
        "可以的，请提供新的收货地址和联系电话",
        "北京市朝阳区建国路88号，{phone}",
        "地址已修改成功",
        "谢谢，速度真快",
    ],
    &[
        "我的会员怎么被自动续费了",
        "您好，查询到您开通了自动续费服务，每月扣费",
        "我没开过啊",
        "非常抱歉，已为您关闭自动续费，并申请退还本月费用",
        "多久能到账",
        "1到3个工作日内退回到原支付账户",
        "好的",
    ],
];

const EN_DIALOGUES: &[&[&str]] = &[
    &[
        "Hi, my order hasn't arrived yet",
        "Hello! Sorry to hear that. Could you share your order number?",
        "{order}",
        "Thanks. It's delayed at the sorting center, it should arrive tomorrow",
        "Can I get a refund if it doesn't?",
        "Yes, if it isn't delivered by tomorrow we'll refund you in full",
        "ok thanks",
        "Anything else I can help with?",
    ],
    &[
        "The app keeps crashing when I open my invoice",
        "Hi there, which phone and app version are you on?",
        "iPhone 13, latest version",
        "Thanks, please try reinstalling the app. If it still fails I'll email you the invoice",
        "still crashing",
        "No problem, the invoice has been sent to {email}",
        "got it, thank you 👍",
    ],
    &[
        "I want to cancel my subscription",
        "Hello, I can help with that. May I ask why you'd like to cancel?",
        "too expensive",
        "I understand. I can offer 50% off for 3 months, or cancel right away",
        "just cancel please",
        "Done, your subscription is cancelled and you won't be charged again",
        "thanks",
    ],
    &[
        "Is the blender dishwasher safe?",
        "Hi! The jar and lid are dishwasher safe, the base is not",
        "great, and warranty?",
        "Two years, covering motor and parts",
        "perfect, ordering now",
    ],
];

const AGENTS_ZH: &[(&str, &str)] = &[
    ("a-1001", "张伟"),
    ("a-1002", "李娜"),
    ("a-1003", "王芳"),
    ("a-1004", "刘洋"),
    ("a-1005", "陈静"),
    ("a-1006", "赵磊"),
];
const AGENTS_EN: &[(&str, &str)] = &[
    ("a-2001", "Emily Chen"),
    ("a-2002", "James Wilson"),
    ("a-2003", "Priya Nair"),
];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
];
const GIVEN: &[&str] = &[
    "先生", "女士", "小姐", "明", "华", "强", "丽", "敏", "静", "杰",
];
const EN_NAMES: &[&str] = &[
    "Alex Morgan",
    "Sam Taylor",
    "Jordan Lee",
    "Maria Garcia",
    "Chris Brown",
    "Nina Patel",
];
const PLATFORMS_ZH: &[&str] = &["wecom", "wechat", "dingtalk", "qq"];
const PLATFORMS_EN: &[&str] = &["whatsapp", "telegram", "slack"];
const RECALL_TEXT: &str = "撤回了一条消息";

/// How to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub messages: usize,
    pub seed: u64,
    /// The first conversation starts here (UTC milliseconds).
    pub start_ms: i64,
    /// Share of conversations in English (0.0 to 1.0) with the built-in dialogues.
    pub english_share: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            messages: 1000,
            seed: 7,
            start_ms: 1_704_067_200_000,
            english_share: 0.25,
        }
    }
}

/// Generates canonical JSONL lines.
pub struct Generator {
    opts: GenOptions,
    rng: StdRng,
    corpus: Option<Vec<Dialogue>>,
    produced: usize,
    conversation: u64,
    clock_ms: i64,
    pending: std::collections::VecDeque<String>,
}

impl Generator {
    pub fn new(opts: GenOptions, corpus: Option<Vec<Dialogue>>) -> Self {
        let rng = StdRng::seed_from_u64(opts.seed);
        let clock_ms = opts.start_ms;
        Generator {
            opts,
            rng,
            corpus,
            produced: 0,
            conversation: 0,
            clock_ms,
            pending: Default::default(),
        }
    }

    fn phone(&mut self) -> String {
        let prefix = ["138", "139", "150", "186", "177", "135"][self.rng.gen_range(0..6)];
        format!("{prefix}{:08}", self.rng.gen_range(0..100_000_000u32))
    }

    fn fill(&mut self, template: &str) -> String {
        let mut s = template.to_owned();
        if s.contains("{order}") {
            let o = format!("SO{}", self.rng.gen_range(100_000_000u64..999_999_999));
            s = s.replace("{order}", &o);
        }
        if s.contains("{phone}") {
            let p = self.phone();
            s = s.replace("{phone}", &p);
        }
        if s.contains("{email}") {
            let e = format!("user{}@example.com", self.rng.gen_range(100..99_999));
            s = s.replace("{email}", &e);
        }
        s
    }

    /// Generates one conversation into `pending`.
    fn conversation(&mut self) {
        self.conversation += 1;
        let english = self.corpus.is_none() && self.rng.gen_bool(self.opts.english_share);
        let turns: Vec<(bool, String)> = match &self.corpus {
            Some(c) => {
                let d = &c[self.rng.gen_range(0..c.len())];
                let mut t = d.turns.clone();
                // Mix in the things that break tokenizers: numbers, PII, Latin and emoji.
                for turn in t.iter_mut() {
                    match self.rng.gen_range(0..20) {
                        0 => turn.1.push_str(&format!("，我的电话是{}", self.phone())),
                        1 => turn.1.push_str(&format!(
                            " 订单号SO{}",
                            self.rng.gen_range(100_000_000u64..999_999_999)
                        )),
                        2 => turn.1.push_str(" OK👍"),
                        _ => {}
                    }
                }
                t
            }
            None => {
                let pool = if english { EN_DIALOGUES } else { ZH_DIALOGUES };
                let d = pool[self.rng.gen_range(0..pool.len())];
                d.iter()
                    .enumerate()
                    .map(|(i, s)| (i % 2 == 0, s.to_string()))
                    .collect()
            }
        };
        let platform = if english {
            PLATFORMS_EN[self.rng.gen_range(0..PLATFORMS_EN.len())]
        } else {
            PLATFORMS_ZH[self.rng.gen_range(0..PLATFORMS_ZH.len())]
        };
        let agents = if english { AGENTS_EN } else { AGENTS_ZH };
        let (agent_id, agent_name) = agents[self.rng.gen_range(0..agents.len())];
        let customer_name = if english {
            EN_NAMES[self.rng.gen_range(0..EN_NAMES.len())].to_owned()
        } else {
            format!(
                "{}{}",
                SURNAMES[self.rng.gen_range(0..SURNAMES.len())],
                GIVEN[self.rng.gen_range(0..GIVEN.len())]
            )
        };
        let customer_id = if platform == "whatsapp" {
            format!("+86{}", self.phone())
        } else {
            format!("c-{}", self.rng.gen_range(10_000..999_999))
        };
        let conv_id = format!("conv-{:07}", self.conversation);
        let title = if english {
            format!("Customer {customer_name}")
        } else {
            format!("客户 {customer_name}")
        };
        // Conversations start a few minutes apart.
        self.clock_ms += self.rng.gen_range(20_000..600_000);
        let mut t = self.clock_ms;
        let offset = if english { 0 } else { 8 * 3600 };
        for (i, (customer, text)) in turns.into_iter().enumerate() {
            let text = self.fill(&text);
            // Agents answer after a log-normal delay (median about 40 s); customers reply
            // after reading, sometimes in a burst of two messages.
            let delay = if customer {
                self.rng.gen_range(5_000..90_000)
            } else {
                let z: f64 = (0..6).map(|_| self.rng.gen::<f64>()).sum::<f64>() - 3.0;
                ((40_000.0 * (z * 1.1).exp()) as i64).clamp(2_000, 3 * 3_600_000)
            };
            t += if i == 0 { 0 } else { delay };
            let (sender_id, sender_name, role) = if customer {
                (customer_id.as_str(), customer_name.as_str(), "customer")
            } else {
                (agent_id, agent_name, "agent")
            };
            let source_id = format!("{conv_id}-m{i}");
            let mut rec = record(
                platform,
                &conv_id,
                &title,
                &source_id,
                sender_id,
                sender_name,
                role,
                t,
                offset,
                &text,
            );
            if customer && i > 0 && self.rng.gen_range(0..12) == 0 {
                // A burst: the customer adds a second message seconds later.
                let extra = record(
                    platform,
                    &conv_id,
                    &title,
                    &format!("{source_id}b"),
                    sender_id,
                    sender_name,
                    role,
                    t + 3_000,
                    offset,
                    if english { "hello?" } else { "在吗？" },
                );
                self.pending.push_back(rec.to_line());
                rec = extra;
            }
            self.pending.push_back(rec.to_line());
            if !customer && self.rng.gen_range(0..40) == 0 {
                // An agent corrects a message.
                let mut edit = record(
                    platform,
                    &conv_id,
                    &title,
                    &format!("{source_id}e"),
                    sender_id,
                    sender_name,
                    role,
                    t + 20_000,
                    offset,
                    &format!("{text}（已更正）"),
                );
                edit.kind = Some("edit".into());
                edit.target = Some(source_id.clone());
                self.pending.push_back(edit.to_line());
            }
            if customer && self.rng.gen_range(0..60) == 0 {
                let mut recall = record(
                    platform,
                    &conv_id,
                    &title,
                    &format!("{source_id}r"),
                    sender_id,
                    sender_name,
                    role,
                    t + 8_000,
                    offset,
                    RECALL_TEXT,
                );
                recall.kind = Some("recall".into());
                recall.target = Some(source_id.clone());
                self.pending.push_back(recall.to_line());
            }
            if !customer && i == 1 && self.rng.gen_range(0..25) == 0 {
                let mut img = record(
                    platform,
                    &conv_id,
                    &title,
                    &format!("{source_id}i"),
                    sender_id,
                    sender_name,
                    role,
                    t + 5_000,
                    offset,
                    "",
                );
                img.kind = Some("image".into());
                img.attachments = Some(vec![CanonicalAttachment {
                    sha256: None,
                    name: "说明书.png".into(),
                    mime: Some("image/png".into()),
                    size: None,
                    path: None,
                    // A 1×1 PNG, so demo archives carry real attachment bytes.
                    data: Some("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAghnjrQAAAABJRU5ErkJggg==".into()),
                }]);
                self.pending.push_back(img.to_line());
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    platform: &str,
    conv: &str,
    title: &str,
    source_id: &str,
    sender_id: &str,
    sender_name: &str,
    role: &str,
    ms: i64,
    offset_s: i32,
    text: &str,
) -> CanonicalRecord {
    let sent_at = Timestamp {
        utc_ms: ms,
        offset_s: Some(offset_s),
    }
    .to_rfc3339();
    CanonicalRecord {
        platform: platform.into(),
        conversation_id: conv.into(),
        conversation_title: Some(title.into()),
        conversation_kind: Some("direct".into()),
        source_id: Some(source_id.into()),
        sender_id: sender_id.into(),
        sender_name: Some(sender_name.into()),
        sender_role: Some(role.into()),
        sent_at,
        kind: Some("text".into()),
        text: Some(text.into()),
        reply_to: None,
        target: None,
        attachments: Some(vec![]),
        tags: vec![],
        extra: None,
    }
}

impl Iterator for Generator {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        if self.produced >= self.opts.messages {
            return None;
        }
        while self.pending.is_empty() {
            self.conversation();
        }
        self.produced += 1;
        self.pending.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatvault_model::canonical::parse_line;
    use chatvault_model::Origin;

    #[test]
    fn generated_lines_are_valid_canonical_jsonl() {
        let lines: Vec<String> = Generator::new(
            GenOptions {
                messages: 2000,
                ..GenOptions::default()
            },
            None,
        )
        .collect();
        assert_eq!(lines.len(), 2000);
        let mut platforms = std::collections::BTreeSet::new();
        for (i, l) in lines.iter().enumerate() {
            let m = parse_line(l)
                .and_then(|r| {
                    r.into_new_message(
                        l.clone().into_bytes(),
                        Origin {
                            file: "g".into(),
                            line: i as u64,
                        },
                        &mut |_| Err("no".into()),
                    )
                })
                .unwrap_or_else(|e| panic!("line {i}: {e}: {l}"));
            platforms.insert(m.platform.to_string());
        }
        assert!(platforms.len() >= 5, "{platforms:?}");
        assert!(lines.iter().any(|l| l.contains("\"kind\":\"recall\"")));
        assert!(lines.iter().any(|l| l.contains("\"kind\":\"edit\"")));
    }

    #[test]
    fn deterministic_per_seed() {
        let a: Vec<String> = Generator::new(GenOptions::default(), None)
            .take(50)
            .collect();
        let b: Vec<String> = Generator::new(GenOptions::default(), None)
            .take(50)
            .collect();
        assert_eq!(a, b);
    }
}
