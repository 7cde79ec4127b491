//! `topics`: dictionary topics, the customers' keywords, the agents' scripts and the risk
//! words, by conversations.

use chatvault_analytics::cache::Load;
use chatvault_analytics::report::{self, TopicsReport};

use super::{Def, MainTable, Table};

pub const DEF: Def = Def {
    name: "topics",
    load: Load {
        terms: true,
        risks: true,
    },
    run: |w, cx| Box::new(report::topics(w, cx)),
};

impl MainTable for TopicsReport {
    fn table(&self) -> Table {
        let mut rows = vec![];
        for (what, list) in [
            ("topic", &self.topics),
            ("keyword", &self.keywords),
            ("risk_word", &self.risk_words),
        ] {
            for c in list {
                rows.push(vec![
                    what.into(),
                    c.name.clone(),
                    c.conversations.to_string(),
                ]);
            }
        }
        Table {
            columns: vec!["kind", "name", "count"],
            rows,
        }
    }
}
