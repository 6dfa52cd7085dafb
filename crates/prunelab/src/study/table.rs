//! The table of a study: a metric per method and sparsity, as text, CSV and JSON.

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::csv_text::field;
use crate::error::{Error, Result};

/// One row of a [`SweepTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// The method's label.
    pub method: String,
    /// The target sparsity.
    pub sparsity: f64,
    /// Weights not pruned.
    pub remaining: usize,
    /// The metric.
    pub metric: f64,
}

/// The outcome of a [`SparsitySweep`](crate::sweep::SparsitySweep): one row per method and sparsity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepTable {
    /// The metric's name.
    pub metric_name: String,
    /// The rows, method by method, sparsities ascending.
    pub rows: Vec<SweepRow>,
}

impl SweepTable {
    /// The method labels, in order of first appearance.
    pub fn methods(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.rows {
            if !out.contains(&r.method) {
                out.push(r.method.clone());
            }
        }
        out
    }

    /// The `(sparsity, metric)` points of one method.
    pub fn series(&self, method: &str) -> Vec<(f64, f64)> {
        self.rows
            .iter()
            .filter(|r| r.method == method)
            .map(|r| (r.sparsity, r.metric))
            .collect()
    }

    /// CSV with columns `method,sparsity,remaining,<metric>`.
    pub fn to_csv(&self) -> String {
        let mut out = format!("method,sparsity,remaining,{}\n", field(&self.metric_name));
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{},{},{},{}",
                field(&r.method),
                r.sparsity,
                r.remaining,
                r.metric
            );
        }
        out
    }

    /// The table as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Serialize {
            what: "the sweep table",
            format: "JSON",
            reason: e.to_string(),
        })
    }
}

impl fmt::Display for SweepTable {
    /// One row per sparsity, one column per method.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let methods = self.methods();
        write!(f, "{:>9}", "sparsity")?;
        for m in &methods {
            write!(f, "  {m:>22}")?;
        }
        let mut sparsities: Vec<f64> = self.rows.iter().map(|r| r.sparsity).collect();
        sparsities.dedup();
        sparsities.sort_by(f64::total_cmp);
        sparsities.dedup();
        for s in sparsities {
            write!(f, "\n{s:>9.2}")?;
            for m in &methods {
                match self.rows.iter().find(|r| &r.method == m && r.sparsity == s) {
                    Some(r) => write!(f, "  {:>22.4}", r.metric)?,
                    None => write!(f, "  {:>22}", "-")?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label with a comma or a quote stays one field (the same quoting as the merged sweep tables).
    #[test]
    fn csv_quotes_labels_that_need_it() {
        let table = SweepTable {
            metric_name: "accuracy".into(),
            rows: vec![SweepRow {
                method: "rewind, \"late\"".into(),
                sparsity: 0.5,
                remaining: 10,
                metric: 0.75,
            }],
        };
        assert_eq!(
            table.to_csv(),
            "method,sparsity,remaining,accuracy\n\"rewind, \"\"late\"\"\",0.5,10,0.75\n"
        );
    }
}
