//! `sla`: response times (first, next, all), SLA met and breached overall, by team and by
//! agent, and the longest waits.

use chatvault_analytics::cache::Load;
use chatvault_analytics::report::{self, SlaReport};

use super::{opt, Def, MainTable, Table};

pub const DEF: Def = Def {
    name: "sla",
    load: Load {
        terms: false,
        risks: false,
    },
    run: |w, cx| Box::new(report::sla(w, cx)),
};

impl MainTable for SlaReport {
    fn table(&self) -> Table {
        let mut rows = vec![];
        for (scope, list) in [
            ("all", std::slice::from_ref(&self.overall)),
            ("team", &self.teams[..]),
            ("agent", &self.agents[..]),
        ] {
            for l in list {
                rows.push(vec![
                    scope.into(),
                    l.name.clone(),
                    l.met.to_string(),
                    l.breached.to_string(),
                    l.pending.to_string(),
                    opt(l.met_ratio),
                ]);
            }
        }
        Table {
            columns: vec!["scope", "name", "met", "breached", "pending", "met_ratio"],
            rows,
        }
    }
}
