//! `agents`: each agent's responses, response times, SLA and quality, best first, and the
//! new and experienced cohorts.

use chatvault_analytics::cache::Load;
use chatvault_analytics::report::{self, AgentsReport};

use super::{opt, Def, MainTable, Table};

pub const DEF: Def = Def {
    name: "agents",
    load: Load {
        terms: false,
        risks: true,
    },
    run: |w, cx| Box::new(report::agents(w, cx)),
};

impl MainTable for AgentsReport {
    fn table(&self) -> Table {
        Table {
            columns: vec![
                "agent",
                "team",
                "new",
                "responses",
                "median_s",
                "p90_s",
                "frt_median_s",
                "sla_met_ratio",
                "conversations",
                "mean_quality",
            ],
            rows: self
                .ranking
                .iter()
                .map(|l| {
                    vec![
                        l.agent.clone(),
                        l.team.clone(),
                        l.new.to_string(),
                        l.responses.to_string(),
                        opt(l.median_s),
                        opt(l.p90_s),
                        opt(l.frt_median_s),
                        opt(l.sla.met_ratio),
                        l.conversations.to_string(),
                        opt(l.mean_quality),
                    ]
                })
                .collect(),
        }
    }
}
