//! `hours`: the median response by weekday and hour (when the customer's turn began),
//! and the slowest hour.

use chatvault_analytics::cache::Load;
use chatvault_analytics::report::{self, HoursReport};

use super::{opt, Def, MainTable, Table};

pub const DEF: Def = Def {
    name: "hours",
    load: Load {
        terms: false,
        risks: false,
    },
    run: |w, cx| Box::new(report::hours(w, cx)),
};

impl MainTable for HoursReport {
    fn table(&self) -> Table {
        Table {
            columns: vec!["weekday", "hour", "responses", "median_s"],
            rows: self
                .heatmap
                .iter()
                .map(|c| {
                    vec![
                        c.weekday.to_string(),
                        c.hour.to_string(),
                        c.responses.to_string(),
                        opt(c.median_s),
                    ]
                })
                .collect(),
        }
    }
}
