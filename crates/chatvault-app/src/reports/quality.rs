//! `quality`: each conversation's quality score and its four components, the resolution
//! states and the sentiment, lowest scores first.

use chatvault_analytics::cache::Load;
use chatvault_analytics::report::{self, QualityReport};

use super::{num, opt_text, Def, MainTable, Table};

pub const DEF: Def = Def {
    name: "quality",
    load: Load {
        terms: false,
        risks: true,
    },
    run: |w, cx| Box::new(report::quality(w, cx)),
};

impl MainTable for QualityReport {
    fn table(&self) -> Table {
        Table {
            columns: vec![
                "conversation",
                "platform",
                "agent",
                "score",
                "speed",
                "professionalism",
                "resolution",
                "emotion",
                "resolution_state",
                "sentiment",
            ],
            rows: self
                .conversations_by_score
                .iter()
                .map(|l| {
                    let c = &l.components;
                    vec![
                        l.conversation.clone(),
                        l.platform.clone(),
                        opt_text(l.agent.as_deref()),
                        num(l.score),
                        num(c.speed),
                        num(c.professionalism),
                        num(c.resolution),
                        num(c.emotion),
                        l.resolution.as_str().to_owned(),
                        num(l.sentiment),
                    ]
                })
                .collect(),
        }
    }
}
